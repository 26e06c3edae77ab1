/* Open addressing with linear probing and tombstone-free backward shift deletion. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "strmap.h"

struct slot {
	const char *key;
	void *val;
	uint32_t hash;
};

struct strmap {
	struct slot *slots;
	size_t cap;	/* power of two */
	size_t count;
};

static uint32_t
hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

struct strmap *
strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	m->cap = 16;
	m->slots = calloc(m->cap, sizeof(*m->slots));
	if (m->slots == NULL) {
		free(m);
		return NULL;
	}
	return m;
}

void
strmap_free(struct strmap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

static size_t
find(const struct strmap *m, const char *key, uint32_t h)
{
	size_t i = h & (m->cap - 1);

	while (m->slots[i].key != NULL) {
		if (m->slots[i].hash == h && strcmp(m->slots[i].key, key) == 0)
			return i;
		i = (i + 1) & (m->cap - 1);
	}
	return i;
}

void *
strmap_get(const struct strmap *m, const char *key)
{
	size_t i = find(m, key, hash_str(key));

	return m->slots[i].key != NULL ? m->slots[i].val : NULL;
}

static int
grow(struct strmap *m)
{
	struct slot *old = m->slots;
	size_t oldcap = m->cap;

	m->slots = calloc(oldcap * 2, sizeof(*m->slots));
	if (m->slots == NULL) {
		m->slots = old;
		return -ENOMEM;
	}
	m->cap = oldcap * 2;
	for (size_t i = 0; i < oldcap; i++) {
		if (old[i].key == NULL)
			continue;
		size_t j = old[i].hash & (m->cap - 1);
		while (m->slots[j].key != NULL)
			j = (j + 1) & (m->cap - 1);
		m->slots[j] = old[i];
	}
	free(old);
	return 0;
}

int
strmap_put(struct strmap *m, const char *key, void *val)
{
	uint32_t h = hash_str(key);
	size_t i;

	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -ENOMEM;
	i = find(m, key, h);
	if (m->slots[i].key == NULL)
		m->count++;
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->slots[i].hash = h;
	return 0;
}

void *
strmap_del(struct strmap *m, const char *key)
{
	size_t i = find(m, key, hash_str(key)), j;
	void *val;

	if (m->slots[i].key == NULL)
		return NULL;
	val = m->slots[i].val;
	m->slots[i].key = NULL;
	m->count--;
	/* Shift back the run that follows so probing stays correct. */
	j = i;
	for (;;) {
		size_t home;
		j = (j + 1) & (m->cap - 1);
		if (m->slots[j].key == NULL)
			break;
		home = m->slots[j].hash & (m->cap - 1);
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			m->slots[i] = m->slots[j];
			m->slots[j].key = NULL;
			i = j;
		}
	}
	return val;
}

size_t
strmap_count(const struct strmap *m)
{
	return m->count;
}
