/* test_semver: parsing, precedence, and every selector form (npm semantics). */
#include <string.h>

#include "semver.h"
#include "t.h"

static semver V(const char *s)
{
	semver v;
	if (semver_parse(s, &v) != 0) {
		printf("FAIL: cannot parse %s\n", s);
		memset(&v, 0, sizeof v);
	}
	return v;
}

static void test_parse(void)
{
	semver v;
	CHECK(semver_parse("1", &v) == 0 && v.major == 1 && v.minor == 0 && v.patch == 0 && !v.pre[0]);
	CHECK(semver_parse("1.2", &v) == 0 && v.major == 1 && v.minor == 2 && v.patch == 0);
	CHECK(semver_parse("1.2.3", &v) == 0 && v.major == 1 && v.minor == 2 && v.patch == 3);
	CHECK(semver_parse("1.2.3-beta.1+build.5", &v) == 0 && v.patch == 3 && strcmp(v.pre, "beta.1") == 0);
	CHECK(semver_parse("1.2.3+build", &v) == 0 && !v.pre[0]);
	CHECK(semver_parse("v3.10.0", &v) == 0 && v.major == 3 && v.minor == 10);
	CHECK(semver_parse("10.20.30-rc-1", &v) == 0 && strcmp(v.pre, "rc-1") == 0);
	const char *bad[] = {"", "x", "1.", "1..2", "1.2.3.4", "1.2.3-", "1.2.3-a..b", "1.2.3+", "a.b.c",
	                     "1.2.3 ", " 1.2.3", "1.2.x", "*", "-1", "1.2.3-beta_1", "99999999999999999999",
	                     "1.2.3-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", ">1"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(semver_parse(bad[i], &v) == -1, "accepted '%s'", bad[i]);
	CHECK(semver_parse(NULL, &v) == -1);
}

static void test_compare(void)
{
	/* semver.org's precedence example, in ascending order */
	const char *order[] = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
	                       "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1",
	                       "1.1.0", "1.10.0", "2.0.0", "10.0.0"};
	size_t n = sizeof order / sizeof *order;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < n; j++) {
			semver a = V(order[i]), b = V(order[j]);
			int want = i < j ? -1 : i > j ? 1 : 0;
			CHECKF(semver_cmp(&a, &b) == want, "%s vs %s", order[i], order[j]);
		}
	semver a = V("1.2.3+x"), b = V("1.2.3+y");
	CHECK(semver_cmp(&a, &b) == 0);
	a = V("1.0.0-0");
	b = V("1.0.0-00");   /* numerically equal identifiers */
	CHECK(semver_cmp(&a, &b) == 0);
	a = V("1.0.0-1");
	b = V("1.0.0-a");
	CHECK(semver_cmp(&a, &b) < 0);
}

typedef struct { const char *selector, *version; bool want; } sat;

static const sat cases[] = {
	/* wildcards */
	{"*", "3.10.0", true}, {"x", "0.0.1", true}, {"", "1.0.0", true}, {"*", "1.0.0-beta", false},
	{"3.x", "3.10.0", true}, {"3.x", "3.0.0", true}, {"3.x", "4.0.0", false}, {"3.x", "2.9.9", false},
	{"3.X", "3.1.0", true}, {"3.*", "3.1.0", true},
	{"3.10.x", "3.10.7", true}, {"3.10.x", "3.11.0", false}, {"3.10.x", "3.1.0", false},
	{"3", "3.12.1", true}, {"3", "4.0.0", false}, {"3", "3.0.0-rc1", false},
	{"3.10", "3.10.4", true}, {"3.10", "3.11.0", false},
	/* exact */
	{"3.11.2", "3.11.2", true}, {"3.11.2", "3.11.3", false}, {"=3.1", "3.1.9", true}, {"=3.1", "3.2.0", false},
	{"=3.1.2", "3.1.2", true}, {"v3.1.2", "3.1.2", true}, {"1.2.3-beta", "1.2.3-beta", true},
	{"1.2.3-beta", "1.2.3", false}, {"1.2.3+build", "1.2.3", true},
	/* comparators */
	{">=3.10", "3.10.0", true}, {">=3.10", "3.9.9", false}, {">=3.10", "4.1.0", true},
	{">3", "3.99.0", false}, {">3", "4.0.0", true}, {">3.1", "3.1.9", false}, {">3.1", "3.2.0", true},
	{">3.1.2", "3.1.2", false}, {">3.1.2", "3.1.3", true},
	{"<4", "3.99.99", true}, {"<4", "4.0.0", false}, {"<4", "4.0.0-rc.1", false},
	{"<=4.1", "4.1.9", true}, {"<=4.1", "4.2.0", false}, {"<=4.1.0", "4.1.0", true}, {"<=4", "4.9.0", true},
	{"<=4", "5.0.0", false}, {"<4.1.0", "4.0.9", true},
	{"> 3", "4.0.0", true}, {">= 3.10 < 4", "3.11.0", true}, {">= 3.10 < 4", "4.0.0", false},
	{">*", "1.0.0", false}, {"<*", "1.0.0", false}, {">=*", "1.0.0", true},
	/* caret */
	{"^3.1.2", "3.1.2", true}, {"^3.1.2", "3.9.0", true}, {"^3.1.2", "3.1.1", false}, {"^3.1.2", "4.0.0", false},
	{"^0.2.3", "0.2.9", true}, {"^0.2.3", "0.3.0", false}, {"^0.0.3", "0.0.3", true}, {"^0.0.3", "0.0.4", false},
	{"^1.2", "1.9.0", true}, {"^1.2", "1.1.0", false}, {"^0.0", "0.0.9", true}, {"^0.0", "0.1.0", false},
	{"^1", "1.5.0", true}, {"^1", "2.0.0", false}, {"^0.x", "0.9.0", true}, {"^0.x", "1.0.0", false},
	{"^1.2.x", "1.3.0", true}, {"^*", "5.0.0", true}, {"^1.2.3-beta.2", "1.2.3-beta.4", true},
	{"^1.2.3-beta.2", "1.2.4-beta.4", false}, {"^1.2.3-beta.2", "1.2.3-beta.1", false},
	/* tilde */
	{"~3.1", "3.1.5", true}, {"~3.1", "3.2.0", false}, {"~3.1.2", "3.1.2", true}, {"~3.1.2", "3.1.1", false},
	{"~3", "3.9.0", true}, {"~3", "4.0.0", false}, {"~>3.1", "3.1.0", true}, {"~0.2.3", "0.3.0", false},
	/* conjunctions and alternatives */
	{">=3.1 <4", "3.5.0", true}, {">=3.1 <4", "4.0.0", false}, {">=3.1 <4", "3.0.0", false},
	{">=3.1  <4  ", "3.5.0", true}, {"  3.x", "3.5.0", true},
	{"1.x || >=2.5.0 || 5.0.0 - 7.2.3", "1.2.3", true}, {"1.x || >=2.5.0", "2.4.0", false},
	{"1.x || >=2.5.0", "2.5.0", true}, {"<2 || >3", "2.5.0", false}, {"<2||>3", "4.0.0", true},
	{"1.2 || ", "9.9.9", true},
	/* hyphen ranges */
	{"1.2 - 2.3", "1.2.0", true}, {"1.2 - 2.3", "2.3.9", true}, {"1.2 - 2.3", "2.4.0", false},
	{"1.2 - 2.3", "1.1.9", false}, {"1.2.3 - 2.3.4", "2.3.4", true}, {"1.2.3 - 2.3.4", "2.3.5", false},
	{"1 - 2", "2.9.9", true}, {"1 - 2", "3.0.0", false}, {"* - 2", "0.0.1", true},
	/* prerelease rule */
	{">=1.2.3-alpha", "1.2.3-beta", true}, {">=1.2.3-alpha", "1.2.4-beta", false}, {">=1.2.3-alpha", "1.2.4", true},
	{">1.2.3-alpha.3 <1.2.4", "1.2.3-alpha.7", true}, {">1.2.3-alpha.3", "3.4.5-alpha.9", false},
};

static const char *invalid[] = {
	"abc", "1.2.3.4", ">=", "> ", "3.x.y", ">=>1", "1 -", "- 1", "1 - 2 - 3", "1 | 2", "|", "1.2.3-",
	"^", "~", "1..2", ">=1.2 -", "=", "1.2.3 - ", "!1", "1,2", "3.1x", "<>1", "1.2.3-a..b",
	"1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33",
};

static void test_selectors(void)
{
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		semver v = V(cases[i].version);
		CHECKF(semver_selector_valid(cases[i].selector), "'%s' should be valid", cases[i].selector);
		CHECKF(semver_satisfies(&v, cases[i].selector) == cases[i].want, "'%s' on %s should be %s",
		       cases[i].selector, cases[i].version, cases[i].want ? "true" : "false");
	}
	semver v = V("1.0.0");
	for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
		CHECKF(!semver_selector_valid(invalid[i]), "'%s' should be invalid", invalid[i]);
		CHECKF(!semver_satisfies(&v, invalid[i]), "'%s' should match nothing", invalid[i]);
	}
	/* an invalid alternative spoils the whole selector, even after a match */
	CHECK(!semver_satisfies(&v, "1.0.0 || garbage"));
	CHECK(!semver_selector_valid(NULL) && !semver_satisfies(&v, NULL));
}

int main(void)
{
	test_parse();
	test_compare();
	test_selectors();
	return t_done();
}
