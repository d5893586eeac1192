/*
 * semver: versions (MAJOR.MINOR.PATCH[-pre][+build], missing parts = 0,
 * optional leading "v") and the selectors Piston clients send, with npm
 * semver's meaning (upstream Piston calls semver.satisfies): exact
 * "3.11.2" / "=3.1", x-ranges "3.x" "3.10.x" "3" "*" "" , comparators
 * ">=3.10" "<4" ">3" "<=4.1" (a space after the operator is allowed),
 * "^3.1.2", "~3.1" / "~>3.1", hyphen ranges "1.2 - 2.3", space-separated
 * conjunctions (">=3.1 <4") and "||" alternatives. A version with a
 * prerelease matches only a range that names its MAJOR.MINOR.PATCH with a
 * prerelease (npm's rule). Nothing is allocated.
 */
#ifndef PISTON_SEMVER_H
#define PISTON_SEMVER_H

#include <stdbool.h>
#include <stdint.h>

typedef struct semver {
	uint64_t major, minor, patch;
	char pre[32];   /* prerelease without '-', "" if none */
} semver;

/* 0 on success, -1 if text is not a version. */
int semver_parse(const char *text, semver *out);
int semver_cmp(const semver *a, const semver *b);
/* true if v satisfies selector; an invalid selector matches nothing. */
bool semver_satisfies(const semver *v, const char *selector);
/* true if selector is syntactically valid. */
bool semver_selector_valid(const char *selector);

#endif
