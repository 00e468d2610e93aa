/*
 * fuzz_kevent: kevent() changelists, any filter and any flags, interleaved
 * with I/O on the watched descriptors, close() and dup2() of them, signals,
 * changes to a watched file, and the close of the kqueue itself.
 *
 * The input is a small program.  Its first byte chooses what each of the
 * four EV_KCONT continuations does when it runs (nothing, delete its own
 * knote, delete another knote, trigger an EVFILT_USER knote); then come
 * operations of a few bytes each, at most MAXOPS of them:
 *
 *   0 kevent()   1..8 changes (ident, filter, flags, fflags, data, udata
 *                from tables of harness objects and odd values), an event
 *                list of 0..15 entries, a zero or 1 ms timeout
 *   1 harvest    kevent() with no changes, 1..16 events, zero or 1 ms
 *   2 write      to a pipe or socket end (1 byte up to filling it)
 *   3 read       from one (up to draining it)
 *   4 close      a harness descriptor
 *   5 reopen     a harness descriptor (a pipe or socket pair anew)
 *   6 dup2       one harness descriptor onto another
 *   7 raise      SIG_NOOP (no-op handler), SIG_IGNORED (ignored),
 *                SIG_BLOCKED (blocked) or SIGURG (ignored by default);
 *                real-time signals, since libFuzzer takes SIGUSR1, SIGUSR2
 *                and SIGWINCH for itself
 *   8 file       write, truncate, rename, chmod, link and unlink, open and
 *                close, read of the temporary file
 *   9 new kqueue close the kqueue and make another
 *  10 shutdown   one direction of the socket pair
 *
 * The harness keeps a model of the knotes it registered (alive, dead, or
 * unknown after a call whose outcome it cannot see) and aborts when what
 * kevent() does contradicts it: a count out of range, an error receipt
 * without an errno, an event or continuation for a knote that was deleted,
 * closed, disabled or already delivered once with EV_ONESHOT, an event whose
 * ident, filter or udata is not what was registered, a knote seen twice in
 * one list, a descriptor left open at the end of the input.
 *
 * EVFILT_PROC watches the harness's own pid (never exits), pid 1, a pid that
 * does not exist, and one child forked once per process that exits at once
 * and is never reaped: a zombie, so that its knote fires in every input
 * (with the child's status), at the price of one fork for the whole run.
 *
 * KC_FUZZ_TRACE=1 in the environment prints each operation.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/event.h>
#include <kcont.h>

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int	LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAXOPS		64
#define MAXCHANGES	8
#define MAXEVENTS	16
#define MAXKEYS		256
#define MAXLOG		1024
#define NKC		4
#define NCAND		(2 * MAXCHANGES)
#define CHILD_STATUS	7
#define SIG_NOOP	40
#define SIG_IGNORED	41
#define SIG_BLOCKED	42

#define CHECK(cond) do {						\
	if (!(cond))							\
		fz_fail(__LINE__, #cond);				\
} while (0)

/* Harness descriptors. */
enum {
	S_PRD, S_PWR,		/* pipe A */
	S_SK0, S_SK1,		/* stream socket pair */
	S_FILE,			/* regular file in the temporary directory */
	S_NULL,			/* /dev/null */
	S_DIR,			/* the temporary directory */
	S_QRD, S_QWR,		/* pipe B */
	NSLOT
};

enum { K_DEAD, K_LIVE, K_UNKNOWN };

/* What the harness believes of one (ident, filter) in the kqueue. */
struct key {
	uintptr_t	 ident;
	short		 filter;
	int		 state;
	void		*udata;		/* K_LIVE: as registered */
	void		*cand[NCAND];	/* K_UNKNOWN: the udata it may have */
	int		 ncand;		/* past NCAND: any */
	bool		 kcont, oneshot, dispatch, disabled;
	bool		 forced;	/* EV_FORCEONESHOT: owed one event */
	unsigned	 sfflags;
};

/* A continuation's run or nested change, seen in order during one call. */
struct logent {
	int		 nfilled;	/* entries of the caller's list by then */
	bool		 change;	/* a nested change (else a run) */
	struct kevent	 kev;
	int		 rc;		/* nested change: its result */
	struct kc	*kc;		/* run: which continuation */
};

static struct {
	int		 kq;
	int		 fd[NSLOT];
	char		 dir[64];
	char		 path[80], alt[80], lnk[80];
	bool		 renamed;
	pid_t		 child;
	int		 base_fds;
	uint64_t	 sigs_tried;	/* signals the library made an eventfd for */
	struct key	 keys[MAXKEYS];
	int		 nkeys;
	struct kc	 kcs[NKC];
	struct kc	 junk_kc;	/* never initialised: EV_KCONT says EINVAL */
	int		 kcact[NKC];
	struct kevent	*cur_list;	/* the list of the call running, or NULL */
	int		 cur_n;
	struct logent	 log[MAXLOG];
	int		 nlog;
	bool		 log_lost;
	bool		 trace;
	unsigned	 op;
} H;

static uint8_t iobuf[1 << 17];

static void
fz_fail(int line, const char *what)
{
	fprintf(stderr, "fuzz_kevent: line %d, op %u: check failed: %s\n",
	    line, H.op, what);
	abort();
}

static void
trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
trace(const char *fmt, ...)
{
	va_list ap;

	if (!H.trace)
		return;
	va_start(ap, fmt);
	fprintf(stderr, "[%u] ", H.op);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* The input. */

struct in {
	const uint8_t	*p;
	size_t		 n;
};

static uint8_t
get8(struct in *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t
get16(struct in *in)
{
	uint16_t v = get8(in);

	return (uint16_t)(v | get8(in) << 8);
}

/* Descriptors. */

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own */
}

static int
nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	CHECK(fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0);
	return fd;
}

static int
peer(int slot)
{
	switch (slot) {
	case S_PRD: return S_PWR;
	case S_PWR: return S_PRD;
	case S_SK0: return S_SK1;
	case S_SK1: return S_SK0;
	case S_QRD: return S_QWR;
	case S_QWR: return S_QRD;
	default:    return -1;
	}
}

/* Close a harness descriptor: every knote on its number goes with it. */
static void
kill_fd_keys(int fd)
{
	int i;

	for (i = 0; i < H.nkeys; i++) {
		struct key *k = &H.keys[i];

		if (k->ident == (uintptr_t)fd && (k->filter == EVFILT_READ ||
		    k->filter == EVFILT_WRITE || k->filter == EVFILT_VNODE))
			k->state = K_DEAD;
	}
}

static void
slot_close(int slot)
{
	if (H.fd[slot] < 0)
		return;
	CHECK(close(H.fd[slot]) == 0);
	kill_fd_keys(H.fd[slot]);
	H.fd[slot] = -1;
}

static void
slot_open(int slot)
{
	int p[2], other = peer(slot);

	slot_close(slot);
	switch (slot) {
	case S_PRD: case S_PWR: case S_QRD: case S_QWR:
		slot_close(other);
		CHECK(pipe2(p, O_NONBLOCK | O_CLOEXEC) == 0);
		if (slot == S_PRD || slot == S_PWR) {
			H.fd[S_PRD] = p[0];
			H.fd[S_PWR] = p[1];
		} else {
			H.fd[S_QRD] = p[0];
			H.fd[S_QWR] = p[1];
		}
		break;
	case S_SK0: case S_SK1:
		slot_close(other);
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0, p) == 0);
		H.fd[S_SK0] = p[0];
		H.fd[S_SK1] = p[1];
		break;
	case S_FILE:
		H.fd[slot] = open(H.renamed ? H.alt : H.path,
		    O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		CHECK(H.fd[slot] >= 0);
		break;
	case S_NULL:
		H.fd[slot] = nonblock(open("/dev/null", O_RDWR | O_CLOEXEC));
		break;
	case S_DIR:
		H.fd[slot] = open(H.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		CHECK(H.fd[slot] >= 0);
		break;
	default:
		abort();
	}
}

/* The model. */

static struct key *
key_find(uintptr_t ident, short filter, bool create)
{
	int i;

	for (i = 0; i < H.nkeys; i++)
		if (H.keys[i].ident == ident && H.keys[i].filter == filter)
			return &H.keys[i];
	if (!create)
		return NULL;
	CHECK(H.nkeys < MAXKEYS);
	memset(&H.keys[H.nkeys], 0, sizeof(H.keys[0]));
	H.keys[H.nkeys].ident = ident;
	H.keys[H.nkeys].filter = filter;
	H.keys[H.nkeys].state = K_DEAD;
	return &H.keys[H.nkeys++];
}

static bool
valid_filter(short f)
{
	return f == EVFILT_READ || f == EVFILT_WRITE || f == EVFILT_VNODE ||
	    f == EVFILT_PROC || f == EVFILT_SIGNAL || f == EVFILT_TIMER ||
	    f == EVFILT_USER;
}

static void
cand_add(struct key *k, void *udata)
{
	if (k->ncand < NCAND)
		k->cand[k->ncand] = udata;
	if (k->ncand <= NCAND)
		k->ncand++;
}

static bool
cand_has(const struct key *k, const void *udata)
{
	int i;

	if (k->ncand > NCAND)
		return true;
	for (i = 0; i < k->ncand; i++)
		if (k->cand[i] == udata)
			return true;
	return false;
}

/* A change whose outcome the harness cannot see. */
static void
change_unknown(const struct kevent *kev)
{
	struct key *k;

	if (!valid_filter(kev->filter))
		return;
	k = key_find(kev->ident, kev->filter, true);
	if (k->state == K_DEAD && !(kev->flags & EV_ADD))
		return;		/* it cannot have made one */
	if (k->state != K_UNKNOWN)
		k->ncand = 0;
	if (k->state == K_LIVE)
		cand_add(k, k->udata);
	cand_add(k, kev->udata);
	k->state = K_UNKNOWN;
}

/* A change whose result rc (0 or an errno) the harness saw. */
static void
change_done(const struct kevent *kev, int rc)
{
	struct key *k;
	int prev;

	CHECK(rc >= 0 && rc < 4096);
	if (!valid_filter(kev->filter)) {
		CHECK(rc == EINVAL);
		return;
	}
	k = key_find(kev->ident, kev->filter, true);
	prev = k->state;
	if (rc != 0) {
		/* Nothing it could have named was there: say so. */
		if (prev == K_LIVE && !(kev->flags & EV_ADD))
			CHECK(rc != ENOENT);
		if (prev == K_LIVE && (kev->flags & EV_DELETE))
			CHECK(rc != ENOENT);
		if (prev != K_DEAD)
			change_unknown(kev);
		return;
	}
	if (kev->flags & EV_DELETE) {
		/* Deleting a knote the harness knows is gone cannot succeed. */
		CHECK(prev != K_DEAD);
		k->state = K_DEAD;
		return;
	}
	if (kev->flags & EV_ADD) {
		k->state = K_LIVE;
		k->udata = kev->udata;
		k->kcont = (kev->flags & EV_KCONT) != 0;
		k->oneshot = (kev->flags & (EV_ONESHOT | EV_FORCEONESHOT)) != 0;
		k->dispatch = (kev->flags & EV_DISPATCH) != 0;
		k->disabled = (kev->flags & EV_DISABLE) != 0;
		/*
		 * A forced event still owed stays owed through a change
		 * (and one may be owed when the harness lost track).
		 */
		k->forced = (kev->flags & EV_FORCEONESHOT) != 0 ||
		    (prev == K_LIVE && k->forced) || prev == K_UNKNOWN;
		k->sfflags = kev->fflags;
		if (kev->filter == EVFILT_PROC && !(kev->fflags & NOTE_EXIT)) {
			/*
			 * It goes without an event when the process exits
			 * (as FreeBSD's does): when is not the harness's to see.
			 */
			k->ncand = 0;
			cand_add(k, kev->udata);
			k->state = K_UNKNOWN;
		}
		return;
	}
	CHECK(prev != K_DEAD);
	if (prev == K_LIVE) {
		if (kev->flags & EV_DISABLE)
			k->disabled = true;
		else if (kev->flags & EV_ENABLE)
			k->disabled = false;
	}
}

/* An event delivered (to the list, or to a continuation: kc). */
static void
event_seen(const struct kevent *ev, struct kc *kc)
{
	struct key *k;

	CHECK(valid_filter(ev->filter));
	CHECK(!(ev->flags & EV_ERROR));
	k = key_find(ev->ident, ev->filter, false);
	CHECK(k != NULL);		/* never registered */
	CHECK(k->state != K_DEAD);	/* deleted, closed, or one shot done */
	if (kc != NULL)
		CHECK((void *)kc == ev->udata);
	if (k->state == K_UNKNOWN) {
		CHECK(cand_has(k, ev->udata));
		return;
	}
	CHECK(ev->udata == k->udata);
	CHECK(k->kcont == (kc != NULL));
	CHECK(!k->disabled);
	if (k->forced) {
		/*
		 * The first event after EV_FORCEONESHOT is delivered ready or
		 * not: nothing in it to check.
		 */
		k->forced = false;
		if (k->oneshot || (ev->flags & EV_ONESHOT))
			k->state = K_DEAD;
		else if (k->dispatch)
			k->disabled = true;
		return;
	}
	switch (ev->filter) {
	case EVFILT_PROC:
		CHECK(ev->flags & EV_EOF);
		if (ev->ident == (uintptr_t)H.child)
			CHECK(ev->data == CHILD_STATUS << 8);
		CHECK(ev->fflags == (k->sfflags & NOTE_EXIT));
		k->state = K_DEAD;
		return;
	case EVFILT_TIMER:
	case EVFILT_SIGNAL:
		CHECK(ev->data > 0);
		break;
	case EVFILT_USER:
		CHECK((ev->fflags & ~NOTE_FFLAGSMASK) == 0);
		break;
	case EVFILT_READ:
	case EVFILT_WRITE:
		CHECK(ev->data >= 0);
		break;
	default:
		break;
	}
	if (k->oneshot)
		k->state = K_DEAD;
	else if (k->dispatch)
		k->disabled = true;
}

/* Continuations. */

#define EMPTY_FILTER	((short)0x7fff)

static int
list_filled(void)
{
	int i;

	if (H.cur_list == NULL)
		return 0;
	for (i = 0; i < H.cur_n; i++)
		if (H.cur_list[i].filter == EMPTY_FILTER)
			break;
	return i;
}

static void
log_add(bool change, const struct kevent *kev, int rc, struct kc *kc)
{
	struct logent *l;

	if (H.nlog == MAXLOG) {
		H.log_lost = true;
		return;
	}
	l = &H.log[H.nlog++];
	l->nfilled = list_filled();
	l->change = change;
	l->kev = *kev;
	l->rc = rc;
	l->kc = kc;
}

static void
nested(const struct kevent *ch)
{
	int rc = kevent(H.kq, ch, 1, NULL, 0, NULL);

	CHECK(rc == 0 || rc == -1);
	trace("nested change: ident %#lx filter %d flags %#x = %d",
	    (unsigned long)ch->ident, ch->filter, ch->flags,
	    rc == 0 ? 0 : errno);
	log_add(true, ch, rc == 0 ? 0 : errno, NULL);
}

static void
kc_fn_run(void *obj, void *env, int status)
{
	struct kc *kc = env;
	const struct kevent *ev = obj;
	struct kevent ch;
	int i = (int)(kc - H.kcs), j;

	CHECK(status == 0 && ev != NULL);
	trace("continuation %d (action %d): ident %#lx filter %d flags %#x "
	    "data %lld", i, H.kcact[i], (unsigned long)ev->ident, ev->filter,
	    ev->flags, (long long)ev->data);
	log_add(false, ev, 0, kc);
	switch (H.kcact[i]) {
	case 1:		/* delete its own knote */
		EV_SET(&ch, ev->ident, ev->filter, EV_DELETE, 0, 0, NULL);
		nested(&ch);
		break;
	case 2:		/* delete the first other knote the harness knows */
		for (j = 0; j < H.nkeys; j++) {
			struct key *k = &H.keys[j];

			if (k->state == K_LIVE && (k->ident != ev->ident ||
			    k->filter != ev->filter)) {
				EV_SET(&ch, k->ident, k->filter, EV_DELETE, 0,
				    0, NULL);
				nested(&ch);
				break;
			}
		}
		break;
	case 3:		/* trigger EVFILT_USER 1 */
		EV_SET(&ch, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
		nested(&ch);
		break;
	default:
		break;
	}
}

/* Tables the input indexes. */

static uintptr_t
pick_ident(uint8_t b)
{
	static const uintptr_t odd[] = { (uintptr_t)INT_MAX,
	    (uintptr_t)INT_MAX + 1, UINTPTR_MAX, (uintptr_t)1 << 32,
	    (uintptr_t)-2, 0, 65, 1024 };
	static const int sigs[] = { SIG_NOOP, SIG_IGNORED, SIG_BLOCKED, SIGURG,
	    SIGCHLD, SIGKILL, SIGSTOP, 0 };

	if (b < 0x80)
		return (uintptr_t)(H.fd[b % NSLOT] >= 0 ? H.fd[b % NSLOT] :
		    b % NSLOT + 3);
	if (b < 0xa0)
		return (uintptr_t)(b & 31);
	if (b < 0xb0)
		return (uintptr_t)sigs[b & 7];
	if (b < 0xc0) {
		switch (b & 3) {
		case 0:  return (uintptr_t)H.child;
		case 1:  return (uintptr_t)getpid();
		case 2:  return 1;
		default: return 0x3ffffff0;
		}
	}
	if (b < 0xe0)
		return (uintptr_t)(b & 3);	/* user and timer idents */
	if (b < 0xf0)
		return (uintptr_t)(H.kq >= 0 ? H.kq : 0);
	return odd[b & 7];
}

static short
pick_filter(uint8_t b)
{
	static const short f[] = { EVFILT_READ, EVFILT_WRITE, EVFILT_VNODE,
	    EVFILT_PROC, EVFILT_SIGNAL, EVFILT_TIMER, EVFILT_USER, EVFILT_READ,
	    EVFILT_WRITE, EVFILT_USER, EVFILT_TIMER, EVFILT_AIO,
	    EVFILT_EMPTY, -14, 0, SHRT_MIN };

	return f[b & 15];
}

static unsigned
pick_fflags(uint8_t b)
{
	static const unsigned f[] = { 0, NOTE_LOWAT, NOTE_FILE_POLL,
	    NOTE_NODATA, NOTE_LOWAT | NOTE_NODATA, NOTE_TRIGGER,
	    NOTE_TRIGGER | NOTE_FFOR, NOTE_FFCOPY, NOTE_FFAND | NOTE_TRIGGER,
	    NOTE_EXIT, NOTE_FORK | NOTE_EXIT, NOTE_USECONDS, NOTE_NSECONDS,
	    NOTE_ABSTIME, 0xfff, 0xffffffffu };

	return f[b & 15] | (b >> 4);
}

static int64_t
pick_data(uint8_t b)
{
	static const int64_t d[] = { 0, 1, 2, 5, 100, 4096, 65536, 65537,
	    1 << 20, -1, INT64_MAX, INT64_MIN };
	struct timespec ts;

	if ((b & 15) < 12)
		return d[b & 15];
	/* Absolute times (NOTE_ABSTIME, milliseconds): near, past, far. */
	clock_gettime(CLOCK_REALTIME, &ts);
	switch (b & 15) {
	case 12: return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1;
	case 13: return (int64_t)ts.tv_sec * 1000 - 1000;
	case 14: return (int64_t)ts.tv_sec * 1000 + 3600000;
	default: return (int64_t)(b >> 4);
	}
}

static void *
pick_udata(uint8_t b, unsigned short flags)
{
	if (flags & EV_KCONT) {
		if (b < 0xf0)
			return &H.kcs[b % NKC];
		return (b & 1) ? &H.junk_kc : NULL;
	}
	return (void *)(uintptr_t)(0x1000 + b);
}

/* kevent() and what it returned. */

static void
check_events(const struct kevent *list, int n, int nevents)
{
	int i, j, l = 0;

	CHECK(n >= 0 && n <= nevents);
	for (i = 0; i <= n; i++) {
		/* The continuations that ran before entry i was written. */
		for (; l < H.nlog && H.log[l].nfilled <= i; l++) {
			if (H.log[l].change)
				change_done(&H.log[l].kev, H.log[l].rc);
			else
				event_seen(&H.log[l].kev, H.log[l].kc);
		}
		if (i == n)
			break;
		event_seen(&list[i], NULL);
		for (j = 0; j < i; j++)
			CHECK(list[j].ident != list[i].ident ||
			    list[j].filter != list[i].filter);
	}
	CHECK(l == H.nlog);
}

/* An entry for change ch: a copy of it, flags EV_ERROR, data the errno. */
static void
check_receipt(const struct kevent *r, const struct kevent *ch)
{
	CHECK(r->flags == EV_ERROR);
	CHECK(r->ident == ch->ident);
	CHECK(r->filter == ch->filter);
	CHECK(r->udata == ch->udata);
	/* The change's fflags, or 0 once a knote was made for it. */
	CHECK(r->fflags == ch->fflags || r->fflags == 0);
	CHECK(r->data >= 0 && r->data < 4096);
	CHECK(r->data != 0 || (ch->flags & EV_RECEIPT));
}

static void
call_begin(struct kevent *list, int nevents)
{
	int i;

	for (i = 0; i < nevents; i++)
		list[i].filter = EMPTY_FILTER;
	H.cur_list = list;
	H.cur_n = nevents;
	H.nlog = 0;
	H.log_lost = false;
}

static void
call_end(void)
{
	H.cur_list = NULL;
	H.cur_n = 0;
}

/* After a call whose log the harness could not keep whole: forget. */
static void
forget_all(void)
{
	int i;

	for (i = 0; i < H.nkeys; i++)
		if (H.keys[i].state == K_LIVE) {
			H.keys[i].ncand = 0;
			cand_add(&H.keys[i], H.keys[i].udata);
			H.keys[i].state = K_UNKNOWN;
		}
}

static void
op_kevent(struct in *in, bool with_changes)
{
	struct kevent ch[MAXCHANGES], list[MAXEVENTS];
	struct timespec ts = { 0, 0 };
	int nch = 0, nev, rc, err, i, e, last;
	uint8_t b;

	if (with_changes) {
		nch = 1 + (get8(in) & 7);
		for (i = 0; i < nch; i++) {
			uint8_t bi = get8(in), bf = get8(in);
			uint16_t fl = get16(in);
			uint8_t bff = get8(in), bd = get8(in), bu = get8(in);

			EV_SET(&ch[i], pick_ident(bi), pick_filter(bf), fl,
			    pick_fflags(bff), pick_data(bd),
			    pick_udata(bu, fl));
			/* Which change it was: receipts copy ext[]. */
			ch[i].ext[3] = (uint64_t)i + 1;
			if (ch[i].filter == EVFILT_SIGNAL &&
			    (ch[i].flags & EV_ADD) && ch[i].ident > 0 &&
			    ch[i].ident < 65)
				H.sigs_tried |= 1ull << (ch[i].ident - 1);
			trace("change %d: ident %#lx filter %d flags %#x "
			    "fflags %#x data %lld udata %p", i,
			    (unsigned long)ch[i].ident, ch[i].filter,
			    ch[i].flags, ch[i].fflags,
			    (long long)ch[i].data, ch[i].udata);
		}
	}
	b = get8(in);
	nev = with_changes ? (b & 15) : 1 + (b & 15);
	if ((b & 0xe0) == 0xe0)
		ts.tv_nsec = 1000000;
	call_begin(list, nev);
	rc = kevent(H.kq, ch, nch, nev > 0 ? list : NULL, nev, &ts);
	err = errno;
	call_end();
	trace("kevent(%d changes, %d events) = %d%s%s", nch, nev, rc,
	    rc < 0 ? ": " : "", rc < 0 ? strerror(err) : "");
	if (H.log_lost) {
		/*
		 * A level-triggered knote with a continuation runs on every
		 * look for as long as the timeout lasts: more runs than the
		 * log holds.  What this call did is then unknown.
		 */
		for (i = 0; i < nch; i++)
			change_unknown(&ch[i]);
		forget_all();
		return;
	}
	if (rc < 0)
		CHECK(err > 0 && err < 4096);

	/*
	 * Entries for the changes: one per change that failed or asked for a
	 * receipt, in order (ext[3] says which), and then no scan.
	 */
	if (rc > 0 && list[0].flags == EV_ERROR && list[0].ext[3] != 0) {
		CHECK(H.nlog == 0);
		for (i = 0, e = 0; i < nch; i++) {
			if (e < rc && list[e].ext[3] == (uint64_t)i + 1) {
				check_receipt(&list[e], &ch[i]);
				change_done(&ch[i], (int)list[e].data);
				e++;
			} else {
				/* Only a receipt finds no room; an error fails. */
				CHECK(!(ch[i].flags & EV_RECEIPT) || e >= nev);
				change_done(&ch[i], 0);
			}
		}
		CHECK(e == rc);
		return;
	}
	if (rc < 0 && nch > 0 && (nev == 0 ||
	    list[nev - 1].filter != EMPTY_FILTER)) {
		/*
		 * A change failed with no room left to say so.  The entries
		 * name changes before it, and those without one took; which
		 * of the rest failed, and which were not looked at, is not
		 * known.
		 */
		CHECK(H.nlog == 0);
		last = -1;
		for (e = 0; e < nev; e++) {
			CHECK(list[e].ext[3] >= 1 && list[e].ext[3] <= (uint64_t)nch);
			CHECK((int)list[e].ext[3] - 1 > last);
			last = (int)list[e].ext[3] - 1;
		}
		for (i = 0, e = 0; i < nch; i++) {
			if (e < nev && list[e].ext[3] == (uint64_t)i + 1) {
				check_receipt(&list[e], &ch[i]);
				change_done(&ch[i], (int)list[e].data);
				e++;
			} else if (i < last) {
				CHECK(!(ch[i].flags & EV_RECEIPT));
				change_done(&ch[i], 0);
			} else {
				change_unknown(&ch[i]);
			}
		}
		return;
	}
	/* Every change took, with no receipt asked; then the scan. */
	for (i = 0; i < nch; i++) {
		CHECK(!(ch[i].flags & EV_RECEIPT) || nev == 0);
		change_done(&ch[i], 0);
	}
	if (rc < 0) {
		/* An interrupted wait (a timer signal of the fuzzer's). */
		CHECK(err == EINTR);
		check_events(list, 0, nev);
		return;
	}
	check_events(list, rc, nev);
}

static void
op_write(struct in *in)
{
	static const size_t sz[] = { 1, 100, 4096, sizeof(iobuf) };
	uint8_t b = get8(in);
	int slot = (int[]){ S_PWR, S_SK0, S_SK1, S_QWR }[b & 3];
	ssize_t n;

	if (H.fd[slot] < 0)
		return;
	n = write(H.fd[slot], iobuf, sz[(b >> 2) & 3]);
	trace("write slot %d: %zd", slot, n);
	/* After a dup2() the slot may be anything: only the count is sure. */
	CHECK(n <= (ssize_t)sz[(b >> 2) & 3]);
}

static void
op_read(struct in *in)
{
	static const size_t sz[] = { 1, 100, 4096, sizeof(iobuf) };
	uint8_t b = get8(in);
	int slot = (int[]){ S_PRD, S_SK0, S_SK1, S_QRD }[b & 3];
	ssize_t n;

	if (H.fd[slot] < 0)
		return;
	n = read(H.fd[slot], iobuf, sz[(b >> 2) & 3]);
	trace("read slot %d: %zd", slot, n);
	CHECK(n <= (ssize_t)sz[(b >> 2) & 3]);
}

static void
op_dup2(struct in *in)
{
	uint8_t b = get8(in);
	int a = (b & 15) % NSLOT, t = (b >> 4) % NSLOT;

	if (a == t || H.fd[a] < 0 || H.fd[t] < 0)
		return;
	trace("dup2 slot %d (fd %d) onto slot %d (fd %d)", a, H.fd[a], t,
	    H.fd[t]);
	CHECK(dup2(H.fd[a], H.fd[t]) == H.fd[t]);
	kill_fd_keys(H.fd[t]);
}

static void
op_raise(struct in *in)
{
	static const int sig[] = { SIG_NOOP, SIG_IGNORED, SIG_BLOCKED, SIGURG };
	int s = sig[get8(in) & 3];

	trace("raise %d", s);
	CHECK(raise(s) == 0);
}

static void
op_file(struct in *in)
{
	uint8_t b = get8(in);
	const char *cur = H.renamed ? H.alt : H.path;
	int fd = H.fd[S_FILE];
	ssize_t n = 0;

	trace("file op %d", b & 7);
	/*
	 * The file's slot may hold another object after a dup2(): what it
	 * does there is not checked, only that it returns.
	 */
	switch (b & 7) {
	case 0:
		if (fd >= 0)
			n = write(fd, iobuf, (size_t)1 << (b >> 4));
		break;
	case 1:
		if (fd >= 0)
			(void)ftruncate(fd, (off_t)(b >> 4));
		break;
	case 2:
		CHECK(rename(cur, H.renamed ? H.path : H.alt) == 0);
		H.renamed = !H.renamed;
		break;
	case 3:
		/*
		 * By path, never through the slot: after a dup2() the slot may
		 * hold /dev/null, and a fuzzer run as root would change the
		 * device's mode for the whole machine.
		 */
		CHECK(chmod(cur, (b & 0x10) ? 0644 : 0600) == 0);
		break;
	case 4:
		CHECK(link(cur, H.lnk) == 0);
		CHECK(unlink(H.lnk) == 0);
		break;
	case 5:
		fd = open(cur, O_RDONLY | O_CLOEXEC);
		CHECK(fd >= 0);
		n = read(fd, iobuf, 16);
		CHECK(n >= 0);
		CHECK(close(fd) == 0);
		break;
	case 6:
		if (fd >= 0)
			(void)lseek(fd, (off_t)(b >> 4), SEEK_SET);
		break;
	default:
		if (fd >= 0)
			n = read(fd, iobuf, 64);
		break;
	}
	CHECK(n <= (ssize_t)sizeof(iobuf));
}

static void
kq_new(void)
{
	H.kq = kqueue();
	CHECK(H.kq >= 0);
}

static void
kq_close(void)
{
	int i;

	if (H.kq >= 0) {
		CHECK(close(H.kq) == 0);
		H.kq = -1;
	}
	for (i = 0; i < H.nkeys; i++)
		H.keys[i].state = K_DEAD;
}

static void
noop_handler(int sig)
{
	(void)sig;
}

static void
cleanup_dir(void)
{
	if (H.dir[0] != '\0') {
		(void)unlink(H.path);
		(void)unlink(H.alt);
		(void)unlink(H.lnk);
		(void)rmdir(H.dir);
	}
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sigaction sa;
	sigset_t set;
	const char *env = getenv("KC_FUZZ_TRACE");

	(void)argc;
	(void)argv;
	H.trace = env != NULL && *env == '1';
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = noop_handler;
	sigaction(SIG_NOOP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIG_IGNORED, &sa, NULL);
	/* Writes to a pipe or socket whose reader is gone must say EPIPE. */
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIG_BLOCKED);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	snprintf(H.dir, sizeof(H.dir), "/tmp/fuzz-kevent.XXXXXX");
	if (mkdtemp(H.dir) == NULL) {
		perror("fuzz_kevent: mkdtemp");
		exit(1);
	}
	snprintf(H.path, sizeof(H.path), "%s/f", H.dir);
	snprintf(H.alt, sizeof(H.alt), "%s/g", H.dir);
	snprintf(H.lnk, sizeof(H.lnk), "%s/h", H.dir);
	atexit(cleanup_dir);

	/* A zombie for EVFILT_PROC: exits at once, never reaped. */
	H.child = fork();
	if (H.child < 0) {
		perror("fuzz_kevent: fork");
		exit(1);
	}
	if (H.child == 0)
		_exit(CHILD_STATUS);
	H.kq = -1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct timespec zero = { 0, 0 };
	sigset_t set;
	uint8_t b;
	int i, fds, allowed;

	H.base_fds = count_fds();
	H.nkeys = 0;
	H.op = 0;
	H.renamed = false;
	b = get8(&in);
	for (i = 0; i < NKC; i++) {
		H.kcact[i] = (b >> (2 * i)) & 3;
		CHECK(kc_init(&H.kcs[i], kc_fn_run, &H.kcs[i], NULL, 0) == 0);
	}
	for (i = 0; i < NSLOT; i++)
		H.fd[i] = -1;
	for (i = 0; i < NSLOT; i++)
		if (H.fd[i] < 0)
			slot_open(i);
	CHECK(ftruncate(H.fd[S_FILE], 0) == 0);
	kq_new();

	while (in.n > 0 && H.op < MAXOPS) {
		H.op++;
		b = get8(&in);
		switch (b % 11) {
		case 0:  op_kevent(&in, true); break;
		case 1:  op_kevent(&in, false); break;
		case 2:  op_write(&in); break;
		case 3:  op_read(&in); break;
		case 4:
			b = get8(&in);
			trace("close slot %d", b % NSLOT);
			slot_close(b % NSLOT);
			break;
		case 5:
			b = get8(&in);
			trace("reopen slot %d", b % NSLOT);
			slot_open(b % NSLOT);
			break;
		case 6:  op_dup2(&in); break;
		case 7:  op_raise(&in); break;
		case 8:  op_file(&in); break;
		case 9:
			trace("new kqueue");
			kq_close();
			kq_new();
			break;
		default:
			b = get8(&in);
			if (H.fd[S_SK0 + (b & 1)] >= 0) {
				trace("shutdown slot %d", S_SK0 + (b & 1));
				(void)shutdown(H.fd[S_SK0 + (b & 1)],
				    (b & 2) ? SHUT_WR : SHUT_RD);
			}
			break;
		}
	}

	/* Leave nothing to the next input. */
	kq_close();
	for (i = 0; i < NSLOT; i++)
		slot_close(i);
	if (H.renamed)
		CHECK(rename(H.alt, H.path) == 0);
	sigemptyset(&set);
	sigaddset(&set, SIG_BLOCKED);
	while (sigtimedwait(&set, NULL, &zero) > 0)
		continue;
	/*
	 * A kqueue whose descriptor close() took is released at the next
	 * kqueue() or kevent() call (close() may run in a signal handler and
	 * cannot free; kqueue(3)): make that call, as a program would.
	 */
	(void)kevent(-1, NULL, 0, NULL, 0, NULL);
	/*
	 * The library keeps one eventfd per signal ever watched, for good:
	 * those may be new; anything else still open is a leak.
	 */
	fds = count_fds();
	allowed = H.base_fds + __builtin_popcountll(H.sigs_tried);
	if (fds > allowed) {
		fprintf(stderr, "fuzz_kevent: %d descriptors open after the "
		    "input, at most %d allowed\n", fds, allowed);
		abort();
	}
	/* What the signals of this input added is accounted for now. */
	H.sigs_tried = 0;
	return 0;
}
