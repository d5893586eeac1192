/* j0_callback's address classifier and submission-time URL check. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "j0_callback.h"
#include "t.h"

static const char *v4(const char *ip)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1)
		return "bad test address";
	return j0cb_address_refused((struct sockaddr *)&a);
}

static const char *v6(const char *ip)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET6, ip, &a.sin6_addr) != 1)
		return "bad test address";
	return j0cb_address_refused((struct sockaddr *)&a);
}

static int is(const char *why, const char *want) { return why && !strcmp(why, want); }

int main(void)
{
	static const char *const refused4[] = {
		"127.0.0.1", "127.255.255.255", "0.0.0.0", "0.1.2.3", "169.254.169.254", "169.254.0.0",
		"10.0.0.0", "10.255.255.255", "172.16.0.0", "172.31.255.255", "192.168.0.0", "192.168.255.255"};
	for (size_t i = 0; i < sizeof refused4 / sizeof refused4[0]; i++)
		CHECKF(v4(refused4[i]) != NULL, "%s must be refused", refused4[i]);
	static const char *const allowed4[] = {
		"172.15.255.255", "172.32.0.0", "8.8.8.8", "1.1.1.1", "169.253.255.255", "169.255.0.0",
		"11.0.0.0", "9.255.255.255", "192.167.255.255", "192.169.0.0", "128.0.0.1", "126.255.255.255"};
	for (size_t i = 0; i < sizeof allowed4 / sizeof allowed4[0]; i++)
		CHECKF(v4(allowed4[i]) == NULL, "%s must be allowed (%s)", allowed4[i], v4(allowed4[i]));
	CHECK(is(v4("127.0.0.1"), "loopback"));
	CHECK(is(v4("169.254.169.254"), "link-local"));
	CHECK(is(v4("172.16.0.0"), "private"));
	CHECK(is(v6("::ffff:172.31.0.1"), "private"));

	static const char *const refused6[] = {
		"::1", "::", "fe80::1", "febf:ffff::1", "fc00::1", "fdff:ffff:ffff::1", "::ffff:127.0.0.1",
		"::ffff:10.1.2.3", "::ffff:169.254.169.254", "::ffff:172.16.0.1", "::ffff:192.168.1.1", "::ffff:0.0.0.0"};
	for (size_t i = 0; i < sizeof refused6 / sizeof refused6[0]; i++)
		CHECKF(v6(refused6[i]) != NULL, "%s must be refused", refused6[i]);
	static const char *const allowed6[] = {
		"2001:db8::1", "2606:4700::1111", "fec0::1", "fe7f::1", "fbff::1", "fe00::1", "::ffff:8.8.8.8",
		"::ffff:172.15.255.255", "::2", "::1:0"};
	for (size_t i = 0; i < sizeof allowed6 / sizeof allowed6[0]; i++)
		CHECKF(v6(allowed6[i]) == NULL, "%s must be allowed (%s)", allowed6[i], v6(allowed6[i]));
	struct sockaddr other = {.sa_family = AF_UNIX};
	CHECK(j0cb_address_refused(&other) != NULL);

	/* submission-time URL check */
#define URL(u, priv) j0cb_url_problem(u, strlen(u), priv)
	CHECK(URL("ftp://x", true) != NULL);
	CHECK(URL("ftp://x", false) != NULL);
	CHECK(URL("x", false) != NULL);
	CHECK(URL("http://example.com/cb", false) == NULL);
	CHECK(URL("https://example.com:8443/cb?x=1", false) == NULL);
	CHECK(URL("http://127.0.0.1:8080/", false) != NULL);
	CHECK(URL("http://127.0.0.1:8080/", true) == NULL);
	CHECK(URL("http://169.254.169.254/", false) != NULL);
	CHECK(URL("http://[::1]/", false) != NULL);
	CHECK(URL("http://[::ffff:127.0.0.1]/", false) != NULL);
	CHECK(URL("http://8.8.8.8/", false) == NULL);
	CHECK(j0cb_url_problem("http://a\0b", 10, false) != NULL);   /* a NUL inside */
	char longurl[J0CB_URL_MAX + 20];
	memset(longurl, 'a', sizeof longurl - 1);
	longurl[sizeof longurl - 1] = 0;
	memcpy(longurl, "http://x/", 9);
	CHECK(URL(longurl, true) != NULL);
	longurl[J0CB_URL_MAX] = 0;
	CHECK(URL(longurl, true) == NULL);
	return t_done();
}
