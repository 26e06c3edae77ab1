/*
 * Unit tests: observers in the state (CONTRACT section 12). With K rings,
 * only a node's observers' votes count; the incremental counts equal a
 * recount after any sequence of ring changes; a snapshot gives the same
 * rings, version and counts; assignments settle after a burst of changes.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "observers.h"
#include "records.h"
#include "state_fixture.h"

#define N_NODES 12
#define K 3
#define RANDOM_OPS 400

static char err[256];
static char names[N_NODES][8];
static char all_names[N_NODES * 8];

static const struct votes_params params_k = { .grace_ms = 0, .disruption_ratio = 0.99,
	.disruption_window_ms = 60000, .observers = K };

static void
make_names(void)
{
	size_t off = 0;

	for (size_t i = 0; i < N_NODES; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02zu", i);
		off += (size_t)snprintf(all_names + off, sizeof(all_names) - off, "%s%s",
		    i ? " " : "", names[i]);
	}
}

static bool
in_list(const char **l, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(l[i], s) == 0)
			return true;
	return false;
}

/*
 * For every node: each vote is counted exactly when its reporter's node is
 * one of the node's observers (and not Disappeared), and the counts kept
 * incrementally equal a recount from scratch.
 */
static void
check_counts(struct state *s)
{
	pthread_rwlock_wrlock(&s->lock);
	for (size_t i = 0; i < inventory_count(s->inv); i++) {
		struct node *n = inventory_at(s->inv, i);
		uint32_t alive = n->oth_alive, gone = n->oth_gone;
		uint8_t self = n->self_kind;
		const char *obs[RINGS_MAX_K];
		size_t no = observers_of(s, n, obs, RINGS_MAX_K);

		for (uint32_t j = 0; j < n->votes.cap; j++) {
			const struct vote *v = &n->votes.slots[j];
			const struct reporter *r;
			bool want;

			if (v->rid == VOTE_NO_REPORTER || v->rid == n->self_rid ||
			    v->kind == VOTE_NONE)
				continue;
			r = &s->reps[v->rid];
			want = r->counts && (observers_k(s) == 0 || (r->node != VOTE_NO_REPORTER &&
			    in_list(obs, no, inventory_at(s->inv, r->node)->name)));
			ck_assert_msg(intake_vote_counted(s, n, v) == want,
			    "%s's vote on %s: counted %d (reporter counts %d, states %d/%d, "
			    "observers %zu, kind %d)", r->name, n->name, !want, r->counts,
			    n->state, r->node != VOTE_NO_REPORTER ?
			    (int)inventory_at(s->inv, r->node)->state : -1, no, v->kind);
		}
		votes_recount(n, state_reporter_counts, s);
		ck_assert_msg(n->oth_alive == alive && n->oth_gone == gone &&
		    n->self_kind == self, "%s: incremental %u/%u, recount %u/%u", n->name,
		    alive, gone, n->oth_alive, n->oth_gone);
	}
	pthread_rwlock_unlock(&s->lock);
}

/* Each node joins by its own report, then reports everyone alive (as K = 0 forwarders do). */
static long long
boot(struct state *s, long long t)
{
	for (size_t i = 0; i < N_NODES; i++)
		fix_reports_at(s, t++, names[i], REPORT_KIND_DISCOVERED, "member-join", names[i]);
	for (size_t i = 0; i < N_NODES; i++)
		fix_reports_at(s, t++, names[i], REPORT_KIND_DISCOVERED, "member-join",
		    all_names);
	return t;
}

static struct node *
node(struct state *s, const char *name)
{
	struct node *n = inventory_get(s->inv, name);

	ck_assert_ptr_nonnull(n);
	return n;
}

START_TEST(test_only_observers_count)
{
	struct state *s;
	struct store *st;
	const char *obs[RINGS_MAX_K], *sub[RINGS_MAX_K];
	const char *victim = names[5];
	size_t no;
	uint64_t v0;
	long long t;

	make_names();
	s = fix_open(&params_k, &st);
	t = boot(s, 1000);
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_uint_eq(observers_k(s), K);
	ck_assert_uint_eq(rings_count(s->rings), N_NODES);
	v0 = observers_version(s);
	ck_assert_uint_eq(v0, N_NODES);
	for (size_t i = 0; i < N_NODES; i++) {
		struct node *n = node(s, names[i]);
		ck_assert_int_eq(n->state, MON_DISCOVERED);
		no = observers_of(s, n, obs, RINGS_MAX_K);
		ck_assert(no >= 1 && no <= K);
		/* every observer has voted alive: exactly those count */
		ck_assert_uint_eq(n->oth_alive, no);
		ck_assert_uint_eq(n->oth_gone, 0);
		ck_assert_uint_eq(n->votes.used, N_NODES);
	}
	no = observers_of(s, node(s, victim), obs, RINGS_MAX_K);
	pthread_rwlock_unlock(&s->lock);
	check_counts(s);

	/* Every non-observer says the victim is gone: not counted, it stays. */
	for (size_t i = 0; i < N_NODES; i++)
		if (names[i] != victim && !in_list(obs, no, names[i]))
			fix_reports_at(s, t++, names[i], REPORT_KIND_DISAPPEARED,
			    "member-failed", victim);
	ck_assert_int_eq(fix_state_of(s, victim), MON_DISCOVERED);
	check_counts(s);
	/* Its observers say so: Disappeared, off the rings. */
	for (size_t i = 0; i < no; i++)
		fix_reports_at(s, t++, obs[i], REPORT_KIND_DISAPPEARED, "member-failed", victim);
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_msg(node(s, victim)->state == MON_DISAPPEARED, "victim %u alive %u gone, %zu obs",
	    node(s, victim)->oth_alive, node(s, victim)->oth_gone, no);
	ck_assert(!rings_contains(s->rings, victim));
	ck_assert_uint_gt(observers_version(s), v0);
	ck_assert_uint_eq(observers_subjects(s, node(s, victim), sub, RINGS_MAX_K), 0);
	/* the others are still alive, their new observers' votes counted */
	for (size_t i = 0; i < N_NODES; i++)
		if (names[i] != victim)
			ck_assert_int_eq(node(s, names[i])->state, MON_DISCOVERED);
	pthread_rwlock_unlock(&s->lock);
	check_counts(s);
	/* Later reports from others change nothing: off the rings, none count. */
	fix_reports_at(s, t++, names[0], REPORT_KIND_DISCOVERED, "member-update", victim);
	ck_assert_int_eq(fix_state_of(s, victim), MON_DISAPPEARED);
	/* Its own join is a new life: Discovered, back on the rings, old votes gone. */
	fix_reports_at(s, t++, victim, REPORT_KIND_DISCOVERED, "member-join", victim);
	ck_assert_int_eq(fix_state_of(s, victim), MON_DISCOVERED);
	pthread_rwlock_rdlock(&s->lock);
	ck_assert(rings_contains(s->rings, victim));
	ck_assert_uint_eq(node(s, victim)->oth_gone, 0);
	pthread_rwlock_unlock(&s->lock);
	check_counts(s);
	state_close(s);
}
END_TEST

/* Everyone observes everyone while there are K or fewer others. */
START_TEST(test_small_cluster)
{
	struct state *s;
	const char *obs[RINGS_MAX_K];

	make_names();
	s = fix_open(&params_k, NULL);
	for (size_t i = 0; i < K + 1; i++)
		fix_reports_at(s, 1000 + (long long)i, names[i], REPORT_KIND_DISCOVERED,
		    "member-join", names[i]);
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < K + 1; i++)
		ck_assert_uint_eq(observers_of(s, node(s, names[i]), obs, RINGS_MAX_K), K);
	ck_assert_uint_eq(observers_reporter_subjects(s, names[0], obs, RINGS_MAX_K), K);
	ck_assert(!in_list(obs, K, names[0]));
	pthread_rwlock_unlock(&s->lock);
	state_close(s);
}
END_TEST

/*
 * A burst of joins (more than OBSERVERS_BURST_CHANGES within
 * OBSERVERS_BURST_WINDOW_MS): the nodes whose subjects changed in it are settling
 * until OBSERVERS_SETTLE_MS after their last change, by the operations'
 * times; the votes count as ever; a lone join later is not held back.
 */
START_TEST(test_settle_in_burst)
{
	enum { BURST = OBSERVERS_BURST_CHANGES + 36 };
	static char bn[BURST + 1][8];
	struct state *s;
	size_t settling = 0;
	long long t = 5000;

	for (size_t i = 0; i <= BURST; i++)
		snprintf(bn[i], sizeof(bn[i]), "b%03zu", i);
	s = fix_open(&params_k, NULL);
	for (size_t i = 0; i < BURST; i++)
		fix_reports_at(s, t++, bn[i], REPORT_KIND_DISCOVERED, "member-join", bn[i]);
	pthread_rwlock_rdlock(&s->lock);
	/* the last one is settling, and most of those that joined in the burst */
	ck_assert(observers_settling(s, bn[BURST - 1]));
	ck_assert_int_eq(node(s, bn[BURST - 1])->settle_ms, t - 1 + OBSERVERS_SETTLE_MS);
	for (size_t i = 0; i < BURST; i++)
		settling += observers_settling(s, bn[i]);
	ck_assert_uint_gt(settling, BURST - OBSERVERS_BURST_CHANGES);
	ck_assert(!observers_settling(s, "nobody"));
	pthread_rwlock_unlock(&s->lock);
	check_counts(s);

	/* an operation just before the settle time: still; at it: none */
	fix_reports_at(s, t - 2 + OBSERVERS_SETTLE_MS, bn[0], REPORT_KIND_DISCOVERED,
	    "member-update", bn[0]);
	pthread_rwlock_rdlock(&s->lock);
	ck_assert(observers_settling(s, bn[BURST - 1]));
	pthread_rwlock_unlock(&s->lock);
	t += OBSERVERS_SETTLE_MS;
	fix_reports_at(s, t, bn[0], REPORT_KIND_DISCOVERED, "member-update", bn[0]);
	pthread_rwlock_rdlock(&s->lock);
	for (size_t i = 0; i < BURST; i++)
		ck_assert_msg(!observers_settling(s, bn[i]), "%s", bn[i]);
	pthread_rwlock_unlock(&s->lock);

	/* a lone join once the burst is over: its assignment goes out at once */
	t += OBSERVERS_BURST_WINDOW_MS;
	fix_reports_at(s, t, bn[BURST], REPORT_KIND_DISCOVERED, "member-join", bn[BURST]);
	pthread_rwlock_rdlock(&s->lock);
	ck_assert(rings_contains(s->rings, bn[BURST]));
	for (size_t i = 0; i <= BURST; i++)
		ck_assert_msg(!observers_settling(s, bn[i]), "%s", bn[i]);
	pthread_rwlock_unlock(&s->lock);
	check_counts(s);
	state_close(s);
}
END_TEST

static uint32_t rnd_state = 99;

static uint32_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

/* Random votes and ring changes; a K change; a snapshot equal in every respect. */
START_TEST(test_random_recount_and_snapshot)
{
	struct state *s, *c;
	long long t;
	char *buf;
	size_t len;

	make_names();
	s = fix_open(&params_k, NULL);
	t = boot(s, 1000);
	for (int op = 0; op < RANDOM_OPS; op++) {
		const char *a = names[rnd() % N_NODES], *b = names[rnd() % N_NODES];
		uint32_t what = rnd() % 10;

		if (what == 0)	/* an operator moves a node on or off the rings */
			fix_reports_at(s, t++, NULL, rnd() % 2 ? REPORT_KIND_DISCOVERED :
			    REPORT_KIND_DISAPPEARED, NULL, b);
		else
			fix_reports_at(s, t++, a, what < 6 ? REPORT_KIND_DISCOVERED :
			    REPORT_KIND_DISAPPEARED, what < 6 ? "member-join" : "member-failed",
			    b);
		if (op % 10 == 0)
			check_counts(s);
		if (op == RANDOM_OPS / 2) {
			/* K changes: the rings are built again, the counts follow */
			struct op p = { .kind = OP_PARAMS, .time_ms = t++, .u.params = params_k };
			p.u.params.observers = K + 2;
			fix_apply(s, &p);
			pthread_rwlock_rdlock(&s->lock);
			ck_assert_uint_eq(observers_k(s), K + 2);
			pthread_rwlock_unlock(&s->lock);
			check_counts(s);
		}
	}
	check_counts(s);

	c = fix_open(&params_k, NULL);
	pthread_rwlock_rdlock(&s->lock);
	ck_assert_int_eq(records_encode_snapshot(s, &buf, &len), 0);
	pthread_rwlock_unlock(&s->lock);
	pthread_rwlock_wrlock(&c->lock);
	ck_assert_msg(records_decode_snapshot(c, buf, len, err, sizeof(err)) == 0, "%s", err);
	pthread_rwlock_unlock(&c->lock);
	free(buf);
	ck_assert_uint_eq(observers_k(c), K + 2);
	ck_assert_uint_eq(observers_version(c), observers_version(s));
	ck_assert_uint_eq(rings_count(c->rings), rings_count(s->rings));
	for (size_t i = 0; i < N_NODES; i++) {
		struct node *x = node(s, names[i]), *y = node(c, names[i]);
		const char *ox[RINGS_MAX_K], *oy[RINGS_MAX_K];
		size_t nx = observers_of(s, x, ox, RINGS_MAX_K);
		size_t ny = observers_of(c, y, oy, RINGS_MAX_K);

		ck_assert_int_eq(x->state, y->state);
		ck_assert_uint_eq(nx, ny);
		for (size_t j = 0; j < nx; j++)
			ck_assert_str_eq(ox[j], oy[j]);
		ck_assert_uint_eq(x->oth_alive, y->oth_alive);
		ck_assert_uint_eq(x->oth_gone, y->oth_gone);
	}
	check_counts(c);

	/* K back to 0: every reporter counts again, the rings are empty. */
	{
		struct op p = { .kind = OP_PARAMS, .time_ms = t++, .u.params = params_k };
		p.u.params.observers = 0;
		fix_apply(s, &p);
		pthread_rwlock_rdlock(&s->lock);
		ck_assert_uint_eq(rings_count(s->rings), 0);
		for (size_t i = 0; i < N_NODES; i++) {
			struct node *n = node(s, names[i]);
			for (uint32_t j = 0; j < n->votes.cap; j++) {
				const struct vote *v = &n->votes.slots[j];
				if (v->rid != VOTE_NO_REPORTER && v->rid != n->self_rid &&
				    v->kind != VOTE_NONE)
					ck_assert(intake_vote_counted(s, n, v) ==
					    s->reps[v->rid].counts);
			}
		}
		pthread_rwlock_unlock(&s->lock);
		check_counts(s);
	}
	state_close(c);
	state_close(s);
}
END_TEST

/* A params record of before observers (4 fields) still decodes, with K = 0. */
START_TEST(test_old_params_record)
{
	struct op op = { .kind = OP_PARAMS, .time_ms = 5, .u.params = params_k }, back;
	char *buf;
	size_t len;

	ck_assert_int_eq(ops_encode(&op, &buf, &len), 0);
	ck_assert_int_eq(ops_decode(buf, len, &back, err, sizeof(err)), 0);
	ck_assert_uint_eq(back.u.params.observers, K);
	ops_free(&back);
	/* drop the last field: array header 13 -> 12 elements, one byte less */
	ck_assert_uint_eq((unsigned char)buf[0], 0x9d);
	buf[0] = (char)0x9c;
	ck_assert_msg(ops_decode(buf, len - 1, &back, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(back.u.params.observers, 0);
	ck_assert_int_eq(back.u.params.grace_ms, params_k.grace_ms);
	ops_free(&back);
	free(buf);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("observers");
	TCase *tc = tcase_create("state");
	SRunner *sr;
	int failed;

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_only_observers_count);
	tcase_add_test(tc, test_small_cluster);
	tcase_add_test(tc, test_settle_in_burst);
	tcase_add_test(tc, test_random_recount_and_snapshot);
	tcase_add_test(tc, test_old_params_record);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
