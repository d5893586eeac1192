/*
 * ws: the RFC 6455 WebSocket codec. Pure: no I/O, no clock; the caller owns
 * the socket and its input buffer.
 *
 * Parser promises:
 * - Works on the caller's input bytes: ws_parse looks at data[0..len),
 *   absorbs any complete fragments of a fragmented message, and stops at
 *   the first event or incomplete frame. The caller always drops *consumed
 *   bytes afterwards (after using the event's data). A frame header is checked
 *   as soon as it is complete, so a bad or oversized frame is refused before
 *   its payload arrives. The caller's buffer must be able to hold one whole
 *   frame (max_message + 14 bytes).
 * - Payloads are unmasked in place. Event data points into the caller's
 *   bytes (unfragmented messages and control frames: no copy) or into the
 *   parser's reassembly buffer (fragmented messages); it stays valid until
 *   the caller drops the consumed bytes or calls ws_parse again.
 * - Enforces: masking (server side: client frames masked; client side:
 *   server frames unmasked), zero RSV bits, known opcodes, control frames
 *   final and <= 125 bytes, minimal length encodings, 64-bit lengths without
 *   the high bit, continuation only inside a fragmented message and no new
 *   message inside one (all -> 1002); messages <= max_message (-> 1009);
 *   text messages and close reasons valid UTF-8 (-> 1007); close codes
 *   that may be sent on the wire (-> 1002). After WS_ERROR the parser stays
 *   failed: the caller sends a close with ev.close_code and hangs up.
 *
 * Encoder promises: one frame per call, any payload size (7/16/64-bit
 * lengths); server frames unmasked, client frames masked with the caller's
 * 4-byte key (the codec has no randomness of its own).
 */
#ifndef PISTON_WS_H
#define PISTON_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef enum {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
} ws_opcode;

enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL_ERROR = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,        /* never sent: "the close frame had no code" */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL_ERROR = 1011,
};

#define WS_MAX_HEADER 14
#define WS_MAX_CONTROL_PAYLOAD 125

typedef enum {
	WS_NEED_MORE,   /* incomplete frame (complete fragments may have been consumed) */
	WS_MESSAGE,     /* complete text or binary message (ev.opcode, data, len) */
	WS_PING,        /* answer with a pong carrying ev.data/len */
	WS_PONG,
	WS_CLOSE,       /* peer closes: ev.close_code (1005 if none), reason in data/len */
	WS_ERROR,       /* violation: send close ev.close_code (reason ev.error), hang up */
} ws_result;

typedef struct ws_event {
	ws_opcode opcode;
	const char *data;
	size_t len;
	uint16_t close_code;
	const char *error;      /* WS_ERROR: a short reason, fit for a close frame */
} ws_event;

typedef struct ws_parser {
	bool client_side;       /* we are the client: frames must be unmasked */
	uint16_t fail_code;     /* non-zero once failed: every later call repeats the error */
	const char *fail_reason;
	size_t max_message;
	ws_opcode fragmented;   /* opcode of the message being reassembled, or 0 */
	size_t utf8_checked;    /* prefix of message known to be valid UTF-8 */
	buf message;            /* reassembly of a fragmented message */
} ws_parser;

/* client_side false: a server parsing masked client frames. */
void ws_parser_init(ws_parser *p, bool client_side, size_t max_message);
void ws_parser_free(ws_parser *p);
/* Parse from data[0..len) (modified: unmasked in place) up to one event;
 * sets *consumed to the bytes used, which the caller then drops. */
ws_result ws_parse(ws_parser *p, char *data, size_t len, size_t *consumed, ws_event *ev);

/* Frame header for an n-byte payload; mask NULL for server frames.
 * Returns its length (2..14). */
size_t ws_frame_header(unsigned char out[WS_MAX_HEADER], ws_opcode op, bool fin, uint64_t n,
                       const unsigned char *mask);
/* Append one final frame; mask NULL (server) or a 4-byte key (client). */
void ws_encode(buf *out, ws_opcode op, const void *payload, size_t n, const unsigned char *mask);
/* Append a close frame; the reason is cut to fit 125 bytes at a UTF-8
 * boundary. code 0 sends an empty close (no code). */
void ws_encode_close(buf *out, uint16_t code, const char *reason, size_t n, const unsigned char *mask);
/* XOR data with the 4-byte key, starting at key offset `phase`. */
void ws_mask(void *data, size_t n, const unsigned char key[4], size_t phase);

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key: 28 chars + NUL. */
void ws_accept_key(const char *client_key, size_t len, char out[29]);
/* true if key is a valid Sec-WebSocket-Key (base64 of 16 bytes). */
bool ws_key_valid(const char *key, size_t len);
/* true if code may appear in a close frame on the wire. */
bool ws_close_code_valid(unsigned code);

#endif
