/*
 * t.h: the unit tests' tiny harness. Each test program prints one line per
 * failed check and ends with "N passed, N failed" (test/run adds them up).
 *   CHECK(cond)            counts a check; prints file:line and the text on failure
 *   CHECKF(cond, fmt, ...) same, with a message
 *   return t_done();       at the end of main
 */
#ifndef PISTON_T_H
#define PISTON_T_H

#include <stdio.h>

static int t_passed, t_failed;

#define CHECKF(cond, ...) do { \
	if (cond) { t_passed++; } else { \
		t_failed++; \
		printf("FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
		printf(__VA_ARGS__); \
		printf("\n"); \
	} } while (0)
#define CHECK(cond) CHECKF(cond, "%s", "")

static inline int t_done(void)
{
	printf("%d passed, %d failed\n", t_passed, t_failed);
	return t_failed ? 1 : 0;
}

#endif
