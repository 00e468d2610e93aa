/*
 * kcpeer: the peer program of kcsplice's demo and benchmarks.
 *
 *   kcpeer sink ADDR     accept; read and discard everything, hashing it
 *   kcpeer hold ADDR     accept; never read (a stalled mirror)
 *   kcpeer echo ADDR     accept; send back what arrives, hashing it; on EOF,
 *                        end the sending side too
 *   kcpeer client ADDR   open --conns connections at once, send --bytes of
 *                        the stream --seed + i on connection i, end the
 *                        sending side, read until EOF and (--expect echo)
 *                        check that what came back is what went
 *
 * ADDR is tcp:HOST:PORT, unix:PATH, unix:@NAME or (sink, echo) udp:HOST:PORT.
 * Every mode but client first prints "kcpeer: listening on ADDR" (the bound
 * address, port 0 replaced) on stdout, flushed.  Every mode stops by itself
 * after --max-seconds (600) at the latest, or on SIGTERM or SIGINT.
 *
 * Reports (sink, echo and client) are one line per connection,
 *   conn=ID bytes=N hash=H ...
 * where bytes and hash describe what the connection received (sink, echo) or
 * sent (client).  With --report FILE a line is appended as each connection
 * ends (the rest at stop, end=open); without, all go to stdout at stop.
 *
 * Plain POSIX sockets and one poll loop; no threads, no kcont.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "peerdata.h"

#define BUFSZ		(1024 * 1024)
#define ECHOSZ		(256 * 1024)
#define SENDSZ		(256 * 1024)
#define MAXDGRAM	65536

enum mode { M_SINK, M_HOLD, M_ECHO, M_CLIENT };

struct addr {
	int			 type;		/* SOCK_STREAM or SOCK_DGRAM */
	struct sockaddr_storage	 ss;
	socklen_t		 len;
};

struct opts {
	enum mode	 mode;
	const char	*addr;
	const char	*report;
	double		 max_seconds;
	uint64_t	 rate;		/* sink: bytes per second per connection */
	bool		 no_hash;
	unsigned	 conns;
	uint64_t	 bytes;
	uint64_t	 seed;
	bool		 expect_echo;
	bool		 quiet;
};

struct conn {
	int		 fd;
	unsigned	 id;
	char		 peer[128];
	/* received */
	uint64_t	 rx;
	struct pd_hash	 rxh;
	bool		 eof;
	int		 err;
	uint64_t	 next_read;	/* sink --rate: not before (ns) */
	/* echo: received, not yet sent back */
	unsigned char	*ebuf;
	size_t		 eoff, elen;
	/* client: sent */
	uint64_t	 tx;
	struct pd_hash	 txh;
	bool		 connecting;
	bool		 shut;
	bool		 done;
};

static volatile sig_atomic_t stop_signal;
static struct opts o;
static FILE *report;
static unsigned char *iobuf;

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("kcpeer: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
usage(FILE *f)
{
	fputs("usage: kcpeer sink|hold|echo ADDR [--report FILE] [--rate BYTES]"
	    " [--no-hash]\n"
	    "       kcpeer client ADDR [--conns N] [--bytes N] [--seed N]"
	    " [--expect echo|any]\n"
	    "                 [--report FILE]\n"
	    "  common: --max-seconds S (600), --quiet\n"
	    "  ADDR: tcp:HOST:PORT, unix:PATH, unix:@NAME, udp:HOST:PORT"
	    " (sink, echo)\n", f);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
on_signal(int sig)
{
	stop_signal = sig;
}

/* A count with an optional k, m or g (powers of 1024), as kcsplice reads. */
static uint64_t
parse_size(const char *s, const char *what)
{
	uint64_t v;

	if (ks_size_parse(&v, s) != 0)
		die("bad %s '%s'", what, s);
	return v;
}

/* tcp:HOST:PORT, unix:PATH, unix:@NAME, udp:HOST:PORT, as kcsplice reads them. */
static void
parse_addr(struct addr *a, const char *s)
{
	struct ks_addr ka;

	memset(a, 0, sizeof(*a));
	if (ks_addr_parse(&ka, s) != 0)
		die("bad address '%s': expected tcp:HOST:PORT, unix:PATH or "
		    "udp:HOST:PORT", s);
	a->type = ka.kind == KS_UDP ? SOCK_DGRAM : SOCK_STREAM;
	memcpy(&a->ss, &ka.sa.a.ss, sizeof(a->ss));
	a->len = ka.sa.len;
}

static void
format_addr(char *buf, size_t size, int type, const struct sockaddr *sa,
    socklen_t len)
{
	struct kc_sockaddr ksa;
	enum ks_kind kind = sa->sa_family == AF_UNIX ? KS_UNIX :
	    type == SOCK_DGRAM ? KS_UDP : KS_TCP;

	memset(&ksa, 0, sizeof(ksa));
	if (len > sizeof(ksa.a))
		len = sizeof(ksa.a);
	memcpy(&ksa.a, sa, len);
	ksa.len = len;
	/* An unnamed UNIX socket (a client's) has no text of its own. */
	if (ks_addr_format(kind, &ksa, buf, size) < 0)
		snprintf(buf, size, "%s",
		    kind == KS_UNIX ? "unix:(unnamed)" : "?");
}

static void
set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		die("fcntl: %s", strerror(errno));
}

static void
report_line(const struct conn *c, const char *end)
{
	FILE *f = report != NULL ? report : stdout;

	if (o.mode == M_CLIENT)
		fprintf(f, "conn=%u bytes=%" PRIu64 " hash=%016" PRIx64
		    " rx_bytes=%" PRIu64 " rx_hash=%016" PRIx64 " end=%s\n",
		    c->id, c->tx, pd_hash_final(&c->txh), c->rx,
		    pd_hash_final(&c->rxh), end);
	else if (o.no_hash)
		fprintf(f, "conn=%u bytes=%" PRIu64 " hash=- end=%s peer=%s\n",
		    c->id, c->rx, end, c->peer);
	else
		fprintf(f, "conn=%u bytes=%" PRIu64 " hash=%016" PRIx64
		    " end=%s peer=%s\n", c->id, c->rx, pd_hash_final(&c->rxh),
		    end, c->peer);
	fflush(f);
}

static const char *
end_name(const struct conn *c)
{
	if (c->err != 0)
		return c->err == ECONNRESET ? "reset" : "error";
	return c->eof ? "eof" : "open";
}

/* Read what may be read now; returns true when the connection ended. */
static bool
conn_read(struct conn *c, uint64_t now)
{
	size_t want = BUFSZ;
	ssize_t n;
	int rounds;

	if (o.mode == M_SINK && o.rate > 0) {
		if (now < c->next_read)
			return false;
		want = (size_t)(o.rate / 20 > 0 ? o.rate / 20 : 1);
		if (want > BUFSZ)
			want = BUFSZ;
	}
	for (rounds = 0; rounds < 16; rounds++) {
		if (o.mode == M_ECHO) {
			if (c->eoff + c->elen == ECHOSZ && c->eoff > 0) {
				memmove(c->ebuf, c->ebuf + c->eoff, c->elen);
				c->eoff = 0;
			}
			want = ECHOSZ - c->eoff - c->elen;
			if (want == 0)
				return false;
			n = recv(c->fd, c->ebuf + c->eoff + c->elen, want, 0);
		} else if (o.no_hash) {
			n = recv(c->fd, iobuf, want, MSG_TRUNC);
		} else {
			n = recv(c->fd, iobuf, want, 0);
		}
		if (n > 0) {
			if (o.mode == M_ECHO) {
				pd_hash_update(&c->rxh, c->ebuf + c->eoff +
				    c->elen, (size_t)n);
				c->elen += (size_t)n;
			} else if (!o.no_hash) {
				pd_hash_update(&c->rxh, iobuf, (size_t)n);
			}
			c->rx += (uint64_t)n;
			if (o.mode == M_SINK && o.rate > 0) {
				c->next_read = now + 50000000ull;
				return false;
			}
			continue;
		}
		if (n == 0) {
			c->eof = true;
			return o.mode != M_ECHO || c->elen == 0;
		}
		if (errno == EAGAIN || errno == EINTR)
			return false;
		c->err = errno;
		return true;
	}
	return false;
}

/* Echo: send back what is buffered; true when the connection ended. */
static bool
conn_echo(struct conn *c)
{
	ssize_t n;

	while (c->elen > 0) {
		n = send(c->fd, c->ebuf + c->eoff, c->elen, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return false;
			c->err = errno;
			return true;
		}
		c->eoff += (size_t)n;
		c->elen -= (size_t)n;
	}
	c->eoff = 0;
	if (c->eof) {
		shutdown(c->fd, SHUT_WR);
		return true;
	}
	return false;
}

static void
conn_end(struct conn *c)
{
	report_line(c, end_name(c));
	close(c->fd);
	c->fd = -1;
	c->done = true;
	free(c->ebuf);
	c->ebuf = NULL;
}

static void
print_listening(int type, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char buf[160];

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		die("getsockname: %s", strerror(errno));
	format_addr(buf, sizeof(buf), type, (struct sockaddr *)&ss, len);
	printf("kcpeer: listening on %s\n", buf);
	fflush(stdout);
}

static int
open_listener(const struct addr *a)
{
	int fd, one = 1;

	fd = socket(a->ss.ss_family, a->type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	if (a->ss.ss_family != AF_UNIX)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		die("cannot bind %s: %s", o.addr, strerror(errno));
	if (a->type == SOCK_STREAM && listen(fd, 4096) < 0)
		die("cannot listen on %s: %s", o.addr, strerror(errno));
	set_nonblock(fd);
	return fd;
}

static bool
time_up(uint64_t deadline)
{
	return stop_signal != 0 || now_ns() >= deadline;
}

static void
run_udp(const struct addr *a, uint64_t deadline)
{
	struct sockaddr_storage from;
	struct pd_hash h;
	struct pollfd pfd;
	uint64_t ndgram = 0, nbytes = 0;
	socklen_t flen;
	ssize_t n;
	int fd;

	if (o.mode != M_SINK && o.mode != M_ECHO)
		die("udp: only sink and echo");
	fd = open_listener(a);
	print_listening(SOCK_DGRAM, fd);
	pd_hash_init(&h);
	while (!time_up(deadline)) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		for (;;) {
			flen = sizeof(from);
			n = recvfrom(fd, iobuf, MAXDGRAM, 0,
			    (struct sockaddr *)&from, &flen);
			if (n < 0)
				break;
			ndgram++;
			nbytes += (uint64_t)n;
			if (!o.no_hash)
				pd_hash_update(&h, iobuf, (size_t)n);
			if (o.mode == M_ECHO)
				(void)sendto(fd, iobuf, (size_t)n, 0,
				    (struct sockaddr *)&from, flen);
		}
	}
	close(fd);
	fprintf(report != NULL ? report : stdout,
	    "udp datagrams=%" PRIu64 " bytes=%" PRIu64 " hash=%016" PRIx64 "\n",
	    ndgram, nbytes, pd_hash_final(&h));
}

static struct conn **conns;
static size_t nconns, capconns;

static struct conn *
conn_new(int fd, unsigned id)
{
	struct conn *c;

	if (nconns == capconns) {
		capconns = capconns ? capconns * 2 : 64;
		conns = realloc(conns, capconns * sizeof(*conns));
		if (conns == NULL)
			die("out of memory");
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		die("out of memory");
	c->fd = fd;
	c->id = id;
	pd_hash_init(&c->rxh);
	pd_hash_init(&c->txh);
	if (o.mode == M_ECHO && (c->ebuf = malloc(ECHOSZ)) == NULL)
		die("out of memory");
	conns[nconns++] = c;
	return c;
}

/* Forget the connections that ended (their lines are written). */
static void
conns_compact(void)
{
	size_t i, j = 0;

	for (i = 0; i < nconns; i++) {
		if (conns[i]->done)
			free(conns[i]);
		else
			conns[j++] = conns[i];
	}
	nconns = j;
}

static void
run_server(const struct addr *a, uint64_t deadline)
{
	struct pollfd *pfd = NULL;
	struct sockaddr_storage ss;
	uint64_t now, pause_listen = 0;
	unsigned nextid = 0;
	socklen_t len;
	size_t i, n, cap = 0;
	int lfd, fd, timeout, r;
	bool ended;

	lfd = open_listener(a);
	print_listening(SOCK_STREAM, lfd);
	while (!time_up(deadline)) {
		if (cap < nconns + 1) {
			cap = (nconns + 1) * 2;
			pfd = realloc(pfd, cap * sizeof(*pfd));
			if (pfd == NULL)
				die("out of memory");
		}
		now = now_ns();
		timeout = 100;
		pfd[0].fd = now >= pause_listen ? lfd : -1;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		for (i = 0; i < nconns; i++) {
			struct conn *c = conns[i];

			pfd[i + 1].fd = -1;
			pfd[i + 1].events = 0;
			pfd[i + 1].revents = 0;
			if (o.mode == M_HOLD)
				continue;
			if (o.mode == M_SINK && o.rate > 0 &&
			    now < c->next_read) {
				r = (int)((c->next_read - now) / 1000000) + 1;
				if (r < timeout)
					timeout = r;
				continue;
			}
			pfd[i + 1].fd = c->fd;
			if (!c->eof && (o.mode != M_ECHO ||
			    c->eoff + c->elen < ECHOSZ))
				pfd[i + 1].events |= POLLIN;
			if (o.mode == M_ECHO && c->elen > 0)
				pfd[i + 1].events |= POLLOUT;
		}
		r = poll(pfd, nconns + 1, timeout);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		now = now_ns();
		n = nconns;
		for (i = 0; i < n; i++) {
			struct conn *c = conns[i];

			if (pfd[i + 1].fd < 0 || pfd[i + 1].revents == 0)
				continue;
			ended = false;
			if (pfd[i + 1].revents & (POLLIN | POLLHUP | POLLERR))
				ended = conn_read(c, now);
			if (!ended && o.mode == M_ECHO &&
			    (c->elen > 0 || c->eof))
				ended = conn_echo(c);
			if (ended)
				conn_end(c);
		}
		conns_compact();
		if (pfd[0].fd >= 0 && (pfd[0].revents & POLLIN)) {
			for (;;) {
				len = sizeof(ss);
				fd = accept4(lfd, (struct sockaddr *)&ss, &len,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd < 0) {
					if (errno == EMFILE || errno == ENFILE ||
					    errno == ENOBUFS || errno == ENOMEM)
						pause_listen = now + 100000000ull;
					break;
				}
				format_addr(conn_new(fd, nextid++)->peer, 128,
				    SOCK_STREAM, (struct sockaddr *)&ss, len);
			}
		}
	}
	for (i = 0; i < nconns; i++)
		conn_end(conns[i]);
	conns_compact();
	free(pfd);
	close(lfd);
}

/* Client: send what is due; true when the connection failed. */
static bool
client_send(struct conn *c)
{
	size_t k;
	ssize_t n;

	while (c->tx < o.bytes) {
		k = o.bytes - c->tx < SENDSZ ? (size_t)(o.bytes - c->tx) :
		    SENDSZ;
		pd_fill(o.seed + c->id, c->tx, iobuf, k);
		n = send(c->fd, iobuf, k, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				return false;
			c->err = errno;
			return true;
		}
		pd_hash_update(&c->txh, iobuf, (size_t)n);
		c->tx += (uint64_t)n;
	}
	if (!c->shut) {
		shutdown(c->fd, SHUT_WR);
		c->shut = true;
	}
	return false;
}

/* Client: read what arrived; true when the connection ended. */
static bool
client_recv(struct conn *c)
{
	ssize_t n;
	int rounds;

	for (rounds = 0; rounds < 16; rounds++) {
		n = recv(c->fd, iobuf + SENDSZ, BUFSZ - SENDSZ, 0);
		if (n > 0) {
			pd_hash_update(&c->rxh, iobuf + SENDSZ, (size_t)n);
			c->rx += (uint64_t)n;
			continue;
		}
		if (n == 0) {
			c->eof = true;
			return true;
		}
		if (errno == EAGAIN || errno == EINTR)
			return false;
		c->err = errno;
		return true;
	}
	return false;
}

static int
run_client(const struct addr *a, uint64_t deadline)
{
	struct pollfd *pfd;
	uint64_t sent = 0, rcvd = 0;
	unsigned i, ok = 0, left;
	socklen_t len;
	int fd, err, r;
	bool ended;

	if (a->type != SOCK_STREAM)
		die("client: tcp or unix only");
	pfd = calloc(o.conns, sizeof(*pfd));
	if (pfd == NULL)
		die("out of memory");
	for (i = 0; i < o.conns; i++) {
		struct conn *c;

		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd < 0)
			die("socket: %s", strerror(errno));
		c = conn_new(fd, i);
		c->connecting = true;
		if (connect(fd, (const struct sockaddr *)&a->ss, a->len) < 0 &&
		    errno != EINPROGRESS && errno != EAGAIN) {
			c->err = errno;
			c->done = true;
		}
	}
	left = o.conns;
	for (i = 0; i < o.conns; i++)
		if (conns[i]->done)
			left--;
	while (left > 0 && !time_up(deadline)) {
		for (i = 0; i < o.conns; i++) {
			struct conn *c = conns[i];

			pfd[i].fd = c->done ? -1 : c->fd;
			pfd[i].events = POLLIN;
			if (c->connecting || c->tx < o.bytes || !c->shut)
				pfd[i].events |= POLLOUT;
			pfd[i].revents = 0;
		}
		r = poll(pfd, o.conns, 100);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		for (i = 0; r > 0 && i < o.conns; i++) {
			struct conn *c = conns[i];

			if (pfd[i].fd < 0 || pfd[i].revents == 0)
				continue;
			ended = false;
			if (c->connecting) {
				err = 0;
				len = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err,
				    &len);
				if (err != 0) {
					c->err = err;
					ended = true;
				} else if (pfd[i].revents & (POLLOUT | POLLIN |
				    POLLHUP)) {
					c->connecting = false;
				} else {
					continue;
				}
			}
			if (!ended && (pfd[i].revents & (POLLIN | POLLHUP |
			    POLLERR)))
				ended = client_recv(c);
			if (!ended && (c->tx < o.bytes || !c->shut))
				ended = client_send(c);
			if (ended) {
				close(c->fd);
				c->fd = -1;
				c->done = true;
				left--;
			}
		}
	}
	for (i = 0; i < o.conns; i++) {
		struct conn *c = conns[i];
		bool good = c->err == 0 && c->eof && c->tx == o.bytes;

		if (good && o.expect_echo)
			good = c->rx == c->tx && pd_hash_final(&c->rxh) ==
			    pd_hash_final(&c->txh);
		if (!c->done) {
			close(c->fd);
			c->fd = -1;
		}
		report_line(c, good ? "ok" : c->err != 0 ? "error" :
		    !c->eof ? "timeout" : "mismatch");
		if (!good && !o.quiet)
			fprintf(stderr, "kcpeer: connection %u: %s (sent %"
			    PRIu64 ", received %" PRIu64 ")\n", i,
			    c->err != 0 ? strerror(c->err) : !c->eof ?
			    "did not end in time" : "reply differs", c->tx,
			    c->rx);
		ok += good;
		sent += c->tx;
		rcvd += c->rx;
	}
	if (!o.quiet)
		printf("kcpeer: client: %u connections, %u ok, sent %" PRIu64
		    " bytes, received %" PRIu64 " bytes\n", o.conns, ok, sent,
		    rcvd);
	free(pfd);
	return ok == o.conns ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct addr a;
	uint64_t deadline;
	char *end;
	int i, rc = 0;

	memset(&o, 0, sizeof(o));
	o.max_seconds = 600;
	o.conns = 1;
	o.bytes = 1 << 20;
	o.seed = 1;
	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 64;
	}
	if (strcmp(argv[1], "sink") == 0)
		o.mode = M_SINK;
	else if (strcmp(argv[1], "hold") == 0)
		o.mode = M_HOLD;
	else if (strcmp(argv[1], "echo") == 0)
		o.mode = M_ECHO;
	else if (strcmp(argv[1], "client") == 0)
		o.mode = M_CLIENT;
	else {
		usage(stderr);
		return 64;
	}
	o.addr = argv[2];
	for (i = 3; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] :
		    NULL;

		if (strcmp(opt, "--no-hash") == 0) {
			o.no_hash = true;
			continue;
		}
		if (strcmp(opt, "--quiet") == 0 || strcmp(opt, "-q") == 0) {
			o.quiet = true;
			continue;
		}
		if (val == NULL)
			die("option %s needs a value", opt);
		i++;
		if (strcmp(opt, "--report") == 0) {
			o.report = val;
		} else if (strcmp(opt, "--max-seconds") == 0) {
			o.max_seconds = strtod(val, &end);
			if (end == val || *end != '\0' || !(o.max_seconds > 0) ||
			    o.max_seconds > 1e6)
				die("bad --max-seconds '%s'", val);
		} else if (strcmp(opt, "--rate") == 0) {
			o.rate = parse_size(val, "--rate");
		} else if (strcmp(opt, "--conns") == 0) {
			uint64_t v = parse_size(val, "--conns");

			if (v == 0 || v > 100000)
				die("bad --conns '%s'", val);
			o.conns = (unsigned)v;
		} else if (strcmp(opt, "--bytes") == 0) {
			o.bytes = parse_size(val, "--bytes");
		} else if (strcmp(opt, "--seed") == 0) {
			o.seed = parse_size(val, "--seed");
		} else if (strcmp(opt, "--expect") == 0) {
			if (strcmp(val, "echo") == 0)
				o.expect_echo = true;
			else if (strcmp(val, "any") != 0)
				die("bad --expect '%s'", val);
		} else {
			die("unknown option '%s'", opt);
		}
	}
	parse_addr(&a, o.addr);
	if (o.report != NULL && (report = fopen(o.report, "a")) == NULL)
		die("cannot open %s: %s", o.report, strerror(errno));

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((iobuf = malloc(BUFSZ)) == NULL)
		die("out of memory");
	deadline = now_ns() + (uint64_t)(o.max_seconds * 1e9);

	if (o.mode == M_CLIENT)
		rc = run_client(&a, deadline);
	else if (a.type == SOCK_DGRAM)
		run_udp(&a, deadline);
	else
		run_server(&a, deadline);

	if (a.ss.ss_family == AF_UNIX && o.mode != M_CLIENT &&
	    o.addr[5] != '@')
		unlink(o.addr + 5);
	if (report != NULL)
		fclose(report);
	free(iobuf);
	for (size_t k = 0; k < nconns; k++)
		free(conns[k]);
	free(conns);
	return rc;
}
