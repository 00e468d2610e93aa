/*
 * filter.c: which records kcdump shows (-p, -t, -y, --from, --to), and
 * the parsing of those options' values.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

void
kd_printable(char *dst, size_t size, const char *s)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; i + 1 < size && s[i] != '\0'; i++)
		dst[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (s[i] != '\0' && i >= 3)
		memcpy(dst + i - 3, "...", 3);
	dst[i] = '\0';
}

/* The next comma-separated element of *list, copied into buf. */
static int
next_elem(const char **list, char *buf, size_t size, char *err,
    size_t errlen)
{
	const char *p = *list, *comma = strchr(p, ',');
	size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);
	char show[40];

	if (n == 0) {
		kd_printable(show, sizeof(show), p);
		snprintf(err, errlen, "empty element in list at '%s'", show);
		return -EINVAL;
	}
	if (n >= size) {
		kd_printable(show, sizeof(show), p);
		snprintf(err, errlen, "'%s' is too long", show);
		return -EINVAL;
	}
	memcpy(buf, p, n);
	buf[n] = '\0';
	*list = comma != NULL ? comma + 1 : p + n;
	if (comma != NULL && **list == '\0') {
		snprintf(err, errlen, "empty element at the end of a list");
		return -EINVAL;
	}
	return 0;
}

int
kd_filter_ids(uint32_t **v, size_t *n, const char *list, char *err,
    size_t errlen)
{
	unsigned long long id;
	uint32_t *nv;
	char buf[32], show[32], *end;
	int error;

	if (*list == '\0') {
		snprintf(err, errlen, "empty list");
		return -EINVAL;
	}
	while (*list != '\0') {
		if ((error = next_elem(&list, buf, sizeof(buf), err,
		    errlen)) != 0)
			return error;
		errno = 0;
		id = strtoull(buf, &end, 10);
		if (!isdigit((unsigned char)buf[0]) || *end != '\0' ||
		    errno != 0 || id > UINT32_MAX) {
			kd_printable(show, sizeof(show), buf);
			snprintf(err, errlen, "'%s' is not a number from 0 to "
			    "4294967295", show);
			return -EINVAL;
		}
		if (*n >= KD_FILTER_MAXIDS) {
			snprintf(err, errlen, "more than %d ids",
			    KD_FILTER_MAXIDS);
			return -EINVAL;
		}
		if ((nv = realloc(*v, (*n + 1) * sizeof(*nv))) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		*v = nv;
		nv[(*n)++] = (uint32_t)id;
	}
	return 0;
}

int
kd_filter_types(struct kd_filter *f, const char *list, char *err,
    size_t errlen)
{
	char buf[64], show[64];
	int type, error;

	if (*list == '\0') {
		snprintf(err, errlen, "empty list");
		return -EINVAL;
	}
	while (*list != '\0') {
		if ((error = next_elem(&list, buf, sizeof(buf), err,
		    errlen)) != 0)
			return error;
		if ((type = kd_type_lookup(buf)) < 0) {
			kd_printable(show, sizeof(show), buf);
			snprintf(err, errlen, "unknown record type '%s'", show);
			return -EINVAL;
		}
		f->types[type / 64] |= (uint64_t)1 << (type % 64);
		f->has_types = true;
	}
	return 0;
}

int
kd_parse_sec(const char *s, int64_t *ns)
{
	const char *p = s;
	uint64_t sec = 0, frac = 0;
	unsigned nfrac = 0;
	bool neg = false, digits = false;

	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	for (; isdigit((unsigned char)*p); p++) {
		digits = true;
		if (sec > 1000000000u)	/* past KD_NS_MAX in any case */
			return -EINVAL;
		sec = sec * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		/* Digits past the ninth (below a nanosecond) are dropped. */
		for (p++; isdigit((unsigned char)*p); p++) {
			digits = true;
			if (nfrac < 9) {
				frac = frac * 10 + (uint64_t)(*p - '0');
				nfrac++;
			}
		}
	}
	if (!digits || *p != '\0' || sec > (uint64_t)KD_NS_MAX / 1000000000u)
		return -EINVAL;
	for (; nfrac < 9; nfrac++)
		frac *= 10;
	*ns = (int64_t)(sec * 1000000000u + frac);
	if (neg)
		*ns = -*ns;
	return 0;
}

static bool
in_list(const uint32_t *v, size_t n, uint32_t id)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (v[i] == id)
			return true;
	return false;
}

bool
kd_filter_match(const struct kd_filter *f, const struct kd_rec *r)
{
	if (f == NULL)
		return true;
	if (f->npids > 0 && !in_list(f->pids, f->npids, r->pid))
		return false;
	if (f->ntids > 0 && !in_list(f->tids, f->ntids, r->tid))
		return false;
	if (f->has_types &&
	    (f->types[r->type / 64] & ((uint64_t)1 << (r->type % 64))) == 0)
		return false;
	if (f->has_from && r->ns < f->from_ns)
		return false;
	if (f->has_to && r->ns > f->to_ns)
		return false;
	return true;
}

void
kd_filter_free(struct kd_filter *f)
{
	free(f->pids);
	free(f->tids);
	f->pids = f->tids = NULL;
	f->npids = f->ntids = 0;
}
