/*
 * ends.h: how a kcsplice connection ended, as the logs, the access log,
 * the statistics and the metrics name it (kcsplice(1), "END REASONS").
 *
 * One connection has exactly one end reason: the first thing that ended
 * it.  A connection that both sides closed in turn ended by whoever sent
 * the first FIN.
 */
#ifndef KCSPLICE_ENDS_H
#define KCSPLICE_ENDS_H

enum ks_end {
	KS_END_CLIENT_FIN = 0,	/* the client closed first (FIN) */
	KS_END_CLIENT_RST,	/* the client reset */
	KS_END_UPSTREAM_FIN,	/* the upstream closed first (FIN) */
	KS_END_UPSTREAM_RST,	/* the upstream reset */
	KS_END_CONNECT_REFUSED,	/* the upstream refused (or was unreachable) */
	KS_END_CONNECT_TIMEOUT,	/* the upstream did not answer in time */
	KS_END_IDLE_TIMEOUT,	/* no byte either way for --idle-timeout */
	KS_END_HALF_CLOSE_TIMEOUT, /* one way closed, the other ran out
				   --half-close-timeout */
	KS_END_DRAIN_CUT,	/* cut at shutdown when the drain timed out */
	KS_END_LIMIT,		/* refused by --max-conns or --allow */
	KS_END_ERROR,		/* any other error (its errno is logged) */
	KS_END_N
};

/* The names used in every output: "client_fin", "upstream_rst", ... */
static inline const char *
ks_end_name(enum ks_end e)
{
	static const char *const names[KS_END_N] = {
		[KS_END_CLIENT_FIN] = "client_fin",
		[KS_END_CLIENT_RST] = "client_rst",
		[KS_END_UPSTREAM_FIN] = "upstream_fin",
		[KS_END_UPSTREAM_RST] = "upstream_rst",
		[KS_END_CONNECT_REFUSED] = "connect_refused",
		[KS_END_CONNECT_TIMEOUT] = "connect_timeout",
		[KS_END_IDLE_TIMEOUT] = "idle_timeout",
		[KS_END_HALF_CLOSE_TIMEOUT] = "half_close_timeout",
		[KS_END_DRAIN_CUT] = "drain_cut",
		[KS_END_LIMIT] = "limit",
		[KS_END_ERROR] = "error",
	};

	return (unsigned)e < KS_END_N ? names[e] : "unknown";
}

#endif
