/*
 * trace-env: KCONT_TRACE=FILE traces a program linked with the library
 * from its start; "%p" in FILE is its pid; the variable is taken out of
 * its environment (the programs it starts do not write over the file);
 * the file is mode 0600, also when it was there before with another mode.
 */
#include "kctest.h"
#include "tracefile.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static void
noop(void *obj, void *env, int status)
{
	(void)obj;
	(void)env;
	(void)status;
}

/* The child: tracing is on already. */
static int
child(void)
{
	struct kc_executor *ex;
	struct kc k;

	if (getenv("KCONT_TRACE") != NULL || !kc_trace_enabled())
		return 2;
	ex = kct_exec_soft("envchild");
	KC_CHECK_OK(kc_init(&k, noop, NULL, ex, 0));
	KC_CHECK_OK(kc_run(&k, NULL, 0));
	kct_exec_finish(ex);
	KC_CHECK_OK(kc_trace_user("child done"));
	return 0;		/* the rings are written out at exit */
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/kc-trace-env-XXXXXX", path[PATH_MAX], pat[PATH_MAX];
	struct tracefile tf;
	struct stat sb;
	pid_t pid;
	int fd, status;

	if (argc > 1 && strcmp(argv[1], "child") == 0)
		return child();
	kct_begin("trace-env", 60);
	KC_CHECK(!kc_trace_enabled());
	KC_CHECK(mkdtemp(dir) != NULL);
	snprintf(pat, sizeof(pat), "%s/t-%%p.kct", dir);
	pid = fork();
	KC_CHECK_GE(pid, 0);
	if (pid == 0) {
		setenv("KCONT_TRACE", pat, 1);
		execl("/proc/self/exe", argv[0], "child", (char *)NULL);
		_exit(127);
	}
	KC_CHECK_EQ(waitpid(pid, &status, 0), pid);
	KC_CHECK(WIFEXITED(status));
	KC_CHECK_EQ(WEXITSTATUS(status), 0);
	snprintf(path, sizeof(path), "%s/t-%d.kct", dir, (int)pid);
	KC_CHECK_OK(stat(path, &sb));
	KC_CHECK_EQ(sb.st_mode & 0777, 0600);
	tf_load(&tf, path);
	KC_CHECK_EQ(tf.hdr.th_pid, pid);
	KC_CHECK(tf_find(&tf, KC_TR_THREAD_NAME, 0, 0) == NULL ||
	    tf_count(&tf, KC_TR_THREAD_NAME, 0) > 0);
	KC_CHECK_GE(tf_count(&tf, KC_TR_RUN_BEGIN, 0), 1);
	KC_CHECK_EQ(tf_count(&tf, KC_TR_USER, 0), 1);
	KC_CHECK(strncmp(tf.hdr.th_prog, "trace-env", 9) == 0);
	tf_free(&tf);
	unlink(path);

	/* An existing file with a wider mode is narrowed. */
	snprintf(path, sizeof(path), "%s/old.kct", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0644);
	KC_CHECK_GE(fd, 0);
	KC_CHECK_OK(fchmod(fd, 0644));
	KC_CHECK_EQ(write(fd, "old", 3), 3);
	close(fd);
	KC_CHECK_OK(kc_trace_start(path, NULL));
	KC_CHECK_OK(stat(path, &sb));
	KC_CHECK_EQ(sb.st_mode & 0777, 0600);
	KC_CHECK_OK(kc_trace_stop());
	tf_load(&tf, path);		/* the old bytes are gone */
	tf_free(&tf);
	unlink(path);
	/* A symbolic link is not followed. */
	KC_CHECK_OK(symlink("/tmp/kc-trace-env-target", path));
	KC_CHECK_EQ(kc_trace_start(path, NULL), -ELOOP);
	unlink(path);
	rmdir(dir);
	return kct_done();
}
