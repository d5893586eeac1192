/*
 * base64: RFC 4648 base64 (standard alphabet, '=' padding) and hex codecs.
 *
 * Decoders are strict and never write more than *_decoded_max(n) bytes:
 * base64 input must be a multiple of 4 characters, '=' only as the final
 * one or two, no whitespace, and unused bits of the last group zero (so
 * every byte string has exactly one accepted encoding); hex input must
 * have even length and only [0-9a-fA-F]. They return the decoded length,
 * or -1 (out may then hold garbage).
 */
#ifndef PISTON_BASE64_H
#define PISTON_BASE64_H

#include <stddef.h>
#include <sys/types.h>

static inline size_t base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }
static inline size_t base64_decoded_max(size_t n) { return n / 4 * 3; }
static inline size_t hex_decoded_max(size_t n) { return n / 2; }

/* Writes base64_encoded_len(n) characters (no NUL) and returns that count. */
size_t base64_encode(const void *in, size_t n, char *out);
ssize_t base64_decode(const char *in, size_t n, void *out);
ssize_t hex_decode(const char *in, size_t n, void *out);

#endif
