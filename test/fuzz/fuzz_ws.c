/* libFuzzer harness: the WebSocket frame parser, server and client modes.
 * Byte 0 picks the mode, the message limit and the arrival size; the rest
 * arrives in pieces into a connection-like input buffer. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "json.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	if (len < 1)
		return 0;
	bool client = data[0] & 1;
	size_t max_message = (data[0] & 2) ? 64 : 4096;
	size_t step = (size_t)(data[0] >> 2) + 1;
	data++, len--;
	ws_parser p;
	ws_parser_init(&p, client, max_message);
	char *in = malloc(len ? len : 1);
	size_t have = 0, fed = 0;
	bool failed = false;
	while (fed < len && !failed) {
		size_t add = len - fed < step ? len - fed : step;
		memcpy(in + have, data + fed, add);
		have += add;
		fed += add;
		for (;;) {
			/* exact-size view of the buffered bytes for ASan */
			char *view = malloc(have ? have : 1);
			memcpy(view, in, have);
			size_t consumed = 0;
			ws_event ev;
			memset(&ev, 0, sizeof ev);
			ws_result r = ws_parse(&p, view, have, &consumed, &ev);
			assert(consumed <= have);
			if (r == WS_ERROR) {
				assert(ev.close_code >= 1000 && ev.error);
				failed = true;
			} else if (r == WS_MESSAGE) {
				assert(ev.len <= max_message);
				if (ev.opcode == WS_OP_TEXT)
					assert(json_utf8_check(ev.data, ev.len, NULL) == UTF8_VALID);
			} else if (r == WS_PING || r == WS_PONG) {
				assert(ev.len <= WS_MAX_CONTROL_PAYLOAD);
			} else if (r == WS_CLOSE) {
				assert(ev.len <= WS_MAX_CONTROL_PAYLOAD);
				assert(ev.close_code == WS_CLOSE_NO_STATUS || ws_close_code_valid(ev.close_code));
			}
			/* touch the event data while it is promised valid */
			if (ev.len && r != WS_ERROR) {
				volatile char sink = ev.data[0];
				sink = ev.data[ev.len - 1];
				(void)sink;
			}
			memcpy(in, view, have);      /* parser may unmask in place */
			memmove(in, in + consumed, have - consumed);
			have -= consumed;
			free(view);
			if (r == WS_NEED_MORE || r == WS_ERROR)
				break;
		}
		/* the caller's buffer holds one frame at most */
		if (have > max_message + WS_MAX_HEADER)
			break;
	}
	/* once failed, every later call repeats the error */
	if (failed) {
		size_t consumed;
		ws_event ev;
		char dummy[2] = {(char)0x81, 0};
		assert(ws_parse(&p, dummy, sizeof dummy, &consumed, &ev) == WS_ERROR);
	}
	ws_parser_free(&p);
	free(in);
	return 0;
}
