/*
 * net-orphan: sockets whose owner executor was shut down before they were
 * closed.  Nothing of the owner will ever run again, so kc_socket_close()
 * from another thread cannot hand the close to it; it must still close the
 * descriptor (the peer sees end of file), free the socket, fail what was
 * parked on it, and never take the process down (it panicked: the close
 * request's post was asserted to succeed).
 *
 *   a connected UNIX stream socket, its owner shut down (drained), then
 *   kc_socket_close() from the main thread: 0, the peer reads end of file,
 *   kc_socket_count() is back to where it was, the owner is destroyed;
 *   the same while a plain thread is blocked in kc_socket_recv_wait() on it
 *   with a timeout: the read ends (-ECANCELED or -ESHUTDOWN), never hangs;
 *   a send after the owner is gone fails with an error and changes nothing;
 *   a datagram relay with a session open, destroyed after its owner was
 *   shut down (its pending continuations handed back): every socket goes (its sessions' sockets are closed by the
 *   destroying thread), nothing crashes.
 */
#include "nettest.h"

#include <kcont/dgramrelay.h>
#include <netinet/in.h>

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEC	1000000000ull

static struct kc_executor *
soft(void)
{
	struct kc_executor *ex;

	KC_CHECK_OK(kc_executor_create(&ex, &(struct kc_executor_attr){
	    .kind = KC_EXEC_SOFT, .name = "orphan-owner" }));
	return ex;
}

/* The peer sees end of file within 5 s. */
static void
expect_eof(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	KC_CHECK_EQ(poll(&p, 1, 5000), 1);
	KC_CHECK_EQ(read(fd, &c, 1), 0);
}

static void
plain(void)
{
	struct kc_executor *ex = soft();
	struct kc_socket *s;
	long base = kc_socket_count();
	int sv[2];

	printf("  close after the owner was shut down\n");
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	KC_CHECK_OK(kc_socket_adopt(&s, ex, sv[0], NULL));
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	KC_CHECK_EQ(kc_socket_close(s, NULL), 0);
	expect_eof(sv[1]);
	KC_CHECK_EQ(kc_socket_count(), base);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
	KC_CHECK_OK(close(sv[1]));
}

static void
parked(void)
{
	struct kc_executor *ex = soft();
	struct kc_chain ch = KC_CHAIN_INITIALIZER;
	struct nt_blocked rd;
	struct kc_socket *s;
	long base = kc_socket_count();
	int sv[2];

	printf("  a blocked read, then the owner shut down and the close\n");
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	KC_CHECK_OK(kc_socket_adopt(&s, ex, sv[0], NULL));
	nt_blocked_start(&rd, s, 10 * SEC);
	usleep(50000);		/* parked on the owner by now */
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL));
	/* Nothing of the owner runs: these fail, and change nothing. */
	KC_CHECK_OK(kc_chain_append(&ch, "x", 1));
	KC_CHECK(kc_socket_send(s, &ch, NULL, NULL) < 0);
	KC_CHECK_EQ(kc_socket_close(s, NULL), 0);
	nt_blocked_join(&rd);
	KC_CHECK(rd.ret == -ECANCELED || rd.ret == -ESHUTDOWN);
	expect_eof(sv[1]);
	KC_CHECK_EQ(kc_socket_count(), base);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
	kc_chain_free(&ch);
	KC_CHECK_OK(close(sv[1]));
}

/* Descriptors this process has open. */
static int
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	KC_CHECK(d != NULL);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	KC_CHECK_OK(closedir(d));
	return n - 1;	/* the directory's own */
}

static void
relay(void)
{
	struct kc_executor *ex = soft();
	struct kc_dgram_relay *r;
	struct kc_socket *lsn;
	struct kc *back = NULL;
	struct kct_done d;
	struct kc_sockaddr la, ua;
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sin);
	struct pollfd p;
	long base = kc_socket_count();
	struct kc_dgram_relay_stats rs;
	int up, cl, fds;
	char buf[8];

	printf("  a datagram relay with a session, its owner shut down, then "
	    "closed\n");
	up = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	KC_CHECK_GE(up, 0);
	KC_CHECK_GE(cl, 0);
	KC_CHECK_OK(bind(up, (struct sockaddr *)&sin, sizeof(sin)));
	KC_CHECK_OK(getsockname(up, (struct sockaddr *)&sin, &sl));
	KC_CHECK_OK(kc_sockaddr_parse(&ua, "127.0.0.1:0"));
	memcpy(&ua.a, &sin, sizeof(sin));
	ua.len = sizeof(sin);
	fds = open_fds();
	KC_CHECK_OK(kc_socket_create(&lsn, ex, AF_INET, SOCK_DGRAM, NULL));
	KC_CHECK_OK(kc_sockaddr_parse(&la, "127.0.0.1:0"));
	KC_CHECK_OK(kc_socket_bind(lsn, &la));
	KC_CHECK_OK(kc_socket_name(lsn, &la, 0));
	KC_CHECK_OK(kc_dgram_relay_create(&r, lsn, &ua,
	    &(struct kc_dgram_relay_attr){ 0 }));
	KC_CHECK_EQ(sendto(cl, "hello", 5, 0, (struct sockaddr *)&la.a,
	    la.len), 5);
	p = (struct pollfd){ .fd = up, .events = POLLIN };
	KC_CHECK_EQ(poll(&p, 1, 5000), 1);
	KC_CHECK_EQ(recv(up, buf, sizeof(buf), 0), 5);
	KC_CHECK_EQ(kc_socket_count(), base + 1);	/* the listener */
	KC_CHECK_OK(kc_dgram_relay_stats(r, &rs));
	KC_CHECK_EQ(rs.sessions, 1);
	KC_CHECK_EQ(open_fds(), fds + 2);	/* and the session's */
	/*
	 * Handed back, not drained: a drain would wait for the session sweep
	 * (a minute away).  What comes back is the relay's own (its timers),
	 * which the destroy takes back.
	 */
	KC_CHECK_OK(kc_executor_shutdown(ex, KC_SHUTDOWN_HANDBACK, &back));
	/* Nothing of the owner runs: the close is done in the call. */
	kct_done_init(&d, NULL);
	KC_CHECK_OK(kc_dgram_relay_close(r, &d.d_kc));
	KC_CHECK_EQ(atomic_load(&d.d_runs), 1);
	kct_done_wait(&d, r);
	KC_CHECK_EQ(kc_socket_count(), base);
	KC_CHECK_EQ(open_fds(), fds);
	KC_CHECK_OK(kc_executor_close(ex, NULL));
	KC_CHECK_OK(close(up));
	KC_CHECK_OK(close(cl));
}

int
main(void)
{
	kct_begin("net-orphan", 60);
	plain();
	parked();
	relay();
	return kct_done();
}
