/*
 * j0_callback: delivery of Judge0 callback_url PUTs (judge0.c).
 *
 * Why a thread: httpc is a blocking client and a receiver may be slow or
 * hang; one dedicated thread runs the deliveries one after another, so the
 * event loop never waits on a callback. Each finished delivery is posted
 * back through a pipe the loop watches, and the done function runs on the
 * loop thread (like sandbox.c's closer thread, in reverse).
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
 * - At most J0CB_MAX_QUEUED deliveries (and J0CB_MAX_QUEUED_BYTES of bodies)
 *   wait; beyond that j0cb_enqueue drops the new one with a WARN line.
 * - done(ctx, token, delivered) runs once per enqueued delivery, on the loop
 *   thread (inside j0cb_free for those finished by then); a delivery still
 *   queued or cut by j0cb_free never gets it.
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

typedef struct j0cb j0cb;
typedef void j0cb_done_fn(void *ctx, const char *token, bool delivered);

/* Starts the delivery thread. NULL (with a log line) on failure. */
j0cb *j0cb_new(loop *l, j0cb_done_fn *done, void *ctx);
/* Stops the thread (waits for a try in progress, at most J0CB_TRY_MS),
 * reports the finished deliveries and drops what is queued (no done). */
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
