/*
 * kq-ownfd: the descriptors the library opens for itself are not the
 * program's, and no knote can be put on them.
 *
 *   A kqueue with VNODE (its inotify descriptor), SIGNAL (its signalfd and
 *   the signal's eventfd), USER, TIMER (a timerfd) and PROC (a pidfd)
 *   knotes, a second kqueue with a TIMER knote, and a soft executor (its
 *   engine's epoll set and wake-up eventfd, and its kqueue, made when
 *   kc_executor_kqueue() first asks for it): every descriptor that appeared and is not
 *   one the test opened is the library's.  EV_ADD of EVFILT_READ,
 *   EVFILT_WRITE and EVFILT_VNODE on each fails with EBADF (kqueue(3),
 *   ERRORS), in both kqueues.  Afterwards the VNODE, SIGNAL and USER events
 *   are still delivered, the timers still fire, and the executor still
 *   wakes up to run work.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAXFD	1024

/* The open descriptors, as a map. */
static void
open_fds(bool *map)
{
	struct dirent *de;
	DIR *d;

	memset(map, 0, MAXFD * sizeof(*map));
	d = opendir("/proc/self/fd");
	KC_CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (fd != dirfd(d) && fd < MAXFD)
			map[fd] = true;
	}
	closedir(d);
}

static void
fd_link(int fd, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, buf, len - 1);
	KC_CHECK_GT(n, 0);
	buf[n] = '\0';
}

int
main(void)
{
	static bool before[MAXFD], after[MAXFD];
	char path[128], link[256];
	struct kct_gate gate;
	struct kc_executor *ex;
	struct kevent kev;
	sigset_t set, old;
	int kq, kq2, file, gopipe[2], fd, nown = 0;
	int ninotify = 0, nsignalfd = 0, neventfd = 0, ntimerfd = 0;
	int npidfd = 0, nepoll = 0;
	pid_t child;

	kct_begin("kq-ownfd", 60);
	/* SIGUSR2 blocked: the signalfd path, and no default action. */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	KC_CHECK_OK(pthread_sigmask(SIG_BLOCK, &set, &old));

	snprintf(path, sizeof(path), "/tmp/kq-ownfd.%d", (int)getpid());
	file = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	KC_CHECK_GE(file, 0);
	KC_CHECK_OK(pipe(gopipe));
	child = fork();
	KC_CHECK_GE(child, 0);
	if (child == 0) {
		char c;

		close(gopipe[1]);
		(void)!read(gopipe[0], &c, 1);
		_exit(0);
	}
	close(gopipe[0]);

	open_fds(before);
	kq = kqt_open();
	kq2 = kqt_open();
	KQT_CHANGE_OK(kq, (uintptr_t)file, EVFILT_VNODE, EV_ADD | EV_CLEAR,
	    NOTE_WRITE | NOTE_EXTEND, 0, NULL);
	KQT_CHANGE_OK(kq, SIGUSR2, EVFILT_SIGNAL, EV_ADD, 0, 0, NULL);
	KQT_CHANGE_OK(kq, 1, EVFILT_USER, EV_ADD | EV_CLEAR, 0, 0, NULL);
	KQT_CHANGE_OK(kq, 7, EVFILT_TIMER, EV_ADD, 0, 3600000, NULL);
	KQT_CHANGE_OK(kq, (uintptr_t)child, EVFILT_PROC, EV_ADD, NOTE_EXIT,
	    0, NULL);
	KQT_CHANGE_OK(kq2, 8, EVFILT_TIMER, EV_ADD, 0, 3600000, NULL);
	ex = kct_exec_soft("ownfd");
	/* Made when first asked for: its descriptor and pending eventfd. */
	KC_CHECK_GE(kc_executor_kqueue(ex), 0);
	open_fds(after);

	printf("  knotes on the library's own descriptors\n");
	for (fd = 0; fd < MAXFD; fd++) {
		if (!after[fd] || before[fd] || fd == kq || fd == kq2)
			continue;
		fd_link(fd, link, sizeof(link));
		printf("    %d: %s\n", fd, link);
		ninotify += strcmp(link, "anon_inode:inotify") == 0;
		nsignalfd += strcmp(link, "anon_inode:[signalfd]") == 0;
		neventfd += strcmp(link, "anon_inode:[eventfd]") == 0;
		ntimerfd += strcmp(link, "anon_inode:[timerfd]") == 0;
		npidfd += strcmp(link, "anon_inode:[pidfd]") == 0;
		nepoll += strcmp(link, "anon_inode:[eventpoll]") == 0;
		kqt_change_err(kq, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0,
		    NULL, EBADF);
		kqt_change_err(kq, (uintptr_t)fd, EVFILT_WRITE, EV_ADD, 0, 0,
		    NULL, EBADF);
		kqt_change_err(kq, (uintptr_t)fd, EVFILT_VNODE, EV_ADD,
		    NOTE_WRITE, 0, NULL, EBADF);
		kqt_change_err(kq2, (uintptr_t)fd, EVFILT_READ, EV_ADD, 0, 0,
		    NULL, EBADF);
		nown++;
	}
	/*
	 * Each kind at least once: the inotify descriptor, the signalfd, the
	 * pending-list eventfds (two kqueues and the executor's), the
	 * signal's eventfd and the executor's wake-up, both timerfds, the
	 * pidfd, and the epoll descriptors behind the kqueues and the
	 * executor's engine (and the program's descriptor of its kqueue).
	 */
	KC_CHECK_EQ(ninotify, 1);
	KC_CHECK_EQ(nsignalfd, 1);
	KC_CHECK_GE(neventfd, 5);
	KC_CHECK_EQ(ntimerfd, 2);
	KC_CHECK_EQ(npidfd, 1);
	KC_CHECK_GE(nepoll, 4);
	printf("  %d descriptors of the library's, each refused\n", nown);

	printf("  the events still come\n");
	KC_CHECK_EQ(write(file, "grow", 4), 4);
	kqt_get_one(kq, file, EVFILT_VNODE, KQT_WAIT_MS, &kev);
	KC_CHECK(kev.fflags & NOTE_EXTEND);
	KC_CHECK_OK(kill(getpid(), SIGUSR2));
	kqt_get_one(kq, SIGUSR2, EVFILT_SIGNAL, KQT_WAIT_MS, &kev);
	KC_CHECK_GE(kev.data, 1);
	KQT_CHANGE_OK(kq, 1, EVFILT_USER, 0, NOTE_TRIGGER, 0, NULL);
	kqt_get_one(kq, 1, EVFILT_USER, KQT_WAIT_MS, &kev);
	KQT_CHANGE_OK(kq, 7, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0, 5, NULL);
	kqt_get_one(kq, 7, EVFILT_TIMER, KQT_WAIT_MS, &kev);
	KQT_CHANGE_OK(kq2, 8, EVFILT_TIMER, EV_ADD | EV_ONESHOT, 0,
	    5, NULL);
	kqt_get_one(kq2, 8, EVFILT_TIMER, KQT_WAIT_MS, &kev);
	KC_CHECK_EQ(write(gopipe[1], "g", 1), 1);
	kqt_get_one(kq, (uintptr_t)child, EVFILT_PROC, KQT_WAIT_MS, &kev);
	KC_CHECK(kev.fflags & NOTE_EXIT);
	KC_CHECK_EQ(waitpid(child, NULL, 0), child);
	memset(&gate, 0, sizeof(gate));
	kct_gate_hold(&gate, ex);
	kct_gate_release(&gate);
	kct_gate_wait(&gate);
	kct_exec_finish(ex);

	/* The blocked SIGUSR2 is still pending: take it. */
	{
		struct timespec ts = { 0, 0 };

		KC_CHECK_EQ(sigtimedwait(&set, NULL, &ts), SIGUSR2);
	}
	KC_CHECK_OK(pthread_sigmask(SIG_SETMASK, &old, NULL));
	KC_CHECK_OK(close(gopipe[1]));
	KC_CHECK_OK(close(file));
	KC_CHECK_OK(unlink(path));
	KC_CHECK_OK(close(kq));
	KC_CHECK_OK(close(kq2));
	return kct_done();
}
