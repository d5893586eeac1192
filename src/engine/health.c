/*
 * health: the engine's /healthz and its drain refusal (promises in health.h).
 */
#include "health.h"

#include <stdio.h>

#include "runtimes.h"

static void healthz_handler(http_conn *c, const http_request *req, void *ctx)
{
	engine *e = ctx;
	char body[256];
	size_t n = runtimes_count(e->runtimes);
	int len;
	if (e->shutting_down)
		len = snprintf(body, sizeof body, "{\"status\":\"draining\",\"message\":\"This engine is shutting down: "
		                                  "it finishes its running jobs and takes no new ones\"}");
	else if (!n)
		len = snprintf(body, sizeof body, "{\"status\":\"no_runtime\",\"message\":\"No runtime is installed "
		                                  "on this engine\"}");
	else
		len = snprintf(body, sizeof body, "{\"status\":\"ok\",\"runtimes\":%zu}", n);
	http_respond_ex(c, e->shutting_down || !n ? 503 : 200, "application/json",
	                "Cache-Control: no-store\r\n", body, (size_t)len);
}

bool health_refuse_if_draining(engine *e, http_conn *c)
{
	if (!e->shutting_down)
		return false;
	static const char body[] = "{\"message\":\"This engine is shutting down and takes no new jobs; "
	                           "send the request to another engine\"}";
	http_respond_ex(c, 503, "application/json", HEALTH_DRAINING_HEADER ": 1\r\nRetry-After: 1\r\n", body,
	                sizeof body - 1);
	return true;
}

void health_register(engine *e)
{
	http_route(e->http, "GET", "/healthz", healthz_handler, e);
}
