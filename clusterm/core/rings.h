/*
 * Observers on K rings (CONTRACT section 12, Rapid's centralized mode).
 * Ring k orders the member names by rings_hash(k, name), ties broken by
 * the name; a member's observers are its successors on the K rings
 * (deduplicated, never itself), its subjects its predecessors. With K or
 * fewer other members, every other member observes it. Pure: no I/O, no
 * clock; the same calls give the same rings on every instance.
 *
 * Each ring is a balanced search tree (a treap) threaded by a circular
 * successor / predecessor list, and a name finds its slot through a hash
 * table: an observer or subject lookup is one table probe and K list reads,
 * an insert or a removal O(K log N) (one tree descent a ring); each reports
 * the observer pairs it changed (about 2K) so that only the subjects of
 * those pairs need a recount.
 *
 * Memory per member: RINGS_BYTES_PER_MEMBER(K) (per ring a 24-byte tree
 * node and 8 bytes of list links; the name's pointer, a free-slot entry,
 * the table's 8-16 bytes) plus the copy of the name; the arrays grow by
 * doubling. K = 10: about 350 bytes, 35 MB at 100,000 members.
 */
#ifndef RINGS_H
#define RINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* monitor.observers: 0 (every reporter counts) up to RINGS_MAX_K. */
#define RINGS_MAX_K 32

/* The rings' bytes per member for K rings, the name's copy aside (at most). */
#define RINGS_BYTES_PER_MEMBER(k) (32 * ((k) ? (k) : 1) + 8 + 4 + 16)

struct rings;

/* One changed pair: observer starts (added) or stops watching subject. */
struct rings_pair {
	const char *subject;
	const char *observer;
	bool added;
};

/*
 * The ring order: FNV-1a 64 over the 8 bytes of k (little endian) then the
 * name's bytes, finished by SplitMix64's mixer. Fixed: it decides the
 * rings of every instance and every release.
 */
uint64_t rings_hash(uint32_t k, const char *name);

/* Empty rings with k rings (0..RINGS_MAX_K); NULL on out of memory. */
struct rings *rings_new(uint32_t k);
void rings_free(struct rings *r);

uint32_t rings_k(const struct rings *r);
size_t rings_count(const struct rings *r);
bool rings_contains(const struct rings *r, const char *name);

/* The version: a counter bumped by every change of the rings. */
uint64_t rings_version(const struct rings *r);
void rings_set_version(struct rings *r, uint64_t version);

/*
 * Adds name (copied) / removes it. The pairs changed are then readable by
 * rings_delta() until the next change. -EEXIST / -ENOENT when there is
 * nothing to do, -ENOMEM (nothing changed).
 */
int rings_insert(struct rings *r, const char *name);
int rings_remove(struct rings *r, const char *name);

/*
 * Replaces the whole content: k rings over names[0..n) (duplicates are
 * taken once). Reports no pairs; callers recount every node. -EINVAL for a
 * k out of range, -ENOMEM (nothing changed).
 */
int rings_rebuild(struct rings *r, uint32_t k, const char *const *names, size_t n);

/* The pairs changed by the last insert or removal. */
const struct rings_pair *rings_delta(const struct rings *r, size_t *ret_n);

/*
 * name's observers / subjects into ret[0..max), ring order, deduplicated;
 * returns how many there are (at most K, 0 for a name not on the rings).
 * The strings belong to the rings, valid until the next change.
 */
size_t rings_observers(const struct rings *r, const char *name, const char **ret,
    size_t max);
size_t rings_subjects(const struct rings *r, const char *name, const char **ret,
    size_t max);

/* Whether observer is one of subject's observers. */
bool rings_is_observer(const struct rings *r, const char *subject, const char *observer);

#endif
