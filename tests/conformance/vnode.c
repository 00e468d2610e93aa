/*
 * kq-vnode: EVFILT_VNODE conformance (kq-spec.md, "EVFILT_VNODE").
 *
 * On files in a mkdtemp() directory under /tmp.  Covers NOTE_WRITE (pwrite
 * in place), NOTE_EXTEND (append; ftruncate larger), NOTE_TRUNCATE
 * (ftruncate smaller), NOTE_ATTRIB (fchmod, futimens), NOTE_LINK (link() a
 * second name; unlinking one of two names), NOTE_DELETE (only when the last
 * name goes), NOTE_RENAME (rename), and on a directory NOTE_WRITE when an
 * entry is created, removed or renamed (not when an entry's contents are
 * written, nor NOTE_ATTRIB for an entry's chmod) and NOTE_LINK on mkdir and
 * rmdir of a subdirectory; as FreeBSD's filt_vfsvnode, an event reports
 * the whole change that a watched note was part of (a write that extends
 * the file is NOTE_WRITE|NOTE_EXTEND, a subdirectory made or removed is
 * NOTE_WRITE|NOTE_LINK on the directory), nothing else; a
 * socket or pipe descriptor -> EINVAL, a closed or negative one -> EBADF;
 * add, delete, delete / enable / disable of a missing knote -> ENOENT,
 * EV_ADD|EV_DISABLE, EV_DISABLE and EV_ENABLE, EV_ONESHOT, EV_DISPATCH,
 * EV_RECEIPT, udata round trip, EV_ADD modify replacing fflags and udata,
 * EV_CLEAR, several kqueues watching one file and one kqueue watching one
 * file through two descriptors.  The directory is removed at the end.
 */
#include <sys/event.h>

#include "kctest.h"
#include "kqtest.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *
path(const char *name)
{
	static char buf[4][PATH_MAX];
	static unsigned n;
	char *p = buf[n++ % 4];

	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

/* Create name with 100 bytes in it; returns an O_RDWR descriptor. */
static int
mkfile(const char *name)
{
	char data[100];
	int fd;

	memset(data, 'a', sizeof(data));
	fd = open(path(name), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	KC_CHECK_GE(fd, 0);
	KC_CHECK_EQ(write(fd, data, sizeof(data)), (ssize_t)sizeof(data));
	return fd;
}

#define CHANGE_OK(kq, fd, fl, ff, ud) \
	KQT_CHANGE_OK(kq, (uintptr_t)(fd), EVFILT_VNODE, fl, ff, 0, ud)
#define change_err(kq, fd, fl, ff, err) \
	kqt_change_err(kq, (uintptr_t)(fd), EVFILT_VNODE, fl, ff, 0, \
	    (void *)0x77, err)

/*
 * Collect events for fd until their fflags together hold want (bounded),
 * then for a short while more; every event is for fd, nonzero and within
 * watched.  Returns the union (the caller checks it).  *udata gets the last
 * event's udata.
 */
static unsigned
notes(int kq, int fd, unsigned watched, unsigned want, void **udata)
{
	struct kevent ev[4];
	struct timespec ts = { 0, 50 * 1000000L };
	uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
	unsigned got = 0;
	int r, i, settle = 0;

	for (;;) {
		if ((got & want) == want && settle++ == 1)
			break;
		r = kevent(kq, NULL, 0, ev, 4, &ts);
		KC_CHECK_GE(r, 0);
		for (i = 0; i < r; i++) {
			KC_CHECK_EQ(ev[i].ident, (uintptr_t)fd);
			KC_CHECK_EQ(ev[i].filter, EVFILT_VNODE);
			KC_CHECK(!(ev[i].flags & EV_ERROR));
			KC_CHECK_NE(ev[i].fflags, 0);
			if (ev[i].fflags & ~watched)
				kct_fail(__FILE__, __LINE__, "fflags %#x "
				    "outside the watched %#x", ev[i].fflags,
				    watched);
			got |= ev[i].fflags;
			if (udata != NULL)
				*udata = ev[i].udata;
		}
		if ((got & want) != want && kct_now_ns() > dl)
			kct_fail(__FILE__, __LINE__, "waited for fflags %#x, "
			    "got %#x", want, got);
	}
	return got;
}

/* Exactly the notes in want (within watched) arrive. */
#define EXPECT_NOTES(kq, fd, watched, want) \
	KC_CHECK_EQ(notes(kq, fd, watched, want, NULL), want)

/* One note at a time, each on a fresh file. */
static void
test_notes(void)
{
	struct timespec ts[2] = { { 1000, 0 }, { 2000, 0 } };
	int kq = kqueue(), fd, fd2, afd;
	unsigned got;

	KC_CHECK_GE(kq, 0);

	/* NOTE_WRITE: contents written in place. */
	fd = mkfile("w");
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_WRITE, NULL);
	fd2 = open(path("w"), O_WRONLY | O_CLOEXEC);
	KC_CHECK_GE(fd2, 0);
	KC_CHECK_EQ(pwrite(fd2, "b", 1, 0), 1);
	EXPECT_NOTES(kq, fd, NOTE_WRITE, NOTE_WRITE);
	/* Through the watched descriptor itself too. */
	KC_CHECK_EQ(pwrite(fd, "c", 1, 5), 1);
	EXPECT_NOTES(kq, fd, NOTE_WRITE, NOTE_WRITE);
	/* Not watched: attributes. */
	KC_CHECK_OK(fchmod(fd2, 0600));
	kqt_expect_none_ms(kq, 100);
	KC_CHECK_OK(close(fd2));
	KC_CHECK_OK(close(fd));

	/*
	 * NOTE_EXTEND: append.  The write that extends the file is one change,
	 * NOTE_WRITE|NOTE_EXTEND, reported whole (issue 13, defect 14).
	 */
	fd = mkfile("e");
	afd = open(path("e"), O_WRONLY | O_APPEND | O_CLOEXEC);
	KC_CHECK_GE(afd, 0);
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_EXTEND, NULL);
	KC_CHECK_EQ(write(afd, "more", 4), 4);
	EXPECT_NOTES(kq, fd, NOTE_WRITE | NOTE_EXTEND,
	    NOTE_WRITE | NOTE_EXTEND);
	/* In place: size unchanged, no NOTE_EXTEND. */
	KC_CHECK_EQ(pwrite(fd, "z", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_WRITE | NOTE_EXTEND, NULL);
	KC_CHECK_EQ(write(afd, "more", 4), 4);
	EXPECT_NOTES(kq, fd, NOTE_WRITE | NOTE_EXTEND,
	    NOTE_WRITE | NOTE_EXTEND);
	KC_CHECK_EQ(pwrite(fd, "z", 1, 1), 1);
	EXPECT_NOTES(kq, fd, NOTE_WRITE | NOTE_EXTEND, NOTE_WRITE);
	KC_CHECK_OK(close(afd));
	KC_CHECK_OK(close(fd));

	/* NOTE_TRUNCATE: size shrank; growing is NOTE_EXTEND. */
	fd = mkfile("t");
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_TRUNCATE, (void *)0x7);
	KC_CHECK_OK(ftruncate(fd, 10));
	EXPECT_NOTES(kq, fd, NOTE_TRUNCATE, NOTE_TRUNCATE);
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_TRUNCATE | NOTE_EXTEND,
	    (void *)0x7);
	KC_CHECK_OK(ftruncate(fd, 4096));
	EXPECT_NOTES(kq, fd, NOTE_WRITE | NOTE_TRUNCATE | NOTE_EXTEND,
	    NOTE_WRITE | NOTE_EXTEND);
	KC_CHECK_OK(ftruncate(fd, 0));
	EXPECT_NOTES(kq, fd, NOTE_TRUNCATE | NOTE_EXTEND, NOTE_TRUNCATE);
	KC_CHECK_OK(close(fd));

	/* NOTE_ATTRIB: chmod, utimes. */
	fd = mkfile("at");
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_ATTRIB, NULL);
	KC_CHECK_OK(fchmod(fd, 0640));
	EXPECT_NOTES(kq, fd, NOTE_ATTRIB, NOTE_ATTRIB);
	KC_CHECK_OK(futimens(fd, ts));
	EXPECT_NOTES(kq, fd, NOTE_ATTRIB, NOTE_ATTRIB);
	/* Not watched: a write. */
	KC_CHECK_EQ(pwrite(fd, "q", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	KC_CHECK_OK(close(fd));

	/* NOTE_LINK, NOTE_RENAME, NOTE_DELETE on one file "l". */
	fd = mkfile("l");
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_LINK, NULL);
	KC_CHECK_OK(link(path("l"), path("l2")));
	EXPECT_NOTES(kq, fd, NOTE_LINK, NOTE_LINK);
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_RENAME, NULL);
	KC_CHECK_OK(rename(path("l"), path("l3")));
	EXPECT_NOTES(kq, fd, NOTE_RENAME, NOTE_RENAME);
	/* Renaming into another directory is a rename too. */
	KC_CHECK_OK(mkdir(path("sub"), 0755));
	KC_CHECK_OK(rename(path("l3"), path("sub/l4")));
	EXPECT_NOTES(kq, fd, NOTE_RENAME, NOTE_RENAME);
	/* Two names (sub/l4, l2): removing one is not NOTE_DELETE. */
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_DELETE, NULL);
	KC_CHECK_OK(unlink(path("sub/l4")));
	kqt_expect_none_ms(kq, 150);
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_DELETE | NOTE_LINK, NULL);
	KC_CHECK_OK(link(path("l2"), path("l5")));
	EXPECT_NOTES(kq, fd, NOTE_DELETE | NOTE_LINK, NOTE_LINK);
	KC_CHECK_OK(unlink(path("l5")));
	EXPECT_NOTES(kq, fd, NOTE_DELETE | NOTE_LINK, NOTE_LINK);
	/* The last name: NOTE_DELETE (the file is still open). */
	KC_CHECK_OK(unlink(path("l2")));
	got = notes(kq, fd, NOTE_DELETE | NOTE_LINK, NOTE_DELETE, NULL);
	KC_CHECK(got & NOTE_DELETE);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(rmdir(path("sub")));

	/* NOTE_DELETE watched alone, single name. */
	fd = mkfile("d");
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_DELETE, NULL);
	KC_CHECK_OK(unlink(path("d")));
	EXPECT_NOTES(kq, fd, NOTE_DELETE, NOTE_DELETE);
	KC_CHECK_OK(close(fd));

	/* Everything watched: each operation reports its own notes. */
	fd = mkfile("all");
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_WRITE | NOTE_EXTEND |
	    NOTE_TRUNCATE | NOTE_ATTRIB | NOTE_LINK | NOTE_RENAME |
	    NOTE_DELETE, NULL);
	KC_CHECK_OK(fchmod(fd, 0600));
	got = notes(kq, fd, ~0u, NOTE_ATTRIB, NULL);
	KC_CHECK(!(got & (NOTE_WRITE | NOTE_EXTEND | NOTE_TRUNCATE |
	    NOTE_LINK | NOTE_RENAME | NOTE_DELETE)));
	KC_CHECK_OK(rename(path("all"), path("all2")));
	got = notes(kq, fd, ~0u, NOTE_RENAME, NULL);
	KC_CHECK(!(got & (NOTE_WRITE | NOTE_EXTEND | NOTE_TRUNCATE |
	    NOTE_LINK | NOTE_DELETE)));
	KC_CHECK_OK(unlink(path("all2")));
	got = notes(kq, fd, ~0u, NOTE_DELETE, NULL);
	KC_CHECK(!(got & (NOTE_WRITE | NOTE_EXTEND | NOTE_TRUNCATE)));
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("w")));
	KC_CHECK_OK(unlink(path("e")));
	KC_CHECK_OK(unlink(path("t")));
	KC_CHECK_OK(unlink(path("at")));
	close(kq);
}

/* A directory: NOTE_WRITE when entries change; NOTE_LINK on mkdir. */
static void
test_dir(void)
{
	int kq = kqueue(), dfd, fd;

	KC_CHECK_GE(kq, 0);
	KC_CHECK_OK(mkdir(path("dw"), 0755));
	dfd = open(path("dw"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	KC_CHECK_GE(dfd, 0);
	CHANGE_OK(kq, dfd, EV_ADD | EV_CLEAR, NOTE_WRITE, (void *)0xd);
	kqt_expect_none_ms(kq, 30);
	fd = open(path("dw/f"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	KC_CHECK_GE(fd, 0);
	EXPECT_NOTES(kq, dfd, NOTE_WRITE, NOTE_WRITE);
	/* Writing the entry's contents is not a directory write. */
	KC_CHECK_EQ(write(fd, "x", 1), 1);
	KC_CHECK_OK(close(fd));
	kqt_expect_none_ms(kq, 100);
	KC_CHECK_OK(rename(path("dw/f"), path("dw/g")));
	EXPECT_NOTES(kq, dfd, NOTE_WRITE, NOTE_WRITE);
	KC_CHECK_OK(unlink(path("dw/g")));
	EXPECT_NOTES(kq, dfd, NOTE_WRITE, NOTE_WRITE);
	/*
	 * A subdirectory changes the link count: NOTE_LINK, with the
	 * NOTE_WRITE of the same change.
	 */
	CHANGE_OK(kq, dfd, EV_ADD | EV_CLEAR, NOTE_LINK, (void *)0xd);
	KC_CHECK_OK(mkdir(path("dw/s"), 0755));
	EXPECT_NOTES(kq, dfd, NOTE_WRITE | NOTE_LINK, NOTE_WRITE | NOTE_LINK);
	KC_CHECK_OK(rmdir(path("dw/s")));
	EXPECT_NOTES(kq, dfd, NOTE_WRITE | NOTE_LINK, NOTE_WRITE | NOTE_LINK);
	/* An entry's attributes are not the directory's. */
	fd = open(path("dw/h"), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	KC_CHECK_GE(fd, 0);
	CHANGE_OK(kq, dfd, EV_ADD | EV_CLEAR, NOTE_ATTRIB, (void *)0xd);
	KC_CHECK_OK(fchmod(fd, 0600));
	kqt_expect_none_ms(kq, 100);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("dw/h")));
	KC_CHECK_OK(close(dfd));
	KC_CHECK_OK(rmdir(path("dw")));
	close(kq);
}

static void
test_bad_descriptors(void)
{
	int kq = kqueue(), sv[2], p[2], fd;

	KC_CHECK_GE(kq, 0);
	KC_CHECK_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	KC_CHECK_OK(pipe(p));
	change_err(kq, sv[0], EV_ADD, NOTE_WRITE, EINVAL);
	change_err(kq, p[0], EV_ADD, NOTE_WRITE, EINVAL);
	change_err(kq, p[1], EV_ADD | EV_CLEAR, NOTE_DELETE, EINVAL);
	fd = mkfile("bad");
	KC_CHECK_OK(close(fd));
	change_err(kq, fd, EV_ADD, NOTE_WRITE, EBADF);
	change_err(kq, -1, EV_ADD, NOTE_WRITE, EBADF);
	change_err(kq, 1 << 24, EV_ADD, NOTE_WRITE, EBADF);
	KC_CHECK_OK(close(sv[0]));
	KC_CHECK_OK(close(sv[1]));
	KC_CHECK_OK(close(p[0]));
	KC_CHECK_OK(close(p[1]));
	KC_CHECK_OK(unlink(path("bad")));
	close(kq);
}

static void
test_flags(void)
{
	struct kevent ch[2], out[2];
	struct timespec zero = { 0, 0 };
	void *ud = NULL;
	int kq = kqueue(), fd, i;

	KC_CHECK_GE(kq, 0);
	fd = mkfile("fl");

	/* add, delete, missing. */
	change_err(kq, fd, EV_DELETE, 0, ENOENT);
	change_err(kq, fd, EV_ENABLE, 0, ENOENT);
	change_err(kq, fd, EV_DISABLE, 0, ENOENT);
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_WRITE, (void *)0x1);
	CHANGE_OK(kq, fd, EV_DELETE, 0, NULL);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	change_err(kq, fd, EV_DELETE, 0, ENOENT);

	/* Added disabled; enabled. */
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR | EV_DISABLE, NOTE_WRITE,
	    (void *)0x2);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	CHANGE_OK(kq, fd, EV_ENABLE, 0, NULL);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	KC_CHECK_EQ(notes(kq, fd, NOTE_WRITE, NOTE_WRITE, &ud), NOTE_WRITE);
	KC_CHECK_PTR_EQ(ud, (void *)0x2);
	/* EV_DISABLE on a live knote. */
	CHANGE_OK(kq, fd, EV_DISABLE, 0, NULL);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	CHANGE_OK(kq, fd, EV_ENABLE, 0, NULL);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	EXPECT_NOTES(kq, fd, NOTE_WRITE, NOTE_WRITE);

	/* Modify: fflags and udata replaced. */
	CHANGE_OK(kq, fd, EV_ADD | EV_CLEAR, NOTE_ATTRIB, (void *)0x3);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	KC_CHECK_OK(fchmod(fd, 0600));
	KC_CHECK_EQ(notes(kq, fd, NOTE_ATTRIB, NOTE_ATTRIB, &ud), NOTE_ATTRIB);
	KC_CHECK_PTR_EQ(ud, (void *)0x3);
	CHANGE_OK(kq, fd, EV_DELETE, 0, NULL);

	/* EV_ONESHOT. */
	CHANGE_OK(kq, fd, EV_ADD | EV_ONESHOT, NOTE_WRITE, (void *)0x4);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	{
		struct kevent ev;
		struct timespec ts = { 10, 0 };

		KC_CHECK_EQ(kevent(kq, NULL, 0, &ev, 1, &ts), 1);
		KC_CHECK_EQ(ev.ident, (uintptr_t)fd);
		KC_CHECK_EQ(ev.fflags, NOTE_WRITE);
		KC_CHECK(ev.flags & EV_ONESHOT);
		KC_CHECK_PTR_EQ(ev.udata, (void *)0x4);
	}
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	kqt_expect_none_ms(kq, 100);
	change_err(kq, fd, EV_DELETE, 0, ENOENT);

	/* EV_DISPATCH: one event per enable. */
	CHANGE_OK(kq, fd, EV_ADD | EV_DISPATCH | EV_CLEAR, NOTE_WRITE,
	    (void *)0x5);
	for (i = 0; i < 3; i++) {
		struct kevent ev;
		struct timespec ts = { 10, 0 };

		KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
		KC_CHECK_EQ(kevent(kq, NULL, 0, &ev, 1, &ts), 1);
		KC_CHECK_EQ(ev.fflags, NOTE_WRITE);
		KC_CHECK(ev.flags & EV_DISPATCH);
		KC_CHECK_PTR_EQ(ev.udata, (void *)0x5);
		KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
		kqt_expect_none_ms(kq, 100);
		CHANGE_OK(kq, fd, EV_ENABLE, 0, NULL);
		/* A write made while disabled may or may not be reported. */
		ts.tv_sec = 0;
		ts.tv_nsec = 100 * 1000000L;
		if (kevent(kq, NULL, 0, &ev, 1, &ts) == 1) {
			KC_CHECK_EQ(ev.fflags, NOTE_WRITE);
			CHANGE_OK(kq, fd, EV_ENABLE, 0, NULL);
		}
	}
	CHANGE_OK(kq, fd, EV_DELETE, 0, NULL);

	/* EV_RECEIPT. */
	EV_SET(&ch[0], (uintptr_t)fd, EVFILT_VNODE,
	    EV_ADD | EV_CLEAR | EV_RECEIPT, NOTE_WRITE, 0, (void *)0x6);
	EV_SET(&ch[1], (uintptr_t)fd + 1000, EVFILT_VNODE,
	    EV_DELETE | EV_RECEIPT, 0, 0, NULL);
	memset(out, 0, sizeof(out));
	KC_CHECK_EQ(kevent(kq, ch, 2, out, 2, &zero), 2);
	KC_CHECK_EQ(out[0].ident, (uintptr_t)fd);
	KC_CHECK(out[0].flags & EV_ERROR);
	KC_CHECK_EQ(out[0].data, 0);
	KC_CHECK_PTR_EQ(out[0].udata, (void *)0x6);
	KC_CHECK(out[1].flags & EV_ERROR);
	KC_CHECK_NE(out[1].data, 0);		/* EBADF or ENOENT */
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	KC_CHECK_EQ(notes(kq, fd, NOTE_WRITE, NOTE_WRITE, &ud), NOTE_WRITE);
	KC_CHECK_PTR_EQ(ud, (void *)0x6);
	/* EV_CLEAR: nothing more after the report. */
	kqt_expect_none_ms(kq, 50);
	CHANGE_OK(kq, fd, EV_DELETE, 0, NULL);
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("fl")));
	close(kq);
}

/* Several kqueues; two descriptors of one file in one kqueue. */
static void
test_several(void)
{
	int kq1 = kqueue(), kq2 = kqueue(), fd, fd2;
	void *ud = NULL;

	KC_CHECK_GE(kq1, 0);
	KC_CHECK_GE(kq2, 0);
	fd = mkfile("sev");
	fd2 = open(path("sev"), O_RDONLY | O_CLOEXEC);
	KC_CHECK_GE(fd2, 0);
	CHANGE_OK(kq1, fd, EV_ADD | EV_CLEAR, NOTE_WRITE, (void *)1);
	CHANGE_OK(kq2, fd, EV_ADD | EV_CLEAR, NOTE_WRITE | NOTE_ATTRIB,
	    (void *)2);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	KC_CHECK_EQ(notes(kq1, fd, NOTE_WRITE, NOTE_WRITE, &ud), NOTE_WRITE);
	KC_CHECK_PTR_EQ(ud, (void *)1);
	KC_CHECK_EQ(notes(kq2, fd, NOTE_WRITE | NOTE_ATTRIB, NOTE_WRITE, &ud),
	    NOTE_WRITE);
	KC_CHECK_PTR_EQ(ud, (void *)2);
	KC_CHECK_OK(fchmod(fd, 0600));
	EXPECT_NOTES(kq2, fd, NOTE_WRITE | NOTE_ATTRIB, NOTE_ATTRIB);
	kqt_expect_none_ms(kq1, 50);
	/* Deleting on kq1 leaves kq2's. */
	CHANGE_OK(kq1, fd, EV_DELETE, 0, NULL);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	EXPECT_NOTES(kq2, fd, NOTE_WRITE | NOTE_ATTRIB, NOTE_WRITE);
	kqt_expect_none_ms(kq1, 50);
	/* Two descriptors of the file in kq1: both report. */
	CHANGE_OK(kq1, fd, EV_ADD | EV_CLEAR, NOTE_WRITE, (void *)10);
	CHANGE_OK(kq1, fd2, EV_ADD | EV_CLEAR, NOTE_WRITE, (void *)20);
	KC_CHECK_EQ(pwrite(fd, "b", 1, 0), 1);
	{
		struct kevent ev[4];
		struct timespec ts = { 0, 50 * 1000000L };
		uint64_t dl = kct_now_ns() + 10 * KCT_NSEC_PER_SEC;
		unsigned seen = 0;
		int r, i;

		while (seen != 3 && kct_now_ns() < dl) {
			r = kevent(kq1, NULL, 0, ev, 4, &ts);
			KC_CHECK_GE(r, 0);
			for (i = 0; i < r; i++) {
				KC_CHECK_EQ(ev[i].fflags, NOTE_WRITE);
				if (ev[i].ident == (uintptr_t)fd) {
					KC_CHECK_PTR_EQ(ev[i].udata, (void *)10);
					seen |= 1;
				} else {
					KC_CHECK_EQ(ev[i].ident, (uintptr_t)fd2);
					KC_CHECK_PTR_EQ(ev[i].udata, (void *)20);
					seen |= 2;
				}
			}
		}
		KC_CHECK_EQ(seen, 3);
	}
	/* Drain kq2 (it saw the write too). */
	EXPECT_NOTES(kq2, fd, NOTE_WRITE | NOTE_ATTRIB, NOTE_WRITE);
	KC_CHECK_OK(close(fd2));
	KC_CHECK_OK(close(fd));
	KC_CHECK_OK(unlink(path("sev")));
	close(kq1);
	close(kq2);
}

int
main(void)
{
	kct_begin("kq-vnode", 60);
	snprintf(dir, sizeof(dir), "/tmp/kq-vnode-XXXXXX");
	KC_CHECK(mkdtemp(dir) != NULL);
	test_bad_descriptors();
	test_notes();
	test_flags();
	test_several();
	test_dir();
	KC_CHECK_OK(rmdir(dir));
	return kct_done();
}
