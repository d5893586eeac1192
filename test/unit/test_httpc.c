/* Unit tests: httpc against a scripted HTTP server on loopback (a forked
 * child): framing, redirects, errors and timeouts. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "httpc.h"
#include "t.h"

static void say(int fd, const char *s)
{
	size_t n = strlen(s);
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void handle(int fd)
{
	char req[65536];
	size_t have = 0;
	char *end = NULL;
	while (!end && have < sizeof req - 1) {
		ssize_t n = read(fd, req + have, sizeof req - 1 - have);
		if (n <= 0)
			return;
		have += (size_t)n;
		req[have] = '\0';
		end = strstr(req, "\r\n\r\n");
	}
	if (!end)
		return;
	size_t body_len = 0;
	char *cl = strcasestr(req, "Content-Length:");
	if (cl && cl < end)
		body_len = strtoul(cl + 15, NULL, 10);
	while (have < (size_t)(end + 4 - req) + body_len && have < sizeof req - 1) {
		ssize_t n = read(fd, req + have, sizeof req - 1 - have);
		if (n <= 0)
			break;
		have += (size_t)n;
	}
	char method[16] = "", path[256] = "";
	sscanf(req, "%15s %255s", method, path);
	char out[512];
	if (!strcmp(path, "/len")) {
		say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
	} else if (!strcmp(path, "/chunked")) {
		say(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n wor");
		usleep(50000);
		say(fd, "ld\r\n0\r\nTrailer: x\r\n\r\n");
	} else if (!strcmp(path, "/close")) {
		say(fd, "HTTP/1.0 200 OK\r\n\r\nuntil close");
	} else if (!strcmp(path, "/redir")) {
		say(fd, "HTTP/1.1 302 Found\r\nLocation: len\r\nContent-Length: 0\r\n\r\n");
	} else if (!strcmp(path, "/redir303")) {
		say(fd, "HTTP/1.1 303 See Other\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n");
	} else if (!strcmp(path, "/redir307")) {
		say(fd, "HTTP/1.1 307 Temporary\r\nLocation: /echo\r\nContent-Length: 0\r\n\r\n");
	} else if (!strcmp(path, "/echo")) {
		char body[128];
		int bl = snprintf(body, sizeof body, "%s %zu", method, body_len);
		snprintf(out, sizeof out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", bl, body);
		say(fd, out);
	} else if (!strcmp(path, "/loop")) {
		say(fd, "HTTP/1.1 301 Moved\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n");
	} else if (!strcmp(path, "/trunc")) {
		say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
	} else if (!strcmp(path, "/badchunk")) {
		say(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n");
	} else if (!strcmp(path, "/stall")) {
		say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
		sleep(5);
	} else if (!strcmp(path, "/garbage")) {
		say(fd, "NOT HTTP AT ALL\r\n\r\n");
	} else if (!strcmp(path, "/404")) {
		say(fd, "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot found");
	} else if (!strcmp(path, "/continue")) {
		say(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	} else if (!strcmp(path, "/bighead")) {
		say(fd, "HTTP/1.1 200 OK\r\n");
		for (int i = 0; i < 2000; i++)
			say(fd, "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
		say(fd, "\r\n");
	} else if (!strcmp(path, "/conflict")) {
		say(fd, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!");
	} else {
		say(fd, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n");
	}
}

static pid_t start_server(int *port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGCHLD, SIG_IGN);
		for (;;) {
			int c = accept(s, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				prctl(PR_SET_PDEATHSIG, SIGKILL);
				handle(c);
				shutdown(c, SHUT_WR);
				usleep(20000);
				_exit(0);
			}
			close(c);
		}
	}
	close(s);
	return pid;
}

static int collect(void *ctx, const void *data, size_t len)
{
	buf_append(ctx, data, len);
	return 0;
}

static int port;

static int get(const char *method, const char *path, const char *body, const httpc_options *o,
               int *status, buf *out, char *err)
{
	char url[128];
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
	buf_reset(out);
	err[0] = '\0';
	return httpc_request_ex(method, url, NULL, body, body ? strlen(body) : 0, collect, out, o, status, err, 256);
}

static bool body_is(const buf *b, const char *s)
{
	return b->len == strlen(s) && (b->len == 0 || !memcmp(b->data, s, b->len));
}

static int skip_head(void *ctx, int status, uint64_t len)
{
	(void)ctx;
	(void)len;
	return status != 200;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	pid_t srv = start_server(&port);
	CHECK(srv > 0);
	buf b = BUF_INIT;
	char err[256];
	int st;
	CHECKF(get("GET", "/len", NULL, NULL, &st, &b, err) == 0 && st == 200 && body_is(&b, "hello"), "%s", err);
	CHECKF(get("GET", "/chunked", NULL, NULL, &st, &b, err) == 0 && st == 200 && body_is(&b, "hello world"), "%s", err);
	CHECKF(get("GET", "/close", NULL, NULL, &st, &b, err) == 0 && body_is(&b, "until close"), "%s", err);
	CHECKF(get("GET", "/redir", NULL, NULL, &st, &b, err) == 0 && st == 200 && body_is(&b, "hello"), "%s", err);
	CHECKF(get("POST", "/redir303", "{\"a\":1}", NULL, &st, &b, err) == 0 && body_is(&b, "GET 0"),
	       "303 after POST becomes GET: %s %.*s", err, (int)b.len, b.data);
	CHECKF(get("POST", "/redir307", "{\"a\":1}", NULL, &st, &b, err) == 0 && body_is(&b, "POST 7"),
	       "307 keeps method and body: %s %.*s", err, (int)b.len, b.data);
	CHECKF(get("POST", "/echo", "12345", NULL, &st, &b, err) == 0 && body_is(&b, "POST 5"), "%s", err);
	CHECKF(get("DELETE", "/echo", "{}", NULL, &st, &b, err) == 0 && body_is(&b, "DELETE 2"), "%s", err);
	CHECKF(get("GET", "/loop", NULL, NULL, &st, &b, err) == 0 && st == 301, "redirects are bounded: %d %s", st, err);
	CHECKF(get("GET", "/trunc", NULL, NULL, &st, &b, err) < 0 && strstr(err, "connection closed after 5 of 100"),
	       "%s", err);
	CHECKF(get("GET", "/badchunk", NULL, NULL, &st, &b, err) < 0 && strstr(err, "chunked"), "%s", err);
	CHECKF(get("GET", "/garbage", NULL, NULL, &st, &b, err) < 0 && strstr(err, "malformed response"), "%s", err);
	CHECKF(get("GET", "/bighead", NULL, NULL, &st, &b, err) < 0 && strstr(err, "too large"), "%s", err);
	CHECKF(get("GET", "/conflict", NULL, NULL, &st, &b, err) < 0 && strstr(err, "framing"), "%s", err);
	CHECKF(get("GET", "/continue", NULL, NULL, &st, &b, err) == 0 && st == 200 && body_is(&b, "ok"), "%s", err);
	CHECKF(get("GET", "/404", NULL, NULL, &st, &b, err) == 0 && st == 404 && body_is(&b, "not found"),
	       "error statuses still deliver their body: %s", err);
	httpc_options skip = {.on_head = skip_head};
	CHECKF(get("GET", "/404", NULL, &skip, &st, &b, err) == 0 && st == 404 && b.len == 0, "%s", err);
	httpc_options quick = {.idle_timeout_ms = 300};
	uint64_t t0 = (uint64_t)time(NULL);
	CHECKF(get("GET", "/stall", NULL, &quick, &st, &b, err) < 0 && strstr(err, "timed out"), "idle timeout: %s", err);
	CHECK((uint64_t)time(NULL) - t0 < 4);
	httpc_options total = {.total_timeout_ms = 400};
	CHECKF(get("GET", "/stall", NULL, &total, &st, &b, err) < 0 && strstr(err, "timed out"), "total timeout: %s", err);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
	usleep(50000);
	CHECKF(get("GET", "/len", NULL, NULL, &st, &b, err) < 0 && strstr(err, "cannot connect") &&
	       strstr(err, "refused"), "%s", err);
	CHECKF(httpc_request("GET", "ftp://x/", NULL, NULL, 0, NULL, NULL, &st, err, sizeof err) < 0 &&
	       strstr(err, "invalid URL"), "%s", err);
	buf_free(&b);
	return t_done();
}
