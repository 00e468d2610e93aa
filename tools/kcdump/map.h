/*
 * map.h: a small open-addressing hash map from uint64_t to uint64_t, for
 * kcdump's thread table and flow ids.
 *
 * Memory: the map owns its arrays; kd_map_free() releases them.  A zeroed
 * struct kd_map is an empty map.
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

#endif /* KCDUMP_MAP_H */
