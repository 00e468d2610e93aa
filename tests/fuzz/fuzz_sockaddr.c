/*
 * fuzz_sockaddr: the address parser, kc_sockaddr_parse() (kcont/socket.h).
 *
 * The input, NUL-terminated, is parsed.  It must either fail with -EINVAL
 * (and leave the address zeroed) or -ENAMETOOLONG, or succeed with an
 * address of a family the sockets take.  A parsed address must format
 * (kc_sockaddr_format()) to a string of the length returned, which parses
 * again to the same address and formats to the same string; formatting into
 * a buffer of exactly that length plus the NUL works, and one byte short is
 * -ENOSPC.  Anything else, or a crash, aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <kcont/socket.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond) do {						\
	if (!(cond))							\
		fz_fail(__LINE__, #cond);				\
} while (0)

/* Room for the longest form: "unix:" and a full sun_path, NUL. */
#define FMT_MAX	256

static const char *fz_input;

static void
fz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_sockaddr:%d: check failed: %s (input \"%s\")\n",
	    line, what, fz_input != NULL ? fz_input : "");
	abort();
}

static int
all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

static void
check_parsed(const struct kc_sockaddr *a)
{
	struct kc_sockaddr b;
	char s1[FMT_MAX], s2[FMT_MAX], *exact;
	int n, m;

	CHECK(a->a.sa.sa_family == AF_INET || a->a.sa.sa_family == AF_INET6 ||
	    a->a.sa.sa_family == AF_UNIX);
	CHECK(a->len > 0 && a->len <= sizeof(a->a));
	if (a->a.sa.sa_family == AF_INET)
		CHECK(a->len == sizeof(struct sockaddr_in));
	if (a->a.sa.sa_family == AF_INET6)
		CHECK(a->len == sizeof(struct sockaddr_in6));

	n = kc_sockaddr_format(a, s1, sizeof(s1));
	CHECK(n > 0 && n < FMT_MAX);
	CHECK(strlen(s1) == (size_t)n);

	/* What format gives, parse reads back: the same address. */
	memset(&b, 0x5a, sizeof(b));
	CHECK(kc_sockaddr_parse(&b, s1) == 0);
	CHECK(b.len == a->len);
	CHECK(memcmp(&a->a, &b.a, a->len) == 0);
	m = kc_sockaddr_format(&b, s2, sizeof(s2));
	CHECK(m == n);
	CHECK(strcmp(s1, s2) == 0);

	/* Exactly enough room, and one byte short. */
	exact = malloc((size_t)n + 1);
	CHECK(exact != NULL);
	CHECK(kc_sockaddr_format(a, exact, (size_t)n + 1) == n);
	CHECK(strcmp(exact, s1) == 0);
	CHECK(kc_sockaddr_format(a, exact, (size_t)n) == -ENOSPC);
	free(exact);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kc_sockaddr a;
	char *str;
	int r;

	str = malloc(size + 1);
	if (str == NULL)
		return 0;
	memcpy(str, data, size);
	str[size] = '\0';
	fz_input = str;

	memset(&a, 0xa5, sizeof(a));
	r = kc_sockaddr_parse(&a, str);
	if (r == 0)
		check_parsed(&a);
	else if (r == -EINVAL)
		CHECK(all_zero(&a, sizeof(a)));
	else
		CHECK(r == -ENAMETOOLONG);

	fz_input = NULL;
	free(str);
	return 0;
}
