/*
 * opts.h: kcnbd's command line (kcnbd(1)).
 *
 * Addresses, --allow ranges, sizes and seconds are read by kcsplice's own
 * parsers (tools/kcsplice/conf.h), so that both tools take the same
 * syntax.  Parsing never prints, never exits and keeps no state between
 * calls (the fuzz target calls it again and again); the tool prints the
 * message and exits with the status returned.
 *
 * Memory: struct kn_opts is the caller's; kn_opts_parse() allocates
 * nothing and keeps no pointer into argv.
 */
#ifndef KCNBD_OPTS_H
#define KCNBD_OPTS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"		/* kcsplice's: ks_addr, ks_cidr */

#define KN_MAX_LISTEN	16
#define KN_MAX_EXPORTS	64
#define KN_MAX_ALLOW	64
#define KN_MAX_THREADS	64
#define KN_NAME_MAX	256	/* an export name's bytes */
#define KN_PAYLOAD_MIN	(64u << 10)
#define KN_PAYLOAD_MAX	(256u << 20)
#define KN_PAYLOAD_DEF	(32u << 20)

enum kn_action { KN_RUN = 0, KN_HELP, KN_VERSION };

struct kn_export_opt {
	char	name[KN_NAME_MAX + 1];
	char	path[PATH_MAX];
	bool	ro;
};

struct kn_opts {
	enum kn_action	action;
	struct ks_addr	listen[KN_MAX_LISTEN];
	unsigned	nlisten;	/* 0 in argv: tcp:127.0.0.1:10809 */
	struct kn_export_opt exports[KN_MAX_EXPORTS];
	unsigned	nexports;
	struct ks_cidr	allow[KN_MAX_ALLOW];
	unsigned	nallow;
	unsigned	threads;	/* -j; default: online CPUs, at most 8 */
	unsigned	max_conns;	/* default 1000; 0: no cap */
	uint32_t	max_payload;	/* --max-payload; default 32 MiB */
	bool		read_only;	/* -r: every export */
	uint64_t	stats_ns;	/* --stats; 0: off */
	uint64_t	shutdown_ns;	/* --shutdown-timeout; default 10 s */
	uint64_t	handshake_ns;	/* --handshake-timeout; default 10 s;
					   0: none */
	int		verbosity;	/* -q -1, -v 1 */
};

/*
 * Parse argv (argv[0] skipped) into o after setting the defaults.
 * Returns 0, or 64 (EX_USAGE) with a one-line message in err (no
 * "kcnbd: " prefix, no newline).
 */
int	kn_opts_parse(struct kn_opts *o, int argc, char *const argv[],
	    char *err, size_t errlen);

/* The --help text. */
void	kn_usage(FILE *f);

#endif
