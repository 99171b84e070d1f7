/* wait: block until every layer of an instance serves, or a timeout passes.
 *
 *   ustackctl wait --instance NAME [--timeout SECONDS]    (default 30 s)
 *
 * What a test runs after it has killed or hung a layer: "serving" is what `status` means by it,
 * each present layer answering a STATUS request on its control socket with state "serving"
 * (a process that systemd believes active but that is stopped, wedged or still attaching does
 * not count). A layer that was just SIGKILLed or SIGSTOPped cannot answer, so no pid has to be
 * compared: the first all-serving round is after its successor (or the continued process) is
 * back. Exit 0 once every layer serves (it prints how long that took), 1 at the timeout (it
 * prints which layers did not and why).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "ustackctl.h"

#define WAIT_PROBE_MS 500 /* one STATUS call; a layer that answers answers in well under it */
#define WAIT_POLL_US 20000

static uint64_t wait_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int wait_cmd(const struct uctl_opts *o)
{
	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	uint64_t t0 = wait_now_ms(), deadline = t0 + o->timeout_ms;
	char why[UCTL_LAYERS_MAX][256];
	bool down[UCTL_LAYERS_MAX];
	int rc;
	for (;;) {
		bool all = true;
		for (unsigned i = 0; i < layer_table_len && i < UCTL_LAYERS_MAX; i++) {
			const struct layer_info *l = &layer_table[i];
			down[i] = false;
			if (!l->present)
				continue;
			uint32_t pid;
			uint64_t up_ms;
			if (status_probe(zctx, o->instance, l, WAIT_PROBE_MS, &pid, &up_ms, why[i],
					 sizeof(why[i])) < 0) {
				down[i] = true;
				all = false;
			}
		}
		uint64_t now = wait_now_ms();
		if (all) {
			printf("%s: every layer serves (after %.2f s)\n", o->instance,
			       (double)(now - t0) / 1000.0);
			rc = UCTL_EXIT_OK;
			break;
		}
		if (now >= deadline) {
			for (unsigned i = 0; i < layer_table_len && i < UCTL_LAYERS_MAX; i++)
				if (down[i])
					uctl_err("wait: %s does not serve after %.1f s: %s",
						 layer_table[i].name, (double)o->timeout_ms / 1000.0,
						 why[i]);
			rc = UCTL_EXIT_FAIL;
			break;
		}
		usleep(WAIT_POLL_US);
	}
	zmq_ctx_term(zctx);
	return rc;
}
