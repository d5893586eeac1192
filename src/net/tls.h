/*
 * tls: a TLS client over a blocking socket, on BearSSL.
 *
 * Promises:
 * - Trust anchors come from a PEM bundle (the system's
 *   /etc/ssl/certs/ca-certificates.crt, or PISTON_CA_FILE); RSA and EC CA
 *   keys are both understood.
 * - The server certificate chain is checked against those anchors, its
 *   validity dates against the current time, and its name against the host
 *   the caller connects to (SNI is sent for it).
 * - Every socket wait is bounded by the caller's deadline (monotonic ns);
 *   a stalled peer gives "timed out", never a hang.
 * - Failures are explained in words: "certificate expired", "unknown CA /
 *   not trusted", "host name mismatch", ... (tls_error).
 */
#ifndef PISTON_TLS_H
#define PISTON_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define TLS_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"

typedef struct tls_trust tls_trust;
typedef struct tls_conn tls_conn;

/* Load every CERTIFICATE of a PEM file. NULL with err filled on failure
 * (missing file, no usable certificate). */
tls_trust *tls_trust_load(const char *pem_path, char *err, size_t errlen);
size_t tls_trust_count(const tls_trust *t);
void tls_trust_free(tls_trust *t);

/* Handshake on a connected socket fd (not owned: the caller closes it)
 * for host. NULL with err filled ("TLS handshake with HOST failed:
 * certificate expired") on failure. */
tls_conn *tls_connect(int fd, const char *host, const tls_trust *trust,
                      uint64_t deadline_ns, char *err, size_t errlen);
/* > 0 bytes read; 0 at a clean close (close_notify or EOF after the last
 * record); -1 on error (tls_error). */
ssize_t tls_read(tls_conn *c, void *buf, size_t len);
/* Writes and flushes everything: 0, or -1 on error. */
int tls_write_all(tls_conn *c, const void *data, size_t len);
/* Move the deadline (e.g. per request phase). */
void tls_set_deadline(tls_conn *c, uint64_t deadline_ns);
const char *tls_error(const tls_conn *c);
void tls_free(tls_conn *c);

/* Words for a BearSSL error code (BR_ERR_*). */
const char *tls_error_text(int br_err);

#endif
