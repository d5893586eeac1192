/*
 * stats: usage statistics of the engine (SPEC section 1, "Usage
 * statistics"): GET /api/v2/stats (JSON) and GET /metrics (Prometheus text).
 *
 * Counters are plain integers updated on the event loop by execute.c and
 * judge0.c (callbacks; no
 * locks, no allocation per job once a language has been seen). Latencies are
 * kept in microseconds as fixed-bucket histograms plus a ring of the last
 * 1024 values (exact percentiles), for the whole job and for its parts:
 * queueing, sandbox set-up, the program's run and teardown -- so a cost
 * such as a kernel wait in set-up shows in production, not only under
 * strace.
 */
#ifndef PISTON_STATS_H
#define PISTON_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

/* Creates e->stats and routes GET /api/v2/stats and GET /metrics. */
void stats_register(engine *e);
void stats_free(stats *s);

/* Where a job's time went, in us. total = request to response; queue =
 * waiting for a slot; setup = box, files and each stage's sandbox up to the
 * command's exec; run = each command from exec to exit; teardown = each
 * stage from the command's exit to its result. queue + setup + run +
 * teardown = total, less the request's own parsing. */
typedef struct stats_latency {
	uint64_t total_us, queue_us, setup_us, run_us, teardown_us;
} stats_latency;

/* A job finished. status: "" (clean), "RE","SG","TO","OL","EL","XX" of its
 * last stage, or "error" (could not run) / "cancelled" (client left). */
void stats_job_done(stats *s, const char *language, const char *status, const stats_latency *lat);
/* One test of a request's `tests` ran; status as for stats_job_done. */
void stats_test_run(stats *s, const char *status);
/* A request was refused because the queue was full (503). */
void stats_job_rejected(stats *s);
/* A request failed validation (400). */
void stats_job_invalid(stats *s);
/* A Judge0 callback ended: delivered (2xx), or failed (refused or given up). */
void stats_judge0_callback(stats *s, bool delivered);

#endif
