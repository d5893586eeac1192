/* ws: RFC 6455 frame codec (see ws.h). */
#include "ws.h"

#include <bearssl.h>
#include <string.h>

#include "base64.h"
#include "json.h"

void ws_parser_init(ws_parser *p, bool client_side, size_t max_message)
{
	*p = (ws_parser){0};
	p->client_side = client_side;
	p->max_message = max_message;
}

void ws_parser_free(ws_parser *p)
{
	buf_free(&p->message);
	p->fragmented = 0;
}

bool ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

void ws_mask(void *data, size_t n, const unsigned char key[4], size_t phase)
{
	unsigned char *d = data;
	unsigned char k[8];
	for (int i = 0; i < 8; i++)
		k[i] = key[(phase + (size_t)i) & 3];
	size_t i = 0;
	if (n >= 8) {
		uint64_t k64;
		memcpy(&k64, k, 8);
		for (; i + 8 <= n; i += 8) {
			uint64_t w;
			memcpy(&w, d + i, 8);
			w ^= k64;
			memcpy(d + i, &w, 8);
		}
	}
	for (; i < n; i++)
		d[i] ^= k[i & 7];
}

static ws_result fail(ws_parser *p, ws_event *ev, uint16_t code, const char *reason)
{
	p->fail_code = code;
	p->fail_reason = reason;
	ev->close_code = code;
	ev->error = reason;
	return WS_ERROR;
}

static uint64_t load_be(const unsigned char *s, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v = v << 8 | s[i];
	return v;
}

static ws_result parse_close(ws_parser *p, const char *payload, size_t n, ws_event *ev)
{
	ev->opcode = WS_OP_CLOSE;
	if (n == 0) {
		ev->close_code = WS_CLOSE_NO_STATUS;
		ev->data = "";
		return WS_CLOSE;
	}
	if (n == 1)
		return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
	unsigned code = (unsigned)load_be((const unsigned char *)payload, 2);
	if (!ws_close_code_valid(code))
		return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "invalid close code");
	if (json_utf8_check(payload + 2, n - 2, NULL) != UTF8_VALID)
		return fail(p, ev, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in close reason");
	ev->close_code = (uint16_t)code;
	ev->data = payload + 2;
	ev->len = n - 2;
	return WS_CLOSE;
}

ws_result ws_parse(ws_parser *p, char *data, size_t len, size_t *consumed, ws_event *ev)
{
	*ev = (ws_event){0};
	*consumed = 0;
	if (p->fail_code)
		return fail(p, ev, p->fail_code, p->fail_reason);
	size_t off = 0;
	for (;;) {
		const unsigned char *f = (const unsigned char *)data + off;
		size_t avail = len - off;
		*consumed = off;
		if (avail < 2)
			return WS_NEED_MORE;
		bool fin = f[0] & 0x80, masked = f[1] & 0x80;
		ws_opcode op = (ws_opcode)(f[0] & 0x0F);
		bool control = op & 0x8;
		if (f[0] & 0x70)
			return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set");
		if (op != WS_OP_CONTINUATION && op != WS_OP_TEXT && op != WS_OP_BINARY &&
		    op != WS_OP_CLOSE && op != WS_OP_PING && op != WS_OP_PONG)
			return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "unknown opcode");
		if (masked == p->client_side)
			return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR,
			            p->client_side ? "masked frame from server" : "unmasked frame from client");
		uint64_t n = f[1] & 0x7F;
		if (control && !fin)
			return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
		if (control && n > WS_MAX_CONTROL_PAYLOAD)
			return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "control frame over 125 bytes");
		size_t hdr = 2;
		if (n == 126) {
			if (avail < 4)
				return WS_NEED_MORE;
			n = load_be(f + 2, 2);
			hdr = 4;
			if (n < 126)
				return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "non-minimal payload length");
		} else if (n == 127) {
			if (avail < 10)
				return WS_NEED_MORE;
			n = load_be(f + 2, 8);
			hdr = 10;
			if (n >> 63)
				return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "payload length with the high bit set");
			if (n <= 0xFFFF)
				return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "non-minimal payload length");
		}
		if (!control) {
			if (op == WS_OP_CONTINUATION && !p->fragmented)
				return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "continuation frame outside a message");
			if (op != WS_OP_CONTINUATION && p->fragmented)
				return fail(p, ev, WS_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one");
			size_t so_far = op == WS_OP_CONTINUATION ? p->message.len : 0;
			if (n > p->max_message - so_far)
				return fail(p, ev, WS_CLOSE_TOO_BIG, "message too big");
		}
		const unsigned char *key = NULL;
		if (masked) {
			if (avail < hdr + 4)
				return WS_NEED_MORE;
			key = f + hdr;
			hdr += 4;
		}
		if (avail - hdr < n)
			return WS_NEED_MORE;
		char *payload = data + off + hdr;
		size_t plen = (size_t)n;
		if (key)
			ws_mask(payload, plen, key, 0);
		off += hdr + plen;
		*consumed = off;

		if (control) {
			ev->opcode = op;
			if (op == WS_OP_CLOSE)
				return parse_close(p, payload, plen, ev);
			ev->data = payload;
			ev->len = plen;
			return op == WS_OP_PING ? WS_PING : WS_PONG;
		}
		if (op != WS_OP_CONTINUATION && fin) {   /* a whole message: no copy */
			if (op == WS_OP_TEXT && json_utf8_check(payload, plen, NULL) != UTF8_VALID)
				return fail(p, ev, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
			ev->opcode = op;
			ev->data = payload;
			ev->len = plen;
			return WS_MESSAGE;
		}
		if (op != WS_OP_CONTINUATION) {
			p->fragmented = op;
			p->utf8_checked = 0;
			buf_reset(&p->message);
		}
		buf_append(&p->message, payload, plen);
		if (buf_failed(&p->message))
			return fail(p, ev, WS_CLOSE_TOO_BIG, "out of memory for message");
		if (p->fragmented == WS_OP_TEXT) {
			/* a character may straddle fragments: only the end may be incomplete */
			utf8_status st = UTF8_VALID;
			if (p->message.len > p->utf8_checked) {
				size_t checked;
				st = json_utf8_check(p->message.data + p->utf8_checked,
				                     p->message.len - p->utf8_checked, &checked);
				p->utf8_checked += checked;
			}
			if (st == UTF8_INVALID || (st == UTF8_TRUNCATED && fin))
				return fail(p, ev, WS_CLOSE_INVALID_DATA, "invalid UTF-8 in text message");
		}
		if (fin) {
			ev->opcode = p->fragmented;
			ev->data = p->message.data ? p->message.data : "";
			ev->len = p->message.len;
			p->fragmented = 0;
			return WS_MESSAGE;
		}
	}
}

size_t ws_frame_header(unsigned char out[WS_MAX_HEADER], ws_opcode op, bool fin, uint64_t n,
                       const unsigned char *mask)
{
	size_t h = 2;
	out[0] = (unsigned char)((fin ? 0x80 : 0) | (op & 0x0F));
	if (n < 126) {
		out[1] = (unsigned char)n;
	} else if (n <= 0xFFFF) {
		out[1] = 126;
		out[2] = (unsigned char)(n >> 8);
		out[3] = (unsigned char)n;
		h = 4;
	} else {
		out[1] = 127;
		for (int i = 0; i < 8; i++)
			out[2 + i] = (unsigned char)(n >> (56 - 8 * i));
		h = 10;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + h, mask, 4);
		h += 4;
	}
	return h;
}

void ws_encode(buf *out, ws_opcode op, const void *payload, size_t n, const unsigned char *mask)
{
	unsigned char hdr[WS_MAX_HEADER];
	size_t h = ws_frame_header(hdr, op, true, n, mask);
	if (!buf_reserve(out, h + n))
		return;
	buf_append(out, hdr, h);
	size_t start = out->len;
	buf_append(out, payload, n);
	if (mask)
		ws_mask(out->data + start, n, mask, 0);
}

void ws_encode_close(buf *out, uint16_t code, const char *reason, size_t n, const unsigned char *mask)
{
	char payload[WS_MAX_CONTROL_PAYLOAD];
	size_t len = 0;
	if (code) {
		payload[0] = (char)(code >> 8);
		payload[1] = (char)code;
		size_t room = WS_MAX_CONTROL_PAYLOAD - 2;
		if (!reason)
			n = 0;
		if (n > room) {
			n = room;
			while (n > 0 && ((unsigned char)reason[n] & 0xC0) == 0x80)
				n--;   /* do not cut a character in half */
		}
		if (n)
			memcpy(payload + 2, reason, n);
		len = 2 + n;
	}
	ws_encode(out, WS_OP_CLOSE, payload, len, mask);
}

void ws_accept_key(const char *client_key, size_t len, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char digest[br_sha1_SIZE];
	br_sha1_context ctx;
	br_sha1_init(&ctx);
	br_sha1_update(&ctx, client_key, len);
	br_sha1_update(&ctx, guid, sizeof guid - 1);
	br_sha1_out(&ctx, digest);
	out[base64_encode(digest, sizeof digest, out)] = 0;
}

bool ws_key_valid(const char *key, size_t len)
{
	unsigned char raw[18];
	return len == 24 && base64_decode(key, len, raw) == 16;
}
