/*
 * it.h: the harness of kcsplice's integration tests.
 *
 * Each test executable holds a few scenarios and runs the one named on its
 * command line:  it-NAME KCSPLICE_PATH SCENARIO.  A scenario starts the real
 * kcsplice binary (posix_spawn, its stderr on a pipe that a thread reads
 * into a log), talks to it over loopback and UNIX sockets through peers that
 * are threads of the test process (peer.h), asks for stats with SIGUSR1 and
 * stops it with SIGTERM, which must give exit status 0.
 *
 * Every check that fails prints what and where, the tail of every running
 * kcsplice's log, kills those processes (SIGKILL), removes the private
 * temporary directory and exits 1.  Every wait is bounded, and a watchdog
 * thread fails the test if the whole scenario overruns.
 *
 * KCIT_SANITIZE (set by CMake in sanitizer builds) scales the loads down.
 */
#ifndef KCIT_H
#define KCIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define IT_NORETURN	__attribute__((noreturn))
#define IT_PRINTF(a, b)	__attribute__((format(printf, a, b)))

IT_NORETURN IT_PRINTF(3, 4)
void	it_fail_at(const char *file, int line, const char *fmt, ...);

#define IT_FAIL(...)	it_fail_at(__FILE__, __LINE__, __VA_ARGS__)

#define IT_CHECK(cond) do {						\
	if (!(cond))							\
		IT_FAIL("check failed: %s", #cond);			\
} while (0)

#define IT_CHECKF(cond, ...) do {					\
	if (!(cond))							\
		IT_FAIL(__VA_ARGS__);					\
} while (0)

#define IT_CMP_(a, op, b) do {						\
	unsigned long long it_a_ = (unsigned long long)(a);		\
	unsigned long long it_b_ = (unsigned long long)(b);		\
	if (!(it_a_ op it_b_))						\
		IT_FAIL("check failed: %s %s %s (%llu vs %llu)", #a, #op, \
		    #b, it_a_, it_b_);					\
} while (0)

#define IT_EQ(a, b)	IT_CMP_(a, ==, b)
#define IT_NE(a, b)	IT_CMP_(a, !=, b)
#define IT_GE(a, b)	IT_CMP_(a, >=, b)
#define IT_LE(a, b)	IT_CMP_(a, <=, b)
#define IT_GT(a, b)	IT_CMP_(a, >, b)
#define IT_LT(a, b)	IT_CMP_(a, <, b)

/* A scenario: its name on the command line and its function. */
struct it_case {
	const char	*name;
	void		(*fn)(void);
};

/* main() of every test executable. */
int	it_main(int argc, char **argv, const struct it_case *cases,
	    size_t ncases);

extern const char *it_kcsplice;	/* the binary under test */
extern bool	it_sanitized;	/* KCIT_SANITIZE was set: scale down */
extern char	it_dir[];	/* private temporary directory */

/* Skip the scenario (ctest sees exit status 77). */
IT_NORETURN void it_skip(const char *why);

/* Pick the normal or the sanitizer-build count. */
#define IT_SCALE(normal, sanitized)	(it_sanitized ? (sanitized) : (normal))
/* A time limit for waits, longer under sanitizers. */
double	it_limit(double normal_s);

uint64_t it_now_ns(void);
void	it_sleep_ms(unsigned ms);
void	it_log(const char *fmt, ...) IT_PRINTF(1, 2);

/* An address as kcsplice and kcpeer write it. */
struct it_addr {
	int			 type;		/* SOCK_STREAM or SOCK_DGRAM */
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 text[160];
};

/* tcp:HOST:PORT, udp:HOST:PORT ([v6]), unix:PATH, unix:@NAME.  0 or -1. */
int	it_addr_parse(struct it_addr *a, const char *text);
/* From a socket address; type gives the tcp:/udp: prefix. */
void	it_addr_from(struct it_addr *a, int type, const struct sockaddr *sa,
	    socklen_t len);
uint16_t it_addr_port(const struct it_addr *a);
/* "unix:" + it_dir + "/" + name. */
void	it_unix_path(char *buf, size_t size, const char *name);
/* Can this machine bind [::1]? */
bool	it_have_ipv6(void);

/* The stats line, every key of the contract. */
struct it_stats {
	uint64_t	conns, active, refused, denied, up_bytes, down_bytes;
	uint64_t	spliced, copied, mirror_bytes, mirror_detached;
	uint64_t	mirror_dropped, errors, udp_sessions, udp_expired;
	uint64_t	pipe_fallbacks, fds, heap_bytes, mirror_skipped;
	uint64_t	mirror_unsampled;
};

/* A running kcsplice. */
struct ks {
	pid_t		 pid;
	int		 errfd;		/* read end of its stderr */
	pthread_t	 reader;
	pthread_mutex_t	 mu;
	pthread_cond_t	 cv;
	char		*log;		/* all of its stderr, NUL-terminated */
	size_t		 loglen, logcap;
	bool		 log_eof;
	struct it_addr	 listen;	/* from its "listening on" line */
	char		 listen_line[512];
	bool		 running;
	bool		 keep_log;	/* ks_stop keeps the log (ks_free_log) */
};

/*
 * Start kcsplice with the options and operands in args (NULL-terminated;
 * "--stats-format json" is put first), and wait for its listening line.
 */
void	ks_start(struct ks *k, const char *const *args);
/* SIGUSR1, then wait for and parse the stats line it prints. */
void	ks_stats(struct ks *k, struct it_stats *st);
/* Ask for stats until active == want (bounded); returns the last stats. */
void	ks_wait_active(struct ks *k, uint64_t want, struct it_stats *st);
/* Lines of its log containing s. */
unsigned ks_count(struct ks *k, const char *s);
/* Wait (bounded) until a line contains s. */
void	ks_wait_line(struct ks *k, const char *s);
/* A line containing every one of up to three strings (NULL ends). */
bool	ks_has_line(struct ks *k, const char *a, const char *b,
	    const char *c);
/*
 * If line starts with a log line's "TIME LEVEL " (an RFC 3339 UTC time
 * with milliseconds and error, warning, notice or info), what follows it;
 * else NULL.
 */
const char *it_log_prefix(const char *line);

/* SIGTERM; it must exit 0 within the time limit (else SIGKILL and fail). */
void	ks_stop(struct ks *k);
/* Send sig (it must be running). */
void	ks_kill(struct ks *k, int sig);
/* Wait (bounded) for it to exit with status want, as ks_stop() does. */
void	ks_wait_exit(struct ks *k, int want);
/* Free the log that keep_log kept past ks_stop. */
void	ks_free_log(struct ks *k);
/* The process is still running (no exit, no crash). */
void	ks_check_alive(struct ks *k);

/*
 * Run kcsplice to completion with these arguments (NULL-terminated, as
 * given), within timeout_s; its exit status (or 128 + signal) and both
 * outputs (caller frees).
 */
int	it_run(const char *const *args, double timeout_s, char **out,
	    char **err);

/* Raise RLIMIT_NOFILE's soft limit to the hard one; returns it. */
unsigned long it_raise_nofile(void);

#endif
