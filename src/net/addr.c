/*
 * addr.c: socket addresses as text (kc_sockaddr_parse, kc_sockaddr_format).
 *
 * Numeric only, so parsing never blocks and never touches the network:
 * "a.b.c.d:port", "[v6]:port", "unix:/path", "unix:@abstract".  The port is
 * decimal, 0 to 65535, with no sign, no spaces and nothing after it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <kcont.h>
#include <kcont/socket.h>

static int
parse_port(const char *s, in_port_t *portp)
{
	unsigned long v = 0;
	const char *p;

	if (*s == '\0')
		return -EINVAL;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || p - s >= 5)
			return -EINVAL;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v > 65535)
		return -EINVAL;
	*portp = htons((in_port_t)v);
	return 0;
}

static int
parse_unix(struct kc_sockaddr *a, const char *path)
{
	size_t n = strlen(path);
	struct sockaddr_un *un = &a->a.un;

	if (n == 0 || (path[0] == '@' && n == 1))
		return -EINVAL;
	/* A path needs its NUL; an abstract name's '@' becomes the NUL. */
	if (path[0] == '@' ? n > sizeof(un->sun_path) :
	    n >= sizeof(un->sun_path))
		return -ENAMETOOLONG;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, n);
	if (path[0] == '@') {
		/* Abstract: a leading NUL, and the length says where it ends. */
		un->sun_path[0] = '\0';
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		un->sun_path[n] = '\0';
		a->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    n + 1);
	}
	return 0;
}

int
kc_sockaddr_parse(struct kc_sockaddr *a, const char *str)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon, *hs;
	size_t hl;
	int r;

	if (a == NULL)
		return -EINVAL;
	memset(a, 0, sizeof(*a));
	if (str == NULL)
		return -EINVAL;
	if (strncmp(str, "unix:", 5) == 0) {
		if ((r = parse_unix(a, str + 5)) != 0)
			memset(a, 0, sizeof(*a));
		return r;
	}
	if (str[0] == '[') {
		const char *close = strchr(str, ']');

		if (close == NULL || close[1] != ':')
			return -EINVAL;
		hs = str + 1;
		hl = (size_t)(close - hs);
		colon = close + 1;
	} else {
		colon = strrchr(str, ':');
		if (colon == NULL)
			return -EINVAL;
		hs = str;
		hl = (size_t)(colon - str);
	}
	if (hl == 0 || hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hs, hl);
	host[hl] = '\0';
	if (str[0] == '[') {
		if (inet_pton(AF_INET6, host, &a->a.in6.sin6_addr) != 1 ||
		    parse_port(colon + 1, &a->a.in6.sin6_port) != 0)
			goto bad;
		a->a.in6.sin6_family = AF_INET6;
		a->len = sizeof(a->a.in6);
		return 0;
	}
	if (inet_pton(AF_INET, host, &a->a.in.sin_addr) != 1 ||
	    parse_port(colon + 1, &a->a.in.sin_port) != 0)
		goto bad;
	a->a.in.sin_family = AF_INET;
	a->len = sizeof(a->a.in);
	return 0;
bad:
	memset(a, 0, sizeof(*a));
	return -EINVAL;
}

int
kc_sockaddr_format(const struct kc_sockaddr *a, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (a == NULL || buf == NULL)
		return -EINVAL;
	switch (a->a.sa.sa_family) {
	case AF_INET:
		if (inet_ntop(AF_INET, &a->a.in.sin_addr, host,
		    sizeof(host)) == NULL)
			return -EINVAL;
		n = snprintf(buf, size, "%s:%u", host,
		    ntohs(a->a.in.sin_port));
		break;
	case AF_INET6:
		if (inet_ntop(AF_INET6, &a->a.in6.sin6_addr, host,
		    sizeof(host)) == NULL)
			return -EINVAL;
		n = snprintf(buf, size, "[%s]:%u", host,
		    ntohs(a->a.in6.sin6_port));
		break;
	case AF_UNIX: {
		size_t off = offsetof(struct sockaddr_un, sun_path), pl;
		const char *p = a->a.un.sun_path;

		if (a->len <= off)
			return -EINVAL;		/* unnamed */
		pl = a->len - off;
		if (pl > sizeof(a->a.un.sun_path))
			return -EINVAL;
		if (p[0] == '\0')
			n = snprintf(buf, size, "unix:@%.*s", (int)(pl - 1),
			    p + 1);
		else
			n = snprintf(buf, size, "unix:%.*s",
			    (int)strnlen(p, pl), p);
		break;
	}
	default:
		return -EINVAL;
	}
	if (n < 0)
		return -EINVAL;
	if ((size_t)n >= size)
		return -ENOSPC;
	return n;
}
