/* proxy_clamp_body: limits over the maximum are rewritten, everything else
 * survives byte-for-byte in meaning; bodies within limits are left alone. */
#include <string.h>

#include "json.h"
#include "proxy.h"
#include "t.h"

static const proxy_limits lim = {
	.run_timeout = 3000, .compile_timeout = 10000, .run_cpu_time = 0 /* no clamp */,
	.compile_cpu_time = 10000, .run_memory_limit = 1000000, .compile_memory_limit = -1,
};

static int clamp(const char *in, buf *out, char *lang, char *ver)
{
	buf_reset(out);
	return proxy_clamp_body(in, strlen(in), &lim, out, lang, ver, 64);
}

static const json_value *member(json_doc *d, const char *k) { return json_get(json_root(d), k); }

int main(void)
{
	buf out = BUF_INIT;
	char lang[64], ver[64];
	json_error err;

	/* within limits: untouched (0), language/version still reported */
	CHECK(clamp("{\"language\":\"py\",\"version\":\"3.x\",\"run_timeout\":3000}", &out, lang, ver) == 0);
	CHECK(!strcmp(lang, "py") && !strcmp(ver, "3.x") && out.len == 0);

	/* over: rewritten, other members kept */
	const char *body = "{\"language\":\"c\",\"version\":\"*\",\"files\":[{\"name\":\"a\\u0000b\",\"content\":\"x\\ny\"}],"
	                   "\"run_timeout\":999999,\"compile_timeout\":10001.5,\"run_cpu_time\":123456789,"
	                   "\"run_memory_limit\":2e9,\"compile_memory_limit\":99999999999,\"args\":[1,-2.5,true,null,{}],"
	                   "\"x\\u0000y\":\"\\u00e9\"}";
	CHECK(clamp(body, &out, lang, ver) == 1);
	json_doc *d = json_parse(out.data, out.len, &err);
	CHECKF(d != NULL, "%s: %s", err.message, out.data);
	if (d) {
		CHECK(member(d, "run_timeout")->integer == 3000);
		CHECK(member(d, "compile_timeout")->integer == 10000);
		CHECK(member(d, "run_cpu_time")->integer == 123456789);      /* no maximum */
		CHECK(member(d, "run_memory_limit")->integer == 1000000);
		CHECK(member(d, "compile_memory_limit")->integer == 99999999999LL);  /* -1: no maximum */
		const json_value *f = json_at(member(d, "files"), 0);
		CHECK(json_get(f, "name") && json_get(f, "name")->len == 3 && !memcmp(json_get(f, "name")->u.string, "a\0b", 3));
		CHECK(json_get(f, "content") && !strcmp(json_get(f, "content")->u.string, "x\ny"));
		const json_value *a = member(d, "args");
		CHECK(a && a->len == 5 && json_at(a, 1)->u.number == -2.5 && json_at(a, 2)->type == JSON_TRUE &&
		      json_at(a, 3)->type == JSON_NULL && json_at(a, 4)->type == JSON_OBJECT);
		/* numbers the proxy does not clamp are forwarded as the client wrote
		 * them: the engine passes args on as their JSON text (SPEC section 1) */
		CHECKF(strstr(out.data, "\"args\":[1,-2.5,true,null,{}]") != NULL, "%s", out.data);
		const json_value *root = json_root(d);
		bool found = false;
		for (uint32_t i = 0; i < root->len; i++)
			if (root->u.children[i].key_len == 3 && !memcmp(root->u.children[i].key, "x\0y", 3))
				found = !strcmp(root->u.children[i].u.string, "\xc3\xa9");
		CHECK(found);
		json_free(d);
	}
	CHECK(!strcmp(lang, "c") && !strcmp(ver, "*"));

	CHECK(clamp("{\"run_timeout\":5e3,\"args\":[3.50,-1e3,0.0,1E+2]}", &out, lang, ver) == 1);
	CHECKF(out.len && !strcmp(out.data, "{\"run_timeout\":3000,\"args\":[3.50,-1e3,0.0,1E+2]}"), "%s", out.data);

	/* not numbers, negative, not an object, not JSON: left for the engine */
	CHECK(clamp("{\"language\":\"c\",\"run_timeout\":\"99999\"}", &out, lang, ver) == 0);
	CHECK(clamp("{\"run_timeout\":-5}", &out, lang, ver) == 0);
	CHECK(clamp("[1,2]", &out, lang, ver) == 0 && !lang[0]);
	CHECK(clamp("{nope", &out, lang, ver) == 0 && !lang[0] && !ver[0]);
	CHECK(clamp("", &out, lang, ver) == 0);
	/* language not a string, or too long: reported empty */
	CHECK(clamp("{\"language\":5,\"version\":\"1\"}", &out, lang, ver) == 0 && !lang[0] && !strcmp(ver, "1"));
	char longer[200] = "{\"language\":\"";
	memset(longer + strlen(longer), 'a', 100);
	strcat(longer, "\"}");
	CHECK(clamp(longer, &out, lang, ver) == 0 && !lang[0]);

	/* tests: counted, each test's own limits clamped, other members kept */
	size_t nt = 99;
	const char *tb = "{\"language\":\"c\",\"tests\":[{\"stdin\":\"1\",\"run_timeout\":9000},"
	                 "{\"run_memory_limit\":5,\"name\":\"b\"},3,{\"run_memory_limit\":2000000}]}";
	buf_reset(&out);
	CHECK(proxy_clamp_execute(tb, strlen(tb), &lim, &out, lang, ver, 64, &nt) == 1 && nt == 4);
	CHECKF(out.len && !strcmp(out.data, "{\"language\":\"c\",\"tests\":[{\"stdin\":\"1\",\"run_timeout\":3000},"
	       "{\"run_memory_limit\":5,\"name\":\"b\"},3,{\"run_memory_limit\":1000000}]}"), "%s", out.data);
	const char *tok = "{\"tests\":[{\"run_timeout\":10},{}],\"nested\":{\"tests\":[{\"run_timeout\":99999}]}}";
	buf_reset(&out);
	CHECK(proxy_clamp_execute(tok, strlen(tok), &lim, &out, lang, ver, 64, &nt) == 0 && nt == 2);
	const char *notarr = "{\"tests\":{\"run_timeout\":99999}}";
	CHECK(proxy_clamp_execute(notarr, strlen(notarr), &lim, &out, lang, ver, 64, &nt) == 0 && nt == 0);

	/* Judge0 bodies: seconds and KB against the ms and bytes maximums
	 * (lim: run_timeout 3000 ms, run_cpu_time no clamp, memory 1000000 B) */
	static const proxy_limits jl = {.run_timeout = 3000, .run_cpu_time = 1500, .run_memory_limit = 1024000};
	proxy_j0_info info;
	const char *j = "{\"source_code\":\"echo\",\"language_id\":46,\"wall_time_limit\":10,"
	                "\"cpu_time_limit\":\"2.5\",\"memory_limit\":2048000,\"number_of_runs\":3,\"stack_limit\":99999}";
	buf_reset(&out);
	CHECK(proxy_j0_clamp(j, strlen(j), &jl, false, &out, &info) == 1 && info.cost == 3);
	CHECK(info.nlanguages == 1 && info.language_ids[0] == 46);
	CHECKF(out.len && !strcmp(out.data, "{\"source_code\":\"echo\",\"language_id\":46,\"wall_time_limit\":3,"
	       "\"cpu_time_limit\":1.5,\"memory_limit\":1000,\"number_of_runs\":3,\"stack_limit\":99999}"), "%s", out.data);
	const char *jok = "{\"wall_time_limit\":\"3\",\"cpu_time_limit\":1,\"memory_limit\":1000,\"number_of_runs\":99}";
	buf_reset(&out);
	CHECK(proxy_j0_clamp(jok, strlen(jok), &jl, false, &out, &info) == 0 && info.cost == 1 && out.len == 0 && info.nlanguages == 0);
	const char *jb = "{\"submissions\":[{\"number_of_runs\":2,\"language_id\":71},{\"wall_time_limit\":4},7,{\"number_of_runs\":\"5\"}]}";
	buf_reset(&out);
	CHECK(proxy_j0_clamp(jb, strlen(jb), &jl, true, &out, &info) == 1 && info.cost == 2 + 1 + 1 + 5);
	CHECK(info.nlanguages == 1 && info.language_ids[0] == 71);
	CHECKF(out.len && !strcmp(out.data, "{\"submissions\":[{\"number_of_runs\":2,\"language_id\":71},{\"wall_time_limit\":3},7,"
	       "{\"number_of_runs\":\"5\"}]}"), "%s", out.data);
	CHECK(proxy_j0_clamp("[1]", 3, &jl, true, &out, &info) == 0 && info.cost == 1);
	CHECK(proxy_j0_clamp("{\"submissions\":[]}", 18, &jl, true, &out, &info) == 0 && info.cost == 1);
	uint8_t u[16];
	CHECK(proxy_j0_uuid("3f2a1c9e-0b7d-4e4f-9a1b-2c3d4e5f6a7b", 36, u) && u[0] == 0x3f && u[15] == 0x7b);
	CHECK(proxy_j0_uuid("3F2A1C9E-0B7D-4E4F-9A1B-2C3D4E5F6A7B", 36, u));
	CHECK(!proxy_j0_uuid("3f2a1c9e-0b7d-4e4f-9a1b-2c3d4e5f6a7", 35, u));
	CHECK(!proxy_j0_uuid("3f2a1c9e+0b7d-4e4f-9a1b-2c3d4e5f6a7b", 36, u));
	CHECK(!proxy_j0_uuid("3f2a1c9e-0b7d-4e4f-9a1b-2c3d4e5f6a7g", 36, u));
	CHECK(!proxy_j0_uuid("../../api/v2/execute-aaaaaaaaaaaaaa", 36, u));
	buf_free(&out);
	return t_done();
}
