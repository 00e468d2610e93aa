/*
 * replay.h: kcsplice --replay: play recorded client streams (recfmt.h)
 * against a server and say, per connection and in total, whether its
 * replies match the recorded ones.
 *
 * Each recorded stream connection is replayed on a connection of its own
 * to the target, on one soft executor, in the order the connections were
 * recorded as opened and overlapping as they did: by turns, a connection
 * starts once every one recorded as ended before it opened has finished
 * (what one did to the server is there for the next, as it was); with
 * recorded timing, at its recorded time after the first one's, divided by
 * the speed; at most concurrency at once.
 *
 * By turns (the default): a turn is the client's bytes recorded before
 * the upstream's next reply, and the server's reply to it is the bytes
 * recorded after them; a turn is sent once the server has sent back as
 * many bytes as were recorded for the turns before it (or has ended).
 * With recorded timing, each client write is sent at its recorded time
 * after the connection's opening, divided by the speed, whatever the
 * server does.  After the last write the connection is shut for sending,
 * and the server's replies are read to its end of file.

 * The comparison: the replies read against the recorded ones, after the
 * ignored parts are taken out of both (each match of an --ignore regular
 * expression, and each --ignore-bytes range of a connection's reply
 * stream).  A connection matched, diverged (the first differing offset in
 * the replies read, with a short hex and text excerpt of each side),
 * timed out (no byte either way for the time-out), or failed (connect
 * or reset).  A recording that lost bytes (KSR_LOST, or an END without
 * KSR_F_COMPLETE) is replayed anyway and says so.  A datagram session
 * (KSR_F_DGRAM) is replayed on a datagram socket connected to the
 * target, a datagram for each recorded one; it ends once every one is
 * sent and as many reply bytes as were recorded have come; its replies
 * match when their bytes and their datagrams' lengths do.  A connection recorded as ended by
 * anything but a clean close (its END's reason neither client_fin nor
 * upstream_fin: a reset, a time-out) is compared up to the end of its
 * recorded replies, the bytes read past it counted as not compared.
 *
 * Memory: the recordings are read whole into memory, up to max_bytes.
 */
#ifndef KCSPLICE_REPLAY_H
#define KCSPLICE_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include <kcont.h>

#define KS_REPLAY_IGNORE_MAX	16

enum ks_timing { KS_TIMING_TURNS = 0, KS_TIMING_RECORDED };

struct ks_replay_opts {
	char * const	*inputs;	/* files or directories of *.kcrec */
	int		 ninputs;
	struct kc_sockaddr to;
	enum ks_timing	 timing;
	double		 speed;		/* > 0; recorded timing only */
	uint64_t	 timeout_ns;	/* idle limit per connection */
	unsigned	 concurrency;	/* connections at once (0: 256) */
	uint64_t	 max_bytes;	/* recordings read (0: 1 GiB) */
	const char	*ignore[KS_REPLAY_IGNORE_MAX];	/* POSIX EREs */
	unsigned	 nignore;
	struct {
		uint64_t	from, to;	/* [from, to) of each reply stream */
	}		 ignore_bytes[KS_REPLAY_IGNORE_MAX];
	unsigned	 nignore_bytes;
	const char	*report;	/* JSON report path, or NULL */
};

/*
 * Run the replay; per-connection lines and the total to out, problems to
 * err.  Returns 0 when every connection matched, 1 when one did not, or
 * an exit status of sysexits(3): 64 (a bad regular expression), 66 (no
 * recording could be read), 69 (the target refused every connection),
 * 71 (no executor), 73 (the report could not be written).
 */
int	ks_replay_run(const struct ks_replay_opts *o, FILE *out, FILE *err);

#endif
