/*
 * serve: `piston serve` -- configuration, the event loop, the HTTP server,
 * the API modules, and a graceful shutdown on SIGTERM/SIGINT: drain (keep
 * listening so /healthz can say 503 and new executes are refused with 503,
 * see health.h), let queued and running jobs finish and their answers go
 * out (at most cfg.shutdown_grace_ms), then exit 0. A second signal exits
 * at once.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#include "commands.h"
#include "config.h"
#include "connect.h"
#include "engine.h"
#include "execute.h"
#include "judge0.h"
#include "fdtable.h"
#include "health.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "packages_api.h"
#include "pkgwatch.h"
#include "repo.h"
#include "stats.h"

#define SHUTDOWN_POLL_MS 25

typedef struct serve_state {
	engine e;
	uint64_t shutdown_deadline;
	int signals;
} serve_state;

static void root_handler(http_conn *c, const http_request *req, void *ctx)
{
	static const char body[] = "{\"message\":\"Piston v" PISTON_VERSION "\"}";
	http_respond_json(c, 200, body, sizeof body - 1);
}

static void runtimes_handler(http_conn *c, const http_request *req, void *ctx)
{
	engine *e = ctx;
	const buf *b = runtimes_json(e->runtimes);
	http_respond_json(c, 200, b->data, b->len);
}

/* ---- the "is work still running?" hook for graceful shutdown ---- */
static bool work_pending(engine *e)
{
	if (e->jobs && (execute_running(e) || execute_queued(e)))
		return true;
	return http_server_busy(e->http) > 0;
}

static void shutdown_poll(loop *l, void *arg)
{
	serve_state *st = arg;
	if (!work_pending(&st->e)) {
		log_info("shutdown: all work done");
		loop_stop(l);
		return;
	}
	if (loop_now(l) >= st->shutdown_deadline) {
		log_warn("shutdown: grace period over with work still running; stopping it");
		loop_stop(l);
		return;
	}
	loop_timer_add(l, SHUTDOWN_POLL_MS, shutdown_poll, st);
}

static void on_signal(loop *l, int signo, void *arg)
{
	serve_state *st = arg;
	if (st->signals++) {
		log_warn("shutdown: second signal (%s), stopping now", strsignal(signo));
		loop_stop(l);
		return;
	}
	log_info("shutdown: %s received; draining: no new jobs (503), finishing running work", strsignal(signo));
	/* Still listening: orchestrators and proxies read the drain on /healthz. */
	st->e.shutting_down = true;
	st->shutdown_deadline = loop_now(l) + cfg.shutdown_grace_ms;
	shutdown_poll(l, st);
}

/* Many connections and job pipes: use every descriptor we are allowed. */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int cmd_serve(int argc, char **argv)
{
	int r = config_load(argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 1;
	log_set_level(cfg.log_level);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	fdtable_reserve(4096);   /* before the sandbox's helper thread exists (fdtable.h) */

	serve_state st = {0};   /* lives until the loop returns, below */
	engine *e = &st.e;
	e->loop = loop_new();
	if (!e->loop) {
		log_error("cannot create the event loop");
		return 1;
	}
	e->started_ms = loop_now(e->loop);
	char err[256];
	e->http = http_server_new(e->loop, cfg.bind_address, err, sizeof err);
	if (!e->http) {
		log_error("%s", err);
		loop_free(e->loop);
		return 1;
	}
	engine_rescan(e);
	if (!e->runtimes) {
		log_error("cannot scan %s/packages", cfg.data_directory);
		return 1;
	}
	http_route(e->http, "GET", "/", root_handler, e);
	http_route(e->http, "GET", "/api/v2/runtimes", runtimes_handler, e);

	/* ---- API modules: each registers its routes here, one line each ---- */
	execute_register(e);
	connect_register(e);
	packages_register(e);
	stats_register(e);
	health_register(e);
	judge0_register(e);
	/* ---- end of module registration ---- */

	if (loop_signal(e->loop, SIGTERM, on_signal, &st) < 0 || loop_signal(e->loop, SIGINT, on_signal, &st) < 0) {
		log_error("cannot watch signals");
		return 1;
	}
	pkgwatch *watch = pkgwatch_start(e);
	log_info("piston v" PISTON_VERSION " listening on %s (port %d), data directory %s",
	         cfg.bind_address, http_server_port(e->http), cfg.data_directory);
	if (!cfg.repo_url[0])   /* said once here, and again by each package request */
		log_info("packages: %s", REPO_NONE_MESSAGE);
	int rc = loop_run(e->loop) < 0 ? 1 : 0;

	/* Connections first: a client still waiting has its job cancelled
	 * through its on_close callback while the job is still alive. */
	http_server_free(e->http);
	e->http = NULL;
	pkgwatch_stop(watch);
	packages_unregister(e);
	judge0_unregister(e);
	execute_unregister(e);
	if (e->stats)
		stats_free(e->stats);
	if (e->sandbox)
		sbx_system_free(e->sandbox);
	runtimes_unref(e->runtimes);
	loop_free(e->loop);
	log_info("stopped");
	return rc;
}
