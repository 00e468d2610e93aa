/*
 * kcsplice: a TCP, UNIX and UDP relay that mirrors traffic (kcsplice(1)).
 *
 * One soft executor per thread (-j).  Streams: one listener; every executor
 * keeps a few accept requests on it (the library serves them in order, so
 * connections go round the executors), and each connection is a kc_splice
 * of the client, a new upstream connection and one connection per mirror,
 * all owned by the executor that accepted it.  UDP: one listener per
 * executor on the same port (SO_REUSEPORT: the kernel keeps a client on one
 * of them), each with its own kc_dgram_relay.
 *
 * The main thread does no I/O: it waits for signals (all blocked in every
 * thread, taken with sigtimedwait) and prints the statistics.  On SIGHUP
 * it reads the configuration again and publishes it as a new snapshot
 * (live.h): each connection keeps the snapshot it started with.
 */
#include <errno.h>
#include <limits.h>
#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <kcont.h>

#include "conf.h"
#include "metrics.h"
#include "ends.h"
#include "log.h"
#include "conffile.h"
#include "live.h"
#include "reload.h"
#include "mirrorhealth.h"
#include "sample.h"
#include "compare.h"
#include "clock.h"
#include "record.h"
#include "recread.h"
#include "replay.h"

#define ACCEPTS_PER_WORKER	4

struct worker;

/* A stream connection: the splice and what it needs to be found again. */
struct conn {
	struct conn		*c_prev, *c_next;	/* the worker's list */
	struct worker		*c_w;
	struct kc_splice	*c_sp;
	struct kc		 c_done;
	uint64_t		 c_id;
	char			 c_client[64];
	struct timespec		 c_start;	/* CLOCK_REALTIME, for the access log */
	uint64_t		 c_t0;		/* now_ns() then */
	bool			 c_cut;		/* cancelled by the drain's end */
	unsigned		 c_nm;		/* mirrors in the splice, */
	unsigned char		 c_mconf[KS_MAX_MIRRORS]; /* their --mirror index */
	int			 c_mfail[KS_MAX_MIRRORS]; /* by --mirror index: the
						   dial's error, or 0 */
	uint32_t		 c_unsampled;	/* by --mirror index: not
						   in its sample */
	struct ks_live		*c_live;	/* its configuration, held */
	/* Per mirror of the splice: its health ticket, connected (a bit). */
	struct mh		*c_health;	/* the mirrors' health it uses */
	uint32_t		 c_mticket[KS_MAX_MIRRORS];
	uint32_t		 c_mconn;
	struct ks_rec_conn	 c_rec;		/* --record: its part */
	/* The splice's tap serves --record and --compare: wanted by each. */
	bool			 c_tap_rec;
	bool			 c_tap_cmp;
	struct ks_cmp		*c_cmp;		/* --compare (NULL: off) */
	unsigned char		 c_cres[KS_MAX_MIRRORS]; /* by --mirror index:
						   its result, or 0: none */
	uint64_t		 c_coff[KS_MAX_MIRRORS]; /* where it diverged */
};

struct lsn;

/* One accept request a worker keeps on the listener, and its retry. */
struct accept_slot {
	struct kc		 a_done;
	struct kc		 a_retry;
	struct worker		*a_w;
	struct lsn		*a_lsn;
};

/*
 * A stream listener and the accept requests every worker keeps on it.  A
 * reload to another address opens a new one before closing this one; the
 * slots hold it (l_refs) until each has seen it closed, and the main
 * thread holds it until it closes it.  l_users counts accepts being asked
 * for now: the main thread closes the socket only once l_closed is set and
 * l_users is 0, so that no slot uses a closed socket.
 */
struct lsn {
	struct kc_socket	*l_sock;
	bool			 l_closed;	/* atomic */
	unsigned		 l_users;	/* atomic */
	unsigned		 l_refs;	/* atomic */
	unsigned		 l_nslots;
	struct accept_slot	 l_slots[];
};

struct worker {
	struct kc_executor	*w_ex;
	unsigned		 w_idx;
	struct kc		 w_cancelall;
	struct conn		*w_conns;	/* the worker's own */
	struct kc_socket	*w_udp;		/* UDP listener, until the relay has it */
	struct kc_dgram_relay	*w_relay;
	struct kc_dgram_relay_stats w_rlast;	/* the relay's, when it went */
	struct kc_splice_stats	 w_acct __attribute__((aligned(64)));
	uint64_t		 w_ends[KS_END_N];	/* connections by end
							   reason (relaxed
							   atomics) */
	struct ks_rng		 w_rng;		/* the mirrors' sampling */
	struct ks_rec		*w_rec;		/* --record: its stream */
	struct kc		 w_recstop;	/* destroys it, on the worker */
	struct kc		 w_recdone;	/* then this */
	struct ks_rec_stats	 w_recst;	/* its last statistics */
	int			 w_recerr;
	bool			 w_recgone;	/* atomic */
};

static struct ks_conf conf;		/* as at start: read-only after */
static struct ks_live *main_live;	/* the main thread's snapshot */
static int main_argc;			/* for reloads */
static char **main_argv;
static int log_verbosity;		/* atomic: the snapshot's, at once */
static struct worker *workers;
static struct lsn *listener;		/* streams; the main thread's */
static uint64_t next_id;
static bool stopping;			/* atomic */
static unsigned udp_sessions_open;	/* the relays' shared count */
static const char *unix_path;		/* the socket file made, if any */
static char unix_path_buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
static struct stat unix_made;		/* and what it was */
static const char *metrics_path;	/* the same for --metrics */
static struct stat metrics_made;
static uint64_t start_ms;		/* Unix time */
/* Between stop_listening() and a snapshot of the UDP relays' counts. */
static pthread_mutex_t relay_mu = PTHREAD_MUTEX_INITIALIZER;
static char listen_text[200];		/* the bound address, for logs */
static int rec_dirfd = -1;		/* --record's directory, or -1 */

/* The address bound at the start, or the one a reload moved to. */
static const char *
listen_name(const struct ks_conf *cf)
{
	return strcmp(cf->listen.text, conf.listen.text) == 0 ?
	    listen_text : cf->listen.text;
}
static bool mirrors_reloaded;		/* atomic: a reload changed them */
/*
 * Per mirror address, for the metrics: filled in by the main thread (at
 * the start and before a reload publishes new mirrors), so that workers
 * only look up and add; the count is published with a release store.
 */
static struct mtab {
	char		addr[sizeof(((struct ks_addr *)0)->text)];
	uint64_t	written, dropped, detached;	/* atomic */
	uint64_t	sampled, unsampled;		/* atomic: connections
							   it took, or not */
	uint64_t	cmp[3];				/* atomic: --compare's
							   results */
} mtab[KS_MIRROR_TABLE];
static bool cmp_seen;			/* atomic: --compare was on */
static unsigned mtab_n;			/* atomic */
/*
 * Stream mirrors' health (mirrorhealth.h), for the mirrors of the
 * configuration in force: a reload that changes the mirrors or their
 * back-off starts a new table (connections keep the one they started
 * with); the old ones stay, for their counts.
 */
static struct mh *health;		/* atomic */
static struct mh_old {
	struct mh	*h;
	struct mh_old	*next;
} *health_old;				/* main thread; read under relay_mu */

/* Counters the statistics show, beyond the byte counts. */
static struct {
	uint64_t conns, active, refused, denied, errors;
	uint64_t err_kind[KS_ERR_N], accept_errors;
} ctr;

static int
verbosity(void)
{
	return __atomic_load_n(&log_verbosity, __ATOMIC_RELAXED);
}

static void
peer_text(const struct kc_sockaddr *a, char *buf, size_t size)
{
	if (a->a.sa.sa_family == AF_UNIX) {
		snprintf(buf, size, "unix-client");
		return;
	}
	if (kc_sockaddr_format(a, buf, size) < 0)
		snprintf(buf, size, "?");
}

/* ------------------------------------------------------------------ */
/* Statistics. */

static unsigned
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 0 ? n - 1 : 0;	/* not the directory's own */
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Connections by end reason, all workers (the stats line, the metrics). */
static void
ends_sum(uint64_t out[KS_END_N])
{
	unsigned i, e;

	memset(out, 0, KS_END_N * sizeof(out[0]));
	for (i = 0; i < conf.threads; i++)
		for (e = 0; e < KS_END_N; e++)
			out[e] += ld(&workers[i].w_ends[e]);
}

static void
count_error(int err)
{
	__atomic_add_fetch(&ctr.errors, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&ctr.err_kind[ks_err_of(err)], 1, __ATOMIC_RELAXED);
}

/*
 * Every count, for the stats line and the metrics: relaxed atomic loads
 * and the library's any-thread stats calls.  Any thread (the main thread,
 * the metrics thread).  The UDP relays are asked under relay_mu, which
 * stop_listening() holds while it closes them.
 */
static void
ks_snapshot_take(struct ks_snapshot *s)
{
	struct rlimit rl;
	unsigned i, k;

	memset(s, 0, sizeof(*s));
	s->conns = ld(&ctr.conns);
	s->active = ld(&ctr.active);
	s->refused = ld(&ctr.refused);
	s->denied = ld(&ctr.denied);
	s->errors = ld(&ctr.errors);
	for (k = 0; k < KS_ERR_N; k++)
		s->err_kind[k] = ld(&ctr.err_kind[k]);
	s->accept_errors = ld(&ctr.accept_errors);
	s->nthreads = conf.threads;
	pthread_mutex_lock(&relay_mu);
	for (i = 0; i < conf.threads; i++) {
		const uint64_t *src = (const uint64_t *)&workers[i].w_acct;
		uint64_t *dst = (uint64_t *)&s->bytes;
		struct kc_dgram_relay_stats rs = workers[i].w_rlast;

		for (k = 0; k < sizeof(s->bytes) / sizeof(uint64_t); k++)
			dst[k] += ld(&src[k]);
		if (workers[i].w_relay != NULL)
			(void)kc_dgram_relay_stats(workers[i].w_relay, &rs);
		s->udp_active += rs.sessions;
		s->udp_expired += rs.expired;
		s->udp_refused += rs.refused;
		s->udp_denied += rs.denied;
		s->udp_opened += rs.opened;
		if (kc_pipe_stats(workers[i].w_ex, &s->pipes[i]) != 0)
			memset(&s->pipes[i], 0, sizeof(s->pipes[i]));
	}
	{
		struct mh *h = __atomic_load_n(&health, __ATOMIC_ACQUIRE);
		const struct mh_old *o;

		if (h != NULL)
			s->mirror_skipped = mh_skipped_total(h);
		for (o = health_old; o != NULL; o = o->next)
			s->mirror_skipped += mh_skipped_total(o->h);
	}
	pthread_mutex_unlock(&relay_mu);
	s->nmirror_ended = __atomic_load_n(&mtab_n, __ATOMIC_ACQUIRE);
	for (i = 0; i < s->nmirror_ended; i++) {
		s->mirror_ended[i].addr = mtab[i].addr;
		s->mirror_ended[i].written = ld(&mtab[i].written);
		s->mirror_ended[i].dropped = ld(&mtab[i].dropped);
		s->mirror_ended[i].detached = ld(&mtab[i].detached);
		s->mirror_ended[i].sampled = ld(&mtab[i].sampled);
		s->mirror_ended[i].unsampled = ld(&mtab[i].unsampled);
		s->mirror_unsampled += s->mirror_ended[i].unsampled;
		for (k = 0; k < 3; k++)
			s->mirror_ended[i].compare[k] = ld(&mtab[i].cmp[k]);
	}
	s->compare = __atomic_load_n(&cmp_seen, __ATOMIC_RELAXED);
	s->compare_held = ks_cmp_held();
	if (conf.record_dir[0] != '\0') {
		struct ks_rec_stats rt;

		ks_rec_totals(&rt);
		s->rec_on = true;
		s->rec_files = rt.files;
		s->rec_bytes = rt.bytes;
		s->rec_held = rt.held;
		s->rec_complete = rt.complete;
		s->rec_incomplete = rt.incomplete;
		s->rec_failures = (uint64_t)rt.failed;
	}
	s->nmirrors = conf.nmirrors;
	for (i = 0; i < conf.nmirrors; i++)
		s->mirror_text[i] = conf.mirrors[i].text;
	/*
	 * One mirror, the one started with: all mirror bytes are its own.
	 * More, or a reload that changed them: not told apart.
	 */
	if (conf.nmirrors == 1 &&
	    !__atomic_load_n(&mirrors_reloaded, __ATOMIC_RELAXED)) {
		s->mirror_each[0] = s->bytes.mirrored;
		s->mirror_each_known = true;
	}
	if (kc_splice_mirror_mem(&s->mirror_mem, 0) != 0)
		memset(&s->mirror_mem, 0, sizeof(s->mirror_mem));
	s->fds = count_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		s->max_fds = rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX :
		    (uint64_t)rl.rlim_cur;
	ends_sum(s->ends);
	s->ends_known = true;
	s->start_ms = start_ms;
	s->version = KCSPLICE_VERSION;
}

static void
print_stats(void)
{
	struct ks_snapshot s;
	const struct kc_splice_stats *t = &s.bytes;
	uint64_t up, down, spliced, copied;
	struct mallinfo2 mi = mallinfo2();
	char buf[1536];
	bool json = conf.stats_json || ks_log_json();
	unsigned i;
	int len;

	ks_snapshot_take(&s);
	up = t->spliced[KC_SPLICE_FWD] + t->copied[KC_SPLICE_FWD];
	down = t->spliced[KC_SPLICE_REV] + t->copied[KC_SPLICE_REV];
	spliced = t->spliced[0] + t->spliced[1];
	copied = t->copied[0] + t->copied[1];
#define STATS_ARGS \
	    (unsigned long long)(s.conns + s.udp_opened), \
	    (unsigned long long)(s.active + s.udp_active), \
	    (unsigned long long)(s.refused + s.udp_refused), \
	    (unsigned long long)(s.denied + s.udp_denied), \
	    (unsigned long long)up, (unsigned long long)down, \
	    (unsigned long long)spliced, (unsigned long long)copied, \
	    (unsigned long long)t->mirrored, \
	    (unsigned long long)t->mirror_detached, \
	    (unsigned long long)t->mirror_dropped, \
	    (unsigned long long)s.mirror_skipped, \
	    (unsigned long long)s.errors, \
	    (unsigned long long)s.udp_active, \
	    (unsigned long long)s.udp_expired, \
	    (unsigned long long)t->pipe_fallbacks, (unsigned)s.fds, \
	    (unsigned long long)mi.uordblks, \
	    (unsigned long long)s.mirror_mem.held, \
	    (unsigned long long)s.mirror_mem.peak, \
	    (unsigned long long)s.mirror_unsampled
	if (json)
		len = snprintf(buf, sizeof(buf), "\"conns\":%llu,"
		    "\"active\":%llu,\"refused\":%llu,\"denied\":%llu,"
		    "\"up_bytes\":%llu,\"down_bytes\":%llu,\"spliced\":%llu,"
		    "\"copied\":%llu,\"mirror_bytes\":%llu,"
		    "\"mirror_detached\":%llu,\"mirror_dropped\":%llu,"
		    "\"mirror_skipped\":%llu,\"errors\":%llu,"
		    "\"udp_sessions\":%llu,\"udp_expired\":%llu,"
		    "\"pipe_fallbacks\":%llu,"
		    "\"fds\":%u,\"heap_bytes\":%llu,\"mirror_held\":%llu,"
		    "\"mirror_peak\":%llu,\"mirror_unsampled\":%llu,"
		    "\"ends\":{", STATS_ARGS);
	else
		len = snprintf(buf, sizeof(buf), "conns=%llu "
		    "active=%llu refused=%llu denied=%llu up_bytes=%llu "
		    "down_bytes=%llu spliced=%llu copied=%llu "
		    "mirror_bytes=%llu mirror_detached=%llu "
		    "mirror_dropped=%llu mirror_skipped=%llu errors=%llu "
		    "udp_sessions=%llu "
		    "udp_expired=%llu pipe_fallbacks=%llu fds=%u "
		    "heap_bytes=%llu mirror_held=%llu mirror_peak=%llu "
		    "mirror_unsampled=%llu", STATS_ARGS);
#undef STATS_ARGS
	for (i = 0; i < KS_END_N && len > 0 && (size_t)len < sizeof(buf);
	    i++)
		len += snprintf(buf + len, sizeof(buf) - (size_t)len,
		    json ? "%s\"%s\":%llu" : "%send_%s=%llu",
		    json ? (i > 0 ? "," : "") : " ", ks_end_name(i),
		    (unsigned long long)s.ends[i]);
	if (json && len > 0 && (size_t)len < sizeof(buf))
		len += snprintf(buf + len, sizeof(buf) - (size_t)len, "}");
	if (len > 0)
		ks_log_stats(json, buf);
}

/* ------------------------------------------------------------------ */
/* Streams. */

static bool
allowed(const struct ks_conf *cf, const struct kc_sockaddr *a)
{
	unsigned i;

	if (cf->nallow == 0 || a->a.sa.sa_family == AF_UNIX)
		return true;
	for (i = 0; i < cf->nallow; i++)
		if (ks_cidr_match(&cf->allow[i], a))
			return true;
	return false;
}

/* The process-wide cap on bytes held for mirrors, as in force. */
static uint64_t
mirror_cap(void)
{
	struct kc_mirror_mem mm;

	return kc_splice_mirror_mem(&mm, 0) == 0 ? mm.cap : 0;
}

static const char *
err_text(int e)
{
	return e == -ENOBUFS ? "budget exceeded" : strerror(-e);
}

/* A connect could not reach --mirror mi: it may be down now. */
static void
mirror_unreachable(struct mh *h, const struct ks_conf *cf, unsigned mi,
    uint32_t ticket, int err)
{
	struct mh_info in;

	switch (mh_failed(h, mi, ticket, err, mh_now(), &in)) {
	case MH_DOWN:
		logk(LK_NOTE, "mirror %s down: %s; new connections skip it, "
		    "next try in %.1f s", cf->mirrors[mi].text, err_text(err),
		    (double)in.next_ns / 1e9);
		break;
	case MH_PROBE_FAILED:
		if (verbosity() > 0)
			logk(LK_MIRROR, "mirror %s still down: %s; next try in "
			    "%.1f s", cf->mirrors[mi].text, err_text(err),
			    (double)in.next_ns / 1e9);
		break;
	default:
		break;
	}
}

/* A connect to --mirror mi succeeded: it is up, or back. */
static void
mirror_reached(struct mh *h, const struct ks_conf *cf, unsigned mi)
{
	struct mh_info in;

	if (mh_connected(h, mi, mh_now(), &in) == MH_UP)
		logk(LK_NOTE, "mirror %s up again after %.1f s down (%llu "
		    "failed tries, %llu connections skipped it)",
		    cf->mirrors[mi].text, (double)in.down_ns / 1e9,
		    (unsigned long long)in.probes,
		    (unsigned long long)in.skipped);
}

static void
mirror_event(void *arg, struct kc_splice *sp, int ev, unsigned mirror,
    int err)
{
	struct conn *c = arg;
	const struct ks_conf *cf = &c->c_live->c;
	struct ks_logf f;
	unsigned mi;

	(void)sp;
	/* The splice numbers the mirrors it has; --mirror's index is ours. */
	if (mirror >= c->c_nm)
		return;
	if (mirror >= c->c_nm)
		return;
	/* Its replies answer a stream with holes from here. */
	if (c->c_cmp != NULL && (ev == KC_SPLICE_EV_MIRROR_DETACHED ||
	    ev == KC_SPLICE_EV_MIRROR_DROPPING))
		ks_cmp_abandon(c->c_cmp, mirror);
	mi = c->c_mconf[mirror];
	if (ev == KC_SPLICE_EV_MIRROR_CONNECTED) {
		c->c_mconn |= 1u << mirror;
		mirror_reached(c->c_health, cf, mi);
		return;
	}
	/* Never connected: not a connection that failed, the mirror did. */
	if (ev == KC_SPLICE_EV_MIRROR_DETACHED && mh_unreachable(err) &&
	    !(c->c_mconn & (1u << mirror))) {
		mirror_unreachable(c->c_health, cf, mi, c->c_mticket[mirror],
		    err);
		return;
	}
	memset(&f, 0, sizeof(f));
	f.conn = c->c_id;
	f.client = c->c_client;
	f.mirror = cf->mirrors[mi].text;
	f.reason = err == -ENOBUFS ? "budget" : err == -ENOSPC ? "cap" :
	    strerror(-err);
	if (ev == KC_SPLICE_EV_MIRROR_DETACHED && err == -ENOBUFS)
		logkf(LK_MIRROR, KS_LOG_WARNING, &f, "mirror %s detached: budget %llu bytes "
		    "exceeded (conn %llu)", cf->mirrors[mi].text,
		    (unsigned long long)cf->mirror_budget,
		    (unsigned long long)c->c_id);
	else if (ev == KC_SPLICE_EV_MIRROR_DETACHED && err == -ENOSPC)
		logkf(LK_MIRROR, KS_LOG_WARNING, &f, "mirror %s detached: mirror cap %llu bytes "
		    "reached (conn %llu)", cf->mirrors[mi].text,
		    (unsigned long long)mirror_cap(),
		    (unsigned long long)c->c_id);
	else if (ev == KC_SPLICE_EV_MIRROR_DETACHED)
		logkf(LK_MIRROR, KS_LOG_WARNING, &f, "mirror %s: %s (conn %llu, detached)",
		    cf->mirrors[mi].text, err_text(err),
		    (unsigned long long)c->c_id);
	else if (ev == KC_SPLICE_EV_MIRROR_DROPPING)
		logkf(LK_MIRROR, KS_LOG_WARNING, &f, "mirror %s dropping: %s (conn %llu)",
		    cf->mirrors[mi].text, err == -ENOSPC ?
		    "mirror cap reached" : "budget exceeded",
		    (unsigned long long)c->c_id);
}

static void
conn_unlink(struct conn *c)
{
	struct worker *w = c->c_w;

	if (c->c_prev != NULL)
		c->c_prev->c_next = c->c_next;
	else
		w->w_conns = c->c_next;
	if (c->c_next != NULL)
		c->c_next->c_prev = c->c_prev;
}

static uint64_t now_ns(void);

static void
count_end(struct worker *w, enum ks_end e)
{
	__atomic_add_fetch(&w->w_ends[e], 1, __ATOMIC_RELAXED);
}

/* A connect's error: refused (or unreachable), timed out, or other. */
static enum ks_end
connect_end(int err)
{
	switch (-err) {
	case ETIMEDOUT:
		return KS_END_CONNECT_TIMEOUT;
	case ECONNREFUSED:
	case ENOENT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case EAGAIN:		/* a UNIX listener's full backlog */
		return KS_END_CONNECT_REFUSED;
	default:
		return KS_END_ERROR;
	}
}

/* What the library says ended the splice, in kcsplice's words. */
static enum ks_end
splice_end(const struct kc_splice_end *e, bool cut)
{
	bool peer = e->err == -ECONNRESET || e->err == -EPIPE ||
	    e->err == -ECONNABORTED;

	switch (e->how) {
	case KC_SPLICE_END_FIN:
		return e->side == KC_SPLICE_SIDE_B ? KS_END_UPSTREAM_FIN :
		    KS_END_CLIENT_FIN;
	case KC_SPLICE_END_RESET:
		if (!peer)
			return KS_END_ERROR;
		return e->side == KC_SPLICE_SIDE_B ? KS_END_UPSTREAM_RST :
		    KS_END_CLIENT_RST;
	case KC_SPLICE_END_CONNECT:
		return connect_end(e->err);
	case KC_SPLICE_END_CONNECT_TIMEOUT:
		return KS_END_CONNECT_TIMEOUT;
	case KC_SPLICE_END_IDLE_TIMEOUT:
		return KS_END_IDLE_TIMEOUT;
	case KC_SPLICE_END_HALF_CLOSE_TIMEOUT:
		return KS_END_HALF_CLOSE_TIMEOUT;
	case KC_SPLICE_END_CANCEL:
		return cut ? KS_END_DRAIN_CUT : KS_END_ERROR;
	default:
		return KS_END_ERROR;
	}
}

/* Why a mirror was detached, in a word, for the access log. */
static const char *
detach_word(int err)
{
	switch (-err) {
	case ENOBUFS:
		return "budget";
	case ENOSPC:
		return "cap";
	case ETIMEDOUT:
		return "linger";
	case ECONNREFUSED:
	case ENOENT:
	case EHOSTUNREACH:
	case ENETUNREACH:
		return "refused";
	case ECONNRESET:
	case EPIPE:
		return "reset";
	case EHOSTDOWN:
		return "down";	/* skipped: down, in its back-off */
	default:
		return "error";
	}
}

/* Make room for the mirrors of cf in mtab; the main thread. */
static void
mtab_add(const struct ks_conf *cf)
{
	unsigned i, k, n = __atomic_load_n(&mtab_n, __ATOMIC_RELAXED);

	for (i = 0; i < cf->nmirrors; i++) {
		for (k = 0; k < n; k++)
			if (strcmp(mtab[k].addr, cf->mirrors[i].text) == 0)
				break;
		if (k < n || n == KS_MIRROR_TABLE)
			continue;	/* known, or no room: not counted apart */
		snprintf(mtab[n].addr, sizeof(mtab[n].addr), "%s",
		    cf->mirrors[i].text);
		__atomic_store_n(&mtab_n, ++n, __ATOMIC_RELEASE);
	}
}

/* A connection (or UDP session) was in addr's sample, or not; a worker. */
static void
mtab_sample(const char *addr, bool taken)
{
	unsigned k, n = __atomic_load_n(&mtab_n, __ATOMIC_ACQUIRE);

	for (k = 0; k < n && strcmp(mtab[k].addr, addr) != 0; k++)
		;
	if (k < n)
		__atomic_add_fetch(taken ? &mtab[k].sampled :
		    &mtab[k].unsampled, 1, __ATOMIC_RELAXED);
}

/* Does --mirror i of cf take this client's connection?  Counted. */
static bool
sample_take(struct worker *w, const struct ks_conf *cf, unsigned i,
    const struct kc_sockaddr *client)
{
	bool take = ks_sample_take(&w->w_rng, cf->mirror_set[i].sample,
	    cf->sample_by_client, client, cf->mirrors[i].text);

	mtab_sample(cf->mirrors[i].text, take);
	return take;
}

/* A connection ended: add what each of its mirrors got; the worker. */
static void
mtab_count(const struct conn *c)
{
	const struct ks_conf *cf = &c->c_live->c;
	unsigned i, k, n = __atomic_load_n(&mtab_n, __ATOMIC_ACQUIRE);

	for (i = 0; i < c->c_nm; i++) {
		const char *addr = cf->mirrors[c->c_mconf[i]].text;
		struct kc_splice_mirror_stats ms;

		if (kc_splice_mirror_stats(c->c_sp, i, &ms) != 0)
			continue;
		for (k = 0; k < n && strcmp(mtab[k].addr, addr) != 0; k++)
			;
		if (k == n)
			continue;
		__atomic_add_fetch(&mtab[k].written, ms.written,
		    __ATOMIC_RELAXED);
		__atomic_add_fetch(&mtab[k].dropped, ms.dropped,
		    __ATOMIC_RELAXED);
		if (ms.detached)
			__atomic_add_fetch(&mtab[k].detached, 1,
			    __ATOMIC_RELAXED);
	}
}

/*
 * The access log's line for a connection that ended (sp: its splice, or
 * NULL when it never had one).
 */
static void
access_line(const struct conn *c, struct kc_splice *sp, enum ks_end end,
    int err, const char *upstream)
{
	const struct ks_conf *cf = &c->c_live->c;
	struct ks_access a;
	struct kc_splice_stats st;
	unsigned i;

	if (!ks_alog_on())
		return;
	memset(&a, 0, sizeof(a));
	a.start = c->c_start;
	a.duration_ms = (now_ns() - c->c_t0) / 1000000ull;
	a.conn = c->c_id;
	a.client = c->c_client;
	a.listen = listen_name(cf);
	a.upstream = upstream;
	a.end = end;
	a.err = end == KS_END_ERROR ? err : 0;
	/* What is known at its end: a later write that fails is the
	 * stream's, logged and counted there. */
	if (rec_dirfd >= 0)
		a.record = c->c_rec.rc_rec == NULL ? "no" :
		    ks_rec_complete(&c->c_rec) ? "complete" : "incomplete";
	if (sp != NULL && kc_splice_stats(sp, &st) == 0) {
		a.up = st.spliced[KC_SPLICE_FWD] + st.copied[KC_SPLICE_FWD];
		a.down = st.spliced[KC_SPLICE_REV] + st.copied[KC_SPLICE_REV];
	}
	if (sp != NULL) {
		a.nmirrors = cf->nmirrors;
		for (i = 0; i < cf->nmirrors; i++) {
			a.m[i].addr = cf->mirrors[i].text;
			a.m[i].unsampled = (c->c_unsampled & (1u << i)) != 0;
			if (c->c_mfail[i] != 0)
				a.m[i].detached = detach_word(c->c_mfail[i]);
		}
		for (i = 0; sp != NULL && i < c->c_nm; i++) {
			struct kc_splice_mirror_stats ms;
			struct ks_access_mirror *m = &a.m[c->c_mconf[i]];

			if (kc_splice_mirror_stats(sp, i, &ms) != 0)
				continue;
			m->written = ms.written;
			m->dropped = ms.dropped;
			if (ms.detached)
				m->detached = detach_word(ms.detach_err);
		}
		a.compared = cf->compare;
		for (i = 0; i < cf->nmirrors; i++) {
			if (c->c_cres[i] == 0)
				continue;
			a.m[i].compare = ks_cmp_result_name(c->c_cres[i]);
			a.m[i].has_off = c->c_cres[i] == KS_CMP_DIVERGED;
			a.m[i].compare_off = c->c_coff[i];
		}
	}
	ks_alog_write(&a);
}

/* ---- --compare ----------------------------------------------------- */

/* Its held bytes count against the mirrors' cap (--mirror-cap) too. */
static void
cmp_cap_set(void)
{
	struct kc_mirror_mem mm;

	if (kc_splice_mirror_mem(&mm, 0) == 0)
		ks_cmp_cap(mm.cap);
}

/* Compare c's mirrors (c->c_nm of them); 0, or -ENOMEM: not compared. */
static int
cmp_begin(struct conn *c, const struct ks_conf *cf)
{
	__atomic_store_n(&cmp_seen, true, __ATOMIC_RELAXED);
	if ((c->c_cmp = malloc(sizeof(*c->c_cmp))) == NULL)
		return -ENOMEM;
	ks_cmp_init(c->c_cmp, c->c_nm, cf->compare_window);
	c->c_tap_cmp = true;
	return 0;
}

/* A mirror's replies (the splice's mirror tap). */
static int
cmp_mtap(void *arg, struct kc_splice *sp, unsigned mirror,
    const struct kc_chain *data, size_t off, size_t len)
{
	struct conn *c = arg;

	(void)sp;
	return ks_cmp_mirror(c->c_cmp, mirror, data, off, len);
}

static int rec_tap(void *arg, struct kc_splice *sp, int dir,
    const struct kc_chain *data, size_t off, size_t len);

/*
 * The splice's tap, one slot for both: every byte to the recording, the
 * upstream's replies to the comparison; stopped once neither wants more.
 */
static int
conn_tap(void *arg, struct kc_splice *sp, int dir, const struct kc_chain *data,
    size_t off, size_t len)
{
	struct conn *c = arg;

	if (c->c_tap_rec && rec_tap(arg, sp, dir, data, off, len) != 0)
		c->c_tap_rec = false;
	if (c->c_tap_cmp && dir == KC_SPLICE_REV &&
	    ks_cmp_upstream(c->c_cmp, data, off, len))
		c->c_tap_cmp = false;
	return !c->c_tap_rec && !c->c_tap_cmp;
}

/*
 * The connection ended: each mirror's result, counted, and the first
 * divergence logged (once a connection; the kind is rate-limited).
 */
static void
cmp_end(struct conn *c)
{
	const struct ks_conf *cf = &c->c_live->c;
	struct kc_splice_mirror_stats ms;
	struct ks_cmp_diff d, first;
	enum ks_cmp_result r;
	unsigned i, k, n, logged = KS_MAX_MIRRORS;

	if (c->c_cmp == NULL)
		return;
	n = __atomic_load_n(&mtab_n, __ATOMIC_ACQUIRE);
	memset(&first, 0, sizeof(first));
	for (i = 0; i < c->c_nm; i++) {
		const char *addr = cf->mirrors[c->c_mconf[i]].text;
		bool whole = kc_splice_mirror_stats(c->c_sp, i, &ms) == 0 &&
		    !ms.detached && ms.dropped == 0;

		r = ks_cmp_end(c->c_cmp, i, whole, &d);
		c->c_cres[c->c_mconf[i]] = (unsigned char)r;
		c->c_coff[c->c_mconf[i]] = d.off;
		if (r == KS_CMP_DIVERGED && logged == KS_MAX_MIRRORS) {
			logged = i;
			first = d;
		}
		for (k = 0; k < n && strcmp(mtab[k].addr, addr) != 0; k++)
			;
		if (k < n && r >= KS_CMP_MATCHED && r <= KS_CMP_NOT_COMPARED)
			__atomic_add_fetch(&mtab[k].cmp[r - KS_CMP_MATCHED], 1,
			    __ATOMIC_RELAXED);
	}
	ks_cmp_free(c->c_cmp);
	if (logged < KS_MAX_MIRRORS) {
		char eu[4 * KS_CMP_EXCERPT + 8], em[4 * KS_CMP_EXCERPT + 8];
		struct ks_logf f;

		ks_cmp_excerpt(eu, sizeof(eu), first.up, first.up_n);
		ks_cmp_excerpt(em, sizeof(em), first.mi, first.mi_n);
		memset(&f, 0, sizeof(f));
		f.conn = c->c_id;
		f.client = c->c_client;
		f.mirror = cf->mirrors[c->c_mconf[logged]].text;
		f.reason = "diverged";
		logkf(LK_COMPARE, KS_LOG_WARNING, &f, "compare: mirror %s "
		    "diverged from the upstream at byte %llu (conn %llu): "
		    "upstream %s, mirror %s", f.mirror,
		    (unsigned long long)first.off,
		    (unsigned long long)c->c_id, eu, em);
	}
}

/* The splice ended: on the worker. */
/* ---- --record ------------------------------------------------------ */

/* The splice's tap: every byte read, both ways, to the recording. */
static int
rec_tap(void *arg, struct kc_splice *sp, int dir, const struct kc_chain *data,
    size_t off, size_t len)
{
	struct conn *c = arg;

	(void)sp;
	/* Non-zero (lost, or failed): no more calls, no more copies. */
	return ks_rec_data(&c->c_rec, dir == KC_SPLICE_FWD ? KSR_C2S : KSR_S2C,
	    ks_clock_ns(CLOCK_REALTIME), data, off, len) != 0;
}

/* Begin recording a connection or UDP session of client under cf, on
 * its worker's stream r; 0 or why not (ks_rec_begin()). */
static int
rec_open(struct ks_rec *r, struct ks_rec_conn *rc, uint64_t id,
    const char *client, const struct ks_conf *cf)
{
	char meta[384];

	snprintf(meta, sizeof(meta), "proto=%s client=%.64s listen=%.128s "
	    "upstream=%.128s", cf->listen.kind == KS_UDP ? "udp" :
	    cf->listen.kind == KS_UNIX ? "unix" : "tcp", client,
	    listen_name(cf), cf->upstream.text);
	return ks_rec_begin(r, rc, id, meta);
}

/* Begin recording c (on its worker); true: the tap is wanted. */
static bool
rec_begin(struct conn *c, const struct ks_conf *cf)
{
	return c->c_w->w_rec != NULL && rec_open(c->c_w->w_rec, &c->c_rec,
	    c->c_id, c->c_client, cf) == 0;
}

static void
rec_end(struct conn *c, enum ks_end end)
{
	struct kc_splice_stats st;
	char meta[160];

	if (c->c_rec.rc_rec == NULL)
		return;
	memset(&st, 0, sizeof(st));
	(void)kc_splice_stats(c->c_sp, &st);
	snprintf(meta, sizeof(meta), "reason=%s c2s=%llu s2c=%llu",
	    ks_end_name(end),
	    (unsigned long long)(st.spliced[0] + st.copied[0]),
	    (unsigned long long)(st.spliced[1] + st.copied[1]));
	ks_rec_end(&c->c_rec, ks_clock_ns(CLOCK_REALTIME), meta);
}

/* A UDP session's recording: its part, and its bytes for the END. */
struct udp_rec {
	struct ks_rec_conn	ur_rc;
	uint64_t		ur_bytes[2];	/* client's, upstream's */
};

/* The relay's session_begin: on the worker, the session's recording. */
static void *
udp_rec_begin(void *arg, const struct kc_sockaddr *client)
{
	struct worker *w = arg;
	struct udp_rec *u;
	char p[64];

	if (w->w_rec == NULL || (u = calloc(1, sizeof(*u))) == NULL)
		return NULL;
	peer_text(client, p, sizeof(p));
	/* UDP settings are the start's for good (a reload keeps them). */
	if (rec_open(w->w_rec, &u->ur_rc, __atomic_add_fetch(&next_id, 1,
	    __ATOMIC_RELAXED), p, &conf) != 0) {
		free(u);	/* counted incomplete by the stream */
		return NULL;
	}
	return u;
}

/* The relay's tap: each datagram, either way, to the recording. */
static void
udp_rec_tap(void *arg, void *session, int dir, const void *data, size_t len)
{
	struct udp_rec *u = session;

	(void)arg;
	if (u == NULL)
		return;
	u->ur_bytes[dir == KC_SPLICE_FWD ? 0 : 1] += len;
	(void)ks_rec_dgram(&u->ur_rc, dir == KC_SPLICE_FWD ? KSR_C2S : KSR_S2C,
	    ks_clock_ns(CLOCK_REALTIME), data, len);
}

static void
udp_rec_end(void *arg, void *session, int err)
{
	struct udp_rec *u = session;
	char meta[160];

	(void)arg;
	if (u == NULL)
		return;
	snprintf(meta, sizeof(meta), "reason=%s c2s=%llu s2c=%llu",
	    err == 0 ? ks_end_name(KS_END_IDLE_TIMEOUT) : "shutdown",
	    (unsigned long long)u->ur_bytes[0],
	    (unsigned long long)u->ur_bytes[1]);
	ks_rec_end(&u->ur_rc, ks_clock_ns(CLOCK_REALTIME), meta);
	free(u);
}

/* What a worker's recording stream says, for the log. */
static void
rec_event(void *arg, enum ks_rec_ev ev, int err, const char *name)
{
	struct worker *w = arg;

	switch (ev) {
	case KS_REC_EV_FILE:
		logk(LK_INFO, "record: writing %s/%s", conf.record_dir, name);
		break;
	case KS_REC_EV_REMOVED:
		if (err != 0)
			logk(LK_ERROR, "record: cannot remove %s/%s: %s",
			    conf.record_dir, name, strerror(-err));
		break;
	case KS_REC_EV_FAILED:
		logk(LK_ERROR, "record: %s/%s: %s: thread %u records nothing "
		    "more (its open connections are incomplete)",
		    conf.record_dir, name, strerror(-err), w->w_idx);
		break;
	case KS_REC_EV_LOST:
		logk(LK_MIRROR, "record: a connection's recording fell behind "
		    "(%s): the rest of it is not recorded, it is marked "
		    "incomplete", err == -ENOSPC ? "the process's cap" :
		    err == -ENOBUFS ? "--record-budget" : strerror(-err));
		break;
	}
}

/*
 * Open the directory and a stream per worker.  The directory must be the
 * user's and not writable by others (the files in it are made new, never
 * over a path that is there).  0 or an exit status.
 */
static int
rec_setup(void)
{
	struct ks_rec_conf rc;
	struct kc_mirror_mem mm;
	struct stat sb;
	char prefix[64];
	unsigned i;
	int e;

	if (conf.record_dir[0] == '\0')
		return 0;
	rec_dirfd = open(conf.record_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (rec_dirfd < 0) {
		logk(LK_ERROR, "--record %s: %s", conf.record_dir,
		    strerror(errno));
		return EX_CANTCREAT;
	}
	if (fstat(rec_dirfd, &sb) != 0 || sb.st_uid != geteuid() ||
	    (sb.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
		logk(LK_ERROR, "--record %s: not a directory of this user's "
		    "that only it may write to", conf.record_dir);
		return EX_NOPERM;
	}
	memset(&rc, 0, sizeof(rc));
	rc.file_max = conf.record_size;
	rc.files_max = conf.record_count;
	rc.budget = conf.record_budget;
	/* The process's cap on bytes held, as for the mirrors. */
	if (kc_splice_mirror_mem(&mm, 0) == 0)
		ks_rec_cap(mm.cap);
	for (i = 0; i < conf.threads; i++) {
		snprintf(prefix, sizeof(prefix), "kcsplice-%ld-w%u",
		    (long)getpid(), i);
		if ((e = ks_rec_create(&workers[i].w_rec, workers[i].w_ex,
		    rec_dirfd, prefix, &rc, rec_event, &workers[i])) != 0) {
			logk(LK_ERROR, "--record: %s", strerror(-e));
			return EX_OSERR;
		}
	}
	return 0;
}

static void
rec_done_fn(void *obj, void *env, int status)
{
	struct worker *w = env;

	(void)obj;
	w->w_recerr = status;
	__atomic_store_n(&w->w_recgone, true, __ATOMIC_RELEASE);
}

static void
rec_stop_fn(void *obj, void *env, int status)
{
	struct worker *w = env;

	(void)obj;
	(void)status;
	ks_rec_destroy(w->w_rec, &w->w_recst, &w->w_recdone);
}

/*
 * At the stop: each worker writes what it holds and closes its file;
 * waited for up to 10 s, then the totals are logged.
 */
static void
rec_stop(void)
{
	uint64_t deadline = now_ns() + 10000000000ull;
	struct ks_rec_stats t;
	unsigned i, left;

	if (rec_dirfd < 0)
		return;
	for (i = 0; i < conf.threads; i++) {
		struct worker *w = &workers[i];

		if (w->w_rec == NULL ||
		    kc_init(&w->w_recdone, rec_done_fn, w, w->w_ex, 0) != 0 ||
		    kc_init(&w->w_recstop, rec_stop_fn, w, w->w_ex, 0) != 0 ||
		    kc_run(&w->w_recstop, NULL, 0) != 0)
			__atomic_store_n(&w->w_recgone, true,
			    __ATOMIC_RELEASE);
	}
	do {
		for (i = 0, left = 0; i < conf.threads; i++)
			left += !__atomic_load_n(&workers[i].w_recgone,
			    __ATOMIC_ACQUIRE);
		if (left > 0) {
			struct timespec ts = { 0, 10000000 };

			nanosleep(&ts, NULL);
		}
	} while (left > 0 && now_ns() < deadline);
	memset(&t, 0, sizeof(t));
	for (i = 0; i < conf.threads; i++) {
		t.files += workers[i].w_recst.files;
		t.bytes += workers[i].w_recst.bytes;
		t.complete += workers[i].w_recst.complete;
		t.incomplete += workers[i].w_recst.incomplete;
	}
	logk(LK_NOTE, "record: %llu connection%s recorded whole, %llu "
	    "incomplete; %llu bytes in %llu file%s%s",
	    (unsigned long long)t.complete, t.complete == 1 ? "" : "s",
	    (unsigned long long)t.incomplete, (unsigned long long)t.bytes,
	    (unsigned long long)t.files, t.files == 1 ? "" : "s",
	    left > 0 ? " (some still being written at the stop)" : "");
}

static void
conn_done(void *obj, void *env, int status)
{
	struct conn *c = env;
	const struct ks_conf *cf = &c->c_live->c;
	struct kc_splice_end e;
	struct ks_logf f;
	enum ks_end end;

	(void)obj;
	if (kc_splice_end_info(c->c_sp, &e) != 0) {
		memset(&e, 0, sizeof(e));
		e.err = status;
	}
	end = splice_end(&e, c->c_cut);
	count_end(c->c_w, end);
	if (status != 0 && status != -ECANCELED)
		count_error(status);
	memset(&f, 0, sizeof(f));
	f.conn = c->c_id;
	f.client = c->c_client;
	f.upstream = cf->upstream.text;
	f.reason = ks_end_name(end);
	switch (end) {
	case KS_END_UPSTREAM_RST:
		logkf(LK_UPSTREAM, KS_LOG_WARNING, &f, "upstream %s reset the "
		    "connection mid-stream: %s (conn %llu, client %s reset)",
		    cf->upstream.text, strerror(-e.err),
		    (unsigned long long)c->c_id, c->c_client);
		break;
	case KS_END_CONNECT_REFUSED:
		logkf(LK_UPSTREAM, KS_LOG_WARNING, &f, "upstream %s: %s "
		    "(conn %llu, client %s reset)", cf->upstream.text,
		    strerror(-e.err), (unsigned long long)c->c_id, c->c_client);
		break;
	case KS_END_CONNECT_TIMEOUT:
		if (e.how == KC_SPLICE_END_CONNECT_TIMEOUT)
			logkf(LK_UPSTREAM, KS_LOG_WARNING, &f, "upstream %s: "
			    "no answer within --connect-timeout %.1f s (conn "
			    "%llu, client %s closed)", cf->upstream.text,
			    (double)cf->connect_ns / 1e9,
			    (unsigned long long)c->c_id, c->c_client);
		else
			logkf(LK_UPSTREAM, KS_LOG_WARNING, &f, "upstream %s: %s "
			    "(conn %llu, client %s reset)", cf->upstream.text,
			    strerror(-e.err), (unsigned long long)c->c_id,
			    c->c_client);
		break;
	case KS_END_ERROR:
		logkf(LK_CONN, KS_LOG_WARNING, &f, "conn %llu from %s ended: %s",
		    (unsigned long long)c->c_id, c->c_client,
		    strerror(-e.err));
		break;
	default:
		if (verbosity() > 0)
			logkf(LK_CONN, KS_LOG_INFO, &f, "conn %llu from %s "
			    "closed: %s", (unsigned long long)c->c_id,
			    c->c_client, ks_end_name(end));
		break;
	}
	cmp_end(c);
	access_line(c, c->c_sp, end, e.err, cf->upstream.text);
	rec_end(c, end);
	mtab_count(c);
	conn_unlink(c);
	(void)kc_splice_close(c->c_sp, NULL);
	ks_live_put(c->c_live);
	free(c->c_cmp);
	free(c);
	__atomic_sub_fetch(&ctr.active, 1, __ATOMIC_RELAXED);
}

/* A new socket for addr on w, connecting. */
static int
dial(struct worker *w, const struct ks_addr *a, struct kc_socket **sp)
{
	int e;

	if ((e = kc_socket_create(sp, w->w_ex, a->sa.a.sa.sa_family,
	    SOCK_STREAM, NULL)) != 0)
		return e;
	if ((e = kc_socket_connect(*sp, &a->sa, NULL)) != 0) {
		(void)kc_socket_close(*sp, NULL);
		*sp = NULL;
	}
	return e;
}

static void
reject(struct kc_socket *s)
{
	(void)kc_socket_close(s, NULL);
}

/* A connection turned away (--max-conns, --allow): counted and logged. */
static void
limit_end(struct worker *w, const char *client, struct ks_live *l)
{
	struct conn t;

	count_end(w, KS_END_LIMIT);
	if (!ks_alog_on())
		return;
	memset(&t, 0, sizeof(t));
	clock_gettime(CLOCK_REALTIME, &t.c_start);
	t.c_t0 = now_ns();
	t.c_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	snprintf(t.c_client, sizeof(t.c_client), "%s", client);
	t.c_live = l;
	access_line(&t, NULL, KS_END_LIMIT, 0, NULL);
}

static void
conn_start(struct worker *w, struct kc_socket *cs)
{
	struct kc_socket *up = NULL, *mir[KS_MAX_MIRRORS];
	struct kc_splice_attr at;
	struct kc_sockaddr peer;
	struct ks_live *l = ks_live_get();
	const struct ks_conf *cf = &l->c;
	struct conn *c;
	unsigned i, nm = 0;
	uint64_t now;
	int e;

	memset(&peer, 0, sizeof(peer));
	(void)kc_socket_name(cs, &peer, 1);
	if (!allowed(cf, &peer)) {
		char p[64];

		peer_text(&peer, p, sizeof(p));
		__atomic_add_fetch(&ctr.denied, 1, __ATOMIC_RELAXED);
		logk(LK_DENIED, "denied %s: not in --allow", p);
		reject(cs);
		limit_end(w, p, l);
		ks_live_put(l);
		return;
	}
	if (__atomic_add_fetch(&ctr.active, 1, __ATOMIC_RELAXED) >
	    cf->max_conns && cf->max_conns != 0) {
		char p[64];

		__atomic_sub_fetch(&ctr.active, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&ctr.refused, 1, __ATOMIC_RELAXED);
		peer_text(&peer, p, sizeof(p));
		logk(LK_REFUSED, "refused %s: max-conns %u reached", p,
		    cf->max_conns);
		reject(cs);
		limit_end(w, p, l);
		ks_live_put(l);
		return;
	}
	__atomic_add_fetch(&ctr.conns, 1, __ATOMIC_RELAXED);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->c_w = w;
	c->c_live = l;		/* the connection's now */
	c->c_id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	clock_gettime(CLOCK_REALTIME, &c->c_start);
	c->c_t0 = now_ns();
	peer_text(&peer, c->c_client, sizeof(c->c_client));
	if ((e = dial(w, &cf->upstream, &up)) != 0) {
		struct ks_logf f;
		enum ks_end end = connect_end(e);

		memset(&f, 0, sizeof(f));
		f.conn = c->c_id;
		f.client = c->c_client;
		f.upstream = cf->upstream.text;
		f.reason = ks_end_name(end);
		count_error(e);
		count_end(w, end);
		logkf(LK_UPSTREAM, KS_LOG_WARNING, &f, "upstream %s: %s (conn "
		    "%llu, client %s reset)", cf->upstream.text, strerror(-e),
		    (unsigned long long)c->c_id, c->c_client);
		access_line(c, NULL, end, e, cf->upstream.text);
		free(c);
		ks_live_put(l);
		(void)kc_socket_close(cs, NULL);
		__atomic_sub_fetch(&ctr.active, 1, __ATOMIC_RELAXED);
		return;
	}
	now = mh_now();
	c->c_health = __atomic_load_n(&health, __ATOMIC_ACQUIRE);
	memset(&at, 0, sizeof(at));
	for (i = 0; i < cf->nmirrors; i++) {
		uint32_t ticket;

		/* Not in its sample: no leg to it, no try of its health. */
		if (!sample_take(w, cf, i, &peer)) {
			c->c_unsampled |= 1u << i;
			continue;
		}
		if (mh_admit(c->c_health, i, now, &ticket) == MH_SKIP) {
			c->c_mfail[i] = -EHOSTDOWN;	/* down: counted there */
			continue;
		}
		if ((e = dial(w, &cf->mirrors[i], &mir[nm])) != 0) {
			struct ks_logf f;

			__atomic_add_fetch(&w->w_acct.mirror_detached, 1,
			    __ATOMIC_RELAXED);
			c->c_mfail[i] = e;
			if (mh_unreachable(e)) {
				mirror_unreachable(c->c_health, cf, i, ticket,
				    e);
				continue;
			}
			memset(&f, 0, sizeof(f));
			f.conn = c->c_id;
			f.client = c->c_client;
			f.mirror = cf->mirrors[i].text;
			f.reason = strerror(-e);
			logkf(LK_MIRROR, KS_LOG_WARNING, &f, "mirror %s: %s (conn "
			    "%llu, detached)", cf->mirrors[i].text,
			    strerror(-e), (unsigned long long)c->c_id);
			continue;
		}
		c->c_mticket[nm] = ticket;
		if (cf->mirror_set[i].pace_turns)
			at.mirror_turns |= 1u << nm;
		c->c_mconf[nm++] = (unsigned char)i;
	}
	at.mirror_budget = cf->mirror_budget;
	at.mirror_policy = cf->mirror_drop ? KC_MIRROR_DROP :
	    KC_MIRROR_DETACH;
	at.flags = cf->no_splice ? KC_SPLICE_COPY : 0;
	at.half_close_ns = cf->half_close_ns;
	at.idle_ns = cf->idle_ns;
	at.connect_ns = cf->connect_ns;
	at.pipe_size = cf->pipe_size;
	at.account = &w->w_acct;
	at.event = mirror_event;
	at.event_arg = c;
	c->c_nm = nm;
	c->c_tap_rec = rec_begin(c, cf);
	if (cf->compare && nm > 0 && cmp_begin(c, cf) == 0) {
		at.mirror_tap = cmp_mtap;
		at.mirror_tap_arg = c;
	}
	if (c->c_tap_rec || c->c_tap_cmp) {
		at.tap = conn_tap;
		at.tap_arg = c;
	}
	if (kc_init(&c->c_done, conn_done, c, w->w_ex, 0) != 0 ||
	    kc_splice(&c->c_sp, cs, up, mir, nm, &at, &c->c_done) != 0) {
		for (i = 0; i < nm; i++)
			(void)kc_socket_close(mir[i], NULL);
		(void)kc_socket_close(up, NULL);
		if (c->c_rec.rc_rec != NULL)
			ks_rec_end(&c->c_rec, ks_clock_ns(CLOCK_REALTIME),
			    "reason=error");
		free(c->c_cmp);
		free(c);
		goto fail;
	}
	c->c_next = w->w_conns;
	if (w->w_conns != NULL)
		w->w_conns->c_prev = c;
	w->w_conns = c;
	if (verbosity() > 0) {
		struct ks_logf f;

		memset(&f, 0, sizeof(f));
		f.conn = c->c_id;
		f.client = c->c_client;
		f.upstream = cf->upstream.text;
		logkf(LK_CONN, KS_LOG_INFO, &f, "conn %llu from %s",
		    (unsigned long long)c->c_id, c->c_client);
	}
	return;
fail:
	__atomic_sub_fetch(&ctr.active, 1, __ATOMIC_RELAXED);
	count_error(-ENOMEM);
	count_end(w, KS_END_ERROR);
	logk(LK_ERROR, "cannot relay a connection: out of memory");
	reject(cs);
	ks_live_put(l);
}

static void accept_again(struct accept_slot *a);

/* Drop a reference to a listener; the last frees it. */
static void
lsn_put(struct lsn *l)
{
	if (__atomic_sub_fetch(&l->l_refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(l);
}

static void
accepted(void *obj, void *env, int status)
{
	struct accept_slot *a = env;

	if (status == -ECANCELED || __atomic_load_n(&stopping,
	    __ATOMIC_ACQUIRE)) {
		if (obj != NULL)
			reject(obj);
		lsn_put(a->a_lsn);	/* this slot is done with it */
		return;
	}
	if (status != 0) {
		/* Out of descriptors and the like: try again a little later. */
		__atomic_add_fetch(&ctr.accept_errors, 1, __ATOMIC_RELAXED);
		logkf(LK_CONN, KS_LOG_ERROR, NULL, "accept: %s",
		    strerror(-status));
		if (kc_defer_after(&a->a_retry, 50000000ull, NULL, 0) != 0)
			lsn_put(a->a_lsn);
		return;
	}
	/* Also on a listener a reload is closing: it was accepted. */
	conn_start(a->a_w, obj);
	accept_again(a);
}

static void
retry_fn(void *obj, void *env, int status)
{
	(void)obj;
	(void)status;
	accept_again(env);
}

/* Ask for the next connection, unless the listener is closed. */
static void
accept_again(struct accept_slot *a)
{
	struct lsn *l = a->a_lsn;
	bool closed;
	int e = 0;

	/* Seen by the closer before it closes the socket (struct lsn). */
	__atomic_add_fetch(&l->l_users, 1, __ATOMIC_SEQ_CST);
	closed = __atomic_load_n(&l->l_closed, __ATOMIC_SEQ_CST) ||
	    __atomic_load_n(&stopping, __ATOMIC_ACQUIRE);
	if (!closed)
		e = kc_socket_accept(l->l_sock, a->a_w->w_ex, &a->a_done);
	__atomic_sub_fetch(&l->l_users, 1, __ATOMIC_SEQ_CST);
	if (closed ||
	    (e != 0 && kc_defer_after(&a->a_retry, 50000000ull, NULL, 0) != 0))
		lsn_put(l);
}

/* A listener on an open listening descriptor (taken, also on failure). */
static int
lsn_new(int fd, struct lsn **lp)
{
	unsigned n = conf.threads * ACCEPTS_PER_WORKER, i, k;
	struct lsn *l;
	int e;

	if ((l = calloc(1, sizeof(*l) + n * sizeof(l->l_slots[0]))) == NULL) {
		close(fd);
		return -ENOMEM;
	}
	if ((e = kc_socket_adopt(&l->l_sock, workers[0].w_ex, fd, NULL)) != 0) {
		close(fd);
		free(l);
		return e;
	}
	l->l_nslots = n;
	l->l_refs = n + 1;		/* the slots and the main thread */
	for (k = 0; k < ACCEPTS_PER_WORKER; k++) {
		for (i = 0; i < conf.threads; i++) {
			struct accept_slot *a = &l->l_slots[k * conf.threads +
			    i];

			a->a_w = &workers[i];
			a->a_lsn = l;
			(void)kc_init(&a->a_done, accepted, a, workers[i].w_ex,
			    0);
			(void)kc_init(&a->a_retry, retry_fn, a,
			    workers[i].w_ex, 0);
		}
	}
	*lp = l;
	return 0;
}

/*
 * Start accepting.  Interleaved, so that connections go round the
 * executors from the first (each slot asks again when it is answered, at
 * the back of the queue).
 */
static void
lsn_start(struct lsn *l)
{
	unsigned i;

	for (i = 0; i < l->l_nslots; i++)
		accept_again(&l->l_slots[i]);
}

/* A listener's close, waited for by the main thread (lsn_close()). */
struct lsn_closing {
	struct kc	lc_done;
	unsigned	lc_state;	/* atomic: 0 waiting, 1 closed,
					   2 the waiter gave up */
};

/* The socket is closed: wherever the library ran this. */
static void
lsn_closed(void *obj, void *env, int status)
{
	struct lsn_closing *lc = env;

	(void)obj;
	(void)status;
	if (__atomic_exchange_n(&lc->lc_state, 1, __ATOMIC_ACQ_REL) == 2)
		free(lc);
}

/*
 * On the main thread: close the listener (accepts waiting on it end with
 * -ECANCELED; connections accepted on it go on) and drop the main thread's
 * reference.  It waits (up to a second) for the descriptor to be closed,
 * so that once a reload has said it moved, the old address refuses.
 */
static void
lsn_close(struct lsn *l)
{
	struct lsn_closing *lc = calloc(1, sizeof(*lc));
	struct timespec ms = { 0, 1000000 };
	unsigned i;

	__atomic_store_n(&l->l_closed, true, __ATOMIC_SEQ_CST);
	/* Slots asking now will see l_closed next time: a short wait. */
	while (__atomic_load_n(&l->l_users, __ATOMIC_SEQ_CST) != 0)
		sched_yield();
	if (lc == NULL || kc_init(&lc->lc_done, lsn_closed, lc, NULL, 0) != 0) {
		free(lc);
		(void)kc_socket_close(l->l_sock, NULL);
		lsn_put(l);
		return;
	}
	(void)kc_socket_close(l->l_sock, &lc->lc_done);
	lsn_put(l);
	for (i = 0; i < 1000 && __atomic_load_n(&lc->lc_state,
	    __ATOMIC_ACQUIRE) == 0; i++)
		nanosleep(&ms, NULL);
	if (__atomic_exchange_n(&lc->lc_state, 2, __ATOMIC_ACQ_REL) == 1)
		free(lc);
}

/* On each worker: cancel what is left (the drain time is over). */
static void
cancel_all(void *obj, void *env, int status)
{
	struct worker *w = env;
	struct conn *c;

	(void)obj;
	(void)status;
	for (c = w->w_conns; c != NULL; c = c->c_next) {
		c->c_cut = true;
		(void)kc_splice_cancel(c->c_sp);
	}
}

/* ------------------------------------------------------------------ */
/* Datagrams. */

static int
udp_admit(void *arg, const struct kc_sockaddr *client)
{
	struct ks_live *l = ks_live_get();
	bool ok = allowed(&l->c, client);

	(void)arg;
	ks_live_put(l);
	return ok ? 0 : -1;
}

/* A new UDP session's mirrors: those whose sample takes it; its worker. */
static uint32_t
udp_pick(void *arg, const struct kc_sockaddr *client)
{
	struct worker *w = arg;
	struct ks_live *l = ks_live_get();
	uint32_t pick = 0;
	unsigned i;

	/* UDP mirrors and their settings are the start's for good (a reload
	 * keeps them), so their indexes are the relay's; --sample-by is the
	 * configuration's in force. */
	for (i = 0; i < l->c.nmirrors; i++)
		if (sample_take(w, &l->c, i, client))
			pick |= 1u << i;
	ks_live_put(l);
	return pick;
}

static void
udp_event(void *arg, int ev, const struct kc_sockaddr *client, int err)
{
	char p[64];

	(void)arg;
	peer_text(client, p, sizeof(p));
	switch (ev) {
	case KC_DGRAM_EV_FULL:
		logk(LK_UDP, "udp: session cap %u reached, dropping datagram "
		    "from %s", conf.udp_max_sessions, p);
		break;
	case KC_DGRAM_EV_DENIED:
		logk(LK_DENIED, "denied %s: not in --allow", p);
		break;
	case KC_DGRAM_EV_ERROR:
		count_error(err);
		logk(LK_UDP, "udp: session for %s: %s", p, strerror(-err));
		break;
	case KC_DGRAM_EV_OPEN:
		if (verbosity() > 0)
			logk(LK_CONN, "udp: session for %s", p);
		break;
	case KC_DGRAM_EV_EXPIRED:
		if (verbosity() > 0)
			logk(LK_CONN, "udp: session for %s expired", p);
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Setting up. */

/*
 * A UNIX listening path that is there already is taken over only if it is
 * a socket file nobody listens on (a previous run's): lstat() must say
 * socket (a symbolic link is never followed), a connect to it must be
 * refused, and the file must still be the same one (device and inode) just
 * before it is removed.  Anything else is left exactly as it is: -ENOTSOCK
 * for what is not a socket, -EADDRINUSE for a socket that answers or that
 * changed meanwhile, the connect's error if it failed otherwise.  Linux's
 * connect() is also refused for a path that is not a socket, so the
 * refusal alone proves nothing.
 *
 * What remains: unlink() takes a path, not an inode, so a process that may
 * write to the directory can still swap another file in between the last
 * lstat() and the unlink(); it could remove that file itself anyway.
 */
static int
unix_clear(const struct kc_sockaddr *sa)
{
	const char *path = sa->a.un.sun_path;
	struct stat before, after;
	int probe, e = 0;

	if (lstat(path, &before) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(before.st_mode))
		return -ENOTSOCK;
	/* Non-blocking: a listener with a full backlog answers EAGAIN. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0)
		return -errno;
	if (connect(probe, &sa->a.sa, sa->len) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS)
		e = -EADDRINUSE;
	else if (errno != ECONNREFUSED)
		e = -errno;		/* e.g. EACCES: not ours to judge */
	close(probe);
	if (e != 0)
		return e;
	if (lstat(path, &after) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(after.st_mode) || after.st_dev != before.st_dev ||
	    after.st_ino != before.st_ino)
		return -EADDRINUSE;
	if (unlink(path) != 0 && errno != ENOENT)
		return -errno;
	return 0;
}

/*
 * The socket file this run made: removed on the way out, if it is still
 * that file (another run may have taken the path over meanwhile).
 */
static void
unix_remove_at(const char *path, const struct stat *made)
{
	struct stat sb;

	if (path != NULL && lstat(path, &sb) == 0 &&
	    S_ISSOCK(sb.st_mode) && sb.st_dev == made->st_dev &&
	    sb.st_ino == made->st_ino)
		(void)unlink(path);
}

static void
unix_remove(void)
{
	unix_remove_at(unix_path, &unix_made);
	unix_path = NULL;
}

/* The error of a failed listen, in words where errno's are not enough. */
static const char *
listen_error(int e)
{
	if (e == -ENOTSOCK)
		return "there is a file that is not a socket (left alone)";
	return strerror(-e);
}

static int
open_listener(const struct ks_addr *a, bool reuseport, struct kc_sockaddr *bound,
    int *fdp)
{
	int type = a->kind == KS_UDP ? SOCK_DGRAM : SOCK_STREAM;
	int fd, one = 1, e;
	socklen_t len;

	fd = socket(a->sa.a.sa.sa_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -errno;
	if (a->sa.a.sa.sa_family != AF_UNIX) {
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
		    sizeof(one));
		if (reuseport)
			(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
			    sizeof(one));
	} else if (a->sa.a.un.sun_path[0] != '\0' &&
	    (e = unix_clear(&a->sa)) != 0) {
		close(fd);
		return e;
	}
	if (bind(fd, &bound->a.sa, bound->len) != 0 ||
	    (type == SOCK_STREAM && listen(fd, 4096) != 0)) {
		e = -errno;
		close(fd);
		return e;
	}
	if (a->sa.a.sa.sa_family == AF_UNIX && a->sa.a.un.sun_path[0] != '\0' &&
	    lstat(a->sa.a.un.sun_path, &unix_made) == 0) {
		/* A copy: a reload frees the configuration it came from. */
		snprintf(unix_path_buf, sizeof(unix_path_buf), "%s",
		    a->sa.a.un.sun_path);
		unix_path = unix_path_buf;
	}
	len = sizeof(bound->a);
	if (getsockname(fd, &bound->a.sa, &len) == 0)
		bound->len = len;
	*fdp = fd;
	return 0;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * The --metrics socket, before the relay starts (so that a port in use
 * stops kcsplice as LISTEN's does); served once setup() is done.
 */
static int
metrics_open(int *fdp)
{
	struct kc_sockaddr bound = conf.metrics.sa;
	char text[200];
	int e;

	/* open_listener() notes a socket file it made as LISTEN's. */
	e = open_listener(&conf.metrics, false, &bound, fdp);
	metrics_path = unix_path;
	metrics_made = unix_made;
	unix_path = NULL;
	if (e != 0) {
		logk(LK_INFO, "cannot serve metrics on %s: %s",
		    conf.metrics.text, listen_error(e));
		return EX_UNAVAILABLE;
	}
	if (ks_addr_format(conf.metrics.kind, &bound, text, sizeof(text)) < 0)
		snprintf(text, sizeof(text), "%s", conf.metrics.text);
	/* LK_INFO, as the listening line: scripts read the port from it. */
	logk(LK_INFO, "metrics on %s", text);
	return 0;
}

static void
metrics_remove(void)
{
	unix_path = metrics_path;
	unix_made = metrics_made;
	unix_remove();
}

static int
setup(void)
{
	struct kc_sockaddr bound = conf.listen.sa;
	char ltext[200], utext[200];
	unsigned i;
	int e, fd;

	if ((workers = calloc(conf.threads, sizeof(*workers))) == NULL)
		return EX_OSERR;
	for (i = 0; i < conf.threads; i++) {
		struct kc_executor_attr ea;
		char name[32];

		memset(&ea, 0, sizeof(ea));
		ea.kind = KC_EXEC_SOFT;
		snprintf(name, sizeof(name), "kcsplice/%u", i);
		ea.name = name;
		workers[i].w_idx = i;
		ks_rng_init(&workers[i].w_rng, i);
		if ((e = kc_executor_create(&workers[i].w_ex, &ea)) != 0) {
			logk(LK_ERROR, "cannot start thread %u: %s", i,
			    strerror(-e));
			return EX_OSERR;
		}
		(void)kc_init(&workers[i].w_cancelall, cancel_all, &workers[i],
		    workers[i].w_ex, 0);
	}
	if ((e = rec_setup()) != 0)
		return e;
	if (conf.listen.kind == KS_UDP) {
		struct kc_dgram_relay_attr ra;
		struct kc_sockaddr mir[KS_MAX_MIRRORS];

		memset(&ra, 0, sizeof(ra));
		for (i = 0; i < conf.nmirrors; i++)
			mir[i] = conf.mirrors[i].sa;
		ra.session_idle_ns = conf.udp_session_ns;
		ra.max_sessions = conf.udp_max_sessions;
		ra.mirrors = mir;
		ra.nmirrors = conf.nmirrors;
		ra.admit = udp_admit;
		ra.event = udp_event;
		if (rec_dirfd >= 0) {
			ra.session_begin = udp_rec_begin;
			ra.tap = udp_rec_tap;
			ra.session_end = udp_rec_end;
		}
		for (i = 0; i < conf.threads; i++) {
			struct worker *w = &workers[i];

			if ((e = open_listener(&conf.listen, true, &bound,
			    &fd)) != 0) {
				logk(LK_ERROR, "cannot listen on %s: %s",
				    conf.listen.text, listen_error(e));
				return EX_UNAVAILABLE;
			}
			/* Before the first datagram: recordings read it. */
			if (i == 0 && ks_addr_format(conf.listen.kind, &bound,
			    listen_text, sizeof(listen_text)) < 0)
				snprintf(listen_text, sizeof(listen_text), "%s",
				    conf.listen.text);
			if ((e = kc_socket_adopt(&w->w_udp, w->w_ex, fd,
			    NULL)) != 0) {
				logk(LK_ERROR, "cannot listen on %s: %s",
				    conf.listen.text, strerror(-e));
				return EX_OSERR;
			}
			/* One cap for all the listeners. */
			ra.shared_sessions = &udp_sessions_open;
			ra.account = &w->w_acct;
			ra.mirror_pick = udp_pick;
			ra.arg = w;
			if ((e = kc_dgram_relay_create(&w->w_relay, w->w_udp,
			    &conf.upstream.sa, &ra)) != 0) {
				logk(LK_ERROR, "cannot start the relay: %s",
				    strerror(-e));
				return EX_OSERR;
			}
			w->w_udp = NULL;	/* the relay's now */
		}
	} else {
		if ((e = mh_create(&health, conf.nmirrors,
		    conf.mirror_retry_min_ns, conf.mirror_retry_max_ns,
		    mh_now() ^ (uint64_t)getpid())) != 0) {
			logk(LK_INFO, "cannot start: %s", strerror(-e));
			return EX_OSERR;
		}
		mh_set_process(health);
		if ((e = open_listener(&conf.listen, false, &bound, &fd)) != 0) {
			logk(LK_ERROR, "cannot listen on %s: %s",
			    conf.listen.text, listen_error(e));
			return EX_UNAVAILABLE;
		}
		if ((e = lsn_new(fd, &listener)) != 0) {
			logk(LK_ERROR, "cannot listen on %s: %s",
			    conf.listen.text, strerror(-e));
			return EX_OSERR;
		}
		/* Before the first accept: the access log reads it. */
		if (ks_addr_format(conf.listen.kind, &bound, listen_text,
		    sizeof(listen_text)) < 0)
			snprintf(listen_text, sizeof(listen_text), "%s",
			    conf.listen.text);
		lsn_start(listener);
	}
	if (ks_addr_format(conf.listen.kind, &bound, ltext, sizeof(ltext)) < 0)
		snprintf(ltext, sizeof(ltext), "%s", conf.listen.text);
	snprintf(utext, sizeof(utext), "%s", conf.upstream.text);
	/* LK_INFO: even with -q, for scripts read the port from it. */
	logk(LK_INFO, "listening on %s, upstream %s, %u mirror%s, %u thread%s",
	    ltext, utext, conf.nmirrors, conf.nmirrors == 1 ? "" : "s",
	    conf.threads, conf.threads == 1 ? "" : "s");
	return 0;
}


/* ------------------------------------------------------------------ */
/* Running and stopping. */

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t
open_now(void)
{
	return __atomic_load_n(&ctr.active, __ATOMIC_RELAXED);
}

static void
stop_listening(void)
{
	unsigned i;

	__atomic_store_n(&stopping, true, __ATOMIC_RELEASE);
	if (listener != NULL) {
		lsn_close(listener);
		listener = NULL;
	}
	pthread_mutex_lock(&relay_mu);
	for (i = 0; i < conf.threads; i++)
		if (workers[i].w_relay != NULL) {
			/* Datagrams have nothing to drain. */
			struct kc_dgram_relay *r = workers[i].w_relay;

			(void)kc_dgram_relay_stats(r, &workers[i].w_rlast);
			workers[i].w_rlast.sessions = 0;
			workers[i].w_relay = NULL;
			(void)kc_dgram_relay_close(r, NULL);
		}
	pthread_mutex_unlock(&relay_mu);
}

static void
cut_the_rest(void)
{
	unsigned i;

	for (i = 0; i < conf.threads; i++)
		(void)kc_defer(&workers[i].w_cancelall, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Reloading (SIGHUP), on the main thread. */

/*
 * Listen on a, then close the stream listener in use: no moment without
 * one.  Connections accepted on the old one go on.  On failure the old
 * one stays as it is.  bound gets the address bound.
 */
static int
listen_swap(const struct ks_addr *a, char *bound, size_t size)
{
	struct kc_sockaddr sa = a->sa;
	char old_path[sizeof(unix_path_buf)];
	struct stat old_made = unix_made;
	bool had_path = unix_path != NULL;
	struct lsn *l;
	int e, fd;

	if (had_path)
		memcpy(old_path, unix_path_buf, sizeof(old_path));
	unix_path = NULL;
	if ((e = open_listener(a, false, &sa, &fd)) != 0 ||
	    (e = lsn_new(fd, &l)) != 0) {
		if (unix_path != NULL)
			unix_remove();
		if (had_path)
			memcpy(unix_path_buf, old_path, sizeof(old_path));
		unix_path = had_path ? unix_path_buf : NULL;
		unix_made = old_made;
		return e;
	}
	lsn_start(l);
	lsn_close(listener);
	listener = l;
	if (had_path)
		unix_remove_at(old_path, &old_made);
	if (ks_addr_format(a->kind, &sa, bound, size) < 0)
		snprintf(bound, size, "%s", a->text);
	return 0;
}

/*
 * The mirrors (or their back-off) changed: new connections use a new
 * health table, all up; the old one stays for the connections that hold
 * it and for its counts.  On failure (no memory) the old one goes on.
 */
static void
health_swap(const struct ks_conf *nc)
{
	struct mh_old *o = malloc(sizeof(*o));
	struct mh *h;

	if (o == NULL || mh_create(&h, nc->nmirrors, nc->mirror_retry_min_ns,
	    nc->mirror_retry_max_ns, mh_now() ^ (uint64_t)getpid()) != 0) {
		free(o);
		logk(LK_ERROR, "reload: no memory for the mirrors' health; "
		    "the old table goes on");
		return;
	}
	pthread_mutex_lock(&relay_mu);
	o->h = health;
	o->next = health_old;
	health_old = o;
	__atomic_store_n(&health, h, __ATOMIC_RELEASE);
	mh_set_process(h);
	pthread_mutex_unlock(&relay_mu);
}

/*
 * Read the command line and the file again; apply what can change at once
 * or for new connections, keep the rest (and say so); one log line.
 */
static void
reload(uint64_t *next_stats)
{
	const struct ks_conf *old = &main_live->c;
	char err[512], lnote[600], bound[200];
	struct ks_reload *r;
	struct ks_live *l;
	struct ks_conf *nc;
	bool mirrors_changed;
	int e;

	if (conf.config_path[0] == '\0') {
		logk(LK_INFO, "SIGHUP: no configuration file (-f) to read "
		    "again; going on as before");
		return;
	}
	if ((l = ks_live_new()) == NULL || (r = malloc(sizeof(*r))) == NULL) {
		ks_live_put(l);
		logk(LK_INFO, "reload failed: out of memory; the running "
		    "configuration is kept");
		return;
	}
	nc = &l->c;
	if (ks_conf_load(nc, main_argc, main_argv, err, sizeof(err)) != 0) {
		logk(LK_INFO, "reload failed: %s; the running configuration "
		    "is kept", err);
		ks_live_put(l);
		free(r);
		return;
	}
	ks_reload_diff(old, nc, r);
	lnote[0] = '\0';
	if (r->listen_changed) {
		if ((e = listen_swap(&nc->listen, bound, sizeof(bound))) != 0) {
			snprintf(lnote, sizeof(lnote), "cannot listen on %s: "
			    "%s, still listening on %s", nc->listen.text,
			    listen_error(e), old->listen.text);
			nc->listen = old->listen;
		} else {
			snprintf(lnote, sizeof(lnote), "listen %s -> %s "
			    "(listening on %s)", old->listen.text,
			    nc->listen.text, bound);
		}
	}
	if (nc->mirror_cap != old->mirror_cap) {
		(void)kc_splice_mirror_cap(nc->mirror_cap);
		cmp_cap_set();
	}
	if (nc->stats_ns != old->stats_ns)
		*next_stats = nc->stats_ns != 0 ? now_ns() + nc->stats_ns : 0;
	/*
	 * Log options take effect here, before the line that reports them
	 * (the log format and the access log, when there are such options,
	 * are switched here too).
	 */
	__atomic_store_n(&log_verbosity, nc->verbosity, __ATOMIC_RELAXED);
	ks_log_set(nc->log_json, nc->verbosity);
	mirrors_changed = !ks_same_mirrors(old, nc);
	if (mirrors_changed)
		__atomic_store_n(&mirrors_reloaded, true, __ATOMIC_RELAXED);
	if (health != NULL && (mirrors_changed ||
	    nc->mirror_retry_min_ns != old->mirror_retry_min_ns ||
	    nc->mirror_retry_max_ns != old->mirror_retry_max_ns))
		health_swap(nc);
	mtab_add(nc);			/* before any connection uses them */
	ks_live_publish(l);		/* new connections take it from now */
	ks_live_put(main_live);
	main_live = ks_live_get();
	if (r->nchanged == 0 && r->nrestart == 0 && lnote[0] == '\0')
		logk(LK_INFO, "reload: no change");
	else
		logk(LK_INFO, "reload: %s%s%s%s%s", lnote,
		    lnote[0] != '\0' && r->nchanged > 0 ? ", " : "",
		    r->changed, r->nrestart > 0 ? (lnote[0] != '\0' ||
		    r->nchanged > 0 ? "; needs a restart (kept): " :
		    "needs a restart (kept): ") : "", r->restart);
	free(r);
}


/*
 * After a cut: wait (bounded) until the connections cut have really ended,
 * so that the last stats line is true.  A cancelled splice ends once its
 * mirrors have their last bytes, each within its socket's linger time.
 */
#define CUT_WAIT_NS	(5ull * 1000000000ull)

static void
wait_cut(void)
{
	uint64_t until = now_ns() + CUT_WAIT_NS;

	while (open_now() > 0 && now_ns() < until) {
		struct timespec ts = { 0, 10000000L };

		nanosleep(&ts, NULL);
	}
}

static uint64_t
cut_count(void)
{
	uint64_t ends[KS_END_N];

	ends_sum(ends);
	return ends[KS_END_DRAIN_CUT];
}

static void
reopen_access_log(void)
{
	int e;

	if (!ks_alog_on())
		return;
	if ((e = ks_alog_reopen()) != 0)
		logk(LK_ERROR, "access log %s: cannot reopen: %s (still "
		    "writing to the file open before)", conf.access_log,
		    strerror(-e));
	else
		logk(LK_NOTE, "access log %s reopened", conf.access_log);
}

/* The signals run() takes (kcsplice(1), SIGNALS), blocked in every thread. */
static void
taken_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGUSR1);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGHUP);
}

/*
 * Wait for signals; print statistics.  Returns the exit status: 0, or
 * EX_TEMPFAIL when connections had to be cut (the drain ran out, or a
 * second signal came while connections were open).
 */
static int
run(void)
{
	sigset_t set;
	uint64_t next_stats = 0, deadline = 0;
	bool draining = false, cut = false;

	taken_signals(&set);
	if (main_live->c.stats_ns != 0)
		next_stats = now_ns() + main_live->c.stats_ns;
	for (;;) {
		struct timespec ts;
		uint64_t now = now_ns(), wait = 1000000000ull;
		int sig;

		ks_log_flush();
		if (next_stats != 0) {
			if (now >= next_stats) {
				print_stats();
				next_stats += main_live->c.stats_ns;
				if (next_stats <= now)
					next_stats = now + main_live->c.stats_ns;
			}
			if (next_stats - now < wait)
				wait = next_stats - now;
		}
		if (draining) {
			if (open_now() == 0)
				break;
			if (now >= deadline) {
				logk(LK_NOTE, "stopping: %llu connections "
				    "still open after %.1f s: cutting them",
				    (unsigned long long)open_now(),
				    (double)main_live->c.shutdown_ns / 1e9);
				cut_the_rest();
				cut = true;
				wait_cut();
				break;
			}
			if (wait > 50000000ull)
				wait = 50000000ull;
		}
		ts.tv_sec = (time_t)(wait / 1000000000ull);
		ts.tv_nsec = (long)(wait % 1000000000ull);
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig < 0)
			continue;
		if (sig == SIGUSR1) {
			print_stats();
			continue;
		}
		if (sig == SIGUSR2) {
			reopen_access_log();
			continue;
		}
		if (sig == SIGHUP) {
			if (draining)
				logk(LK_INFO, "SIGHUP: stopping, not reloading");
			else
				reload(&next_stats);
			continue;
		}
		if (draining) {
			logk(LK_NOTE, "stopping at once: cutting %llu "
			    "connection%s", (unsigned long long)open_now(),
			    open_now() == 1 ? "" : "s");
			cut_the_rest();
			cut = true;
			wait_cut();
			break;
		}
		draining = true;
		stop_listening();
		logk(LK_NOTE, "stopping: %llu connection%s open, waiting up "
		    "to %.1f s", (unsigned long long)open_now(),
		    open_now() == 1 ? "" : "s",
		    (double)main_live->c.shutdown_ns / 1e9);
		deadline = now_ns() + main_live->c.shutdown_ns;
	}
	ks_log_flush();
	if (verbosity() >= 0)
		print_stats();
	if (cut) {
		logk(LK_NOTE, "stopped: %llu connection%s cut (%llu still "
		    "closing)", (unsigned long long)cut_count(),
		    cut_count() == 1 ? "" : "s",
		    (unsigned long long)open_now());
		return EX_TEMPFAIL;
	}
	logk(LK_NOTE, "stopped");
	return EX_OK;
}

/*
 * The trace (--trace, or KCONT_TRACE) is written out here: the process
 * leaves with _exit(), which runs no atexit handler.
 */
static void
trace_end(void)
{
	struct kc_trace_stats st;
	int e;

	if (!kc_trace_enabled())
		return;
	(void)kc_trace_stats(&st);
	if ((e = kc_trace_stop()) != 0)
		logk(LK_ERROR, "trace: not all written: %s", strerror(-e));
	else
		logk(LK_NOTE, "trace: %llu records from %u threads (%llu lost)",
		    (unsigned long long)st.records, st.threads,
		    (unsigned long long)st.lost);
}

/* ---- --replay and --dump ------------------------------------------- */

static int
replay_main(void)
{
	struct ks_replay_opts o;
	char *inputs[1] = { conf.replay_path };
	unsigned i;

	memset(&o, 0, sizeof(o));
	o.inputs = inputs;
	o.ninputs = 1;
	o.to = conf.replay_to.sa;
	o.timing = conf.timing_recorded ? KS_TIMING_RECORDED : KS_TIMING_TURNS;
	o.speed = conf.speed;
	o.timeout_ns = conf.idle_ns != 0 ? conf.idle_ns : UINT64_MAX;
	o.concurrency = conf.max_conns != 0 ? conf.max_conns : UINT_MAX;
	for (i = 0; i < conf.nignore; i++)
		o.ignore[i] = conf.ignore[i];
	o.nignore = conf.nignore;
	for (i = 0; i < conf.nignore_bytes; i++) {
		o.ignore_bytes[i].from = conf.ignore_bytes[i].from;
		o.ignore_bytes[i].to = conf.ignore_bytes[i].to;
	}
	o.nignore_bytes = conf.nignore_bytes;
	o.report = conf.report_path[0] != '\0' ? conf.report_path : NULL;
	return ks_replay_run(&o, stdout, stderr);
}

static int
dump_main(void)
{
	char *paths[1] = { conf.dump_path };
	int r;

	r = ksr_dump(paths, 1, conf.verbosity > 0 ? KSR_DUMP_DATA : 0,
	    stdout, stderr);
	if (fflush(stdout) != 0)
		return EX_IOERR;
	return r != 0 ? EX_DATAERR : EX_OK;
}

int
main(int argc, char **argv)
{
	char err[512];
	struct timespec ts;
	sigset_t set;
	int r, mfd = -1;

	r = ks_conf_load(&conf, argc, argv, err, sizeof(err));
	if (r != 0) {
		fprintf(stderr, "kcsplice: %s\n", err);
		return r;
	}
	if (conf.action == KS_HELP) {
		ks_usage(stdout);
		return EX_OK;
	}
	if (conf.action == KS_VERSION) {
		printf("kcsplice %s\n", KCSPLICE_VERSION);
		return EX_OK;
	}
	if (conf.mode == KS_MODE_REPLAY)
		return replay_main();
	if (conf.mode == KS_MODE_DUMP)
		return dump_main();
	if (conf.check) {
		/* Parsed and checked; nothing opened. */
		printf("kcsplice: configuration ok\n");
		return EX_OK;
	}
	main_argc = argc;
	main_argv = argv;
	if ((main_live = ks_live_new()) == NULL) {
		fprintf(stderr, "kcsplice: out of memory\n");
		return EX_OSERR;
	}
	main_live->c = conf;
	mtab_add(&conf);
	ks_live_publish(main_live);
	main_live = ks_live_get();
	log_verbosity = conf.verbosity;
	ks_log_set(conf.log_json, conf.verbosity);
	if (conf.access_log[0] != '\0' &&
	    (r = ks_alog_open(conf.access_log)) != 0) {
		fprintf(stderr, "kcsplice: --access-log %s: %s%s\n",
		    conf.access_log, strerror(-r), r == -ELOOP ?
		    " (a symbolic link: refused, left alone)" : r == -EINVAL ?
		    " (not a regular file, FIFO or character device: refused, "
		    "left alone)" : "");
		return EX_CANTCREAT;
	}
	if (conf.mirror_cap != 0)
		(void)kc_splice_mirror_cap(conf.mirror_cap);
	cmp_cap_set();
	/* Every thread inherits this: only run() takes these signals. */
	taken_signals(&set);
	sigaddset(&set, SIGPIPE);	/* and never delivered */
	(void)pthread_sigmask(SIG_BLOCK, &set, NULL);
	raise_nofile();
	clock_gettime(CLOCK_REALTIME, &ts);
	start_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	if (conf.metrics.kind != 0 && (r = metrics_open(&mfd)) != 0) {
		metrics_remove();
		return r;
	}
	if (conf.trace_path[0] != '\0' &&
	    (r = kc_trace_start(conf.trace_path, NULL)) != 0) {
		fprintf(stderr, "kcsplice: --trace %s: %s%s\n",
		    conf.trace_path, strerror(-r), r == -ELOOP ?
		    " (a symbolic link: refused, left alone)" : r == -EINVAL ?
		    " (not a regular file: refused, left alone)" : r == -EPERM ?
		    " (a file of another user: refused, left alone)" : "");
		metrics_remove();
		return EX_CANTCREAT;
	}
	if ((r = setup()) != 0) {
		unix_remove();
		metrics_remove();
		trace_end();
		_exit(r);	/* threads may be running: no clean-up owed */
	}
	if (mfd >= 0 && (r = ks_metrics_serve(mfd, ks_snapshot_take)) != 0) {
		logk(LK_INFO, "cannot serve metrics: %s", strerror(-r));
		unix_remove();
		metrics_remove();
		trace_end();
		_exit(EX_OSERR);
	}
	r = run();
	rec_stop();
	unix_remove();
	metrics_remove();
	trace_end();
	/* The executors may still hold sockets being closed: just go. */
	fflush(stdout);
	_exit(r);
}
