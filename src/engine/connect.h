/*
 * connect: the interactive WebSocket endpoint GET /api/v2/connect
 * (SPEC section 1): an RFC 6455 handshake, then upstream Piston's message
 * protocol on top of the job machinery of execute.h.
 *
 * Promises:
 * - Client messages: init (execute fields; stdin ignored), data (stdin of
 *   the run stage), signal (delivered to the program). Server messages:
 *   runtime, stage, data (live stdout/stderr, capped like execute), exit,
 *   error. Close codes 4000-4005 and 4999 exactly as upstream.
 * - Output chunks never split a UTF-8 character across two data messages.
 * - A client that goes away cancels its job at once.
 */
#ifndef PISTON_CONNECT_H
#define PISTON_CONNECT_H

#include "engine.h"

/* Routes GET /api/v2/connect. Call after execute_register. */
void connect_register(engine *e);

#endif
