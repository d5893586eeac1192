#!/usr/bin/env bash
# bench-json.sh: throughput of the JSON reader and writer (MB/s), on
# documents shaped like the engine's traffic: execute requests carrying
# source code, responses with program output, and number-heavy arrays;
# and of the WebSocket parser (unmask + UTF-8 check of text messages).
# CPU time is measured, so a busy machine skews the numbers less.
# Usage: tools/bench-json.sh   (after `make`; builds a small bench program)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s build/obj/json.o build/obj/buf.o build/obj/ws.o build/obj/base64.o build/obj/vendor_fortify.o
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat >"$tmp/bench.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "json.h"
#include "ws.h"

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);  /* CPU time: stable on a busy machine */
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs fn until 0.3 s have passed; returns MB/s over `bytes` per run. */
#define MEASURE(label, bytes, body) do { \
	size_t runs = 0; double t0 = now(), t; \
	do { for (int k_ = 0; k_ < 16; k_++) { body; } runs += 16; t = now() - t0; } while (t < 0.3); \
	printf("%-34s %8.0f MB/s  %8.2f us/op\n", label, (double)(bytes) * runs / t / 1e6, t / runs * 1e6); \
} while (0)

static void parse_bench(const char *label, const char *text, size_t len)
{
	json_error err;
	json_doc *d = json_parse(text, len, &err);
	if (!d) {
		printf("%s: parse error %s at %zu\n", label, err.message, err.offset);
		exit(1);
	}
	json_free(d);
	MEASURE(label, len, { d = json_parse(text, len, &err); json_free(d); });
}

int main(void)
{
	/* an execute request with ~8 KB of Python source */
	buf code = BUF_INIT;
	for (int i = 0; i < 200; i++)
		buf_printf(&code, "def f%d(x):\n\treturn \"value %d: \" + str(x * %d)  # comment\n", i, i, i);
	buf req = BUF_INIT;
	jw w;
	jw_init(&w, &req);
	jw_object_begin(&w);
	jw_key(&w, "language"); jw_string(&w, "python");
	jw_key(&w, "version"); jw_string(&w, "3.x");
	jw_key(&w, "files"); jw_array_begin(&w);
	jw_object_begin(&w); jw_key(&w, "name"); jw_string(&w, "main.py");
	jw_key(&w, "content"); jw_string_n(&w, code.data, code.len); jw_object_end(&w);
	jw_array_end(&w);
	jw_key(&w, "stdin"); jw_string(&w, "");
	jw_key(&w, "args"); jw_array_begin(&w); jw_string(&w, "1"); jw_string(&w, "2"); jw_array_end(&w);
	jw_key(&w, "run_timeout"); jw_int(&w, 3000);
	jw_object_end(&w);
	parse_bench("parse execute request (8 KB)", req.data, req.len);

	/* a small request: the per-request floor */
	const char *small = "{\"language\":\"python\",\"version\":\"3.x\",\"files\":[{\"content\":\"print(1)\"}]}";
	parse_bench("parse small request (75 B)", small, strlen(small));

	/* numbers and nesting */
	buf nums = BUF_INIT;
	jw_init(&w, &nums);
	jw_array_begin(&w);
	for (int i = 0; i < 20000; i++) {
		jw_array_begin(&w);
		jw_int(&w, i * 7919);
		jw_double(&w, i / 7.0);
		jw_bool(&w, i & 1);
		jw_null(&w);
		jw_array_end(&w);
	}
	jw_array_end(&w);
	parse_bench("parse numbers/arrays (~600 KB)", nums.data, nums.len);

	/* non-ASCII text and escapes */
	buf uni = BUF_INIT;
	buf_puts(&uni, "[");
	for (int i = 0; i < 5000; i++)
		buf_puts(&uni, i ? ",\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80\\n\\t\\u00e9\"" :
		                   "\"h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac \xf0\x9f\x98\x80\\n\\t\\u00e9\"");
	buf_puts(&uni, "]");
	parse_bench("parse UTF-8 strings (~180 KB)", uni.data, uni.len);

	/* writer: program output as a JSON string */
	buf out = BUF_INIT;
	MEASURE("escape ASCII code (8 KB)", code.len, { buf_reset(&out); json_escape(&out, code.data, code.len); });
	buf text = BUF_INIT;
	for (int i = 0; i < 1000; i++)
		buf_puts(&text, "r\xc3\xa9sultat: \xe2\x82\xac 42\n");
	MEASURE("escape UTF-8 output (~19 KB)", text.len, { buf_reset(&out); json_escape(&out, text.data, text.len); });
	buf bin = BUF_INIT;
	for (int i = 0; i < 16384; i++)
		buf_putc(&bin, (char)(i * 31));
	MEASURE("escape binary garbage (16 KB)", bin.len, { buf_reset(&out); json_escape(&out, bin.data, bin.len); });

	/* WebSocket: a 64 KB masked text frame, parsed (unmasked in place and
	 * UTF-8 checked) and re-masked for the next round */
	static const unsigned char key[4] = {1, 2, 3, 4};
	buf frame = BUF_INIT;
	buf payload = BUF_INIT;
	while (payload.len < 65536)
		buf_append(&payload, text.data, text.len);
	ws_encode(&frame, WS_OP_TEXT, payload.data, 65536, key);
	ws_parser p;
	ws_parser_init(&p, false, 1 << 20);
	size_t used;
	ws_event ev;
	MEASURE("ws parse 64 KB masked text frame", 65536, {
		if (ws_parse(&p, frame.data, frame.len, &used, &ev) != WS_MESSAGE) { printf("ws error\n"); exit(1); }
		ws_mask(frame.data + 14, 65536, key, 0);
	});
	return 0;
}
C
${CC:-musl-gcc} -O2 -std=c17 -D_GNU_SOURCE -Isrc/base -Isrc/net -static -o "$tmp/bench" "$tmp/bench.c" build/obj/json.o build/obj/buf.o \
	build/obj/ws.o build/obj/base64.o build/obj/vendor_fortify.o /usr/lib/"$(gcc -print-multiarch)"/libbearssl.a
"$tmp/bench"
