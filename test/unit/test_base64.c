/* test_base64: RFC 4648 test vectors, strictness of the decoders, hex. */
#include <string.h>

#include "base64.h"
#include "t.h"

static void test_vectors(void)
{
	/* RFC 4648 section 10 */
	const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	const char *coded[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	for (int i = 0; i < 7; i++) {
		char enc[16], dec[16];
		size_t n = base64_encode(plain[i], strlen(plain[i]), enc);
		CHECKF(n == strlen(coded[i]) && n == base64_encoded_len(strlen(plain[i])) &&
		       memcmp(enc, coded[i], n) == 0, "encode %s", plain[i]);
		ssize_t m = base64_decode(coded[i], strlen(coded[i]), dec);
		CHECKF(m == (ssize_t)strlen(plain[i]) && memcmp(dec, plain[i], (size_t)m) == 0, "decode %s", coded[i]);
	}
	/* every byte value round trips, at every length mod 3 */
	unsigned char all[256], back[256];
	char enc[400];
	for (int i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (size_t len = 253; len <= 256; len++) {
		size_t n = base64_encode(all, len, enc);
		ssize_t m = base64_decode(enc, n, back);
		CHECKF(m == (ssize_t)len && memcmp(all, back, len) == 0, "round trip %zu", len);
	}
	/* every 12-bit group, in both halves of a 3-byte group, against the alphabet */
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	int pair_bad = 0;
	for (unsigned v = 0; v < 4096; v++) {
		unsigned char hi[3] = {(unsigned char)(v >> 4), (unsigned char)((v & 15) << 4), 0};
		unsigned char lo[3] = {0, (unsigned char)(v >> 8), (unsigned char)v};
		char a[4], b[4];
		base64_encode(hi, 3, a);
		base64_encode(lo, 3, b);
		pair_bad += a[0] != abc[v >> 6] || a[1] != abc[v & 63] || a[2] != 'A' || a[3] != 'A' ||
		            b[0] != 'A' || b[1] != 'A' || b[2] != abc[v >> 6] || b[3] != abc[v & 63];
	}
	CHECKF(pair_bad == 0, "%d 12-bit groups encoded wrong", pair_bad);
	/* both special characters */
	unsigned char sp[3];
	CHECK(base64_decode("+/+/", 4, sp) == 3 && sp[0] == 0xfb && sp[1] == 0xff && sp[2] == 0xbf);
}

static void test_strict(void)
{
	const char *bad[] = {"Zg=", "Zg", "Z===", "====", "Zg==Zg==", "Zm9v\n", " Zm9v", "Zm9v YmFy", "Zm-v",
	                     "Zm_v", "Zh==", "Zm9=", "Z=g=", "=Zg=", "Zg=a", "Zm9vY", "Zm\xc3\xa9", "Zm9v\xff\xff=="};
	char out[16];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(base64_decode(bad[i], strlen(bad[i]), out) == -1,
		       "accepted '%s'", bad[i]);
	CHECK(base64_decode("Zm\0v", 4, out) == -1);   /* NUL inside */
}

static void test_hex(void)
{
	unsigned char out[8];
	CHECK(hex_decode("", 0, out) == 0);
	CHECK(hex_decode("00ff7F80aB", 10, out) == 5 && out[0] == 0 && out[1] == 0xff && out[2] == 0x7f &&
	      out[3] == 0x80 && out[4] == 0xab);
	const char *bad[] = {"0", "abc", "0g", "g0", " 0", "0x12", "1-", "zz"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECKF(hex_decode(bad[i], strlen(bad[i]), out) == -1, "accepted '%s'", bad[i]);
	CHECK(hex_decode("0\0", 2, out) == -1);
	CHECK(hex_decoded_max(10) == 5 && base64_decoded_max(8) == 6);
}

int main(void)
{
	test_vectors();
	test_strict();
	test_hex();
	return t_done();
}
