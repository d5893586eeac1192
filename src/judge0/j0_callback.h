/*
 * j0_callback: delivery of Judge0 callback_url PUTs (judge0.c).
 *
 * Why threads: httpc is a blocking client and a receiver may be slow or
 * hang; J0CB_WORKERS delivery threads take the queued deliveries in order,
 * each delivering one at a time, so the event loop never waits on a callback
 * and a hanging receiver holds one worker, not every callback behind it (as
 * Judge0 delivers from independent background workers). Each finished
 * delivery is handed back to the loop (an eventfd it watches), and the done
 * function runs on the loop thread (like sandbox.c's closer thread, in
 * reverse).
 *
 * Promises:
 * - A delivery is a PUT of the given JSON body (Content-Type:
 *   application/json) to the URL: up to J0CB_TRIES tries, J0CB_TRY_MS per try,
 *   waiting 1 s, then 2 s between tries (doubling), all within J0CB_DEADLINE_MS.
 *   A 2xx answer is delivered; anything else (other status, timeout, refused
 *   connection) is tried again. Redirects are never followed.
 * - SSRF: the host is resolved ONCE per try; if ANY address is refused by
 *   j0cb_address_refused or is one of this host's own interface addresses
 *   (getifaddrs), nothing is sent and the delivery ends at once (a WARN line),
 *   unless cfg.judge0_callback_allow_private. The connection goes to exactly
 *   the address that was checked (no second resolution).
 * - Up to J0CB_WORKERS deliveries run at once, at most J0CB_PER_DESTINATION
 *   of them to the same host:port; a worker takes the oldest queued delivery
 *   whose destination has room, so one destination's backlog does not hold
 *   back the others. Deliveries to one destination start in queue order but
 *   may end out of order.
 * - At most J0CB_MAX_QUEUED deliveries (and J0CB_MAX_QUEUED_BYTES of bodies)
 *   are held, counting queued, running and finished-but-not-yet-reported
 *   ones; beyond that j0cb_enqueue drops the new one with a WARN line.
 * - done(ctx, token, delivered) runs once per enqueued delivery that was
 *   delivered or given up, on the loop thread (inside j0cb_free for those
 *   finished by then); a delivery still queued, or cut between tries by
 *   j0cb_free, never gets it (the caller's journal keeps it pending).
 */
#ifndef PISTON_J0_CALLBACK_H
#define PISTON_J0_CALLBACK_H

#include <stdbool.h>
#include <stddef.h>

struct sockaddr;
typedef struct loop loop;

#define J0CB_TRIES 3
#define J0CB_TRY_MS 3000
#define J0CB_FIRST_GAP_MS 1000
#define J0CB_DEADLINE_MS 15000
#define J0CB_MAX_QUEUED 1000
#define J0CB_MAX_QUEUED_BYTES (64u << 20)
#define J0CB_URL_MAX 2048
/* Deliveries are network waits, not CPU work: the pool's size is how many
 * slow or hanging receivers (each holding a worker up to J0CB_DEADLINE_MS)
 * can be waited on at once before healthy ones queue behind them. Four keeps
 * the threads and sockets few while one hostile destination, held to two,
 * leaves half the pool to everyone else. */
#define J0CB_WORKERS 4
#define J0CB_PER_DESTINATION 2

typedef struct j0cb j0cb;
typedef void j0cb_done_fn(void *ctx, const char *token, bool delivered);

/* Starts the delivery threads. NULL (with a log line) on failure. */
j0cb *j0cb_new(loop *l, j0cb_done_fn *done, void *ctx);
/* Stops the threads (waits for the tries in progress, which run side by
 * side: at most J0CB_TRY_MS in all), reports the finished deliveries and
 * drops what is queued or was cut between tries (no done). */
void j0cb_free(j0cb *q);

/* Queues a PUT of body to url for the submission token. 0, or -1 if the
 * queue is full or memory ran out (logged; done is then not called). */
int j0cb_enqueue(j0cb *q, const char *token, const char *url, const char *body, size_t len);

/* Submission-time check (no DNS): NULL if url is acceptable, else the
 * Judge0-style message for the callback_url field. A literal IP host that
 * j0cb_address_refused refuses is refused here unless allow_private. */
const char *j0cb_url_problem(const char *url, size_t len, bool allow_private);

/* NULL if sa (IPv4 or IPv6) may be called back, else why not: loopback
 * (127/8, ::1), link-local (169.254/16, fe80::/10), unspecified (0/8,
 * ::), private (10/8, 172.16/12, 192.168/16, fc00::/7), also as IPv4-mapped
 * (::ffff:a.b.c.d) IPv6; any other family is refused. */
const char *j0cb_address_refused(const struct sockaddr *sa);

#endif
