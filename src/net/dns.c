/*
 * dns: the DNS message codec (promises in dns.h).
 */
#include "dns.h"

#include <string.h>
#include <sys/socket.h>

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

bool dns_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (!n || n > DNS_MAX_NAME)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (c == '.') {
			if (!label)
				return false;
			label = 0;
			continue;
		}
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		          c == '_';
		if (!ok || ++label > 63)
			return false;
	}
	return label > 0;
}

int dns_build_query(uint8_t *out, size_t cap, uint16_t id, const char *name, uint16_t qtype)
{
	if (!dns_name_valid(name))
		return -1;
	size_t n = strlen(name);
	if (name[n - 1] == '.')
		n--;
	/* header 12 + labels (n + 1 length bytes + root 0 ... n + 2) + type/class 4 */
	size_t need = 12 + n + 2 + 4;
	if (cap < need)
		return -1;
	memset(out, 0, 12);
	out[0] = (uint8_t)(id >> 8);
	out[1] = (uint8_t)id;
	out[2] = 0x01;   /* RD */
	out[5] = 1;      /* QDCOUNT */
	size_t o = 12;
	const char *p = name, *end = name + n;
	while (p < end) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t l = dot ? (size_t)(dot - p) : (size_t)(end - p);
		out[o++] = (uint8_t)l;
		memcpy(out + o, p, l);
		o += l;
		p += l + (dot ? 1 : 0);
	}
	out[o++] = 0;
	out[o++] = (uint8_t)(qtype >> 8);
	out[o++] = (uint8_t)qtype;
	out[o++] = 0;
	out[o++] = 1;    /* class IN */
	return (int)o;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Read the (possibly compressed) name at *off into out (dotted, lower case,
 * no trailing dot; NULL: only skip it). *off moves past the name as it is
 * stored at that place. Returns 0 or -1. */
static int read_name(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t cap)
{
	size_t o = *off, w = 0, jumps = 0, after = 0;
	bool jumped = false;
	for (;;) {
		if (o >= len)
			return -1;
		uint8_t l = pkt[o];
		if ((l & 0xc0) == 0xc0) {
			if (o + 1 >= len || ++jumps > DNS_MAX_JUMPS)
				return -1;
			size_t target = (size_t)(l & 0x3f) << 8 | pkt[o + 1];
			if (target >= o)   /* only backwards: no loops */
				return -1;
			if (!jumped)
				after = o + 2;
			jumped = true;
			o = target;
			continue;
		}
		if (l & 0xc0)   /* 0x40 and 0x80: reserved label types */
			return -1;
		if (!l) {
			o++;
			break;
		}
		if (o + 1 + l > len)
			return -1;
		if (out) {
			if (w + (w ? 1 : 0) + l >= cap || w + l > DNS_MAX_NAME)
				return -1;
			if (w)
				out[w++] = '.';
			for (size_t i = 0; i < l; i++)
				out[w++] = lower((char)pkt[o + 1 + i]);
		}
		o += 1 + (size_t)l;
	}
	if (out)
		out[w] = 0;
	*off = jumped ? after : o;
	return 0;
}

static bool same_name(const char *wire_lower, const char *name)
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	if (strlen(wire_lower) != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (wire_lower[i] != lower(name[i]))
			return false;
	return true;
}

int dns_parse_response(const uint8_t *pkt, size_t len, uint16_t id, const char *name, uint16_t qtype,
                       dns_answer *a)
{
	memset(a, 0, sizeof *a);
	a->min_ttl = UINT32_MAX;
	if (len < 12 || rd16(pkt) != id || !(pkt[2] & 0x80) || (pkt[2] & 0x78))   /* QR, opcode QUERY */
		return -1;
	a->truncated = pkt[2] & 0x02;
	a->rcode = pkt[3] & 0x0f;
	uint16_t qd = rd16(pkt + 4), an = rd16(pkt + 6);
	if (qd != 1)
		return -1;
	size_t o = 12;
	char qname[DNS_MAX_NAME + 2];
	if (read_name(pkt, len, &o, qname, sizeof qname) < 0 || o + 4 > len)
		return -1;
	if (!same_name(qname, name) || rd16(pkt + o) != qtype || rd16(pkt + o + 2) != 1)
		return -1;
	o += 4;
	for (uint16_t i = 0; i < an; i++) {   /* each record takes >= 11 bytes: bounded by len */
		if (read_name(pkt, len, &o, NULL, 0) < 0 || o + 10 > len)
			return -1;
		uint16_t type = rd16(pkt + o), klass = rd16(pkt + o + 2), rdlen = rd16(pkt + o + 8);
		uint32_t ttl = rd32(pkt + o + 4);
		o += 10;
		if (o + rdlen > len)
			return -1;
		if (ttl > 0x7fffffffu)   /* RFC 2181: treat as zero */
			ttl = 0;
		if (klass == 1 && (type == DNS_TYPE_A || type == DNS_TYPE_AAAA || type == 5 /* CNAME */)) {
			if (ttl < a->min_ttl)
				a->min_ttl = ttl;
			size_t want = type == DNS_TYPE_A ? 4 : 16;
			if (type == qtype && type != 5) {
				if (rdlen != want)
					return -1;
				if (a->naddrs < DNS_MAX_ADDRS) {
					dns_addr *d = &a->addrs[a->naddrs++];
					d->family = type == DNS_TYPE_A ? AF_INET : AF_INET6;
					memcpy(d->addr, pkt + o, want);
				}
			}
		}
		o += rdlen;
	}
	return 0;
}
