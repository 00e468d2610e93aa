/*
 * map.c: an open-addressing hash map (linear probing, at most half full).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"

#define MAP_MIN	64

static size_t
map_slot(uint64_t key, size_t cap)
{
	/* Fibonacci hashing: tids and flow ids are far from random. */
	key ^= key >> 29;
	key *= 0x9e3779b97f4a7c15ull;
	return (size_t)(key >> 17) & (cap - 1);
}

static int
map_grow(struct kd_map *m)
{
	struct kd_map nm;
	size_t i, s;

	nm.cap = m->cap != 0 ? 2 * m->cap : MAP_MIN;
	nm.n = m->n;
	nm.keys = malloc(nm.cap * sizeof(*nm.keys));
	nm.vals = malloc(nm.cap * sizeof(*nm.vals));
	nm.used = calloc(nm.cap, 1);
	if (nm.keys == NULL || nm.vals == NULL || nm.used == NULL) {
		kd_map_free(&nm);
		return -ENOMEM;
	}
	for (i = 0; i < m->cap; i++) {
		if (!m->used[i])
			continue;
		s = map_slot(m->keys[i], nm.cap);
		while (nm.used[s])
			s = (s + 1) & (nm.cap - 1);
		nm.used[s] = 1;
		nm.keys[s] = m->keys[i];
		nm.vals[s] = m->vals[i];
	}
	kd_map_free(m);
	*m = nm;
	return 0;
}

int
kd_map_put(struct kd_map *m, uint64_t key, uint64_t val)
{
	size_t s;
	int error;

	if (2 * (m->n + 1) > m->cap && (error = map_grow(m)) != 0)
		return error;
	s = map_slot(key, m->cap);
	while (m->used[s] && m->keys[s] != key)
		s = (s + 1) & (m->cap - 1);
	if (!m->used[s]) {
		m->used[s] = 1;
		m->keys[s] = key;
		m->n++;
	}
	m->vals[s] = val;
	return 0;
}

bool
kd_map_get(const struct kd_map *m, uint64_t key, uint64_t *val)
{
	size_t s;

	if (m->cap == 0)
		return false;
	s = map_slot(key, m->cap);
	while (m->used[s]) {
		if (m->keys[s] == key) {
			*val = m->vals[s];
			return true;
		}
		s = (s + 1) & (m->cap - 1);
	}
	return false;
}

void
kd_map_free(struct kd_map *m)
{
	free(m->keys);
	free(m->vals);
	free(m->used);
	memset(m, 0, sizeof(*m));
}
