/*
 * A records_visitor for the fuzz targets: nodes go into an inventory (as
 * recovery does), jobs and events are taken over and freed, the rest is
 * looked at and dropped.
 */
#ifndef FUZZ_RECORDS_VISIT_H
#define FUZZ_RECORDS_VISIT_H

#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "records.h"
#include "state.h"

/* Strings are read to the end, so ASan sees one that is not terminated. */
static volatile size_t fuzz_sink;

static int
visit_node(struct node *n, void *arg)
{
	return inventory_put(arg, n);
}

static int
visit_watermark(const char *reporter, const char *epoch, uint64_t seq, void *arg)
{
	(void)arg;
	fuzz_sink += strlen(reporter) + strlen(epoch) + (size_t)seq;
	return 0;
}

static int
visit_job(struct job_rec *j, void *arg)
{
	(void)arg;
	job_rec_free(j);
	return 0;
}

static int
visit_event(struct audit_event *e, void *arg)
{
	(void)arg;
	audit_event_finish(e);
	return 0;
}

static int
visit_text(const char *json, void *arg)
{
	(void)arg;
	fuzz_sink += strlen(json);
	return 0;
}

static int
visit_counters(uint64_t next_job_id, uint64_t next_event_id, void *arg)
{
	(void)arg;
	(void)next_job_id;
	(void)next_event_id;
	return 0;
}

/* The visitor; arg is the inventory nodes go to. */
static inline struct records_visitor
fuzz_visitor(struct inventory *inv)
{
	struct records_visitor v = { visit_node, visit_watermark, visit_job, visit_event,
		visit_text, visit_text, visit_counters, inv };
	return v;
}

#endif
