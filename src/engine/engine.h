/*
 * engine: the running `piston serve` -- the one context object that the
 * API modules share. It is created by serve.c and passed to each module's
 * *_register function; modules keep a pointer to it.
 */
#ifndef PISTON_ENGINE_H
#define PISTON_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "loop.h"
#include "runtimes.h"
#include "sandbox.h"

typedef struct job_queue job_queue;   /* execute.c */
typedef struct stats stats;           /* stats.c */
typedef struct pkg_api pkg_api;       /* packages_api.c */
typedef struct judge0 judge0;         /* judge0.c */

typedef struct engine {
	loop *loop;
	http_server *http;
	sbx_system *sandbox;              /* NULL if the sandbox could not start */
	runtime_set *runtimes;            /* current snapshot; swap with engine_rescan */
	job_queue *jobs;
	stats *stats;
	pkg_api *packages;
	judge0 *judge0;                   /* NULL unless PISTON_JUDGE0_API */
	uint64_t started_ms;
	bool shutting_down;
} engine;

/* Rescan the data directory and publish a new runtimes snapshot. */
void engine_rescan(engine *e);

#endif
