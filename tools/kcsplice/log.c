/*
 * log.c: kcsplice's log lines and its access log (log.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_BURST	10	/* lines of one kind a second */
#define MSG_MAX		1024
/*
 * Room for the worst case, so that a JSON line is never cut: every byte of
 * the message and of the fields escaped to six ("\u001f", "\ufffd").
 */
#define LINE_MAX_	(6 * (MSG_MAX + 4 * 256) + 512)
/* An access-log line: its addresses, each mirror's, all escaped. */
#define ALOG_MAX	(6 * (3 * 256 + KS_MAX_MIRRORS * 160) + \
			    KS_MAX_MIRRORS * 160 + 1024)

static const char *const level_names[KS_LOG_N] = {
	[KS_LOG_ERROR] = "error",
	[KS_LOG_WARNING] = "warning",
	[KS_LOG_NOTICE] = "notice",
	[KS_LOG_INFO] = "info",
};

/* What a kind's held-back lines are called in the summary line. */
static const char *const kind_names[LK_N] = {
	[LK_INFO] = "startup", [LK_NOTE] = "notice", [LK_REFUSED] = "refused",
	[LK_DENIED] = "denied", [LK_UPSTREAM] = "upstream",
	[LK_MIRROR] = "mirror", [LK_UDP] = "udp", [LK_CONN] = "connection",
	[LK_ERROR] = "error", [LK_ACCESS] = "access log",
	[LK_COMPARE] = "compare",
};

static bool log_json_on;	/* atomic */
static int log_verbosity;	/* atomic */

/* The rate limit: per kind, the second it counts, and its counts. */
static pthread_mutex_t lg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	time_t		sec;
	unsigned	shown;
	unsigned	missed;
} lg[LK_N];

void
ks_log_set(bool json, int verbosity)
{
	__atomic_store_n(&log_json_on, json, __ATOMIC_RELAXED);
	__atomic_store_n(&log_verbosity, verbosity, __ATOMIC_RELAXED);
}

bool
ks_log_json(void)
{
	return __atomic_load_n(&log_json_on, __ATOMIC_RELAXED);
}

static void
put_fd(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

size_t
ks_time_format(char *buf, size_t size, const struct timespec *ts)
{
	struct tm tm;
	int n;

	if (gmtime_r(&ts->tv_sec, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	n = snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000000L);
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size > 0 ? size - 1 : 0;
}

/* The length of the UTF-8 sequence at s (1..4), or 0: not UTF-8. */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and past U+10FFFF are not UTF-8. */
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return n;
}

void
ks_json_str(char *buf, size_t size, size_t *off, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = *off;
	char esc[8];

	/* Room for the closing quote and the NUL is kept throughout. */
	if (size < 3 || o > size - 3)
		return;
	buf[o++] = '"';
	while (*p != '\0') {
		const char *out = esc;
		size_t n, adv = 1;

		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			n = 2;
		} else if (*p == '\n' || *p == '\t' || *p == '\r') {
			esc[0] = '\\';
			esc[1] = *p == '\n' ? 'n' : *p == '\t' ? 't' : 'r';
			n = 2;
		} else if (*p < 0x20 || *p == 0x7f) {
			n = (size_t)snprintf(esc, sizeof(esc), "\\u%04x", *p);
		} else if ((n = utf8_len(p)) == 0) {
			out = "\\ufffd";
			n = 6;
		} else {
			out = (const char *)p;
			adv = n;
		}
		if (o + n > size - 2)
			break;
		memcpy(buf + o, out, n);
		o += n;
		p += adv;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	*off = o;
}

/* Append printf text at buf + *off, within size (truncated). */
static void __attribute__((format(printf, 4, 5)))
add(char *buf, size_t size, size_t *off, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*off >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *off, size - *off, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	*off += (size_t)n < size - *off ? (size_t)n : size - *off - 1;
}

static void
now_text(char *buf, size_t size)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	(void)ks_time_format(buf, size, &ts);
}

/* Write one line: the message msg, with its fields and what was held back. */
static void
emit(enum ks_level level, const struct ks_logf *f, const char *msg,
    const char *kind, unsigned suppressed)
{
	char line[LINE_MAX_], t[40];
	size_t o = 0;

	now_text(t, sizeof(t));
	if (!ks_log_json()) {
		add(line, sizeof(line) - 1, &o, "%s %s kcsplice: %s", t,
		    level_names[level], msg);
		if (suppressed > 0)
			add(line, sizeof(line) - 1, &o,
			    " (and %u more like it)", suppressed);
		line[o++] = '\n';
		put_fd(STDERR_FILENO, line, o);
		return;
	}
	add(line, sizeof(line) - 1, &o, "{\"time\":\"%s\",\"level\":\"%s\","
	    "\"msg\":", t, level_names[level]);
	/* Room kept for the fields and the closing brace. */
	ks_json_str(line, sizeof(line) - 512, &o, msg);
	/* Fields longer than 255 bytes are cut (none is, in practice). */
	if (f != NULL && f->conn != 0)
		add(line, sizeof(line) - 1, &o, ",\"conn\":%llu",
		    (unsigned long long)f->conn);
	if (f != NULL) {
		const char *const names[4] = { "client", "upstream", "mirror",
		    "reason" };
		const char *const vals[4] = { f->client, f->upstream,
		    f->mirror, f->reason };
		int i;

		for (i = 0; i < 4; i++) {
			char v[256];

			if (vals[i] == NULL)
				continue;
			snprintf(v, sizeof(v), "%s", vals[i]);
			add(line, sizeof(line) - 1, &o, ",\"%s\":", names[i]);
			ks_json_str(line, sizeof(line) - 64, &o, v);
		}
	}
	if (kind != NULL) {
		add(line, sizeof(line) - 1, &o, ",\"kind\":");
		ks_json_str(line, sizeof(line) - 2, &o, kind);
	}
	if (suppressed > 0 || kind != NULL)
		add(line, sizeof(line) - 1, &o, ",\"suppressed\":%u",
		    suppressed);
	if (o > sizeof(line) - 3)
		o = sizeof(line) - 3;
	line[o++] = '}';
	line[o++] = '\n';
	put_fd(STDERR_FILENO, line, o);
}

static enum ks_level
kind_level(enum lk kind)
{
	switch (kind) {
	case LK_INFO:
	case LK_NOTE:
		return KS_LOG_NOTICE;
	case LK_ERROR:
	case LK_ACCESS:
		return KS_LOG_ERROR;
	case LK_CONN:
		return KS_LOG_INFO;
	default:
		return KS_LOG_WARNING;
	}
}

/*
 * May a line of this kind go now?  *missed: what was held back of it
 * before, told with this line (and cleared).
 */
static bool
rate_ok(enum lk kind, unsigned *missed)
{
	struct timespec ts;
	bool ok;

	*missed = 0;
	if (kind == LK_INFO || kind == LK_NOTE || kind == LK_ERROR)
		return true;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	pthread_mutex_lock(&lg_mu);
	if (lg[kind].sec != ts.tv_sec) {
		lg[kind].sec = ts.tv_sec;
		lg[kind].shown = 0;
	}
	ok = lg[kind].shown < LOG_BURST;
	if (ok) {
		lg[kind].shown++;
		*missed = lg[kind].missed;
		lg[kind].missed = 0;
	} else {
		lg[kind].missed++;
	}
	pthread_mutex_unlock(&lg_mu);
	return ok;
}

static void
vlog(enum lk kind, enum ks_level level, const struct ks_logf *f,
    const char *fmt, va_list ap)
{
	char msg[MSG_MAX];
	unsigned missed;
	int v = __atomic_load_n(&log_verbosity, __ATOMIC_RELAXED);

	if ((unsigned)kind >= LK_N || (unsigned)level >= KS_LOG_N)
		return;
	/* -q: errors (and the listening line); default: no info. */
	if (kind != LK_INFO && ((v < 0 && level != KS_LOG_ERROR) ||
	    (v <= 0 && level == KS_LOG_INFO)))
		return;
	if (!rate_ok(kind, &missed))
		return;
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(level, f, msg, NULL, missed);
}

void
logk(enum lk kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(kind, kind_level(kind), NULL, fmt, ap);
	va_end(ap);
}

void
logkf(enum lk kind, enum ks_level level, const struct ks_logf *f,
    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(kind, level, f, fmt, ap);
	va_end(ap);
}

void
ks_log_flush(void)
{
	struct timespec ts;
	unsigned missed[LK_N];
	int k;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	pthread_mutex_lock(&lg_mu);
	for (k = 0; k < LK_N; k++) {
		missed[k] = 0;
		if (lg[k].missed > 0 && lg[k].sec != ts.tv_sec) {
			missed[k] = lg[k].missed;
			lg[k].missed = 0;
		}
	}
	pthread_mutex_unlock(&lg_mu);
	for (k = 0; k < LK_N; k++) {
		char msg[128];

		if (missed[k] == 0)
			continue;
		snprintf(msg, sizeof(msg), "%u more %s message%s suppressed",
		    missed[k], kind_names[k], missed[k] == 1 ? "" : "s");
		emit(kind_level((enum lk)k), NULL, msg, kind_names[k],
		    missed[k]);
	}
}

void
ks_log_stats(bool json, const char *body)
{
	char line[LINE_MAX_], t[40];
	size_t o = 0;

	now_text(t, sizeof(t));
	if (json)
		add(line, sizeof(line) - 1, &o, "{\"time\":\"%s\",\"level\":"
		    "\"notice\",\"msg\":\"stats\",%s}", t, body);
	else
		add(line, sizeof(line) - 1, &o, "%s notice kcsplice: stats %s",
		    t, body);
	line[o++] = '\n';
	put_fd(STDERR_FILENO, line, o);
}

/* ------------------------------------------------------------------ */
/* The access log. */

static int alog_fd = -1;		/* atomic: set once, then dup2'd over */
static char alog_path[4096];
static pthread_mutex_t alog_mu = PTHREAD_MUTEX_INITIALIZER;	/* reopen */

static int
alog_openfd(const char *path)
{
	struct stat sb;
	int fd, e;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    O_NOCTTY, 0640);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) != 0) {
		e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(sb.st_mode) && !S_ISFIFO(sb.st_mode) &&
	    !S_ISCHR(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

int
ks_alog_open(const char *path)
{
	int fd;

	if (strcmp(path, "-") == 0) {
		alog_path[0] = '\0';
		__atomic_store_n(&alog_fd, STDOUT_FILENO, __ATOMIC_RELEASE);
		return 0;
	}
	if (strlen(path) >= sizeof(alog_path))
		return -ENAMETOOLONG;
	if ((fd = alog_openfd(path)) < 0)
		return fd;
	snprintf(alog_path, sizeof(alog_path), "%s", path);
	__atomic_store_n(&alog_fd, fd, __ATOMIC_RELEASE);
	return 0;
}

int
ks_alog_reopen(void)
{
	int fd, old, e = 0;

	pthread_mutex_lock(&alog_mu);
	old = __atomic_load_n(&alog_fd, __ATOMIC_ACQUIRE);
	if (old < 0 || alog_path[0] == '\0')
		goto out;
	if ((fd = alog_openfd(alog_path)) < 0) {
		e = fd;
		goto out;
	}
	/*
	 * The descriptor's number stays; a write in progress holds the old
	 * file and finishes there.
	 */
	while (dup2(fd, old) < 0) {
		if (errno != EINTR && errno != EBUSY) {
			e = -errno;
			break;
		}
	}
	close(fd);
out:
	pthread_mutex_unlock(&alog_mu);
	return e;
}

bool
ks_alog_on(void)
{
	return __atomic_load_n(&alog_fd, __ATOMIC_ACQUIRE) >= 0;
}

static const char *
end_text(const struct ks_access *a, char *buf, size_t size)
{
	if (a->end == KS_END_ERROR && a->err != 0) {
		snprintf(buf, size, "%s", strerror(-a->err));
		return buf;
	}
	return NULL;
}

void
ks_alog_write(const struct ks_access *a)
{
	char line[ALOG_MAX], t[40], eb[128];
	const char *etext = end_text(a, eb, sizeof(eb));
	size_t o = 0, lim = sizeof(line) - 4;
	int fd = __atomic_load_n(&alog_fd, __ATOMIC_ACQUIRE);
	unsigned i;
	ssize_t n;

	if (fd < 0)
		return;
	(void)ks_time_format(t, sizeof(t), &a->start);
	if (!ks_log_json()) {
		add(line, lim, &o, "%s conn=%llu client=%s listen=%s "
		    "upstream=%s duration_ms=%llu bytes_up=%llu "
		    "bytes_down=%llu end=%s", t, (unsigned long long)a->conn,
		    a->client, a->listen, a->upstream != NULL ? a->upstream :
		    "-", (unsigned long long)a->duration_ms,
		    (unsigned long long)a->up, (unsigned long long)a->down,
		    ks_end_name(a->end));
		for (i = 0; i < a->nmirrors; i++)
			add(line, lim, &o, " mirror%u=%s mirror%u_written=%llu "
			    "mirror%u_dropped=%llu mirror%u_detached=%s "
			    "mirror%u_sampled=%s", i, a->m[i].addr, i,
			    (unsigned long long)a->m[i].written, i,
			    (unsigned long long)a->m[i].dropped, i,
			    a->m[i].detached != NULL ? a->m[i].detached : "no",
			    i, a->m[i].unsampled ? "no" : "yes");
		for (i = 0; a->compared && i < a->nmirrors; i++) {
			add(line, lim, &o, " mirror%u_compare=%s", i,
			    a->m[i].compare != NULL ? a->m[i].compare : "-");
			if (a->m[i].has_off)
				add(line, lim, &o, " mirror%u_compare_offset=%llu",
				    i, (unsigned long long)a->m[i].compare_off);
			else
				add(line, lim, &o, " mirror%u_compare_offset=-",
				    i);
		}
		if (a->record != NULL)
			add(line, lim, &o, " record=%s", a->record);
		if (etext != NULL)
			add(line, lim, &o, " error=\"%s\"", etext);
	} else {
		add(line, lim, &o, "{\"time\":\"%s\",\"conn\":%llu,\"client\":",
		    t, (unsigned long long)a->conn);
		ks_json_str(line, lim, &o, a->client);
		add(line, lim, &o, ",\"listen\":");
		ks_json_str(line, lim, &o, a->listen);
		add(line, lim, &o, ",\"upstream\":");
		if (a->upstream != NULL)
			ks_json_str(line, lim, &o, a->upstream);
		else
			add(line, lim, &o, "null");
		add(line, lim, &o, ",\"duration_ms\":%llu,\"bytes_up\":%llu,"
		    "\"bytes_down\":%llu,\"end\":\"%s\",\"mirrors\":[",
		    (unsigned long long)a->duration_ms,
		    (unsigned long long)a->up, (unsigned long long)a->down,
		    ks_end_name(a->end));
		for (i = 0; i < a->nmirrors; i++) {
			add(line, lim, &o, "%s{\"addr\":", i > 0 ? "," : "");
			ks_json_str(line, lim, &o, a->m[i].addr);
			add(line, lim, &o, ",\"written\":%llu,\"dropped\":%llu,"
			    "\"detached\":%s,\"sampled\":%s",
			    (unsigned long long)a->m[i].written,
			    (unsigned long long)a->m[i].dropped,
			    a->m[i].detached != NULL ? "true" : "false",
			    a->m[i].unsampled ? "false" : "true");
			if (a->m[i].detached != NULL) {
				add(line, lim, &o, ",\"detach_reason\":");
				ks_json_str(line, lim, &o, a->m[i].detached);
			}
			if (a->compared && a->m[i].compare != NULL)
				add(line, lim, &o, ",\"compare\":\"%s\"",
				    a->m[i].compare);
			else if (a->compared)
				add(line, lim, &o, ",\"compare\":null");
			if (a->compared && a->m[i].has_off)
				add(line, lim, &o, ",\"compare_offset\":%llu",
				    (unsigned long long)a->m[i].compare_off);
			add(line, lim, &o, "}");
		}
		add(line, lim, &o, "]");
		if (a->record != NULL)
			add(line, lim, &o, ",\"record\":\"%s\"", a->record);
		if (etext != NULL) {
			add(line, lim, &o, ",\"error\":");
			ks_json_str(line, lim, &o, etext);
		}
		add(line, lim, &o, "}");
	}
	line[o++] = '\n';
	/* One write: O_APPEND keeps each line whole among the threads'. */
	n = write(fd, line, o);
	if (n < 0)
		logkf(LK_ACCESS, KS_LOG_ERROR, NULL, "access log: %s",
		    strerror(errno));
	else if ((size_t)n != o)
		logkf(LK_ACCESS, KS_LOG_ERROR, NULL, "access log: a line cut "
		    "short (%zd of %zu bytes written)", n, o);
}
