/* Dispatches a durable operation to its apply step. */
#include "apply.h"
#include "forget.h"
#include "intake.h"
#include "lifecycle.h"

void
apply_op(struct state *s, struct op *op, void *arg)
{
	(void)arg;
	switch (op->kind) {
	case OP_REPORTS:
		intake_apply_reports(s, op);
		break;
	case OP_TICK:
		intake_apply_tick(s, op);
		if (forget_apply_tick(s, op) > 0)
			intake_recheck_disruption(s);
		break;
	case OP_PARAMS:
		intake_apply_params(s, op);
		break;
	case OP_HEARTBEAT:
		intake_apply_heartbeat(s, op);
		break;
	case OP_JOB_REQUEST:
		lifecycle_apply_request(s, op);
		break;
	case OP_JOB_END:
		lifecycle_apply_end(s, op);
		break;
	case OP_JOB_CANCEL:
		lifecycle_apply_cancel(s, op);
		break;
	case OP_JOB_STARTED:
		lifecycle_apply_started(s, op);
		break;
	case OP_GLOBALS:
	case OP_CONFIG:
		lifecycle_apply_text(s, op);
		break;
	case OP_FORGET:
		forget_apply(s, op);
		if (op->res.rc == 0)
			intake_recheck_disruption(s);
		break;
	default:
		break;
	}
}
