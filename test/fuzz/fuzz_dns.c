/* libFuzzer harness: dns_parse_response on any bytes (as the answer to id
 * 0x1234 for engines.piston.test, both types), and dns_build_query on the
 * input as a name. */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "dns.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t len)
{
	static dns_answer a;
	static const unsigned short types[2] = {DNS_TYPE_A, DNS_TYPE_AAAA};
	for (int i = 0; i < 2; i++)
		if (dns_parse_response(data, len, 0x1234, "engines.piston.test", types[i], &a) == 0) {
			assert(a.naddrs <= DNS_MAX_ADDRS);
			assert(a.min_ttl <= 0x7fffffffu || a.min_ttl == UINT32_MAX);
			for (size_t k = 0; k < a.naddrs; k++)
				assert(a.addrs[k].family == (i ? AF_INET6 : AF_INET));
		}
	char *name = malloc(len + 1);
	memcpy(name, data, len);
	name[len] = 0;
	unsigned char q[DNS_MAX_NAME + 32];
	int n = dns_build_query(q, sizeof q, 1, name, DNS_TYPE_A);
	assert(n < 0 || (dns_name_valid(name) && (size_t)n <= sizeof q));
	free(name);
	return 0;
}
