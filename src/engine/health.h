/*
 * health: GET /healthz on the engine (SPEC section 5), and the refusal of
 * new work while the engine drains after SIGTERM.
 *
 * Promises:
 * - GET /healthz answers 200 {"status":"ok","runtimes":N} when the engine
 *   takes jobs; 503 {"status":"draining","message"} after SIGTERM (running
 *   and queued jobs are still finishing); 503 {"status":"no_runtime",
 *   "message"} when no runtime is installed. No authentication, no body.
 * - health_refuse_if_draining answers a request that would start new work
 *   with 503 {"message"} and an "X-Piston-Draining: 1" header while the
 *   engine drains: the header tells a proxy the request never ran, so it
 *   may send it to another engine.
 */
#ifndef PISTON_HEALTH_H
#define PISTON_HEALTH_H

#include <stdbool.h>

#include "engine.h"
#include "http.h"

#define HEALTH_DRAINING_HEADER "X-Piston-Draining"

void health_register(engine *e);
/* True (and the 503 sent) when e drains; false: go on with the request. */
bool health_refuse_if_draining(engine *e, http_conn *c);

#endif
