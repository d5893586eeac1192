/*
 * gunzip-check: a test and benchmark driver for src/archive/inflate.c (not part of
 * piston). Decodes stdin to stdout.
 *   gunzip-check [-r] [-c CHUNK] [-m MAX_OUTPUT] [-n]
 *     -r  raw DEFLATE instead of gzip     -c  feed the input in CHUNK-byte pieces
 *     -m  cap the output                  -n  discard the output (benchmarks)
 * Exit 0 on success; 1 with the decoder's message on stderr on a bad stream.
 * Built by test/pkg/test_inflate_gzip.sh and tools/bench-inflate.sh.
 */
#include "inflate.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int write_out(void *ctx, const void *data, size_t len)
{
	const char *p = data;
	while (len) {
		ssize_t n = write(1, p, len);
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int discard(void *ctx, const void *data, size_t len)
{
	return 0;
}

int main(int argc, char **argv)
{
	inflate_format format = INFLATE_GZIP;
	size_t chunk = 65536;
	uint64_t max = 0;
	bool quiet = false;
	int opt;
	while ((opt = getopt(argc, argv, "rc:m:n")) != -1) {
		switch (opt) {
		case 'r': format = INFLATE_RAW; break;
		case 'c': chunk = strtoull(optarg, NULL, 10); break;
		case 'm': max = strtoull(optarg, NULL, 10); break;
		case 'n': quiet = true; break;
		default:
			fprintf(stderr, "usage: gunzip-check [-r] [-c CHUNK] [-m MAX] [-n]\n");
			return 2;
		}
	}
	if (chunk == 0)
		chunk = 1;
	enum { READ_SIZE = 1 << 16 };
	char *buf = malloc(READ_SIZE);
	inflate_stream *z = inflate_init(format, max, quiet ? discard : write_out, NULL);
	if (!buf || !z)
		return 2;
	for (;;) {
		ssize_t n = read(0, buf, READ_SIZE);
		if (n < 0) {
			perror("read");
			return 2;
		}
		if (n == 0)
			break;
		for (size_t off = 0; off < (size_t)n; off += chunk) {
			size_t len = (size_t)n - off < chunk ? (size_t)n - off : chunk;
			if (inflate_feed(z, buf + off, len) < 0) {
				fprintf(stderr, "gunzip-check: %s\n", inflate_error(z));
				return 1;
			}
		}
	}
	if (inflate_finish(z) < 0) {
		fprintf(stderr, "gunzip-check: %s\n", inflate_error(z));
		return 1;
	}
	inflate_free(z);
	free(buf);
	return 0;
}
