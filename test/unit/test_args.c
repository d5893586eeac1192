/* test_args: how execute turns the elements of `args` into argv strings
 * (SPEC section 1: strings as is, numbers as their JSON text, booleans as
 * true/false, anything else refused). */
#include <string.h>

#include "execute.h"
#include "json.h"
#include "t.h"

int main(void)
{
	const char *src = "[\"foo\", 3, 3.50, true, false, -1e3, null, {\"a\":1}, [1], \"\", 0.0, \"a\\u0000b\"]";
	const char *want[] = {"foo", "3", "3.50", "true", "false", "-1e3", NULL, NULL, NULL, "", "0.0", "a"};
	json_doc *d = json_parse(src, strlen(src), NULL);
	CHECK(d != NULL);
	if (!d)
		return t_done();
	const json_value *r = json_root(d);
	for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
		const char *got = job_arg_text(json_at(r, i));
		if (want[i])
			CHECKF(got && !strcmp(got, want[i]), "args[%zu]: want %s got %s", i, want[i], got ? got : "NULL");
		else
			CHECKF(got == NULL, "args[%zu]: want NULL got %s", i, got);
	}
	CHECK(job_arg_text(NULL) == NULL);
	json_free(d);
	return t_done();
}
