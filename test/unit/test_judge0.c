/* judge0: the status mapping from stage results (judge0_status_of), the
 * CPU limits and extra time (judge0_cpu_limits, judge0_run_status) and the
 * status names. */
#include <signal.h>
#include <string.h>

#include "judge0.h"
#include "t.h"

static int st(bool cf, const char *status, int sig, bool exited, int code, const char *exp, const char *out)
{
	return judge0_status_of(cf, status, sig, exited, code, exp, exp ? strlen(exp) : 0, out, strlen(out));
}

int main(void)
{
	CHECK(st(true, "", 0, true, 1, NULL, "") == 6);
	CHECK(st(true, "TO", 9, false, 0, NULL, "") == 6);   /* compile time limit: still 6 */
	CHECK(st(false, "TO", SIGKILL, false, 0, NULL, "") == 5);
	CHECK(st(false, "SG", SIGSEGV, false, 0, NULL, "") == 7);
	CHECK(st(false, "SG", SIGXFSZ, false, 0, NULL, "") == 8);
	CHECK(st(false, "EL", SIGXFSZ, false, 0, NULL, "") == 8);
	CHECK(st(false, "SG", SIGFPE, false, 0, NULL, "") == 9);
	CHECK(st(false, "SG", SIGABRT, false, 0, NULL, "") == 10);
	CHECK(st(false, "SG", SIGUSR1, false, 0, NULL, "") == 12);
	CHECK(st(false, "EL", SIGKILL, false, 0, NULL, "") == 12);   /* memory limit */
	CHECK(st(false, "RE", 0, true, 3, NULL, "") == 11);
	CHECK(st(false, "", 0, true, 1, NULL, "") == 11);
	CHECK(st(false, "OL", SIGKILL, false, 0, NULL, "") == 12);
	CHECK(st(false, "XX", 0, false, 0, NULL, "") == 13);
	CHECK(st(false, "", 0, true, 0, NULL, "anything") == 3);
	CHECK(st(false, "", 0, true, 0, "hello", "hello\n") == 3);
	CHECK(st(false, "", 0, true, 0, "a\nb", "a  \nb\t\n\n") == 3);
	CHECK(st(false, "", 0, true, 0, "a\nb", "a\nc\n") == 4);
	CHECK(st(false, "", 0, true, 0, "a\n\nb", "a\nb") == 4);     /* inner blank lines count */
	CHECK(st(false, "", 0, true, 0, "", "") == 3);
	CHECK(st(false, "", 0, true, 0, "", "x") == 4);
	CHECK(st(false, "", 0, true, 0, " x", "x") == 4);           /* leading spaces count */
	CHECK(st(false, "", 0, true, 0, "x", "") == 4);
	/* cpu_extra_time: killed at limit + extra, TLE over the limit alone */
	uint64_t stage, each;
	judge0_cpu_limits(1, 1, false, 3000, &stage, &each);
	CHECK(stage == 2000 && each == 0);
	judge0_cpu_limits(2.5, 1, false, 3000, &stage, &each);
	CHECK(stage == 3000 && each == 0);                  /* clamped to the engine's maximum */
	judge0_cpu_limits(0.0001, 0, false, 3000, &stage, &each);
	CHECK(stage == 1);                                  /* never 0 ("no limit") */
	judge0_cpu_limits(0.5, 0.25, false, 3000, &stage, &each);
	CHECK(stage == 750);
	judge0_cpu_limits(1, 0.5, true, 6000, &stage, &each);
	CHECK(stage == 6000 && each == 1500);               /* per process: the job has the engine's */
	judge0_cpu_limits(5, 5, true, 6000, &stage, &each);
	CHECK(stage == 6000 && each == 6000);
	CHECK(!strcmp(judge0_run_status("", 1300, 0, 1, false), "TO"));
	CHECK(!strcmp(judge0_run_status("RE", 1001, 0, 1, false), "TO"));   /* TLE before the exit status */
	CHECK(!strcmp(judge0_run_status("", 1000, 0, 1, false), ""));       /* at the limit: not over it */
	CHECK(!strcmp(judge0_run_status("SG", 999, 0, 1, false), "SG"));
	CHECK(!strcmp(judge0_run_status("TO", 800, 0, 1, false), "TO"));   /* the wall limit */
	CHECK(!strcmp(judge0_run_status("", 2400, 600, 1, true), ""));      /* per process: the sum may exceed it */
	CHECK(!strcmp(judge0_run_status("", 2400, 1300, 1, true), "TO"));   /* ...one process may not */
	CHECK(!strcmp(judge0_run_status("", 300, 1300, 1, false), ""));     /* without the flag: the sum */
	CHECK(!strcmp(judge0_run_status("TO", 1000, 1000, 1, true), "TO"));
	CHECK(!strcmp(judge0_run_status("", 501, 0, 0.5, false), "TO"));
	CHECK(st(false, judge0_run_status("", 1300, 0, 1, false), 0, true, 0, NULL, "") == 5);
	CHECK(!strcmp(judge0_status_text(1), "In Queue"));
	CHECK(!strcmp(judge0_status_text(3), "Accepted"));
	CHECK(!strcmp(judge0_status_text(11), "Runtime Error (NZEC)"));
	CHECK(!strcmp(judge0_status_text(14), "Exec Format Error"));
	CHECK(!strcmp(judge0_status_text(0), "") && !strcmp(judge0_status_text(15), ""));
	return t_done();
}
