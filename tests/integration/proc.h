/*
 * proc.h: real servers and tools as the integration tests' own processes
 * (redis, PostgreSQL and their clients): found in the usual places, started
 * with their output in a file (killed if the test dies), reaped within a
 * bound, and run to completion with their output captured.  Every wait is
 * bounded; a failure fails the scenario (it.h).
 */
#ifndef KCIT_PROC_H
#define KCIT_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* An executable named name in the usual places, or NULL. */
const char *proc_find(const char *name, char *buf, size_t size);
/*
 * The tool, or: fail when CI=true (CI installs scripts/deps.sh it), else
 * skip the scenario, saying which package has it.
 */
const char *proc_need(const char *name, const char *package, char *buf,
	    size_t size);
/* A free TCP port on 127.0.0.1 (the kernel's pick, let go again). */
unsigned proc_free_port(void);
/* Can we connect to 127.0.0.1:port? */
bool	proc_listening(unsigned port);
/*
 * Start argv (argv[0] a path) with stdout and stderr to out; as user
 * (uid, gid) when uid is not (uid_t)-1.  Killed when this process dies.
 */
pid_t	proc_spawn(const char *const *argv, const char *out, uid_t uid,
	    gid_t gid);
/* Wait (bounded) for pid; its exit status, 128 + signal, or -1: time. */
int	proc_reap(pid_t pid, double limit_s);
/* SIGTERM, then SIGKILL if it does not exit in time. */
void	proc_stop(pid_t pid);
/*
 * Run argv to completion within limit_s (killed and failed past it), with
 * env (NULL-terminated "NAME=VALUE" entries, or NULL) added to ours; its
 * status, and stdout and stderr together in *out (caller frees) if out
 * is not NULL.
 */
int	proc_run(const char *const *argv, const char *const *env,
	    double limit_s, char **out);
/* A file's text (caller frees); "" if it cannot be read. */
char	*proc_slurp(const char *path);
/* Remove a directory tree (no symbolic link followed). */
void	proc_rmtree(const char *dir);

#endif
