/*
 * stats: usage statistics of the engine (SPEC section 1, "Usage
 * statistics"): GET /api/v2/stats (JSON) and GET /metrics (Prometheus text).
 *
 * Counters are plain integers updated on the event loop by execute.c (no
 * locks, no allocation per job once a language has been seen). Latencies are
 * kept as fixed-bucket histograms (queue wait and total job time).
 */
#ifndef PISTON_STATS_H
#define PISTON_STATS_H

#include <stdint.h>

#include "engine.h"

/* Creates e->stats and routes GET /api/v2/stats and GET /metrics. */
void stats_register(engine *e);
void stats_free(stats *s);

/* A job finished. status: "" (clean), "RE","SG","TO","OL","EL","XX" of its
 * last stage, or "error" (could not run) / "cancelled" (client left).
 * queue_ms: time waiting for a slot; total_ms: request to response. */
void stats_job_done(stats *s, const char *language, const char *status,
                    uint64_t queue_ms, uint64_t total_ms);
/* A request was refused because the queue was full (503). */
void stats_job_rejected(stats *s);
/* A request failed validation (400). */
void stats_job_invalid(stats *s);

#endif
