/* j0_callback's address classifier and submission-time URL check; the
 * delivery pool's bounds, its done reports from several workers, and its
 * shutdown with tries in progress (a real listener on 127.0.0.1 that never
 * answers). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "j0_callback.h"
#include "log.h"
#include "loop.h"
#include "t.h"

/* A listener that never accepts: the kernel completes the connections
 * (backlog) and the PUT is sent, but no answer ever comes. */
static int silent_listener(unsigned *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	return fd;
}

typedef struct reports {
	loop *l;
	int n, delivered, want;
	char seen[64];   /* per token "t<i>": how many reports */
} reports;

static void on_done(void *ctx, const char *token, bool delivered)
{
	reports *r = ctx;
	r->n++;
	r->delivered += delivered;
	int i = atoi(token + 1);
	if (token[0] == 't' && i >= 0 && i < (int)sizeof r->seen)
		r->seen[i]++;
	if (r->n == r->want)
		loop_stop(r->l);
}

/* The guard against a hung test; a fired timer is freed, so it forgets it. */
static void on_timeout(loop *l, void *arg)
{
	*(loop_timer **)arg = NULL;
	loop_stop(l);
}

static void pool(void)
{
	loop *l = loop_new();
	unsigned port = 0;
	int ls = silent_listener(&port);
	CHECK(l && ls >= 0);
	if (!l || ls < 0)
		return;
	char hang[64], tok[16];
	snprintf(hang, sizeof hang, "http://127.0.0.1:%u/hang", port);

	/* the count bound covers every held delivery, the running ones too */
	cfg.judge0_callback_allow_private = true;
	reports r = {.l = l};
	j0cb *q = j0cb_new(l, on_done, &r);
	CHECK(q != NULL);
	if (!q)
		return;
	int accepted = 0;
	for (int i = 0; i < J0CB_MAX_QUEUED + 5; i++) {
		snprintf(tok, sizeof tok, "h%d", i);
		accepted += j0cb_enqueue(q, tok, hang, "{}", 2) == 0;
	}
	CHECKF(accepted == J0CB_MAX_QUEUED, "%d accepted of %d", accepted, J0CB_MAX_QUEUED + 5);
	usleep(300 * 1000);   /* the workers have taken theirs (the tries hang) */
	CHECK(j0cb_enqueue(q, "late", hang, "{}", 2) == -1);
	/* j0cb_free waits for the tries in progress, side by side: one try's time */
	uint64_t t0 = mono_ns();
	j0cb_free(q);
	uint64_t ms = (mono_ns() - t0) / 1000000;
	CHECKF(ms < J0CB_TRY_MS + 1500, "j0cb_free took %llu ms", (unsigned long long)ms);
	CHECKF(r.n == 0, "cut and queued deliveries are not reported (%d were)", r.n);

	/* the byte bound */
	size_t big = 33u << 20;
	char *body = malloc(big);
	CHECK(body != NULL);
	q = j0cb_new(l, on_done, &r);
	if (body && q) {
		memset(body, ' ', big);
		CHECK(j0cb_enqueue(q, "b0", hang, body, big) == 0);
		CHECK(j0cb_enqueue(q, "b1", hang, body, big - (1u << 20)) == -1);   /* 65 MiB > 64 */
		CHECK(j0cb_enqueue(q, "b2", hang, body, 1u << 20) == 0);
	}
	free(body);
	j0cb_free(q);

	/* done from several workers at once: each delivery reported exactly once */
	cfg.judge0_callback_allow_private = false;   /* 127.0.0.1 refused at once: no network wait */
	memset(&r, 0, sizeof r);
	r.l = l, r.want = 60;
	q = j0cb_new(l, on_done, &r);
	CHECK(q != NULL);
	if (!q)
		return;
	for (int i = 0; i < r.want; i++) {
		snprintf(tok, sizeof tok, "t%d", i);
		CHECK(j0cb_enqueue(q, tok, hang, "{}", 2) == 0);
	}
	loop_timer *guard = NULL;
	guard = loop_timer_add(l, 10000, on_timeout, &guard);
	loop_run(l);
	loop_timer_cancel(l, guard);
	int once = 0;
	for (int i = 0; i < r.want; i++)
		once += r.seen[i] == 1;
	CHECKF(r.n == r.want && once == r.want && r.delivered == 0, "%d reports, %d tokens once, %d delivered", r.n,
	       once, r.delivered);
	j0cb_free(q);
	close(ls);
	loop_free(l);
}

static const char *v4(const char *ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return "bad test address";
	return j0cb_address_refused((struct sockaddr *)&a);
}

static const char *v6(const char *ip)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET6, ip, &a.sin6_addr) != 1)
		return "bad test address";
	return j0cb_address_refused((struct sockaddr *)&a);
}

static int is(const char *why, const char *want) { return why && !strcmp(why, want); }

int main(void)
{
	static const char *const refused4[] = {
		"127.0.0.1", "127.255.255.255", "0.0.0.0", "0.1.2.3", "169.254.169.254", "169.254.0.0",
		"10.0.0.0", "10.255.255.255", "172.16.0.0", "172.31.255.255", "192.168.0.0", "192.168.255.255"};
	for (size_t i = 0; i < sizeof refused4 / sizeof refused4[0]; i++)
		CHECKF(v4(refused4[i]) != NULL, "%s must be refused", refused4[i]);
	static const char *const allowed4[] = {
		"172.15.255.255", "172.32.0.0", "8.8.8.8", "1.1.1.1", "169.253.255.255", "169.255.0.0",
		"11.0.0.0", "9.255.255.255", "192.167.255.255", "192.169.0.0", "128.0.0.1", "126.255.255.255"};
	for (size_t i = 0; i < sizeof allowed4 / sizeof allowed4[0]; i++)
		CHECKF(v4(allowed4[i]) == NULL, "%s must be allowed (%s)", allowed4[i], v4(allowed4[i]));
	CHECK(is(v4("127.0.0.1"), "loopback"));
	CHECK(is(v4("169.254.169.254"), "link-local"));
	CHECK(is(v4("172.16.0.0"), "private"));
	CHECK(is(v6("::ffff:172.31.0.1"), "private"));

	static const char *const refused6[] = {
		"::1", "::", "fe80::1", "febf:ffff::1", "fc00::1", "fdff:ffff:ffff::1", "::ffff:127.0.0.1",
		"::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:172.16.0.1", "::ffff:192.168.1.1", "::ffff:0.0.0.0"};
	for (size_t i = 0; i < sizeof refused6 / sizeof refused6[0]; i++)
		CHECKF(v6(refused6[i]) != NULL, "%s must be refused", refused6[i]);
	static const char *const allowed6[] = {
		"2001:db8::1", "2606:4700::1111", "fec0::1", "fe7f::1", "fbff::1", "fe00::1", "::ffff:8.8.8.8",
		"::ffff:172.15.255.255", "::2", "::1:0"};
	for (size_t i = 0; i < sizeof allowed6 / sizeof allowed6[0]; i++)
		CHECKF(v6(allowed6[i]) == NULL, "%s must be allowed (%s)", allowed6[i], v6(allowed6[i]));
	struct sockaddr other = {.sa_family = AF_UNIX};
	CHECK(j0cb_address_refused(&other) != NULL);

	/* submission-time URL check */
#define URL(u, priv) j0cb_url_problem(u, strlen(u), priv)
	CHECK(URL("ftp://x", true) != NULL);
	CHECK(URL("ftp://x", false) != NULL);
	CHECK(URL("x", false) != NULL);
	CHECK(URL("http://example.com/cb", false) == NULL);
	CHECK(URL("https://example.com:8443/cb?x=1", false) == NULL);
	CHECK(URL("http://127.0.0.1:8080/", false) != NULL);
	CHECK(URL("http://127.0.0.1:8080/", true) == NULL);
	CHECK(URL("http://169.254.169.254/", false) != NULL);
	CHECK(URL("http://[::1]/", false) != NULL);
	CHECK(URL("http://[::ffff:127.0.0.1]/", false) != NULL);
	CHECK(URL("http://8.8.8.8/", false) == NULL);
	CHECK(j0cb_url_problem("http://a\0b", 10, false) != NULL);   /* a NUL inside */
	char longurl[J0CB_URL_MAX + 20];
	memset(longurl, 'a', sizeof longurl - 1);
	longurl[sizeof longurl - 1] = 0;
	memcpy(longurl, "http://x/", 9);
	CHECK(URL(longurl, true) != NULL);
	longurl[J0CB_URL_MAX] = 0;
	CHECK(URL(longurl, true) == NULL);

	log_set_level(LOG_ERROR);   /* the refusals and drops below are expected */
	pool();
	return t_done();
}
