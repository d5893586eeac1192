#include "sha256.h"

void sha256_init(sha256_ctx *c)
{
	br_sha256_init(&c->br);
}

void sha256_update(sha256_ctx *c, const void *data, size_t len)
{
	br_sha256_update(&c->br, data, len);
}

void sha256_final_hex(sha256_ctx *c, char hex[SHA256_HEX_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char out[32];
	br_sha256_out(&c->br, out);
	for (int i = 0; i < 32; i++) {
		hex[2 * i] = digits[out[i] >> 4];
		hex[2 * i + 1] = digits[out[i] & 15];
	}
	hex[SHA256_HEX_LEN] = '\0';
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
	sha256_ctx c;
	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final_hex(&c, hex);
}
