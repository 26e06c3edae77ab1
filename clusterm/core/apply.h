/*
 * The apply step: one durable operation into the state, dispatched by kind
 * to the module whose rules it follows. Deterministic: time comes from the
 * operation, so a replay gives the same state.
 */
#ifndef APPLY_H
#define APPLY_H

#include "state.h"

/* A state_apply_fn (arg unused). */
void apply_op(struct state *s, struct op *op, void *arg);

#endif
