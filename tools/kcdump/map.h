/*
 * map.h: kcdump's hash tables, for its thread table and flow ids: keys that
 * come from the trace file, so from whoever wrote it.
 *
 * Both tables probe linearly and stay at most half full, and both place a
 * key by a keyed hash (SipHash-2-4 under a random key drawn once per
 * process, src/core/siphash.h).  With the old unkeyed hash, a file whose
 * thread or flow ids were chosen to share slots made every lookup walk one
 * cluster: quadratic time in the number of ids.  Without the key, ids
 * cannot be chosen so, and a lookup takes a few probes whatever the file.
 *
 *   struct kd_map	uint64_t -> uint64_t (flow ids, pids).
 *   struct kd_index	uint64_t -> an index into the caller's array, where
 *			the key itself lives (the thread table): 4 bytes a
 *			slot instead of 17, for files with millions of
 *			threads.
 *
 * Memory: each table owns its array; the _free() functions release it.  A
 * zeroed struct is an empty table.
 */
#ifndef KCDUMP_MAP_H
#define KCDUMP_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct kd_map {
	uint64_t	*keys;
	uint64_t	*vals;
	uint8_t		*used;
	size_t		 cap;		/* a power of two, or 0 */
	size_t		 n;
};

/* Set key to val (added or replaced).  0 or -ENOMEM. */
int	kd_map_put(struct kd_map *m, uint64_t key, uint64_t val);
/* The value of key into *val: true if it is there. */
bool	kd_map_get(const struct kd_map *m, uint64_t key, uint64_t *val);
void	kd_map_free(struct kd_map *m);

/* The key of the caller's element i. */
typedef uint64_t kd_keyof_fn(const void *ctx, uint32_t i);

struct kd_index {
	uint32_t	*slot;		/* element + 1, or 0 for empty */
	size_t		 cap;		/* a power of two, or 0 */
	size_t		 n;
	kd_keyof_fn	*keyof;
	const void	*ctx;
};

/* An empty index over the elements keyof(ctx, i) names. */
void	kd_index_init(struct kd_index *x, kd_keyof_fn *keyof, const void *ctx);
/* The element whose key is key into *i: true if there is one. */
bool	kd_index_get(const struct kd_index *x, uint64_t key, uint32_t *i);
/* Add element i (its key must not be in the index yet).  0 or -ENOMEM. */
int	kd_index_add(struct kd_index *x, uint32_t i);
void	kd_index_free(struct kd_index *x);

/*
 * Slots looked at by every table of this process so far (inserting,
 * looking up and regrowing).  The tests bound it by the number of
 * records: it is what grows quadratically when keys share slots.
 */
uint64_t kd_map_probes(void);

#endif /* KCDUMP_MAP_H */
