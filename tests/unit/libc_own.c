/*
 * unit-libc-own: a program linked only with libkcont (the shared library,
 * as its users link it) keeps the C library's own close(), dup2(), dup3(),
 * sigaction() and signal(): libkcont defines none of them, nor the BSD
 * kqueue() and kevent(), which are libkcont-kqueue's.  The library still
 * works in such a program: an executor runs a continuation, and a socket
 * it owns closes and its descriptor is reused.
 *
 * Built without the test library, which links libkcont-kqueue.
 */
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <kcont.h>

static int failures;

#define CHECK(c) do {							\
	if (!(c)) {							\
		fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__,	\
		    __LINE__, #c);					\
		failures++;						\
	}								\
} while (0)

/* Where the program's name resolves to: not libkcont. */
static void
own(const char *name)
{
	void *f = dlsym(RTLD_DEFAULT, name);
	Dl_info in;

	CHECK(f != NULL);
	if (f == NULL)
		return;
	CHECK(dladdr(f, &in) != 0);
	if (in.dli_fname == NULL)
		return;
	printf("  %s() is %s's\n", name, in.dli_fname);
	CHECK(strstr(in.dli_fname, "libkcont") == NULL);
}

static void
ran(void *obj, void *env, int status)
{
	(void)obj;
	*(int *)env = status;
}

int
main(void)
{
	struct kc_executor *ex;
	struct kc k;
	void *kcont;
	int flag = 0, fd;

	printf("unit-libc-own: start\n");
	own("close");
	own("dup2");
	own("dup3");
	own("sigaction");
	own("signal");
	CHECK(dlsym(RTLD_DEFAULT, "kqueue") == NULL);
	CHECK(dlsym(RTLD_DEFAULT, "kevent") == NULL);
	/* libkcont is loaded (so the checks above mean something). */
	kcont = dlopen("libkcont.so.0", RTLD_NOW | RTLD_NOLOAD);
	CHECK(kcont != NULL);
	if (kcont != NULL) {
		CHECK(dlsym(kcont, "kc_executor_create") != NULL);
		CHECK(dlsym(kcont, "close") == NULL ||
		    dlsym(kcont, "close") == dlsym(RTLD_DEFAULT, "close"));
		dlclose(kcont);
	}

	/* The library works: a continuation runs on a soft executor. */
	CHECK(kc_executor_create(&ex, NULL) == 0);
	CHECK(kc_init(&k, ran, &flag, ex, 0) == 0);
	CHECK(kc_run(&k, NULL, 7) == 0);
	CHECK(kc_executor_shutdown(ex, KC_SHUTDOWN_DRAIN, NULL) == 0);
	CHECK(flag == 7);
	CHECK(kc_executor_close(ex, NULL) == 0);

	/* close() here is the C library's, and does what it always does. */
	fd = dup(1);
	CHECK(fd >= 0);
	CHECK(close(fd) == 0);
	CHECK(close(fd) == -1 && errno == EBADF);

	if (failures != 0) {
		printf("unit-libc-own: FAIL (%d)\n", failures);
		return 1;
	}
	printf("unit-libc-own: PASS\n");
	return 0;
}
