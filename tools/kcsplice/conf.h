/*
 * conf.h: kcsplice's command line and configuration file (kcsplice(1)).
 *
 * Parsing never prints, never exits and keeps no state between calls, so
 * that the fuzz target can call it again and again; the tool prints the
 * message and exits with the status it returns.  The file's text goes
 * through the same option table and the same checks as the command line.
 *
 * Memory: struct ks_conf is the caller's; ks_conf_parse() and
 * ks_conf_file() allocate nothing (every list has a fixed maximum) and keep
 * no pointer into argv or the text.
 */
#ifndef KCSPLICE_CONF_H
#define KCSPLICE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <kcont/socket.h>
#include <kcont/splice.h>

#define KS_MAX_MIRRORS	KC_SPLICE_MIRRORS_MAX	/* the library's limit */
#define KS_MAX_ALLOW	64
#define KS_MAX_THREADS	64
#define KS_FILE_MAX	(1u << 20)	/* a configuration file's bytes */
#define KS_LINE_MAX	8192u		/* a line's, without its newline */

enum ks_kind { KS_TCP = 1, KS_UNIX, KS_UDP };

/* An address as written on the command line. */
struct ks_addr {
	enum ks_kind		kind;
	struct kc_sockaddr	sa;
	char			text[128];	/* as given, NUL-terminated, for logs */
};

/* An --allow range. */
struct ks_cidr {
	int		family;		/* AF_INET or AF_INET6 */
	uint8_t		addr[16];	/* network order; host bits cleared */
	unsigned	prefix;		/* 0..32 or 0..128 */
};

enum ks_action { KS_RUN = 0, KS_HELP, KS_VERSION };

/* What a run does: relay (LISTEN UPSTREAM), --replay or --dump. */
enum ks_mode { KS_MODE_RELAY = 0, KS_MODE_REPLAY, KS_MODE_DUMP };

#define KS_MAX_IGNORE	16		/* --ignore, --ignore-bytes */

/*
 * A mirror's own settings, after its address on --mirror
 * ("tcp:127.0.0.1:6380,sample=10,pace=turns"): as parsed, each one not
 * given taking --mirror-sample's or --mirror-pace's value (the last of
 * the file and the command line, whatever their order).
 */
#define KS_SAMPLE_ALL	10000u		/* sample in hundredths of a percent */
struct ks_mirror_set {
	uint32_t	sample;		/* 0..KS_SAMPLE_ALL */
	bool		pace_turns;	/* pace=turns */
	bool		sample_given;	/* in the mirror's own settings */
	bool		pace_given;
};

struct ks_conf {
	enum ks_action	action;
	enum ks_mode	mode;
	struct ks_addr	listen;
	struct ks_addr	upstream;
	struct ks_addr	mirrors[KS_MAX_MIRRORS];
	unsigned	nmirrors;
	struct ks_mirror_set mirror_set[KS_MAX_MIRRORS];
	uint32_t	mirror_sample;		/* --mirror-sample: the default;
						   KS_SAMPLE_ALL */
	bool		mirror_pace;		/* --mirror-pace turns */
	bool		sample_by_client;	/* --sample-by client (random) */
	uint64_t	mirror_budget;		/* bytes; default 1 GiB */
	uint64_t	mirror_cap;		/* bytes, all mirrors; 0: the
						   library's default */
	bool		mirror_drop;		/* --mirror-policy drop */
	uint64_t	mirror_retry_min_ns;	/* --mirror-retry: default 1 s */
	uint64_t	mirror_retry_max_ns;	/* default 60 s (or MIN) */
	unsigned	threads;		/* default: online CPUs (1..64) */
	unsigned	max_conns;		/* 0: no cap; default 10000; <= 1e9 */
	struct ks_cidr	allow[KS_MAX_ALLOW];
	unsigned	nallow;
	uint64_t	idle_ns;		/* 0: never; default 300 s */
	uint64_t	half_close_ns;		/* 0: forever; default 60 s */
	uint64_t	udp_session_ns;		/* default 60 s; never 0 */
	unsigned	udp_max_sessions;	/* default 4096; 1..1e9 */
	uint64_t	connect_ns;		/* default 10 s; never 0 */
	uint64_t	stats_ns;		/* 0: off (default) */
	bool		stats_json;
	bool		log_json;		/* --log-format json */
	char		access_log[4096];	/* --access-log; "": off, "-":
						   stdout */
	uint64_t	shutdown_ns;		/* default 10 s */
	size_t		pipe_size;		/* 0: the largest allowed; <= 1 GiB */
	bool		no_splice;
	char		trace_path[4096];	/* --trace; "": off */
	char		record_dir[4096];	/* --record; "": off */
	uint64_t	record_size;		/* --record-size: 256 MiB */
	unsigned	record_count;		/* --record-count: 16 */
	uint64_t	record_budget;		/* --record-budget: 64 MiB */
	bool		compare;		/* --compare */
	uint64_t	compare_window;		/* --compare-window: 1 MiB */
	struct ks_addr	metrics;		/* --metrics: tcp or unix; kind 0:
						   off */
	bool		metrics_public;		/* --metrics-public: not only
						   loopback */
	int		verbosity;		/* -1 quiet, 0, 1 verbose */
	char		config_path[4096];	/* -f, --config; "": none */
	bool		check;			/* --check */
	/* --replay PATH --to ADDR ... and --dump PATH (in these modes,
	 * idle_ns is the replay's per-connection idle limit, default 10 s,
	 * and max_conns its connections at once, default 256, 0: all). */
	char		replay_path[4096];	/* a file or a directory */
	struct ks_addr	replay_to;		/* tcp or unix, port not 0 */
	bool		timing_recorded;	/* --timing recorded (turns) */
	double		speed;			/* 0.001..1000; default 1 */
	char		ignore[KS_MAX_IGNORE][1024];	/* POSIX EREs */
	unsigned	nignore;
	struct {
		uint64_t	from, to;	/* [from, to) */
	}		ignore_bytes[KS_MAX_IGNORE];
	unsigned	nignore_bytes;
	char		report_path[4096];	/* --report; "": none */
	char		dump_path[4096];	/* a file or a directory */
};

/*
 * Parse argv (argv[0] is the program name and is skipped) into c, after
 * setting every default.  Returns 0, or 64 (EX_USAGE) with a one-line
 * message in err (no "kcsplice: " prefix, no newline) naming what is wrong.
 * --help or --version anywhere among the options gives 0 with c->action set
 * (and nothing else checked).  On 64, c holds defaults and part of argv.
 */
int	ks_conf_parse(struct ks_conf *c, int argc, char *const argv[],
	    char *err, size_t errlen);

/*
 * With -f FILE (--config) on the command line, ks_conf_parse() checks the
 * command line alone and lets the operands be missing (c->listen.kind is
 * then 0; one operand alone is an error): the caller reads the file and
 * calls ks_conf_file() with its text, which parses the text first and the
 * command line again on top of it, and checks the whole as ks_conf_parse()
 * does.
 *
 * The text: one option a line, by its long name without the dashes, as
 * "NAME", "NAME VALUE" or "NAME=VALUE" (blanks around '=' allowed; the
 * value is the rest of the line less the blanks at its ends); "listen ADDR"
 * and "upstream ADDR" give the operands; '#' at the start of a line or
 * after a blank starts a comment; blank lines are skipped; CR before a
 * newline is a blank.  help, version, check and config are refused; listen
 * or upstream twice is an error, other options repeat as on the command
 * line (the last wins, mirror and allow accumulate).
 *
 * The command line wins: an option it gives replaces the file's; its first
 * --mirror drops the file's mirrors and its first --allow the file's
 * ranges; LISTEN and UPSTREAM replace the file's listen and upstream.
 *
 * Errors in the text read "FILE:LINE: message" (FILE as given, quoted as
 * other arguments are); the text is at most KS_FILE_MAX bytes, each line at
 * most KS_LINE_MAX, and a NUL byte anywhere is an error at its line.
 * Returns 0 or 64 as ks_conf_parse() does.  file NULL: "(config)".
 */
int	ks_conf_file(struct ks_conf *c, int argc, char *const argv[],
	    const char *file, const char *text, size_t len, char *err,
	    size_t errlen);

/*
 * tcp:HOST:PORT, unix:PATH, unix:@NAME, udp:HOST:PORT.  0 or -EINVAL (and
 * *a zeroed).  HOST is numeric (IPv4, or IPv6 in brackets) or "localhost"
 * (127.0.0.1); port 0 parses here, ks_conf_parse() allows it only for
 * LISTEN.  Control characters are refused, so that text is one log line.
 */
int	ks_addr_parse(struct ks_addr *a, const char *s);

/*
 * Format an address in the same syntax ("tcp:127.0.0.1:40001", "udp:[::1]:53",
 * "unix:/run/x", "unix:@name"), e.g. the bound address of LISTEN for the
 * listening line.  Returns the length, or -ENOSPC, -EINVAL (kind and family
 * disagree).  What it writes, ks_addr_parse() reads back to the same sa.
 */
int	ks_addr_format(enum ks_kind kind, const struct kc_sockaddr *sa,
	    char *buf, size_t size);

/*
 * A UNIX address, or 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104: only this
 * machine can reach it.  --metrics takes no other without --metrics-public.
 */
bool	ks_addr_loopback(const struct kc_sockaddr *sa);

/*
 * 10.0.0.0/8, 10.1.2.3, ::1/128, [::1]/128.  0 or -EINVAL (and *c zeroed).
 * An IPv4 range keeps its address in addr[0..3].
 */
int	ks_cidr_parse(struct ks_cidr *c, const char *s);

/*
 * Does the address (AF_INET, AF_INET6, v4-mapped v6) fall in the range?
 * Both are compared as IPv6, a.b.c.d as ::ffff:a.b.c.d and an IPv4 range /p
 * as ::ffff:a.b.c.d/(96 + p): a v4-mapped client matches IPv4 ranges, an
 * IPv4 client matches ::ffff:0:0/96 and ::/0.  Other families: false.
 */
bool	ks_cidr_match(const struct ks_cidr *c, const struct kc_sockaddr *sa);

/*
 * "4M" and the like into bytes (k, m, g in either case: powers of 1024; no
 * overflow); "0.5" seconds into ns (0 to 1e6 s; digits and one '.'; a
 * fraction of a nanosecond rounds up).  0, or -EINVAL with *out untouched.
 */
int	ks_size_parse(uint64_t *out, const char *s);
/*
 * A percentage from 0 to 100 with at most two decimals and an optional
 * '%' ("50", "12.5", "0.01%") into hundredths of a percent (0 to
 * KS_SAMPLE_ALL).  0, or -EINVAL with *out untouched.
 */
int	ks_percent_parse(uint32_t *out, const char *s);
int	ks_sec_parse(uint64_t *ns, const char *s);

/* The --help text. */
void	ks_usage(FILE *f);

#endif
