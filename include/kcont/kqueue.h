/*
 * kcont/kqueue.h: kcont's side of the kqueue API.
 *
 * The BSD API itself (kqueue(), kevent(), struct kevent) is in the
 * compatibility header <sys/event.h> (pkg-config module kcont-kqueue).  This
 * header adds what ties kqueues to executors.
 *
 * Memory: a soft executor owns its kqueue; the descriptor is valid until
 * kc_executor_close() (until its done) and must not be closed by the caller.
 */
#ifndef KCONT_KQUEUE_H
#define KCONT_KQUEUE_H

#include <kcont/kc.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The descriptor of the kqueue that soft executor ex polls.  Knotes added
 * to it must carry a continuation (EV_KCONT, udata a struct kc whose
 * executor is NULL or ex); each activation runs it on ex's thread.
 * Returns the descriptor (>= 0), or -EINVAL if ex is not a soft executor.
 */
KC_EXPORT int	kc_executor_kqueue(struct kc_executor *ex);

#ifdef __cplusplus
}
#endif

#endif /* KCONT_KQUEUE_H */
