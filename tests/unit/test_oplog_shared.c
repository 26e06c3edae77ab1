/*
 * The operation log over a shared log (oplog_shared.c), through a stub
 * backend that hands the follower's callbacks to the test: a reload starts
 * where every replay of the log starts.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "ops.h"
#include "oplog.h"
#include "state.h"
#include "store.h"

/* What clusterm starts every log from (CONTRACT section 4's monitor defaults). */
static const struct votes_params defaults = { .grace_ms = 5000, .quorum = 0,
	.disruption_ratio = 0.55, .disruption_window_ms = 60000 };

static struct store_follow follow;
static bool following;

static int
stub_recover(void *b, store_visit_fn on_snapshot, store_visit_fn on_record, void *arg,
    store_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
	(void)b, (void)on_snapshot, (void)on_record, (void)arg, (void)warn, (void)warn_arg;
	(void)err, (void)errlen;
	return 0;
}

static int
stub_append(void *b, const void *buf, size_t len, uint64_t *ret_seq)
{
	(void)b, (void)buf, (void)len, (void)ret_seq;
	return -ENOTSUP;
}

static int
stub_wait(void *b, uint64_t seq)
{
	(void)b, (void)seq;
	return -ENOTSUP;
}

static int
stub_snapshot_begin(void *b, uint64_t *ret_gen)
{
	(void)b, (void)ret_gen;
	return -ENOTSUP;
}

static int
stub_snapshot_commit(void *b, uint64_t gen, const void *buf, size_t len)
{
	(void)b, (void)gen, (void)buf, (void)len;
	return -ENOTSUP;
}

static void
stub_get_stats(void *b, struct store_stats *ret)
{
	(void)b;
	memset(ret, 0, sizeof(*ret));
}

static int
stub_failure(void *b, char *ret_why, size_t len)
{
	(void)b, (void)ret_why, (void)len;
	return 0;
}

static void
stub_close(void *b)
{
	(void)b;
}

static int
stub_follow(void *b, const struct store_follow *f)
{
	(void)b;
	follow = *f;
	following = true;
	return 0;
}

static const struct store_backend stub = {
	.name = "stub",
	.recover = stub_recover,
	.append = stub_append,
	.wait = stub_wait,
	.snapshot_begin = stub_snapshot_begin,
	.snapshot_commit = stub_snapshot_commit,
	.get_stats = stub_get_stats,
	.failure = stub_failure,
	.close = stub_close,
	.follow = stub_follow,
};

/* The follower applies one operation of the log at revision pos. */
static void
deliver(const struct op *op, int64_t pos)
{
	char *buf;
	size_t len;

	ck_assert_int_eq(ops_encode(op, &buf, &len), 0);
	follow.on_record(buf, len, pos, 0, follow.arg);
	free(buf);
}

/*
 * A reload without a snapshot (the log compacted before the first one)
 * starts from the defaults, as a fresh instance applying the log from its
 * start does, not from the parameters in force.
 */
START_TEST(test_reload_starts_from_defaults)
{
	struct op op = { .kind = OP_PARAMS, .time_ms = 1000 };
	struct store *st;
	struct state *s;
	char err[256];

	ck_assert_int_eq(store_wrap(&stub, NULL, &st), 0);
	ck_assert_msg(oplog_open_store(st, &defaults, apply_op, NULL, &s, err, sizeof(err),
	    NULL, NULL) == 0, "oplog_open_store: %s", err);
	ck_assert(following);
	/* A SIGHUP somewhere: grace 1 s, quorum 2. */
	op.u.params = defaults;
	op.u.params.grace_ms = 1000;
	op.u.params.quorum = 2;
	deliver(&op, 10);
	ck_assert_int_eq(state_params(s)->grace_ms, 1000);
	ck_assert_int_eq(state_params(s)->quorum, 2);
	/* Reloaded from a log that holds no change of them (no snapshot). */
	follow.on_reset(follow.arg);
	follow.on_reload_done(follow.arg, true);
	ck_assert_int_eq(state_params(s)->grace_ms, defaults.grace_ms);
	ck_assert_int_eq(state_params(s)->quorum, defaults.quorum);
	/* And one that does: the change applies again. */
	follow.on_reset(follow.arg);
	deliver(&op, 11);
	follow.on_reload_done(follow.arg, true);
	ck_assert_int_eq(state_params(s)->grace_ms, 1000);
	state_close(s);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("oplog_shared");
	TCase *tc = tcase_create("reload");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_reload_starts_from_defaults);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
