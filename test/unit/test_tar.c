/*
 * test_tar: archives made by the tar tool (ustar, gnu, pax; long names,
 * links, directories, empty files) read back in varied chunk sizes;
 * hand-made headers for base-256 numbers, signed checksums, pax overrides,
 * bounds; corrupted and truncated archives; the path helpers.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "inflate.h"
#include "t.h"
#include "tar.h"

typedef struct collected {
	char list[16384];     /* "type path -> link size datalen\n" per entry */
	size_t list_len;
	uint64_t data_len;    /* bytes of data seen for the current entry */
	uint32_t data_sum;    /* a checksum of all data (order-sensitive) */
	int entries, ends, stop_at;
} collected;

static int on_entry(void *ctx, const tar_entry *e)
{
	collected *c = ctx;
	c->data_len = 0;
	c->entries++;
	c->list_len += (size_t)snprintf(c->list + c->list_len, sizeof c->list - c->list_len,
		"%d %s -> %s %llu %o\n", (int)e->type, e->path, e->linkpath,
		(unsigned long long)e->size, (unsigned)e->mode);
	return c->stop_at && c->entries == c->stop_at;
}

static int on_data(void *ctx, const void *data, size_t len)
{
	collected *c = ctx;
	const uint8_t *p = data;
	for (size_t i = 0; i < len; i++)
		c->data_sum = c->data_sum * 31 + p[i];
	c->data_len += len;
	return 0;
}

static int on_end(void *ctx, const tar_entry *e)
{
	collected *c = ctx;
	c->ends++;
	if (c->data_len != e->size && e->type == TAR_FILE)
		c->list_len += (size_t)snprintf(c->list + c->list_len, sizeof c->list - c->list_len, "BAD DATA LENGTH\n");
	return 0;
}

/* Reads an archive in pieces of `chunk` bytes; returns tar_feed/finish's result. */
static int read_archive(const uint8_t *data, size_t len, size_t chunk, collected *c, char *err, size_t errlen)
{
	memset(c, 0, offsetof(collected, stop_at));
	tar_callbacks cb = {.entry = on_entry, .data = on_data, .entry_end = on_end, .ctx = c};
	tar_reader *t = tar_init(&cb);
	int r = 0;
	for (size_t off = 0; off < len && r == 0; off += chunk)
		r = tar_feed(t, data + off, len - off < chunk ? len - off : chunk);
	if (r == 0)
		r = tar_finish(t);
	snprintf(err, errlen, "%s", tar_error(t));
	tar_free(t);
	return r;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *p = malloc((size_t)n + 1);
	*len = fread(p, 1, (size_t)n, f);
	fclose(f);
	return p;
}

static char tmpdir[64];

/* A tree with every kind of entry the package files use. */
static void make_tree(void)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
		"set -e; cd %s; mkdir -p pkg/usr/bin pkg/sub/empty-dir; cd pkg; "
		"printf 'hello\\n' > hello; : > empty; chmod 755 hello; "
		"head -c 70001 /dev/urandom > usr/bin/big; "
		"ln -s ../hello usr/bin/link; ln hello hard; "
		"d=$(printf 'd%%.0s' $(seq 60)); mkdir -p $d/$d; printf x > $d/$d/f100; "
		"e=$(printf 'e%%.0s' $(seq 200)); mkdir -p $e/$e; printf yy > $e/$e/f400; "
		"ln -s $d/$d/f100 $(printf 'l%%.0s' $(seq 150))", tmpdir);
	CHECKF(system(cmd) == 0, "making the tree");
}

static void check_format(const char *format, bool long_names)
{
	char cmd[1024], path[256];
	snprintf(path, sizeof path, "%s/a-%s.tar", tmpdir, format);
	snprintf(cmd, sizeof cmd, "cd %s/pkg && tar --format=%s --sort=name -cf %s %s 2>/dev/null",
		tmpdir, format, path, long_names ? "." : "./hello ./empty ./usr ./hard ./sub");
	CHECKF(system(cmd) == 0, "tar --format=%s", format);
	size_t len;
	uint8_t *data = slurp(path, &len);
	CHECK(data != NULL);
	if (!data)
		return;
	collected ref, c;
	char err[256];
	CHECKF(read_archive(data, len, len, &ref, err, sizeof err) == 0, "%s: %s", format, err);
	CHECKF(ref.entries == ref.ends, "%s: %d entries, %d ends", format, ref.entries, ref.ends);
	CHECKF(strstr(ref.list, "0 ./hello ->  6 755\n") != NULL || strstr(ref.list, "0 ./hard ->  6 755\n") != NULL, "%s: %s", format, ref.list);
	CHECKF(strstr(ref.list, "0 ./empty ->  0 ") != NULL, "%s", format);
	CHECKF(strstr(ref.list, "0 ./usr/bin/big ->  70001 ") != NULL, "%s", format);
	CHECKF(strstr(ref.list, "2 ./usr/bin/link -> ../hello 0 ") != NULL, "%s", format);
	CHECKF(strstr(ref.list, "1 ./hard -> ./hello 0 ") != NULL || strstr(ref.list, "1 ./hello -> ./hard 0 ") != NULL, "%s: %s", format, ref.list);
	CHECKF(strstr(ref.list, "5 ./sub/empty-dir/ ->  0 ") != NULL, "%s", format);
	CHECK(strstr(ref.list, "BAD") == NULL);
	if (long_names) {
		char d[61], e[201], l[151], want[1024];
		memset(d, 'd', 60), d[60] = 0;
		memset(e, 'e', 200), e[200] = 0;
		memset(l, 'l', 150), l[150] = 0;
		snprintf(want, sizeof want, "0 ./%s/%s/f100 ->  1 ", d, d);
		CHECKF(strstr(ref.list, want) != NULL, "%s: 128-char name", format);
		snprintf(want, sizeof want, "0 ./%s/%s/f400 ->  2 ", e, e);
		CHECKF(strstr(ref.list, want) != NULL, "%s: 410-char name", format);
		snprintf(want, sizeof want, "2 ./%s -> %s/%s/f100 0 ", l, d, d);
		CHECKF(strstr(ref.list, want) != NULL, "%s: long symlink name and target", format);
	}
	/* Same result whatever the chunking. */
	size_t chunks[] = {1, 7, 511, 512, 513, 4096};
	for (size_t i = 0; i < sizeof chunks / sizeof *chunks; i++) {
		int r = read_archive(data, len, chunks[i], &c, err, sizeof err);
		CHECKF(r == 0 && strcmp(c.list, ref.list) == 0 && c.data_sum == ref.data_sum,
			"%s chunk %zu: %s", format, chunks[i], err);
	}
	/* Truncation anywhere before the end marker is an error, never a crash. */
	size_t end = len;
	while (end >= 512 && memchr(data + end - 512, 0, 512) && data[end - 1] == 0) {
		bool zero = true;
		for (size_t i = end - 512; i < end; i++)
			zero = zero && !data[i];
		if (!zero)
			break;
		end -= 512;
	}
	int bad = 0;
	for (size_t cut = 0; cut < end; cut += 97)
		if (read_archive(data, cut, 4096, &c, err, sizeof err) == 0)
			bad++;
	CHECKF(bad == 0, "%s: %d truncated archives accepted", format, bad);
	/* EOF right after the first zero block is accepted. */
	CHECKF(read_archive(data, end + 512, 4096, &c, err, sizeof err) == 0, "%s: one zero block: %s", format, err);
	/* A flipped header byte fails the checksum. */
	data[10] ^= 0x20;
	CHECKF(read_archive(data, len, 4096, &c, err, sizeof err) < 0 && strstr(err, "checksum"), "%s: %s", format, err);
	free(data);
}

/* A header block with fields set and a valid checksum. */
static void make_header(uint8_t *b, const char *name, char type, const char *size_octal, bool sign_sum)
{
	memset(b, 0, 512);
	memcpy(b, name, strlen(name) < 100 ? strlen(name) : 100);
	memcpy(b + 100, "0000644", 7);
	memcpy(b + 108, "0000000", 7);
	memcpy(b + 116, "0000000", 7);
	if (size_octal)
		memcpy(b + 124, size_octal, strlen(size_octal));
	memcpy(b + 136, "00000000000", 11);
	b[156] = (uint8_t)type;
	memcpy(b + 257, "ustar\0" "00", 8);
	memset(b + 148, ' ', 8);
	int32_t sum = 0;
	for (int i = 0; i < 512; i++)
		sum += sign_sum ? (int32_t)(signed char)b[i] : (int32_t)b[i];
	snprintf((char *)b + 148, 8, "%06o", (unsigned)sum & 0777777);
	b[155] = ' ';
}

static void test_handmade(void)
{
	static uint8_t a[512 * 16];
	collected c;
	char err[256];

	/* base-256 size (5 bytes) and a signed checksum over a high-byte name */
	memset(a, 0, sizeof a);
	make_header(a, "f", '0', NULL, false);
	memset(a + 124, 0, 12);
	a[124] = 0x80;
	a[135] = 5;
	memset(a + 148, ' ', 8);
	uint32_t sum = 0;
	for (int i = 0; i < 512; i++)
		sum += a[i];
	snprintf((char *)a + 148, 8, "%06o", sum);
	memcpy(a + 512, "abcde", 5);
	CHECKF(read_archive(a, 512 * 4, 512, &c, err, sizeof err) == 0 && strstr(c.list, "0 f ->  5 644"), "base-256: %s %s", err, c.list);

	memset(a, 0, sizeof a);
	make_header(a, "\xff\xfe\xfd", '0', "00000000001", true);
	a[512] = 'z';
	CHECKF(read_archive(a, 512 * 4, 512, &c, err, sizeof err) == 0 && c.entries == 1, "signed checksum: %s", err);

	/* pax 'x' header overriding path and size; 'g' ignored */
	memset(a, 0, sizeof a);
	const char *pax = "17 path=pax/name\n10 size=3\n30 mtime=1700000000.123456789\n";
	char sz[16];
	snprintf(sz, sizeof sz, "%011o", (unsigned)strlen(pax));
	make_header(a, "g", 'g', "00000000010", false);
	memcpy(a + 512, "8 a=bcd\n", 8);
	make_header(a + 1024, "PaxHeader", 'x', sz, false);
	memcpy(a + 1536, pax, strlen(pax));
	make_header(a + 2048, "short", '0', "00000000001", false);
	memcpy(a + 2560, "XYZ", 3);
	CHECKF(read_archive(a, 512 * 8, 100, &c, err, sizeof err) == 0 && strcmp(c.list, "0 pax/name ->  3 644\n") == 0,
		"pax override: %s %s", err, c.list);
	/* a malformed pax record */
	memcpy(a + 1536, "99 path=x\n", 10);
	make_header(a + 1024, "PaxHeader", 'x', "00000000012", false);
	CHECKF(read_archive(a, 512 * 8, 512, &c, err, sizeof err) < 0 && strstr(err, "pax"), "bad pax: %s", err);

	/* GNU long name over the bound */
	memset(a, 0, sizeof a);
	make_header(a, "././@LongLink", 'L', "00000100000", false);
	CHECKF(read_archive(a, 512 * 4, 512, &c, err, sizeof err) < 0 && strstr(err, "too long"), "long L: %s", err);
	/* pax header over the bound */
	make_header(a, "PaxHeader", 'x', "77777777777", false);
	CHECKF(read_archive(a, 512 * 4, 512, &c, err, sizeof err) < 0 && strstr(err, "too large"), "big pax: %s", err);
	/* a malformed size field */
	make_header(a, "f", '0', "0000000009x", false);
	CHECKF(read_archive(a, 512 * 4, 512, &c, err, sizeof err) < 0, "bad size: %s", err);
	/* a negative base-256 size */
	make_header(a, "f", '0', NULL, false);
	memset(a + 124, 0xff, 12);
	memset(a + 148, ' ', 8);
	sum = 0;
	for (int i = 0; i < 512; i++)
		sum += a[i];
	snprintf((char *)a + 148, 8, "%06o", sum);
	CHECKF(read_archive(a, 512 * 4, 512, &c, err, sizeof err) < 0, "negative size: %s", err);
	/* empty input and a lone header without an end */
	CHECK(read_archive(a, 0, 512, &c, err, sizeof err) < 0);
	make_header(a, "f", '0', "00000000000", false);
	CHECK(read_archive(a, 512, 512, &c, err, sizeof err) < 0);
	CHECK(read_archive(a, 1024, 512, &c, err, sizeof err) == 0);
	/* the consumer can stop the reader */
	make_header(a + 512, "g", '5', "00000000000", false);
	memset(a + 1024, 0, 1024);
	memset(&c, 0, sizeof c);
	c.stop_at = 1;
	tar_callbacks cb = {.entry = on_entry, .ctx = &c};
	tar_reader *t = tar_init(&cb);
	CHECK(tar_feed(t, a, 2048) < 0 && strstr(tar_error(t), "consumer"));
	CHECK(tar_feed(t, a, 1) < 0);
	tar_free(t);
}

static void test_gzip_pipe(void)
{
	char cmd[512], path[256];
	snprintf(path, sizeof path, "%s/pkg.tar.gz", tmpdir);
	snprintf(cmd, sizeof cmd, "cd %s/pkg && tar --format=pax -czf %s .", tmpdir, path);
	CHECK(system(cmd) == 0);
	size_t len;
	uint8_t *data = slurp(path, &len);
	if (!data)
		return;
	collected c;
	memset(&c, 0, sizeof c);
	tar_callbacks cb = {.entry = on_entry, .data = on_data, .entry_end = on_end, .ctx = &c};
	tar_reader *t = tar_init(&cb);
	inflate_stream *z = inflate_init(INFLATE_GZIP, 0, tar_sink, t);
	int r = 0;
	for (size_t off = 0; off < len && r == 0; off += 1000)
		r = inflate_feed(z, data + off, len - off < 1000 ? len - off : 1000);
	CHECKF(r == 0 && inflate_finish(z) == 0, "%s / %s", inflate_error(z), tar_error(t));
	CHECKF(tar_finish(t) == 0, "%s", tar_error(t));
	CHECK(strstr(c.list, "0 ./usr/bin/big ->  70001 ") != NULL);
	CHECK(c.entries >= 10);
	inflate_free(z);
	tar_free(t);
	free(data);
}

static void test_paths(void)
{
	struct { const char *in, *out; bool safe; } cases[] = {
		{"./usr/bin/x", "usr/bin/x", true},
		{"././a//b/./c/", "a/b/c", true},
		{"./", "", false},
		{".", "", false},
		{"", "", false},
		{"/etc/passwd", "/etc/passwd", false},
		{"//etc", "/etc", false},
		{"a/../b", "a/../b", false},
		{"..", "..", false},
		{"../x", "../x", false},
		{"a/..", "a/..", false},
		{"..a/b..", "..a/b..", true},
		{"a/.../b", "a/.../b", true},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char p[64];
		snprintf(p, sizeof p, "%s", cases[i].in);
		tar_path_normalize(p);
		CHECKF(strcmp(p, cases[i].out) == 0, "normalize(%s) = %s", cases[i].in, p);
		CHECKF(tar_path_is_safe(p) == cases[i].safe, "is_safe(%s)", p);
	}
	char longp[TAR_PATH_MAX + 2];
	memset(longp, 'a', sizeof longp - 1);
	longp[sizeof longp - 1] = 0;
	CHECK(!tar_path_is_safe(longp));

	struct { const char *entry, *target; bool safe; } links[] = {
		{"usr/bin/python", "python3.11", true},
		{"usr/bin/python", "../lib/x", true},
		{"usr/bin/python", "../../x", true},
		{"usr/bin/python", "../../../x", false},
		{"usr/bin/python", "/usr/bin/python3", false},
		{"usr/bin/python", "a/../../../..", false},
		{"usr/bin/python", "a/..", false},
		{"usr/bin/python", "./../.././x", true},
		{"x", "..", false},
		{"x", ".", true},
		{"x", "", false},
		{"../x", "y", false},
		{"a/b/", "../c", true},
		{"usr/bin/x", "up/../../..", false},
		{"usr/bin/x", "lib/../y", false},
		{"usr/bin/x", "../lib/./y", true},
	};
	for (size_t i = 0; i < sizeof links / sizeof *links; i++)
		CHECKF(tar_link_is_safe(links[i].entry, links[i].target) == links[i].safe,
			"link_is_safe(%s, %s)", links[i].entry, links[i].target);
}

int main(void)
{
	snprintf(tmpdir, sizeof tmpdir, "/tmp/piston-test-tar.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	make_tree();
	check_format("gnu", true);
	check_format("pax", true);
	check_format("ustar", false);
	check_format("v7", false);
	test_handmade();
	test_gzip_pipe();
	test_paths();
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		printf("warning: could not remove %s\n", tmpdir);
	return t_done();
}
