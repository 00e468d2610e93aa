/*
 * errors.c: an upstream's failures reach the client as they should.
 *
 *   upstream-reset     the upstream sends 4 KiB and resets: each client gets
 *                      those 4 KiB, then ECONNRESET; errors counted
 *   upstream-refused   nothing listens upstream: each client gets no data
 *                      and is closed (EOF or reset); a log line, errors
 *                      counted; kcsplice goes on
 */
#include "it.h"
#include "peer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void
upstream_reset(void)
{
	unsigned nconn = 3, i;
	struct pbehav ub, cb;
	struct peer *up, *cl;
	struct it_stats st;
	struct ks k;
	const char *args[4];

	memset(&ub, 0, sizeof(ub));
	ub.read = true;
	ub.send = 4096;
	ub.reset = true;	/* once a byte came and the 4 KiB went */
	ub.reset_after = 1;
	up = peer_listen("upstream", "tcp:127.0.0.1:0", &ub);
	args[0] = "tcp:127.0.0.1:0";
	args[1] = up->addr.text;
	args[2] = NULL;
	ks_start(&k, args);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = 1000;
	for (i = 0; i < nconn; i++)
		peer_connect(cl, &k.listen, &cb);
	PEER_WAIT(cl, cl->ndone == nconn, 30);
	PEER_WAIT(up, up->ndone == nconn, 30);
	peer_check_same(up, true, cl, nconn, "upstream -> client");
	peer_lock(cl);
	for (i = 0; i < nconn; i++) {
		struct pconn *c = cl->conns[i];

		IT_CHECKF(c->err == ECONNRESET, "client %u ended with %s, not "
		    "ECONNRESET (eof %d, %" PRIu64 " bytes)", i,
		    c->err ? strerror(c->err) : "no error", c->eof, c->rx);
		IT_EQ(c->rx, 4096);
	}
	peer_unlock(cl);
	peer_lock(up);
	for (i = 0; i < nconn; i++)
		IT_CHECK(up->conns[i]->reset_sent);
	peer_unlock(up);
	it_log("%u clients got the 4 KiB, then ECONNRESET", nconn);

	ks_wait_active(&k, 0, &st);
	IT_EQ(st.errors, nconn);
	IT_EQ(st.down_bytes, nconn * 4096u);
	ks_stop(&k);
	peer_free(cl);
	peer_free(up);
}

static void
upstream_refused(void)
{
	struct sockaddr_in in;
	socklen_t len = sizeof(in);
	unsigned nconn = 3, i;
	char upaddr[64], want[96];
	struct peer *cl;
	struct pbehav cb;
	struct it_stats st;
	struct ks k;
	const char *args[4];
	int fd;

	/* A port that is ours but not listening: connecting is refused. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	IT_CHECK(fd >= 0);
	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	IT_CHECK(bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0);
	IT_CHECK(getsockname(fd, (struct sockaddr *)&in, &len) == 0);
	snprintf(upaddr, sizeof(upaddr), "tcp:127.0.0.1:%u",
	    ntohs(in.sin_port));
	args[0] = "tcp:127.0.0.1:0";
	args[1] = upaddr;
	args[2] = NULL;
	ks_start(&k, args);

	cl = peer_client("client");
	memset(&cb, 0, sizeof(cb));
	cb.read = true;
	cb.send = 100;
	for (i = 0; i < nconn; i++)
		peer_connect(cl, &k.listen, &cb);
	PEER_WAIT(cl, cl->ndone == nconn, 30);
	peer_lock(cl);
	for (i = 0; i < nconn; i++) {
		struct pconn *c = cl->conns[i];

		IT_CHECKF(c->eof || c->err == ECONNRESET || c->err == EPIPE,
		    "client %u: ended with %s", i, c->err ? strerror(c->err) :
		    "no EOF");
		IT_EQ(c->rx, 0);
	}
	peer_unlock(cl);
	it_log("%u clients were closed without data", nconn);

	snprintf(want, sizeof(want), "kcsplice: upstream %s: ", upaddr);
	ks_wait_line(&k, "Connection refused");
	IT_CHECKF(ks_has_line(&k, want, "Connection refused", NULL),
	    "no \"%sConnection refused\" line", want);
	ks_wait_active(&k, 0, &st);
	IT_EQ(st.errors, nconn);
	IT_EQ(st.up_bytes, 0);
	IT_EQ(st.down_bytes, 0);
	ks_stop(&k);
	peer_free(cl);
	close(fd);
}

static const struct it_case cases[] = {
	{ "upstream-reset", upstream_reset },
	{ "upstream-refused", upstream_refused },
};

int
main(int argc, char **argv)
{
	return it_main(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
}
