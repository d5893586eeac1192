/* Unit tests: trust anchor loading and TLS error words. */
#include <bearssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "t.h"
#include "tls.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

int main(void)
{
	char err[256];
	tls_trust *t = NULL;
	if (access(TLS_SYSTEM_CA_FILE, R_OK) == 0) {
		t = tls_trust_load(TLS_SYSTEM_CA_FILE, err, sizeof err);
		CHECKF(t && tls_trust_count(t) > 50, "system bundle: %zu anchors (%s)", tls_trust_count(t), t ? "" : err);
		tls_trust_free(t);
	} else {
		printf("note: %s missing, system bundle case not run\n", TLS_SYSTEM_CA_FILE);
	}
	t = tls_trust_load("/nonexistent/ca.pem", err, sizeof err);
	CHECKF(!t && strstr(err, "cannot read CA file /nonexistent/ca.pem"), "%s", err);

	char path[] = "/tmp/piston-test-tls-XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	close(fd);
	write_file(path, "just some text\nno certificates here\n");
	t = tls_trust_load(path, err, sizeof err);
	CHECKF(!t && strstr(err, "no usable CA certificate"), "%s", err);
	write_file(path, "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n");
	t = tls_trust_load(path, err, sizeof err);
	CHECKF(!t, "broken PEM is refused: %s", err);
	unlink(path);

	CHECK(!strcmp(tls_error_text(BR_ERR_X509_EXPIRED), "certificate expired or not yet valid"));
	CHECK(!strcmp(tls_error_text(BR_ERR_X509_NOT_TRUSTED), "unknown CA / not trusted"));
	CHECK(!strcmp(tls_error_text(BR_ERR_X509_BAD_SERVER_NAME), "host name mismatch"));
	CHECK(strstr(tls_error_text(BR_ERR_RECV_FATAL_ALERT + 40), "alert") != NULL);
	CHECK(strcmp(tls_error_text(BR_ERR_X509_BAD_TAG_CLASS), "malformed certificate") == 0);
	return t_done();
}
