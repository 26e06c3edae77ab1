/*
 * Open addressing with linear probing and tombstone-free backward shift
 * deletion. Keys are client-chosen names (nodes, reporters), so the hash is
 * SipHash-1-3 under a secret key: a per-process key from getrandom(2), from
 * which each map derives its own, so collisions cannot be precomputed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "strmap.h"

struct slot {
	const char *key;
	void *val;
	uint64_t hash;
};

struct strmap {
	struct slot *slots;
	size_t cap;	/* power of two */
	size_t count;
	uint64_t k0, k1;	/* this map's SipHash key */
};

static uint64_t proc_key[2];
static pthread_once_t proc_key_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t map_serial;

#define ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);	\
	v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);	\
} while (0)

/* SipHash-1-3 of len bytes at p under the key (k0, k1). */
static uint64_t
siphash13(uint64_t k0, uint64_t k1, const unsigned char *p, size_t len)
{
	uint64_t v0 = k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = k1 ^ 0x7465646279746573ULL;
	uint64_t b = (uint64_t)len << 56, m;
	size_t left = len & 7;
	const unsigned char *end = p + (len - left);

	for (; p != end; p += 8) {
		m = 0;
		for (int i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	for (size_t i = 0; i < left; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Fills buf from the kernel's random pool; -errno when there is none. */
static int
fill_random(void *buf, size_t len)
{
	unsigned char *p = buf;
	size_t got = 0;
	int fd;

	while (got < len) {
		ssize_t n = getrandom(p + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got == len)
		return 0;
	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	return got == len ? 0 : -EIO;
}

static void
proc_key_init(void)
{
	struct timespec ts;
	uint64_t mix[4];

	if (fill_random(proc_key, sizeof(proc_key)) == 0)
		return;
	/*
	 * No random source at all (a sandbox without getrandom or /dev):
	 * fall back to what is at least unknown to a remote client.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	mix[0] = (uint64_t)ts.tv_sec;
	mix[1] = (uint64_t)ts.tv_nsec;
	mix[2] = (uint64_t)getpid();
	mix[3] = (uint64_t)(uintptr_t)&ts;
	proc_key[0] = siphash13(0, 0, (const unsigned char *)mix, sizeof(mix));
	mix[0] ^= 1;
	proc_key[1] = siphash13(0, 0, (const unsigned char *)mix, sizeof(mix));
}

/* Gives m its own key, derived from the process key and a serial. */
static void
seed_map(struct strmap *m)
{
	uint64_t serial;

	pthread_once(&proc_key_once, proc_key_init);
	serial = atomic_fetch_add(&map_serial, 1);
	m->k0 = siphash13(proc_key[0], proc_key[1], (const unsigned char *)&serial,
	    sizeof(serial));
	serial = ~serial;
	m->k1 = siphash13(proc_key[0], proc_key[1], (const unsigned char *)&serial,
	    sizeof(serial));
}

static uint64_t
hash_str(const struct strmap *m, const char *s)
{
	return siphash13(m->k0, m->k1, (const unsigned char *)s, strlen(s));
}

struct strmap *
strmap_new(void)
{
	struct strmap *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	seed_map(m);
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
find(const struct strmap *m, const char *key, uint64_t h)
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
	size_t i = find(m, key, hash_str(m, key));

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
	uint64_t h = hash_str(m, key);
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
	size_t i = find(m, key, hash_str(m, key)), j;
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
