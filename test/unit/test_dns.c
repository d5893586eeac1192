/* dns: query building and answer parsing, with hostile packets (every
 * prefix of a good answer, pointer loops, forward pointers, lying counts and
 * lengths, reserved label types, too many records) and random bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns.h"
#include "t.h"

static const char NAME[] = "engines.piston.test";

typedef struct pkt {
	uint8_t b[4096];
	size_t n;
} pkt;

static void put(pkt *p, const void *d, size_t n)
{
	memcpy(p->b + p->n, d, n);
	p->n += n;
}
static void put16(pkt *p, uint16_t v) { put(p, (uint8_t[]){(uint8_t)(v >> 8), (uint8_t)v}, 2); }
static void put32(pkt *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)); put16(p, (uint16_t)v); }

/* header + the question for NAME/qtype, as a server would echo it */
static void answer_head(pkt *p, uint16_t id, uint16_t qtype, uint16_t ancount, uint8_t flags3)
{
	p->n = 0;
	uint8_t q[64];
	int n = dns_build_query(q, sizeof q, id, NAME, qtype);
	put(p, q, (size_t)n);
	p->b[2] = 0x81;   /* QR RD */
	p->b[3] = 0x80 | flags3;   /* RA, rcode */
	p->b[6] = (uint8_t)(ancount >> 8);
	p->b[7] = (uint8_t)ancount;
}

static void rr(pkt *p, uint16_t type, uint32_t ttl, const void *data, uint16_t len)
{
	put16(p, 0xc00c);   /* the question's name */
	put16(p, type);
	put16(p, 1);
	put32(p, ttl);
	put16(p, len);
	put(p, data, len);
}

static void query_tests(void)
{
	uint8_t q[512];
	int n = dns_build_query(q, sizeof q, 0xbeef, "a.bc.", DNS_TYPE_AAAA);
	static const uint8_t want[] = {0xbe, 0xef, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 'a', 2, 'b', 'c', 0, 0, 28, 0, 1};
	CHECKF(n == (int)sizeof want && !memcmp(q, want, sizeof want), "query bytes (n=%d)", n);
	CHECK(dns_build_query(q, 10, 1, "a.bc", DNS_TYPE_A) < 0);   /* too small a buffer */
	char label64[80], long_name[300];
	memset(label64, 'a', 64);
	label64[64] = 0;
	for (int i = 0; i < 127; i++)
		memcpy(long_name + 2 * i, "a.", 2);
	long_name[254] = 'a';
	long_name[255] = 0;   /* 128 labels: 255 bytes */
	const char *bad[] = {"", ".", "a..b", ".a", label64, long_name, "a b", "a/b", "a\xc3\xa9"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(!dns_name_valid(bad[i]) && dns_build_query(q, sizeof q, 1, bad[i], DNS_TYPE_A) < 0, "bad name %zu",
		       i);
	label64[63] = 0;
	CHECK(dns_name_valid(label64) && dns_name_valid("engines.default.svc.cluster.local.") &&
	      dns_name_valid("piston_engines-1.x"));
}

static void answer_tests(void)
{
	pkt p;
	dns_answer *a = malloc(sizeof *a);
	answer_head(&p, 0x1234, DNS_TYPE_A, 2, 0);
	rr(&p, DNS_TYPE_A, 30, (uint8_t[]){127, 0, 0, 11}, 4);
	rr(&p, DNS_TYPE_A, 5, (uint8_t[]){127, 0, 0, 12}, 4);
	CHECK(dns_parse_response(p.b, p.n, 0x1234, NAME, DNS_TYPE_A, a) == 0);
	CHECKF(a->naddrs == 2 && a->addrs[0].family == AF_INET && a->addrs[1].addr[3] == 12 && a->min_ttl == 5 &&
	       a->rcode == 0 && !a->truncated, "two A records (n=%zu ttl=%u)", a->naddrs, a->min_ttl);
	CHECK(dns_parse_response(p.b, p.n, 0x1234, "ENGINES.Piston.Test.", DNS_TYPE_A, a) == 0);   /* case, dot */
	CHECK(dns_parse_response(p.b, p.n, 0x1235, NAME, DNS_TYPE_A, a) < 0);             /* another id */
	CHECK(dns_parse_response(p.b, p.n, 0x1234, "other.piston.test", DNS_TYPE_A, a) < 0);   /* another name */
	CHECK(dns_parse_response(p.b, p.n, 0x1234, NAME, DNS_TYPE_AAAA, a) < 0);          /* another type */
	/* every prefix is refused, never read past */
	int ok_prefixes = 0;
	for (size_t n = 0; n < p.n; n++) {
		uint8_t *copy = malloc(n ? n : 1);
		memcpy(copy, p.b, n);
		ok_prefixes += dns_parse_response(copy, n, 0x1234, NAME, DNS_TYPE_A, a) == 0;
		free(copy);
	}
	CHECKF(ok_prefixes == 0, "%d prefixes parsed", ok_prefixes);
	/* not a response: QR clear */
	pkt q = p;
	q.b[2] = 0x01;
	CHECK(dns_parse_response(q.b, q.n, 0x1234, NAME, DNS_TYPE_A, a) < 0);
	/* two questions */
	q = p;
	q.b[5] = 2;
	CHECK(dns_parse_response(q.b, q.n, 0x1234, NAME, DNS_TYPE_A, a) < 0);
	/* an A record of 5 bytes */
	answer_head(&q, 7, DNS_TYPE_A, 1, 0);
	rr(&q, DNS_TYPE_A, 1, (uint8_t[]){1, 2, 3, 4, 5}, 5);
	CHECK(dns_parse_response(q.b, q.n, 7, NAME, DNS_TYPE_A, a) < 0);
	/* rdlength past the end */
	answer_head(&q, 7, DNS_TYPE_A, 1, 0);
	rr(&q, DNS_TYPE_A, 1, (uint8_t[]){1, 2, 3, 4}, 4);
	q.b[q.n - 5] = 200;
	CHECK(dns_parse_response(q.b, q.n, 7, NAME, DNS_TYPE_A, a) < 0);
	/* a count that lies */
	answer_head(&q, 7, DNS_TYPE_A, 65535, 0);
	rr(&q, DNS_TYPE_A, 1, (uint8_t[]){1, 2, 3, 4}, 4);
	CHECK(dns_parse_response(q.b, q.n, 7, NAME, DNS_TYPE_A, a) < 0);
	/* a pointer to itself, a forward pointer, a reserved label type */
	static const uint16_t hostile[] = {0, 2, 0x4000};
	for (size_t k = 0; k < 3; k++) {
		answer_head(&q, 7, DNS_TYPE_A, 1, 0);
		size_t at = q.n;
		rr(&q, DNS_TYPE_A, 1, (uint8_t[]){1, 2, 3, 4}, 4);
		uint16_t ptr = k == 0 ? (uint16_t)(0xc000 | at) : k == 1 ? (uint16_t)(0xc000 | (at + 2)) : hostile[k];
		q.b[at] = (uint8_t)(ptr >> 8);
		q.b[at + 1] = (uint8_t)ptr;
		CHECKF(dns_parse_response(q.b, q.n, 7, NAME, DNS_TYPE_A, a) < 0, "hostile name %zu", k);
	}
	/* chains of backward pointers, kept in a TXT record's data: the second
	 * record's owner points into the chain; DNS_MAX_JUMPS bounds it */
	for (int hops = 10; hops <= 40; hops += 30) {
		answer_head(&q, 7, DNS_TYPE_A, 2, 0);
		put16(&q, 0xc00c);
		put16(&q, 16);
		put16(&q, 1);
		put32(&q, 1);
		put16(&q, 80);
		size_t chain = q.n;
		put16(&q, 0xc00c);
		for (int i = 1; i < 40; i++)
			put16(&q, (uint16_t)(0xc000 | (chain + 2 * (size_t)(i - 1))));
		put16(&q, (uint16_t)(0xc000 | (chain + 2 * (size_t)(hops - 1))));
		put16(&q, DNS_TYPE_A);
		put16(&q, 1);
		put32(&q, 1);
		put16(&q, 4);
		put(&q, (uint8_t[]){1, 2, 3, 4}, 4);
		int rc = dns_parse_response(q.b, q.n, 7, NAME, DNS_TYPE_A, a);
		CHECKF(hops < DNS_MAX_JUMPS ? rc == 0 && a->naddrs == 1 : rc < 0, "%d hops: %d", hops, rc);
	}
	/* more records than DNS_MAX_ADDRS: capped; TTLs above 2^31 count as 0;
	 * CNAME TTLs count; NXDOMAIN and TC are reported */
	answer_head(&q, 9, DNS_TYPE_AAAA, 80, 0x03);
	q.b[2] |= 0x02;
	uint8_t six[16] = {0};
	six[15] = 1;
	rr(&q, 5, 3, (uint8_t[]){0xc0, 0x0c}, 2);
	for (int i = 0; i < 79; i++) {
		six[14] = (uint8_t)i;
		rr(&q, DNS_TYPE_AAAA, i == 40 ? 0x80000000u : 100, six, 16);
	}
	CHECK(dns_parse_response(q.b, q.n, 9, NAME, DNS_TYPE_AAAA, a) == 0);
	CHECKF(a->naddrs == DNS_MAX_ADDRS && a->addrs[0].family == AF_INET6 && a->min_ttl == 0 &&
	       a->rcode == DNS_RCODE_NXDOMAIN && a->truncated, "capped (n=%zu ttl=%u rcode=%d)", a->naddrs, a->min_ttl,
	       a->rcode);
	/* random bytes, and random corruptions of a good answer: no crash */
	srand(15);
	int parsed = 0, over = 0;
	for (int i = 0; i < 200000; i++) {
		pkt r = p;
		if (i & 1) {
			r.n = (size_t)(rand() % 600);
			for (size_t k = 0; k < r.n; k++)
				r.b[k] = (uint8_t)rand();
			r.b[0] = 0x12, r.b[1] = 0x34;
		} else {
			for (int k = 0; k < 1 + rand() % 4; k++)
				r.b[rand() % (int)r.n] = (uint8_t)rand();
		}
		if (dns_parse_response(r.b, r.n, 0x1234, NAME, DNS_TYPE_A, a) == 0) {
			parsed++;
			over += a->naddrs > DNS_MAX_ADDRS;
		}
	}
	CHECKF(parsed > 0 && !over, "some corruptions still parse (%d), none overflows (%d)", parsed, over);
	free(a);
}

int main(void)
{
	query_tests();
	answer_tests();
	return t_done();
}
