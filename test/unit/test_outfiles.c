/* outfiles: output_files validation and the never-follow, bounded reader,
 * on a scratch directory standing in for a box. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base64.h"
#include "json.h"
#include "outfiles.h"
#include "t.h"

static int parse_text(const char *text, outfiles_list *l, char *msg, size_t n)
{
	json_error err;
	json_doc *doc = json_parse(text, strlen(text), &err);
	if (!doc)
		return -2;
	int rc = outfiles_parse(json_root(doc), l, msg, n);
	json_free(doc);   /* only rc and msg are looked at */
	return rc;
}

static void check_parse(void)
{
	outfiles_list l;
	char msg[256];
	CHECK(parse_text("[\"a\",\"b/c.txt\"]", &l, msg, sizeof msg) == 0 && l.n == 2);
	CHECK(outfiles_parse(NULL, &l, msg, sizeof msg) == 0 && l.n == 0);
	CHECK(parse_text("null", &l, msg, sizeof msg) == 0 && l.n == 0);
	static const struct { const char *json, *msg; } bad[] = {
		{"\"a\"", "output_files must be an array of strings"},
		{"{}", "output_files must be an array of strings"},
		{"[1]", "output_files[0] must be a string"},
		{"[\"a\",null]", "output_files[1] must be a string"},
		{"[\"..\"]", "output_files[0] must not contain '.' or '..' components"},
		{"[\"a/./b\"]", "output_files[0] must not contain '.' or '..' components"},
		{"[\"a/..\"]", "output_files[0] must not contain '.' or '..' components"},
		{"[\"/etc/shadow\"]", "output_files[0] must be a relative path"},
		{"[\"a/\"]", "output_files[0] has an empty path component"},
		{"[\"\"]", "output_files[0] must not be empty"},
		{"[\"a\\u0000b\"]", "output_files[0] contains a NUL byte"},
		{"[\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\",\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]",
		 "output_files must not hold more than 16 paths"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		msg[0] = 0;
		int rc = parse_text(bad[i].json, &l, msg, sizeof msg);
		CHECKF(rc == -1 && !strcmp(msg, bad[i].msg), "%s -> %d %s", bad[i].json, rc, msg);
	}
	char *longname = malloc(5000);
	memset(longname, 'a', 4999);
	longname[4999] = 0;
	for (int i = 100; i < 4999; i += 100)
		longname[i] = '/';
	char *text = malloc(5100);
	snprintf(text, 5100, "[\"%s\"]", longname);
	CHECK(parse_text(text, &l, msg, sizeof msg) == -1 && !strcmp(msg, "output_files[0] is too long"));
	free(text);
	free(longname);
}

static void put(int dir, const char *name, const char *data, size_t n)
{
	int fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0 && write(fd, data, n) == (ssize_t)n);
	close(fd);
}

static void check_collect(void)
{
	char tmpl[] = "/tmp/piston-outfiles-XXXXXX";
	CHECK(mkdtemp(tmpl) != NULL);
	int dir = open(tmpl, O_RDONLY | O_DIRECTORY);
	CHECK(dir >= 0);
	put(dir, "hello", "hello\n", 6);
	put(dir, "ten", "0123456789", 10);
	CHECK(symlinkat("/etc/passwd", dir, "link") == 0);
	CHECK(symlinkat("hello", dir, "rel") == 0);
	CHECK(mkfifoat(dir, "fifo", 0644) == 0);
	CHECK(mkdirat(dir, "sub", 0755) == 0);
	CHECK(symlinkat("/etc", dir, "etc") == 0);
	outfiles_list l = { .names = {"hello", "link", "rel", "fifo", "sub", "etc/passwd", "none", "ten"}, .n = 8 };
	buf out = BUF_INIT;
	CHECK(outfiles_collect(dir, &l, 1 << 20, &out) == 0);
	buf_putc(&out, 0);
	const char *want =
		"[{\"name\":\"hello\",\"content\":\"aGVsbG8K\",\"encoding\":\"base64\",\"size\":6},"
		"{\"name\":\"link\",\"error\":\"not a regular file\"},"
		"{\"name\":\"rel\",\"error\":\"not a regular file\"},"
		"{\"name\":\"fifo\",\"error\":\"not a regular file\"},"
		"{\"name\":\"sub\",\"error\":\"not a regular file\"},"
		"{\"name\":\"etc/passwd\",\"error\":\"not a regular file\"},"
		"{\"name\":\"none\",\"error\":\"not found\"},"
		"{\"name\":\"ten\",\"content\":\"MDEyMzQ1Njc4OQ==\",\"encoding\":\"base64\",\"size\":10}]";
	CHECKF(!strcmp(out.data, want), "%s", out.data);
	json_error jerr;
	json_doc *doc = json_parse(out.data, out.len - 1, &jerr);
	CHECK(doc != NULL);
	json_free(doc);

	/* The cap: 8 bytes for hello (6) and ten (10): ten cut after 2. */
	buf_reset(&out);
	outfiles_list l2 = { .names = {"hello", "ten", "hello"}, .n = 3 };
	CHECK(outfiles_collect(dir, &l2, 8, &out) == 0);
	buf_putc(&out, 0);
	want = "[{\"name\":\"hello\",\"content\":\"aGVsbG8K\",\"encoding\":\"base64\",\"size\":6},"
	       "{\"name\":\"ten\",\"content\":\"MDE=\",\"encoding\":\"base64\",\"size\":10,\"truncated\":true},"
	       "{\"name\":\"hello\",\"content\":\"\",\"encoding\":\"base64\",\"size\":6,\"truncated\":true}]";
	CHECKF(!strcmp(out.data, want), "%s", out.data);
	buf_reset(&out);
	outfiles_list none = { .n = 0 };
	CHECK(outfiles_collect(dir, &none, 8, &out) == 0 && out.len == 2 && !memcmp(out.data, "[]", 2));
	buf_free(&out);
	static const char *const names[] = {"hello", "ten", "link", "rel", "fifo", "etc"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		unlinkat(dir, names[i], 0);
	unlinkat(dir, "sub", AT_REMOVEDIR);
	close(dir);
	CHECK(rmdir(tmpl) == 0);
}

/* An overlay's layers read separately: upper first, lower where upper
 * simply lacks the path, a whiteout hides the lower file. */
static void check_layers(void)
{
	char up[] = "/tmp/piston-outfiles-up-XXXXXX", low[] = "/tmp/piston-outfiles-low-XXXXXX";
	CHECK(mkdtemp(up) && mkdtemp(low));
	int u = open(up, O_RDONLY | O_DIRECTORY), l = open(low, O_RDONLY | O_DIRECTORY);
	put(u, "a", "upper", 5);
	put(l, "a", "lower", 5);
	put(l, "b", "bb", 2);
	put(l, "c", "cc", 2);
	CHECK(mknodat(u, "c", S_IFCHR | 0600, 0) == 0);   /* as overlayfs marks a deleted file */
	CHECK(symlinkat("/etc/passwd", l, "d") == 0);
	outfiles_list names = { .names = {"a", "b", "c", "d", "e"}, .n = 5 };
	buf out = BUF_INIT;
	CHECK(outfiles_collect_layers(u, l, &names, 100, &out) == 0);
	buf_putc(&out, 0);
	const char *want =
		"[{\"name\":\"a\",\"content\":\"dXBwZXI=\",\"encoding\":\"base64\",\"size\":5},"
		"{\"name\":\"b\",\"content\":\"YmI=\",\"encoding\":\"base64\",\"size\":2},"
		"{\"name\":\"c\",\"error\":\"not found\"},"
		"{\"name\":\"d\",\"error\":\"not a regular file\"},"
		"{\"name\":\"e\",\"error\":\"not found\"}]";
	CHECKF(!strcmp(out.data, want), "%s", out.data);
	buf_free(&out);
	unlinkat(u, "a", 0);
	unlinkat(u, "c", 0);
	unlinkat(l, "a", 0);
	unlinkat(l, "b", 0);
	unlinkat(l, "c", 0);
	unlinkat(l, "d", 0);
	close(u);
	close(l);
	CHECK(rmdir(up) == 0 && rmdir(low) == 0);
}

int main(void)
{
	check_parse();
	check_collect();
	check_layers();
	return t_done();
}
