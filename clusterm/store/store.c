/*
 * The persistence interface: forwards every call to the backend a store
 * was opened with. Each backend opens itself and wraps its handle with
 * store_wrap(): the embedded WAL (store_open() in store_wal.c), or for
 * tests the in-memory one (store_open_fake() in store_fake.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

/*
 * Upper bounds (seconds) of the fsync latency histogram. The counts in
 * struct store_stats.fsync_bucket are per bucket, not cumulative: bucket i
 * counts fsyncs in (bound[i-1], bound[i]], the last one those above 1 s.
 */
const double store_fsync_bounds[STORE_FSYNC_BUCKETS] = {
	0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
	0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
};

struct store {
	const struct store_backend *be;
	void *b;	/* the backend's handle, owned */
};

int
store_wrap(const struct store_backend *be, void *b, struct store **ret)
{
	struct store *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		be->close(b);
		return -ENOMEM;
	}
	s->be = be;
	s->b = b;
	*ret = s;
	return 0;
}

void *
store_backend_handle(struct store *s, const struct store_backend *be)
{
	return s != NULL && s->be == be ? s->b : NULL;
}

int
store_recover(struct store *s, store_visit_fn on_snapshot, store_visit_fn on_record,
    void *arg, store_warn_fn warn, void *warn_arg, char *err, size_t errlen)
{
	if (errlen > 0)
		err[0] = '\0';
	return s->be->recover(s->b, on_snapshot, on_record, arg, warn, warn_arg, err, errlen);
}

int
store_append(struct store *s, const void *buf, size_t len, uint64_t *ret_seq)
{
	return s->be->append(s->b, buf, len, ret_seq);
}

int
store_append_flags(struct store *s, const void *buf, size_t len, unsigned flags,
    uint64_t *ret_seq)
{
	if (s->be->append_flags != NULL)
		return s->be->append_flags(s->b, buf, len, flags, ret_seq);
	return s->be->append(s->b, buf, len, ret_seq);
}

bool
store_is_shared(struct store *s)
{
	return s->be->follow != NULL;
}

int
store_follow(struct store *s, const struct store_follow *f)
{
	return s->be->follow != NULL ? s->be->follow(s->b, f) : -ENOTSUP;
}

int
store_put_joblog(struct store *s, uint64_t id, const void *buf, size_t len)
{
	return s->be->put_joblog != NULL ? s->be->put_joblog(s->b, id, buf, len) : -ENOTSUP;
}

int
store_get_joblog(struct store *s, uint64_t id, char **ret, size_t *ret_len)
{
	return s->be->get_joblog != NULL ? s->be->get_joblog(s->b, id, ret, ret_len) :
	    -ENOTSUP;
}

bool
store_leads(struct store *s)
{
	return s->be->leads == NULL || s->be->leads(s->b);
}

void
store_last_error(struct store *s, char *ret, size_t len)
{
	if (s->be->last_error != NULL)
		s->be->last_error(s->b, ret, len);
	else if (len > 0)
		ret[0] = '\0';
}

int
store_wait(struct store *s, uint64_t seq)
{
	return s->be->wait(s->b, seq);
}

int
store_snapshot_begin(struct store *s, uint64_t *ret_gen)
{
	return s->be->snapshot_begin(s->b, ret_gen);
}

int
store_snapshot_commit(struct store *s, uint64_t gen, const void *buf, size_t len)
{
	return s->be->snapshot_commit(s->b, gen, buf, len);
}

void
store_get_stats(struct store *s, struct store_stats *ret)
{
	memset(ret, 0, sizeof(*ret));
	s->be->get_stats(s->b, ret);
}

int
store_failure(struct store *s, char *ret_why, size_t len)
{
	return s->be->failure(s->b, ret_why, len);
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	s->be->close(s->b);
	free(s);
}
