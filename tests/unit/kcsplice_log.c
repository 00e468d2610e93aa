/*
 * unit-kcsplice_log: kcsplice's logger (tools/kcsplice/log.h): JSON strings
 * (quote, backslash, every control character and DEL escaped; UTF-8 kept,
 * bytes that are not UTF-8 replaced by U+FFFD; truncation leaves a closed
 * string within the buffer) and RFC 3339 time stamps (UTC, milliseconds).
 * Every byte value alone, and every pair, gives a string that a strict
 * checker of JSON strings accepts.
 */
#include "kctest.h"

#include <string.h>
#include <time.h>

#include "log.h"

/* Escape s into a fresh buffer of size bytes; returns it. */
static const char *
esc(const char *s, size_t size)
{
	static char buf[4096];
	size_t off = 0;

	KC_CHECK(size <= sizeof(buf));
	memset(buf, 'X', sizeof(buf));
	ks_json_str(buf, size, &off, s);
	KC_CHECK(off < size);
	KC_CHECK_EQ(buf[off], '\0');
	KC_CHECK_EQ(strlen(buf), off);
	return buf;
}

static void
expect(const char *in, const char *want)
{
	const char *got = esc(in, 4096);

	if (strcmp(got, want) != 0)
		kct_fail(__FILE__, __LINE__, "escaped \"%s\" as %s, not %s", in,
		    got, want);
}

/*
 * A strict JSON string: quotes around; inside, no byte < 0x20, no DEL, a
 * backslash only before one of "\/bfnrt or u and four hex digits; bytes
 * >= 0x80 in well-formed UTF-8 only.
 */
static int
json_string_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p++ != '"')
		return 0;
	for (;;) {
		if (*p == '"')
			return p[1] == '\0';
		if (*p == '\0' || *p < 0x20 || *p == 0x7f)
			return 0;
		if (*p == '\\') {
			p++;
			if (*p == 'u') {
				int i;

				for (i = 1; i <= 4; i++)
					if (!((p[i] >= '0' && p[i] <= '9') ||
					    (p[i] >= 'a' && p[i] <= 'f')))
						return 0;
				p += 5;
				continue;
			}
			if (strchr("\"\\/bfnrt", *p) == NULL || *p == '\0')
				return 0;
			p++;
			continue;
		}
		if (*p >= 0x80) {
			int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : *p >= 0xc2 ?
			    2 : 0;
			int i;

			if (n == 0 || *p > 0xf4)
				return 0;
			for (i = 1; i < n; i++)
				if ((p[i] & 0xc0) != 0x80)
					return 0;
			p += n;
			continue;
		}
		p++;
	}
}

static void
test_escapes(void)
{
	char in[4], want[16];
	unsigned c, d;

	expect("", "\"\"");
	expect("tcp:127.0.0.1:80", "\"tcp:127.0.0.1:80\"");
	expect("a\"b", "\"a\\\"b\"");
	expect("a\\b", "\"a\\\\b\"");
	expect("\n\t\r", "\"\\n\\t\\r\"");
	expect("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	expect("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* Not UTF-8: a lone continuation, a cut sequence, overlong, 0xff. */
	expect("\x80", "\"\\ufffd\"");
	expect("\xc3", "\"\\ufffd\"");
	expect("\xe2\x82", "\"\\ufffd\\ufffd\"");
	expect("\xc0\xaf", "\"\\ufffd\\ufffd\"");
	expect("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	expect("\xff", "\"\\ufffd\"");
	for (c = 1; c < 256; c++) {
		in[0] = (char)c;
		in[1] = '\0';
		KC_CHECK(json_string_ok(esc(in, 64)));
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			snprintf(want, sizeof(want), "\"%c\"", c);
			expect(in, want);
		}
		for (d = 1; d < 256; d++) {
			in[1] = (char)d;
			in[2] = '\0';
			KC_CHECK(json_string_ok(esc(in, 64)));
		}
	}
}

static void
test_truncation(void)
{
	char big[600];
	size_t size, off;
	char buf[64];

	memset(big, '"', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (size = 3; size < 40; size++) {
		const char *s = esc(big, size);

		KC_CHECK(strlen(s) < size);
		KC_CHECK(json_string_ok(s));
	}
	/* A multi-byte character is never cut. */
	for (size = 3; size < 12; size++)
		KC_CHECK(json_string_ok(esc("\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
		    size)));
	/* No room at all: nothing written, off unchanged. */
	off = 62;
	memset(buf, 'X', sizeof(buf));
	ks_json_str(buf, sizeof(buf), &off, "abc");
	KC_CHECK_EQ(off, 62);
	KC_CHECK_EQ(buf[62], 'X');
}

static void
test_time(void)
{
	struct timespec ts;
	char buf[40];

	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	KC_CHECK_EQ(ks_time_format(buf, sizeof(buf), &ts), 24);
	KC_CHECK(strcmp(buf, "1970-01-01T00:00:00.000Z") == 0);
	/* 2026-12-06T17:40:01.123999999Z: milliseconds truncated. */
	ts.tv_sec = 1796578801;
	ts.tv_nsec = 123999999;
	KC_CHECK_EQ(ks_time_format(buf, sizeof(buf), &ts), 24);
	if (strcmp(buf, "2026-12-06T17:40:01.123Z") != 0)
		kct_fail(__FILE__, __LINE__, "time stamp %s", buf);
	/* Leap day, end of a year. */
	ts.tv_sec = 1709251199;		/* 2024-02-29T23:59:59Z */
	ts.tv_nsec = 999000000;
	(void)ks_time_format(buf, sizeof(buf), &ts);
	KC_CHECK(strcmp(buf, "2024-02-29T23:59:59.999Z") == 0);
	/* A short buffer: cut, NUL-terminated. */
	KC_CHECK_EQ(ks_time_format(buf, 11, &ts), 10);
	KC_CHECK(strcmp(buf, "2024-02-29") == 0);
}

int
main(void)
{
	kct_begin("unit-kcsplice_log", 60);
	test_escapes();
	test_truncation();
	test_time();
	return kct_done();
}
