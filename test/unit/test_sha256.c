/* test_sha256: FIPS 180 vectors, streaming in pieces equals one shot. */
#include <string.h>

#include "sha256.h"
#include "t.h"

int main(void)
{
	char hex[SHA256_HEX_LEN + 1];
	sha256_hex("", 0, hex);
	CHECKF(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "%s", hex);
	sha256_hex("abc", 3, hex);
	CHECKF(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "%s", hex);
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_hex(two, strlen(two), hex);
	CHECKF(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0, "%s", hex);
	/* a million 'a's fed in uneven pieces */
	static char a[1000000];
	memset(a, 'a', sizeof a);
	sha256_ctx c;
	sha256_init(&c);
	for (size_t off = 0, step = 1; off < sizeof a; off += step, step = step * 3 % 1000 + 1)
		sha256_update(&c, a + off, off + step > sizeof a ? sizeof a - off : step);
	sha256_final_hex(&c, hex);
	CHECKF(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0, "%s", hex);
	return t_done();
}
