/*
 * map.c: kcdump's hash tables (map.h): linear probing, at most half full,
 * slots chosen by a keyed hash.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/siphash.h"
#include "map.h"

#define MAP_MIN	64

/* Counted per slot looked at; kcdump runs on one thread. */
static uint64_t probes;

uint64_t
kd_map_probes(void)
{
	return probes;
}

static size_t
map_slot(uint64_t key, size_t cap)
{
	return (size_t)kc__siphash64(kc__hash_key(), key) & (cap - 1);
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
		for (probes++; nm.used[s]; probes++)
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
	for (probes++; m->used[s] && m->keys[s] != key; probes++)
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
	for (probes++; m->used[s]; probes++) {
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

void
kd_index_init(struct kd_index *x, kd_keyof_fn *keyof, const void *ctx)
{
	memset(x, 0, sizeof(*x));
	x->keyof = keyof;
	x->ctx = ctx;
}

/* Element i into a table known to have room and not to hold its key. */
static void
index_place(uint32_t *slot, size_t cap, uint64_t key, uint32_t i)
{
	size_t s = map_slot(key, cap);

	for (probes++; slot[s] != 0; probes++)
		s = (s + 1) & (cap - 1);
	slot[s] = i + 1;
}

bool
kd_index_get(const struct kd_index *x, uint64_t key, uint32_t *i)
{
	size_t s;

	if (x->cap == 0)
		return false;
	s = map_slot(key, x->cap);
	for (probes++; x->slot[s] != 0; probes++) {
		if (x->keyof(x->ctx, x->slot[s] - 1) == key) {
			*i = x->slot[s] - 1;
			return true;
		}
		s = (s + 1) & (x->cap - 1);
	}
	return false;
}

int
kd_index_add(struct kd_index *x, uint32_t i)
{
	uint32_t *ns;
	size_t ncap, k;

	if (i == UINT32_MAX)
		return -ENOMEM;
	if (2 * (x->n + 1) > x->cap) {
		ncap = x->cap != 0 ? 2 * x->cap : MAP_MIN;
		if ((ns = calloc(ncap, sizeof(*ns))) == NULL)
			return -ENOMEM;
		for (k = 0; k < x->cap; k++)
			if (x->slot[k] != 0)
				index_place(ns, ncap,
				    x->keyof(x->ctx, x->slot[k] - 1),
				    x->slot[k] - 1);
		free(x->slot);
		x->slot = ns;
		x->cap = ncap;
	}
	index_place(x->slot, x->cap, x->keyof(x->ctx, i), i);
	x->n++;
	return 0;
}

void
kd_index_free(struct kd_index *x)
{
	free(x->slot);
	x->slot = NULL;
	x->cap = 0;
	x->n = 0;
}
