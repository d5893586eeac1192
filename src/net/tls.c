/* tls: BearSSL client wrapper (see tls.h). */
#include "tls.h"

#include <bearssl.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "loop.h"

struct tls_trust {
	br_x509_trust_anchor *anchors;
	size_t n, cap;
};

struct tls_conn {
	br_ssl_client_context sc;
	br_x509_minimal_context xc;
	br_sslio_context io;
	int fd;
	uint64_t deadline_ns;
	int sys_errno;        /* low-level failure: errno, ETIMEDOUT, or 0 */
	bool peer_eof;        /* the socket reached EOF */
	char err[256];
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

/* ---- trust anchors ---- */

static void append_to_buf(void *ctx, const void *data, size_t len)
{
	buf_append(ctx, data, len);
}

static void *dup_bytes(const void *p, size_t n)
{
	void *q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

static void free_anchor(br_x509_trust_anchor *ta)
{
	free(ta->dn.data);
	if (ta->pkey.key_type == BR_KEYTYPE_RSA) {
		free(ta->pkey.key.rsa.n);
		free(ta->pkey.key.rsa.e);
	} else {
		free(ta->pkey.key.ec.q);
	}
}

/* Decode one DER certificate into a trust anchor; false if it is unusable
 * (unsupported key type...), which is skipped rather than fatal. */
static bool add_anchor(tls_trust *t, const unsigned char *der, size_t len)
{
	br_x509_decoder_context dc;
	buf dn = BUF_INIT;
	br_x509_decoder_init(&dc, append_to_buf, &dn);
	br_x509_decoder_push(&dc, der, len);
	const br_x509_pkey *pk = br_x509_decoder_get_pkey(&dc);
	if (!pk || buf_failed(&dn) || dn.len == 0) {
		buf_free(&dn);
		return false;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		br_x509_trust_anchor *a = realloc(t->anchors, cap * sizeof *a);
		if (!a) {
			buf_free(&dn);
			return false;
		}
		t->anchors = a;
		t->cap = cap;
	}
	br_x509_trust_anchor ta = {0};
	ta.dn.len = dn.len;
	ta.dn.data = (unsigned char *)buf_steal(&dn);
	ta.flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta.pkey.key_type = pk->key_type;
	bool ok = ta.dn.data != NULL;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		ta.pkey.key.rsa.n = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		ta.pkey.key.rsa.nlen = pk->key.rsa.nlen;
		ta.pkey.key.rsa.e = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta.pkey.key.rsa.elen = pk->key.rsa.elen;
		ok = ok && ta.pkey.key.rsa.n && ta.pkey.key.rsa.e;
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		ta.pkey.key.ec.curve = pk->key.ec.curve;
		ta.pkey.key.ec.q = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		ta.pkey.key.ec.qlen = pk->key.ec.qlen;
		ok = ok && ta.pkey.key.ec.q;
	} else {
		ok = false;
	}
	if (!ok) {
		free_anchor(&ta);
		return false;
	}
	t->anchors[t->n++] = ta;
	return true;
}

tls_trust *tls_trust_load(const char *pem_path, char *err, size_t errlen)
{
	FILE *f = fopen(pem_path, "rbe");
	if (!f) {
		snprintf(err, errlen, "cannot read CA file %s: %s", pem_path, strerror(errno));
		return NULL;
	}
	tls_trust *t = calloc(1, sizeof *t);
	br_pem_decoder_context pc;
	br_pem_decoder_init(&pc);
	buf der = BUF_INIT;
	bool in_cert = false, bad = false;
	unsigned char chunk[8192];
	size_t got;
	bool at_eof = false;
	while (t && !bad && !at_eof) {
		got = fread(chunk, 1, sizeof chunk, f);
		if (got == 0) {
			/* the decoder needs a final newline to close the last line */
			chunk[0] = '\n';
			got = 1;
			at_eof = true;
		}
		const unsigned char *p = chunk;
		while (got > 0 && !bad) {
			size_t used = br_pem_decoder_push(&pc, p, got);
			p += used;
			got -= used;
			switch (br_pem_decoder_event(&pc)) {
			case BR_PEM_BEGIN_OBJ: {
				const char *name = br_pem_decoder_name(&pc);
				in_cert = !strcmp(name, "CERTIFICATE") || !strcmp(name, "X509 CERTIFICATE") ||
				          !strcmp(name, "TRUSTED CERTIFICATE");
				buf_reset(&der);
				br_pem_decoder_setdest(&pc, in_cert ? append_to_buf : NULL, &der);
				break;
			}
			case BR_PEM_END_OBJ:
				if (in_cert && !buf_failed(&der))
					add_anchor(t, (const unsigned char *)der.data, der.len);
				in_cert = false;
				break;
			case BR_PEM_ERROR:
				bad = true;
				break;
			default:
				break;
			}
		}
	}
	fclose(f);
	buf_free(&der);
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (bad || t->n == 0) {
		snprintf(err, errlen, "%s: %s", pem_path,
		         bad ? "malformed PEM data" : "no usable CA certificate");
		tls_trust_free(t);
		return NULL;
	}
	return t;
}

size_t tls_trust_count(const tls_trust *t)
{
	return t ? t->n : 0;
}

void tls_trust_free(tls_trust *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		free_anchor(&t->anchors[i]);
	free(t->anchors);
	free(t);
}

/* ---- errors ---- */

const char *tls_error_text(int e)
{
	if (e >= BR_ERR_SEND_FATAL_ALERT)
		return "we sent a fatal alert";
	if (e >= BR_ERR_RECV_FATAL_ALERT)
		return "the server sent a fatal alert (no shared protocol version or cipher, or it rejected us)";
	switch (e) {
	case BR_ERR_OK: return "no error";
	case BR_ERR_X509_EXPIRED: return "certificate expired or not yet valid";
	case BR_ERR_X509_NOT_TRUSTED: return "unknown CA / not trusted";
	case BR_ERR_X509_BAD_SERVER_NAME: return "host name mismatch";
	case BR_ERR_X509_BAD_SIGNATURE: return "bad certificate signature";
	case BR_ERR_X509_NOT_CA: return "an issuer in the chain is not a CA";
	case BR_ERR_X509_EMPTY_CHAIN: return "the server sent no certificate";
	case BR_ERR_X509_TIME_UNKNOWN: return "cannot check certificate dates (no clock)";
	case BR_ERR_X509_DN_MISMATCH: return "certificate chain is broken (issuer/subject mismatch)";
	case BR_ERR_X509_CRITICAL_EXTENSION: return "certificate has an unsupported critical extension";
	case BR_ERR_X509_FORBIDDEN_KEY_USAGE: return "certificate key usage forbids this use";
	case BR_ERR_X509_WEAK_PUBLIC_KEY: return "certificate public key is too weak";
	case BR_ERR_X509_UNSUPPORTED: return "unsupported certificate feature";
	case BR_ERR_X509_WRONG_KEY_TYPE: return "certificate key type does not match";
	case BR_ERR_X509_LIMIT_EXCEEDED: return "certificate chain too long or too large";
	case BR_ERR_BAD_VERSION:
	case BR_ERR_UNSUPPORTED_VERSION: return "unsupported TLS version";
	case BR_ERR_BAD_CIPHER_SUITE: return "no shared cipher suite";
	case BR_ERR_BAD_MAC: return "bad record MAC";
	case BR_ERR_NO_RANDOM: return "no random source";
	case BR_ERR_BAD_SIGNATURE: return "bad handshake signature";
	case BR_ERR_WRONG_KEY_USAGE: return "server key usage does not allow this cipher suite";
	case BR_ERR_IO: return "connection failed";
	case BR_ERR_UNEXPECTED:
	case BR_ERR_BAD_HANDSHAKE:
	case BR_ERR_UNKNOWN_TYPE: return "protocol error (is the server speaking TLS?)";
	default:
		if (e >= BR_ERR_X509_OK && e < 64)
			return "malformed certificate";
		return "protocol error";
	}
}

static void set_error(tls_conn *c, const char *what)
{
	int br = br_ssl_engine_last_error(&c->sc.eng);
	const char *why;
	if (c->sys_errno == ETIMEDOUT)
		why = "timed out";
	else if (br == BR_ERR_IO && c->peer_eof)
		why = "connection closed by the server";
	else if (br == BR_ERR_IO && c->sys_errno)
		why = strerror(c->sys_errno);
	else
		why = tls_error_text(br);
	snprintf(c->err, sizeof c->err, "%s: %s", what, why);
}

/* ---- socket I/O for BearSSL: blocking with a deadline ---- */

static int wait_fd(tls_conn *c, short events)
{
	for (;;) {
		uint64_t now = mono_ns();
		if (now >= c->deadline_ns) {
			c->sys_errno = ETIMEDOUT;
			return -1;
		}
		uint64_t left_ms = (c->deadline_ns - now + 999999) / 1000000;
		struct pollfd p = {.fd = c->fd, .events = events};
		int r = poll(&p, 1, left_ms > 60000 ? 60000 : (int)left_ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			c->sys_errno = errno;
			return -1;
		}
	}
}

static int low_read(void *ctx, unsigned char *data, size_t len)
{
	tls_conn *c = ctx;
	for (;;) {
		ssize_t n = read(c->fd, data, len);
		if (n > 0)
			return (int)n;
		if (n == 0) {
			c->peer_eof = true;
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			c->sys_errno = errno;
			return -1;
		}
		if (wait_fd(c, POLLIN) < 0)
			return -1;
	}
}

static int low_write(void *ctx, const unsigned char *data, size_t len)
{
	tls_conn *c = ctx;
	for (;;) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);   /* no SIGPIPE if the server hangs up */
		if (n >= 0)
			return (int)n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			c->sys_errno = errno;
			return -1;
		}
		if (wait_fd(c, POLLOUT) < 0)
			return -1;
	}
}

tls_conn *tls_connect(int fd, const char *host, const tls_trust *trust,
                      uint64_t deadline_ns, char *err, size_t errlen)
{
	tls_conn *c = calloc(1, sizeof *c);
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->fd = fd;
	c->deadline_ns = deadline_ns;
	br_ssl_client_init_full(&c->sc, &c->xc, trust->anchors, trust->n);
	br_ssl_engine_set_buffer(&c->sc.eng, c->iobuf, sizeof c->iobuf, 1);
	/* Seed from the kernel ourselves: BearSSL's own seeder choice depends
	 * on how the library was built. */
	unsigned char seed[32];
	if (getrandom(seed, sizeof seed, 0) == (ssize_t)sizeof seed)
		br_ssl_engine_inject_entropy(&c->sc.eng, seed, sizeof seed);
	if (!br_ssl_client_reset(&c->sc, host, 0)) {
		set_error(c, "TLS setup failed");
		snprintf(err, errlen, "%s", c->err);
		free(c);
		return NULL;
	}
	br_sslio_init(&c->io, &c->sc.eng, low_read, c, low_write, c);
	/* Flushing with nothing to send runs the whole handshake now, so its
	 * failure is reported here with its reason. */
	if (br_sslio_flush(&c->io) < 0) {
		char what[300];
		snprintf(what, sizeof what, "TLS handshake with %s failed", host);
		set_error(c, what);
		snprintf(err, errlen, "%s", c->err);
		free(c);
		return NULL;
	}
	return c;
}

ssize_t tls_read(tls_conn *c, void *data, size_t len)
{
	int n = br_sslio_read(&c->io, data, len);
	if (n > 0)
		return n;
	int br = br_ssl_engine_last_error(&c->sc.eng);
	/* close_notify, or a plain EOF between records: the HTTP framing
	 * above detects a body that was cut short. */
	if (br == BR_ERR_OK || (br == BR_ERR_IO && c->peer_eof && !c->sys_errno))
		return 0;
	set_error(c, "TLS read failed");
	return -1;
}

int tls_write_all(tls_conn *c, const void *data, size_t len)
{
	if (br_sslio_write_all(&c->io, data, len) < 0 || br_sslio_flush(&c->io) < 0) {
		set_error(c, "TLS write failed");
		return -1;
	}
	return 0;
}

void tls_set_deadline(tls_conn *c, uint64_t deadline_ns)
{
	c->deadline_ns = deadline_ns;
}

const char *tls_error(const tls_conn *c)
{
	return c->err;
}

void tls_free(tls_conn *c)
{
	free(c);
}
