/* packages_api: /api/v2/packages (see packages_api.h). */
#include "packages_api.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "execute.h"
#include "install.h"
#include "json.h"
#include "log.h"
#include "repo.h"

#define MAX_WORKERS 16   /* package worker processes at once; more requests get 503 */

/* The routes' context: the engine and how many workers are running. */
typedef struct pkg_api {
	engine *e;
	unsigned workers;
} pkg_api;

/* One request being served by a child process. */
typedef struct pkg_op {
	pkg_api *api;
	http_conn *conn;        /* NULL once the client went away (or nobody waits) */
	pid_t pid;
	int fd;                 /* read end of the result pipe */
	buf out;                /* "STATUS\n" then the JSON body */
	bool rescan;            /* engine_rescan when the child succeeded */
	char what[200];         /* for the log */
} pkg_op;

typedef struct pkg_args {
	char language[128];
	char version[128];
} pkg_args;

/* ---- the child side: work functions write "STATUS\nBODY" to out ---- */

static void result_message(buf *out, int status, const char *message)
{
	buf body = BUF_INIT;
	jw w;
	jw_init(&w, &body);
	jw_object_begin(&w);
	jw_key(&w, "message");
	jw_string(&w, message);
	jw_object_end(&w);
	buf_printf(out, "%d\n", status);
	buf_append(out, body.data, body.len);
	buf_free(&body);
}

static void result_package(buf *out, const char *language, const char *version)
{
	buf_puts(out, "200\n");
	jw w;
	jw_init(&w, out);
	jw_object_begin(&w);
	jw_key(&w, "language");
	jw_string(&w, language);
	jw_key(&w, "version");
	jw_string(&w, version);
	jw_object_end(&w);
}

static void work_list(const pkg_args *a, buf *out)
{
	(void)a;
	repo_index idx;
	char err[700];
	if (repo_fetch_index(cfg.repo_url, cfg.ca_file, &idx, err, sizeof err) < 0) {
		char msg[800];
		snprintf(msg, sizeof msg, "cannot read the package repository: %s", err);
		result_message(out, 502, msg);
		return;
	}
	buf_puts(out, "200\n");
	jw w;
	jw_init(&w, out);
	jw_array_begin(&w);
	for (size_t i = 0; i < idx.n; i++) {
		const repo_entry *en = &idx.entries[i];
		char v[128], msg[300];
		bool installed = install_find_installed(cfg.data_directory, en->language, en->version,
		                                        v, sizeof v, msg, sizeof msg) == 0;
		jw_object_begin(&w);
		jw_key(&w, "language");
		jw_string(&w, en->language);
		jw_key(&w, "language_version");
		jw_string(&w, en->version);
		jw_key(&w, "installed");
		jw_bool(&w, installed);
		jw_object_end(&w);
	}
	jw_array_end(&w);
	repo_index_free(&idx);
}

static void work_install(const pkg_args *a, buf *out)
{
	install_request rq = {
		.data_dir = cfg.data_directory, .repo_url = cfg.repo_url, .ca_file = cfg.ca_file,
		.language = a->language, .selector = a->version,
	};
	char version[128], msg[1200];
	int st = install_package(&rq, version, sizeof version, msg, sizeof msg);
	if (st == 0)
		result_package(out, a->language, version);
	else
		result_message(out, st, msg);
}

static void work_cleanup(const pkg_args *a, buf *out)
{
	(void)a;
	install_cleanup(cfg.data_directory);
	buf_puts(out, "200\n{}");
}

/* ---- the parent side ---- */

static void op_respond(pkg_op *op)
{
	if (!op->conn)
		return;
	int status = 0;
	const char *nl = op->out.data ? memchr(op->out.data, '\n', op->out.len) : NULL;
	if (nl)
		status = atoi(op->out.data);
	if (!nl || status < 200 || status > 599) {
		http_respond_error(op->conn, 500, "the package worker process died");
	} else {
		size_t off = (size_t)(nl + 1 - op->out.data);
		http_respond_json(op->conn, status, op->out.data + off, op->out.len - off);
	}
	op->conn = NULL;
}

static void op_client_gone(void *arg)
{
	pkg_op *op = arg;
	op->conn = NULL;   /* the work goes on; only the answer is dropped */
}

static void op_readable(loop *l, int fd, unsigned events, void *arg)
{
	pkg_op *op = arg;
	char chunk[16384];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n > 0) {
			buf_append(&op->out, chunk, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		break;   /* EOF (the child is exiting) or an error */
	}
	loop_unwatch(l, fd);
	close(fd);
	int wst;
	while (waitpid(op->pid, &wst, 0) < 0 && errno == EINTR)
		;
	bool ok = op->out.len >= 4 && !memcmp(op->out.data, "200\n", 4);
	if (op->rescan && ok)
		engine_rescan(op->api->e);
	if (!ok && op->what[0])
		log_warn("%s failed: %.300s", op->what, op->out.len > 4 ? op->out.data + 4 : "worker died");
	else if (op->what[0])
		log_info("%s done", op->what);
	op_respond(op);
	op->api->workers--;
	buf_free(&op->out);
	free(op);
}

/* Run work(args) in a child; its result answers conn (may be NULL). */
static void spawn(pkg_api *api, http_conn *conn, void (*work)(const pkg_args *, buf *),
                  const pkg_args *args, bool rescan, const char *what)
{
	if (api->workers >= MAX_WORKERS) {
		if (conn)
			http_respond_error(conn, 503, "too many package operations in progress; try again later");
		return;
	}
	pkg_op *op = calloc(1, sizeof *op);
	int p[2];
	if (!op || pipe2(p, O_CLOEXEC) < 0) {
		free(op);
		if (conn)
			http_respond_error(conn, 500, "cannot start the package worker");
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		free(op);
		if (conn)
			http_respond_error(conn, 500, "cannot start the package worker");
		return;
	}
	if (pid == 0) {
		/* child: blocking work, result to the pipe, never back to the loop.
		 * It drops the engine's fds (listening socket, client connections,
		 * epoll) so that a connection the engine closes really closes. */
		close(p[0]);
		if (p[1] > 3)
			syscall(SYS_close_range, 3u, (unsigned)p[1] - 1, 0u);
		syscall(SYS_close_range, (unsigned)p[1] + 1, ~0u, 0u);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGPIPE, SIG_IGN);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		buf out = BUF_INIT;
		work(args, &out);
		if (buf_failed(&out)) {
			buf_reset(&out);
			result_message(&out, 500, "out of memory");
		}
		const char *q = out.data;
		size_t left = out.len;
		while (left > 0) {
			ssize_t n = write(p[1], q, left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			q += n;
			left -= (size_t)n;
		}
		_exit(0);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	op->api = api;
	op->conn = conn;
	op->pid = pid;
	op->fd = p[0];
	op->rescan = rescan;
	snprintf(op->what, sizeof op->what, "%s", what ? what : "");
	if (loop_watch(api->e->loop, p[0], LOOP_READ, op_readable, op) < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		close(p[0]);
		free(op);
		if (conn)
			http_respond_error(conn, 500, "cannot watch the package worker");
		return;
	}
	api->workers++;
	if (conn)
		http_conn_on_close(conn, op_client_gone, op);
}

/* {"language","version"} from the body; false after answering 400. */
static bool parse_body(http_conn *c, const http_request *req, pkg_args *a)
{
	json_error je;
	json_doc *doc = json_parse(req->body ? req->body : "", req->body_len, &je);
	const json_value *root = doc ? json_root(doc) : NULL;
	const json_value *l = json_get(root, "language"), *v = json_get(root, "version");
	const char *problem = NULL;
	if (!doc || !json_is(root, JSON_OBJECT))
		problem = "the body must be a JSON object {\"language\", \"version\"}";
	else if (!json_is(l, JSON_STRING) || l->len == 0 || l->len >= sizeof a->language || memchr(l->u.string, 0, l->len))
		problem = "language is required as a string";
	else if (!json_is(v, JSON_STRING) || v->len == 0 || v->len >= sizeof a->version || memchr(v->u.string, 0, v->len))
		problem = "version is required as a string";
	if (!problem) {
		memcpy(a->language, l->u.string, l->len + 1);
		memcpy(a->version, v->u.string, v->len + 1);
	}
	json_free(doc);
	if (problem)
		http_respond_error(c, 400, problem);
	return problem == NULL;
}

static void handle_list(http_conn *c, const http_request *req, void *ctx)
{
	(void)req;
	pkg_args a = {0};
	spawn(ctx, c, work_list, &a, false, NULL);
}

static void handle_install(http_conn *c, const http_request *req, void *ctx)
{
	pkg_args a;
	if (!parse_body(c, req, &a))
		return;
	char what[300];
	snprintf(what, sizeof what, "install %s-%s", a.language, a.version);
	log_info("%s", what);
	spawn(ctx, c, work_install, &a, true, what);
}

static void handle_uninstall(http_conn *c, const http_request *req, void *ctx)
{
	pkg_api *api = ctx;
	engine *e = api->e;
	pkg_args a;
	if (!parse_body(c, req, &a))
		return;
	char version[128], msg[600];
	int st = install_find_installed(cfg.data_directory, a.language, a.version, version, sizeof version,
	                                msg, sizeof msg);
	if (st) {
		http_respond_error(c, st, msg);
		return;
	}
	/* Refuse while a job uses it. The check and the rename below run in this
	 * one loop callback, so no job can start in between. */
	for (size_t i = 0; e->runtimes && i < runtimes_count(e->runtimes); i++) {
		const runtime *rt = runtimes_at(e->runtimes, i);
		if (strcmp(rt->package, a.language) || strcmp(rt->version, version))
			continue;
		if (execute_package_in_use(e, rt->pkg_dir)) {
			snprintf(msg, sizeof msg, "%s-%s is in use by a running job; try again when it finishes",
			         a.language, version);
			http_respond_error(c, 409, msg);
			return;
		}
		break;
	}
	st = install_uninstall(cfg.data_directory, a.language, version,
	                       INSTALL_DEFER_DELETE | INSTALL_NO_WAIT, msg, sizeof msg);
	if (st) {
		http_respond_error(c, st, msg);
		return;
	}
	log_info("uninstalled %s-%s", a.language, version);
	engine_rescan(e);
	buf out = BUF_INIT;
	result_package(&out, a.language, version);
	http_respond_json(c, 200, out.data + 4, out.len - 4);
	buf_free(&out);
	pkg_args none = {0};
	spawn(api, NULL, work_cleanup, &none, false, NULL);   /* delete the renamed tree off the loop */
}

void packages_register(engine *e)
{
	install_cleanup(cfg.data_directory);
	/* lives as long as the engine's routes do; packages_unregister frees it */
	pkg_api *api = calloc(1, sizeof *api);
	if (!api) {
		log_error("packages: out of memory; /api/v2/packages is not available");
		return;
	}
	api->e = e;
	e->packages = api;
	http_route(e->http, "GET", "/api/v2/packages", handle_list, api);
	http_route(e->http, "POST", "/api/v2/packages", handle_install, api);
	http_route(e->http, "DELETE", "/api/v2/packages", handle_uninstall, api);
}

void packages_unregister(engine *e)
{
	free(e->packages);
	e->packages = NULL;
}
