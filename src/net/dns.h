/*
 * dns: a small DNS message codec (RFC 1035) for the proxy's service
 * discovery -- build an A or AAAA query, parse the answer. No I/O here
 * (proxy_dns.c sends and receives on the event loop).
 *
 * Promises:
 * - dns_build_query writes a recursive query for one name and type; names
 *   are checked (labels 1..63 bytes, whole name <= 253, no empty label).
 * - dns_parse_response reads any byte string without reading outside it:
 *   every offset is checked, compression pointers may only point backwards
 *   and are followed at most DNS_MAX_JUMPS times per name, counts are
 *   bounded by the packet's size. It accepts only a response to our query
 *   (same id, QR set, one question equal to ours, case-insensitively) and
 *   collects the A/AAAA records of the answer section (at most
 *   DNS_MAX_ADDRS; CNAME chains are followed by the recursive server, so
 *   any owner name is taken) and the smallest TTL among the answer records.
 */
#ifndef PISTON_DNS_H
#define PISTON_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_TYPE_A 1
#define DNS_TYPE_AAAA 28
#define DNS_MAX_ADDRS 64
#define DNS_MAX_JUMPS 32
#define DNS_MAX_NAME 253
#define DNS_MAX_UDP 1232              /* the EDNS-era safe UDP payload */

enum { DNS_RCODE_NOERROR = 0, DNS_RCODE_SERVFAIL = 2, DNS_RCODE_NXDOMAIN = 3 };

typedef struct dns_addr {
	int family;                        /* AF_INET or AF_INET6 */
	uint8_t addr[16];                  /* 4 or 16 bytes, network order */
} dns_addr;

typedef struct dns_answer {
	int rcode;
	bool truncated;                    /* TC: the answer did not fit */
	size_t naddrs;
	dns_addr addrs[DNS_MAX_ADDRS];
	uint32_t min_ttl;                  /* UINT32_MAX when no answer record */
} dns_answer;

/* Is name a valid host name to query (trailing dot allowed)? */
bool dns_name_valid(const char *name);
/* Returns the query's length, or -1 (bad name, or cap too small). */
int dns_build_query(uint8_t *out, size_t cap, uint16_t id, const char *name, uint16_t qtype);
/* Returns 0 and fills a, or -1 when pkt is malformed or not the answer to
 * (id, name, qtype). */
int dns_parse_response(const uint8_t *pkt, size_t len, uint16_t id, const char *name, uint16_t qtype,
                       dns_answer *a);

#endif
