/*
 * net-senders: four plain threads send to one socket at once.
 *
 * Each kc_socket_send() carries one record: a header [thread id, sequence
 * number, length] and a pattern named by (thread, sequence), 12 bytes to
 * 256 KiB.  The threads keep up to four sends each in flight (their done
 * continuations, immediate ones, run on the owner and must report 0 with
 * obj = the socket).  A raw peer reads the stream and parses it: every
 * record must arrive whole and in one piece (a record interleaved with
 * another breaks the header or the pattern), each thread's records in the
 * order it sent them, and all of them.  At the end the socket is closed with
 * the last records perhaps still buffered: the peer still gets everything,
 * then end of file.
 *
 * Over TCP (the socket connected with kc_socket_connect_wait) and a UNIX
 * stream socketpair (the socket adopted).
 */
#include "nettest.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define NSENDERS	4
#define RING		4
#define HDR		12
#define MAXREC		(256 * 1024)

struct slot {
	struct kc	 kc;
	struct sender	*snd;
	atomic_int	 free;
};

struct sender {
	unsigned		 id;
	struct kc_socket	*s;
	unsigned		 n;
	uint64_t		 seed;
	struct slot		 ring[RING];
	atomic_int		 fired;
	atomic_int		 bad;		/* done with a wrong obj/status */
	unsigned long long	 bytes;
};

static void
sent_fn(void *obj, void *env, int status)
{
	struct slot *sl = env;
	struct sender *snd = sl->snd;

	if (obj != snd->s || status != 0) {
		fprintf(stderr, "sender %u: done with obj %p (socket %p), "
		    "status %d\n", snd->id, obj, (void *)snd->s, status);
		atomic_fetch_add(&snd->bad, 1);
	}
	atomic_fetch_add(&snd->fired, 1);
	atomic_store(&sl->free, 1);	/* last: the slot may be reused */
}

static uint64_t
rec_seed(uint64_t seed, unsigned id, unsigned seq)
{
	return seed ^ ((uint64_t)id << 40) ^ ((uint64_t)seq * 0x100000001b3ull);
}

static size_t
rec_len(void)
{
	uint64_t r = kct_rand_below(10);

	if (r < 4)
		return HDR + kct_rand_below(1024);
	if (r < 7)
		return HDR + kct_rand_below(16384);
	if (r < 9)
		return HDR + kct_rand_below(MAXREC - HDR + 1);
	return MAXREC;
}

static void *
sender_main(void *arg)
{
	struct sender *snd = arg;
	struct kc_chain ch;
	struct slot *sl;
	uint32_t hdr[3];
	unsigned seq;
	size_t len;

	for (seq = 0; seq < snd->n; seq++) {
		sl = &snd->ring[seq % RING];
		KCT_WAIT(atomic_load(&sl->free), NT_WAIT_S);
		atomic_store(&sl->free, 0);
		len = rec_len();
		hdr[0] = snd->id;
		hdr[1] = seq;
		hdr[2] = (uint32_t)len;
		kc_chain_init(&ch);
		KC_CHECK_OK(kc_chain_append(&ch, hdr, sizeof(hdr)));
		nt_chain_pat(&ch, rec_seed(snd->seed, snd->id, seq), 0,
		    len - HDR);
		KC_CHECK_EQ(kc_chain_len(&ch), len);
		KC_CHECK_OK(kc_socket_send(snd->s, &ch, NULL, &sl->kc));
		KC_CHECK_EQ(kc_chain_len(&ch), 0);	/* taken */
		kc_chain_free(&ch);
		snd->bytes += len;
	}
	return NULL;
}

/* The peer: parses the stream until end of file. */
struct reader {
	int			 fd;
	uint64_t		 seed;
	unsigned		 next[NSENDERS];
	unsigned long long	 bytes;
};

static void *
reader_main(void *arg)
{
	struct reader *rd = arg;
	uint8_t *buf = malloc(MAXREC + 65536);
	size_t have = 0, need;
	uint32_t hdr[3];
	ssize_t n;

	KC_CHECK(buf != NULL);
	for (;;) {
		n = nt_raw_read(rd->fd, buf + have, MAXREC + 65536 - have);
		if (n < 0)
			kct_fail(__FILE__, __LINE__, "peer recv: %s",
			    strerror((int)-n));
		if (n == 0)
			break;
		have += (size_t)n;
		rd->bytes += (unsigned long long)n;
		/* Consume every whole record buffered. */
		while (have >= HDR) {
			memcpy(hdr, buf, HDR);
			if (hdr[0] >= NSENDERS || hdr[2] < HDR ||
			    hdr[2] > MAXREC)
				kct_fail(__FILE__, __LINE__, "garbled header "
				    "[%u, %u, %u] at stream byte %llu: a send "
				    "was split or interleaved", hdr[0], hdr[1],
				    hdr[2], rd->bytes - have);
			if (hdr[1] != rd->next[hdr[0]])
				kct_fail(__FILE__, __LINE__, "thread %u: record "
				    "%u arrived, expected %u", hdr[0], hdr[1],
				    rd->next[hdr[0]]);
			need = hdr[2];
			if (have < need)
				break;
			nt_check_buf(buf + HDR, need - HDR,
			    rec_seed(rd->seed, hdr[0], hdr[1]), 0,
			    "record body (interleaved?)");
			rd->next[hdr[0]]++;
			memmove(buf, buf + need, have - need);
			have -= need;
		}
	}
	if (have != 0)
		kct_fail(__FILE__, __LINE__, "end of file inside a record "
		    "(%zu bytes left over)", have);
	free(buf);
	return NULL;
}

static void
run(struct kc_executor *ex, enum nt_kind k, bool adopt, unsigned n)
{
	struct sender snd[NSENDERS];
	struct reader rd;
	pthread_t st[NSENDERS], rt;
	struct kc_socket *s;
	long base = kc_socket_count();
	unsigned long long total = 0;
	uint64_t seed = kct_rand();
	int peer, sv[2];
	unsigned i, j;

	printf("  %s (%s): %u threads x %u sends\n", nt_kind_name[k],
	    adopt ? "socketpair, adopted" : "connected", NSENDERS, n);
	if (k == NT_UNIX && adopt) {
		KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
		    sv));
		s = NULL;
		KC_CHECK_OK(kc_socket_adopt(&s, ex, sv[0], NULL));
		KC_CHECK(s != NULL);
		KC_CHECK(kc_socket_state(s) & KC_SS_CONNECTED);
		peer = sv[1];
	} else {
		s = nt_pair(ex, k, NULL, adopt, &peer);
	}

	memset(&rd, 0, sizeof(rd));
	rd.fd = peer;
	rd.seed = seed;
	rt = kct_thread_start(reader_main, &rd);
	for (i = 0; i < NSENDERS; i++) {
		memset(&snd[i], 0, sizeof(snd[i]));
		snd[i].id = i;
		snd[i].s = s;
		snd[i].n = n;
		snd[i].seed = seed;
		for (j = 0; j < RING; j++) {
			snd[i].ring[j].snd = &snd[i];
			atomic_store(&snd[i].ring[j].free, 1);
			/* Immediate: runs on the owner, where the send is taken. */
			KC_CHECK_OK(kc_init(&snd[i].ring[j].kc, sent_fn,
			    &snd[i].ring[j], NULL, 0));
		}
	}
	for (i = 0; i < NSENDERS; i++)
		st[i] = kct_thread_start(sender_main, &snd[i]);
	for (i = 0; i < NSENDERS; i++) {
		kct_thread_join(st[i]);
		KCT_WAIT(atomic_load(&snd[i].fired) == (int)n, 120);
		KC_CHECK_EQ(atomic_load(&snd[i].bad), 0);
		total += snd[i].bytes;
	}
	/* Closing writes what the send buffer still holds, then EOF. */
	nt_close(s);
	kct_thread_join(rt);
	for (i = 0; i < NSENDERS; i++)
		KC_CHECK_EQ(rd.next[i], n);
	KC_CHECK_EQ(rd.bytes, total);
	nt_raw_close(peer);
	nt_wait_count(base);
	printf("    %llu bytes in %u records, all whole and in order\n", total,
	    NSENDERS * n);
}

int
main(void)
{
	struct kc_executor *ex;
	long base;
	unsigned n;

	kct_begin("net-senders", 600);
	base = kc_socket_count();
	ex = kct_exec_soft("senders");
	n = kct_sanitized() ? 100 : 400;
	run(ex, NT_TCP4, false, n);
	run(ex, NT_UNIX, true, n);
	run(ex, NT_TCP6, true, n / 2);
	nt_wait_count(base);
	kct_exec_finish(ex);
	return kct_done();
}
