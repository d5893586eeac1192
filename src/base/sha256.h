/*
 * sha256: streaming SHA-256 with lowercase hex output, over BearSSL's
 * br_sha256 (the installer verifies package files as they download).
 */
#ifndef PISTON_SHA256_H
#define PISTON_SHA256_H

#include <bearssl.h>
#include <stddef.h>

#define SHA256_HEX_LEN 64

typedef struct sha256_ctx { br_sha256_context br; } sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t len);
/* Writes 64 hex digits and a NUL into hex (65 bytes). */
void sha256_final_hex(sha256_ctx *c, char hex[SHA256_HEX_LEN + 1]);
/* One-shot convenience. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

#endif
