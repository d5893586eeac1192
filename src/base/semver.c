/*
 * semver: versions and npm-style range selectors (see semver.h).
 *
 * A selector is desugared the way npm's semver does it (upstream Piston
 * uses semver.satisfies), one comparator at a time, and each comparator is
 * tested against the version as soon as it is produced, so nothing is
 * allocated. Prerelease rule (npm, includePrerelease off): a version with a
 * prerelease matches a range only if some comparator of that range names
 * the same MAJOR.MINOR.PATCH with a prerelease.
 */
#include "semver.h"

#include <string.h>

#define SEMVER_MAX_NUMBER ((uint64_t)1 << 62)   /* room for +1 bounds */

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}
static bool is_space(char c) { return c == ' ' || c == '\t'; }

/* Decimal number at [*s, end); advances *s. */
static bool parse_number(const char **s, const char *end, uint64_t *out)
{
	const char *p = *s;
	uint64_t v = 0;
	if (p >= end || !is_digit(*p))
		return false;
	while (p < end && is_digit(*p)) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v >= SEMVER_MAX_NUMBER)
			return false;
		p++;
	}
	*s = p;
	*out = v;
	return true;
}

/* Dot-separated non-empty identifiers of [0-9A-Za-z-]; advances *s. */
static bool parse_identifiers(const char **s, const char *end)
{
	const char *p = *s;
	for (;;) {
		const char *start = p;
		while (p < end && is_ident_char(*p))
			p++;
		if (p == start)
			return false;
		if (p < end && *p == '.') {
			p++;
			continue;
		}
		*s = p;
		return true;
	}
}

/* "-pre" and "+build" after a full version; pre is copied into out. */
static bool parse_qualifiers(const char **s, const char *end, char out[32])
{
	const char *p = *s;
	out[0] = 0;
	if (p < end && *p == '-') {
		const char *start = ++p;
		if (!parse_identifiers(&p, end))
			return false;
		size_t n = (size_t)(p - start);
		if (n >= 32)
			return false;
		memcpy(out, start, n);
		out[n] = 0;
	}
	if (p < end && *p == '+') {
		p++;
		if (!parse_identifiers(&p, end))
			return false;
	}
	*s = p;
	return true;
}

int semver_parse(const char *text, semver *out)
{
	if (!text)
		return -1;
	const char *p = text, *end = text + strlen(text);
	semver v = {0};
	if (p < end && (*p == 'v' || *p == 'V'))
		p++;
	uint64_t *parts[3] = {&v.major, &v.minor, &v.patch};
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (p >= end || *p != '.')
				break;
			p++;
		}
		if (!parse_number(&p, end, parts[i]))
			return -1;
	}
	if (!parse_qualifiers(&p, end, v.pre) || p != end)
		return -1;
	*out = v;
	return 0;
}

/* Prerelease identifiers: numeric < alphanumeric; numbers by value. */
static int compare_pre(const char *a, const char *b)
{
	if (!*a || !*b)
		return *a ? -1 : *b ? 1 : 0;   /* no prerelease ranks higher */
	for (;;) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		bool na = strspn(a, "0123456789") >= la, nb = strspn(b, "0123456789") >= lb;
		int c;
		if (na && nb) {
			/* same-length digit strings compare as text; strip zeros first */
			while (la > 1 && *a == '0') { a++; la--; }
			while (lb > 1 && *b == '0') { b++; lb--; }
			c = la != lb ? (la < lb ? -1 : 1) : memcmp(a, b, la);
		} else if (na != nb) {
			c = na ? -1 : 1;
		} else {
			c = memcmp(a, b, la < lb ? la : lb);
			if (c == 0 && la != lb)
				c = la < lb ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		a += la;
		b += lb;
		if (!*a || !*b)
			return *a ? 1 : *b ? -1 : 0;   /* more identifiers rank higher */
		a++;
		b++;
	}
}

int semver_cmp(const semver *a, const semver *b)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->patch != b->patch)
		return a->patch < b->patch ? -1 : 1;
	return compare_pre(a->pre, b->pre);
}

/* ---- selectors ---- */

typedef enum { OP_EQ, OP_LT, OP_LE, OP_GT, OP_GE } cmp_op;

/* One alternative (conjunction) being evaluated against a version. */
typedef struct range_eval {
	const semver *v;        /* NULL: only validate */
	bool all_true;
	bool pre_allowed;       /* a comparator named v's tuple with a prerelease */
} range_eval;

static void compare_with(range_eval *r, cmp_op op, uint64_t major, uint64_t minor, uint64_t patch,
                         const char *pre)
{
	if (!r->v)
		return;
	semver bound = {major, minor, patch, ""};
	size_t n = strlen(pre);
	memcpy(bound.pre, pre, n + 1);
	int c = semver_cmp(r->v, &bound);
	bool ok = op == OP_EQ ? c == 0 : op == OP_LT ? c < 0 : op == OP_LE ? c <= 0 :
	          op == OP_GT ? c > 0 : c >= 0;
	if (!ok)
		r->all_true = false;
	if (pre[0] && r->v->major == major && r->v->minor == minor && r->v->patch == patch)
		r->pre_allowed = true;
}

/* "matches any version": >=0.0.0; "matches none": <0.0.0-0 */
static void any(range_eval *r) { compare_with(r, OP_GE, 0, 0, 0, ""); }
static void none(range_eval *r) { compare_with(r, OP_LT, 0, 0, 0, "0"); }

/* A partial version: "1", "1.2", "1.x", "1.2.3-pre", "*" ... */
typedef struct partial {
	uint64_t n[3];
	int given;              /* numeric parts before the first missing or x */
	char pre[32];
} partial;

static bool is_wildcard(char c) { return c == 'x' || c == 'X' || c == '*'; }

static bool parse_partial(const char *p, const char *end, partial *out)
{
	*out = (partial){{0, 0, 0}, 0, ""};
	if (p < end && (*p == 'v' || *p == 'V'))
		p++;
	bool wild = false;
	for (int i = 0; i < 3; i++) {
		if (i > 0) {
			if (p >= end || *p != '.')
				break;
			p++;
		}
		if (p < end && is_wildcard(*p)) {
			wild = true;
			p++;
		} else if (parse_number(&p, end, &out->n[i])) {
			if (!wild)
				out->given = i + 1;
		} else {
			return false;
		}
	}
	for (int i = out->given; i < 3; i++)   /* "1.x.3" is "1.x" */
		out->n[i] = 0;
	if (out->given == 3) {
		if (!parse_qualifiers(&p, end, out->pre))
			return false;
	} else if (p < end && *p == '+') {   /* build metadata on a partial: ignored */
		p++;
		if (!parse_identifiers(&p, end))
			return false;
	}
	return p == end;
}

/* Upper bound "< next version after the partial" (given 1 or 2). */
static void below_next(range_eval *r, const partial *v)
{
	if (v->given == 1)
		compare_with(r, OP_LT, v->n[0] + 1, 0, 0, "0");
	else
		compare_with(r, OP_LT, v->n[0], v->n[1] + 1, 0, "0");
}

static void at_least(range_eval *r, const partial *v)
{
	compare_with(r, OP_GE, v->n[0], v->n[1], v->n[2], v->pre);
}

/* One comparator token: [op] partial, op in = < <= > >= ~ ~> ^ */
static bool apply_comparator(range_eval *r, const char *op, size_t op_len, const char *p, const char *end)
{
	partial v;
	if (!parse_partial(p, end, &v))
		return false;
	char o0 = op_len ? op[0] : '=', o1 = op_len > 1 ? op[1] : 0;
	if (o0 == '=') {
		if (v.given == 3)
			compare_with(r, OP_EQ, v.n[0], v.n[1], v.n[2], v.pre);
		else if (v.given == 0)
			any(r);
		else {
			at_least(r, &v);
			below_next(r, &v);
		}
	} else if (o0 == '>' && o1 != '=') {
		if (v.given == 3)
			compare_with(r, OP_GT, v.n[0], v.n[1], v.n[2], v.pre);
		else if (v.given == 0)
			none(r);
		else if (v.given == 1)
			compare_with(r, OP_GE, v.n[0] + 1, 0, 0, "");
		else
			compare_with(r, OP_GE, v.n[0], v.n[1] + 1, 0, "");
	} else if (o0 == '>') {
		if (v.given == 0)
			any(r);
		else
			at_least(r, &v);
	} else if (o0 == '<' && o1 != '=') {
		if (v.given == 3)
			compare_with(r, OP_LT, v.n[0], v.n[1], v.n[2], v.pre);
		else if (v.given == 0)
			none(r);
		else
			compare_with(r, OP_LT, v.n[0], v.n[1], 0, "0");
	} else if (o0 == '<') {
		if (v.given == 3)
			compare_with(r, OP_LE, v.n[0], v.n[1], v.n[2], v.pre);
		else if (v.given == 0)
			any(r);
		else
			below_next(r, &v);
	} else if (o0 == '~') {
		if (v.given == 0) {
			any(r);
		} else {
			at_least(r, &v);
			partial up = v;
			up.given = v.given == 1 ? 1 : 2;
			below_next(r, &up);
		}
	} else { /* '^' */
		if (v.given == 0) {
			any(r);
			return true;
		}
		at_least(r, &v);
		if (v.n[0] > 0 || v.given == 1)
			compare_with(r, OP_LT, v.n[0] + 1, 0, 0, "0");
		else if (v.n[1] > 0 || v.given == 2)
			compare_with(r, OP_LT, 0, v.n[1] + 1, 0, "0");
		else
			compare_with(r, OP_LT, 0, 0, v.n[2] + 1, "0");
	}
	return true;
}

/* Length of the operator at p: = < <= > >= ~ ~> ^ (0 if none). */
static size_t operator_length(const char *p, const char *end)
{
	if (p >= end)
		return 0;
	if ((*p == '<' || *p == '>') && p + 1 < end && p[1] == '=')
		return 2;
	if (*p == '~' && p + 1 < end && p[1] == '>')
		return 2;
	if (*p == '<' || *p == '>' || *p == '=' || *p == '~' || *p == '^')
		return 1;
	return 0;
}

typedef struct span { const char *s, *e; } span;
#define SEMVER_MAX_TOKENS 32

/* One "||" alternative [p, end). */
static bool apply_range(range_eval *r, const char *p, const char *end)
{
	span tok[SEMVER_MAX_TOKENS];
	int n = 0;
	while (p < end) {
		while (p < end && is_space(*p))
			p++;
		if (p >= end)
			break;
		if (n == SEMVER_MAX_TOKENS)
			return false;
		tok[n].s = p;
		while (p < end && !is_space(*p))
			p++;
		tok[n++].e = p;
	}
	if (n == 0) {   /* "" is "*" */
		any(r);
		return true;
	}
	/* hyphen range: "A - B" */
	if (n == 3 && tok[1].e - tok[1].s == 1 && tok[1].s[0] == '-') {
		partial lo, hi;
		if (!parse_partial(tok[0].s, tok[0].e, &lo) || !parse_partial(tok[2].s, tok[2].e, &hi))
			return false;
		if (lo.given == 0)
			any(r);
		else
			at_least(r, &lo);
		if (hi.given == 0)
			any(r);
		else if (hi.given == 3)
			compare_with(r, OP_LE, hi.n[0], hi.n[1], hi.n[2], hi.pre);
		else
			below_next(r, &hi);
		return true;
	}
	for (int i = 0; i < n; i++) {
		const char *s = tok[i].s, *e = tok[i].e;
		size_t op = operator_length(s, e);
		const char *v = s + op;
		if (op && v == e) {   /* ">= 1.2": the version is the next token */
			if (++i == n)
				return false;
			v = tok[i].s;
			e = tok[i].e;
			if (operator_length(v, e))
				return false;
		}
		if (!apply_comparator(r, s, op, v, e))
			return false;
	}
	return true;
}

/* Validates the whole selector; *matched tells if v (may be NULL) satisfies it. */
static bool evaluate(const char *selector, const semver *v, bool *matched)
{
	*matched = false;
	if (!selector)
		return false;
	const char *p = selector, *end = selector + strlen(selector);
	for (;;) {
		const char *bar = p;
		while (bar < end && !(bar[0] == '|' && bar + 1 < end && bar[1] == '|')) {
			if (*bar == '|')
				return false;
			bar++;
		}
		range_eval r = {v, true, false};
		if (!apply_range(&r, p, bar))
			return false;
		if (v && r.all_true && (!v->pre[0] || r.pre_allowed))
			*matched = true;
		if (bar >= end)
			return true;
		p = bar + 2;
	}
}

bool semver_satisfies(const semver *v, const char *selector)
{
	bool matched;
	return evaluate(selector, v, &matched) && matched;
}

bool semver_selector_valid(const char *selector)
{
	bool matched;
	return evaluate(selector, NULL, &matched);
}
