/*
 * kcont.h: the kcont library, continuations and executors for Linux.
 *
 * Include this one header.  Ownership rules are stated in each sub-header;
 * kcont(7) gives the whole picture.
 */
#ifndef KCONT_H
#define KCONT_H

#include <kcont/kc.h>
#include <kcont/executor.h>
#include <kcont/pool.h>
#include <kcont/wait.h>
#include <kcont/kqueue.h>
#include <kcont/buf.h>
#include <kcont/msg.h>
#include <kcont/socket.h>
#include <kcont/splice.h>
#include <kcont/dgramrelay.h>
#include <kcont/trace.h>
#include <kcont/io.h>
#include <kcont/bcache.h>

#define KCONT_VERSION_MAJOR	0
#define KCONT_VERSION_MINOR	1
#define KCONT_VERSION_PATCH	0

#endif /* KCONT_H */
