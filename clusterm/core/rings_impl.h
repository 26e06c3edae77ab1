/*
 * The rings' insides (rings.c, rings_tree.c): the slots, the treaps and
 * the name table. Not for other modules.
 */
#ifndef RINGS_IMPL_H
#define RINGS_IMPL_H

#include "rings.h"

/* The members whose observers one insert or removal may change. */
#define AFFECTED_MAX (RINGS_MAX_K + 2)

/* No slot: an empty child, parent or table answer. */
#define NIL UINT32_MAX

/* Slots are uint32_t; the last values are kept for NIL. */
#define SLOTS_MAX (UINT32_MAX - 2)

/* A (hash, name) pair: what rings_rebuild sorts, and the order's key. */
struct ring_entry {
	uint64_t h;
	char *name;
};

/* A slot's node on one ring: 24 bytes with the padding. */
struct tnode {
	uint64_t h;		/* rings_hash(ring, name) */
	uint32_t left, right, parent;
};

struct rings {
	uint32_t k;
	uint32_t nrings;	/* max(k, 1): ring 0 also lists the members when k = 0 */
	size_t n;
	uint32_t cap;		/* slots allocated in name, freeslot and every t[i] */
	uint32_t top;		/* slots ever used: [0, top) */
	uint32_t nfree;
	char **name;		/* slot -> its name (owned), NULL for a free slot */
	uint32_t *freeslot;	/* a stack of the free slots below top */
	struct tnode *t[RINGS_MAX_K];
	uint32_t root[RINGS_MAX_K];
	/* Slot s's successor / predecessor on ring i at [s * nrings + i]. */
	uint32_t *next, *prev;
	uint32_t *tab;		/* name -> slot + 1 (0: empty), linear probing */
	size_t tabcap;		/* a power of two, at most half full */
	uint64_t version;
	char *removed;		/* the last name removed, alive for its delta */
	struct rings_pair delta[2 * AFFECTED_MAX * RINGS_MAX_K];
	size_t ndelta;
	const char *before[AFFECTED_MAX][RINGS_MAX_K];
	size_t nbefore[AFFECTED_MAX];
};

static inline uint64_t rings_mix64(uint64_t h)
{
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
	return h ^ (h >> 31);
}

/* A treap priority: the order's hash mixed again (never stored). */
static inline uint64_t rings_prio(uint64_t h)
{
	return rings_mix64(h ^ 0xd6e8feb86659fd93ULL);
}

/* The name table: a name's slot (h0: its ring 0 hash), or NIL. */
uint32_t rings_slot_of_h(const struct rings *r, uint64_t h0, const char *name);
uint32_t rings_slot_of(const struct rings *r, const char *name);
/* Adds / removes slot s (its name and ring 0 hash set); room by rings_tab_reserve. */
void rings_tab_add(struct rings *r, uint32_t s);
void rings_tab_del(struct rings *r, uint32_t s);
/* Room in the table for want names. -ENOMEM (the table unchanged). */
int rings_tab_reserve(struct rings *r, size_t want);

/* Slot x's successor / predecessor on ring i (x on it), wrapping around. */
static inline uint32_t rings_succ(const struct rings *r, uint32_t i, uint32_t x)
{
	return r->next[(size_t)x * r->nrings + i];
}

static inline uint32_t rings_pred(const struct rings *r, uint32_t i, uint32_t x)
{
	return r->prev[(size_t)x * r->nrings + i];
}

/* Ring i's first slot (ring not empty). */
uint32_t rings_first(const struct rings *r, uint32_t i);
/* Links slot x (its h on every ring set) into every ring / unlinks it from ring i. */
void rings_tree_insert(struct rings *r, uint32_t x);
void rings_tree_remove(struct rings *r, uint32_t i, uint32_t x);
/* Ring i as a treap over slots[0..m) given in ring order; stack: room for m. */
void rings_tree_build(struct rings *r, uint32_t i, const uint32_t *slots, size_t m,
    uint32_t *stack);

#endif
