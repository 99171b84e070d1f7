/* status: is every layer of an instance serving? One line per layer:
 *
 *   nicd  serving  pid 4242  up 12.3s  restarts 0  standby 4250
 *     fault link nicd->ipd  drop 0.1 dup 0 corrupt 0 delay 0us seed 7  for 2.0s: ...
 *   ipd  down  (no answer within 1000 ms; unit activating/auto-restart)
 *
 * "Serving" is what the layer itself says over its control socket (a STATUS request answered
 * with state "serving"), not what systemd believes: a process can be active and wedged. The
 * restarts (of both of the layer's units, twin.c) and the standby's pid ("standby none" while
 * there is none, as just after a takeover) come from the manager recorded by `up`, when there is
 * one.
 * Exit 0 only when every present layer serves.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "ctl.h"
#include "ustackctl.h"

#define STATUS_TIMEOUT_MS 1000

int status_ctl_check(const char *instance, const char *layer, char *why, size_t why_size)
{
	char path[UCTL_PATH_MAX];
	struct stat sb;
	int rc = ctl_path(instance, layer, path, sizeof(path));
	if (rc < 0) {
		snprintf(why, why_size, "bad runtime path: %s", strerror(-rc));
		return rc;
	}
	/* ZeroMQ connects to a missing ipc:// path without complaint and then waits: say what is
	 * wrong at once instead of after the timeout. */
	if (stat(path, &sb) < 0) {
		snprintf(why, why_size, "no control socket %s", path);
		return -ENOENT;
	}
	return 0;
}

bool status_ctl_listening(const char *instance, const char *layer)
{
	char path[UCTL_PATH_MAX];
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	if (ctl_path(instance, layer, path, sizeof(path)) < 0 ||
	    strlen(path) >= sizeof(sun.sun_path))
		return true; /* cannot tell: let the caller ask */
	memcpy(sun.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	/* ECONNREFUSED is only ever the answer of a path without a listener, ENOENT of no path
	 * (a full backlog says EAGAIN). The probe connection is closed at once; ZeroMQ drops a
	 * peer that never greets it. */
	bool none = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
		    (errno == ECONNREFUSED || errno == ENOENT);
	close(fd);
	return !none;
}

int status_probe(void *zctx, const char *instance, const struct layer_info *l, int timeout_ms,
		 uint32_t *pid, uint64_t *uptime_ms, char *why, size_t why_size)
{
	int rc = status_ctl_check(instance, l->name, why, why_size);
	if (rc < 0)
		return rc;
	Ustack__CtlReply *r = NULL;
	rc = ctl_call(zctx, instance, l->name, USTACK__CTL_REQUEST__TYPE__STATUS, timeout_ms, &r);
	if (rc == -ETIMEDOUT) {
		snprintf(why, why_size, "no answer within %d ms", timeout_ms);
		return rc;
	}
	if (rc < 0) {
		snprintf(why, why_size, "control call failed: %s", strerror(-rc));
		return rc;
	}
	if (r->status != 0) {
		snprintf(why, why_size, "status error: %s", strerror(-r->status));
		rc = r->status < 0 ? r->status : -EPROTO;
	} else if (!r->state || strcmp(r->state, "serving") != 0) {
		snprintf(why, why_size, "state %s", r->state && r->state[0] ? r->state : "unknown");
		rc = -EAGAIN;
	} else {
		*pid = r->pid;
		*uptime_ms = r->uptime_ms;
		rc = 0;
	}
	ustack__ctl_reply__free_unpacked(r, NULL);
	return rc;
}

int status_cmd(const struct uctl_opts *o)
{
	struct uctl_state st;
	int src = state_read(o->instance, &st);
	struct manager m;
	bool have_manager = false;
	if (src == 0 && st.mode != STATE_MODE_NONE &&
	    manager_init(&m, o->instance, st.mode, st.manager_pid, st.manager_start) == 0)
		have_manager = st.mode == STATE_MODE_SYSTEM || manager_private_alive(&m);
	if (src == 0 && st.mode == STATE_MODE_PRIVATE && !have_manager)
		uctl_warn("the private manager of %s (pid %d) is gone: nothing restarts the layers "
			  "(run 'ustackctl down --instance %s')",
			  o->instance, (int)st.manager_pid, o->instance);
	else if (src < 0 && src != -ENOENT)
		uctl_warn("cannot read the state of instance %s: %s", o->instance, strerror(-src));

	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return UCTL_EXIT_FAIL;
	}
	bool all = true;
	for (unsigned i = 0; i < layer_table_len; i++) {
		const struct layer_info *l = &layer_table[i];
		if (!l->present)
			continue;
		char why[256];
		uint32_t pid = 0;
		uint64_t up_ms = 0;
		int rc = status_probe(zctx, o->instance, l, STATUS_TIMEOUT_MS, &pid, &up_ms, why,
				      sizeof(why));
		struct layer_twins tw;
		bool have_twins =
			have_manager && layer_twins_show(&m, l, rc == 0 ? pid : 0, &tw) == 0;
		if (rc == 0) {
			char restarts[32] = "?", standby[32] = "?";
			if (have_twins) {
				long sb = layer_twins_standby_pid(&tw);
				snprintf(restarts, sizeof(restarts), "%lu", tw.restarts);
				if (sb > 0)
					snprintf(standby, sizeof(standby), "%ld", sb);
				else
					snprintf(standby, sizeof(standby), "none");
			}
			printf("%s  serving  pid %u  up %.1fs  restarts %s  standby %s\n", l->name,
			       pid, (double)up_ms / 1000.0, restarts, standby);
			fault_status_print(zctx, o->instance, l, true);
			continue;
		}
		all = false;
		if (have_twins)
			printf("%s  down  (%s; units %s pid %ld, %s pid %ld)\n", l->name, why,
			       tw.u[0].active, tw.u[0].pid, tw.u[1].active, tw.u[1].pid);
		else if (src == -ENOENT)
			printf("%s  down  (%s; instance not up)\n", l->name, why);
		else if (!have_manager)
			printf("%s  down  (%s; its manager is gone)\n", l->name, why);
		else
			printf("%s  down  (%s)\n", l->name, why);
		fault_status_print(zctx, o->instance, l, false);
	}
	zmq_ctx_term(zctx);
	return all ? UCTL_EXIT_OK : UCTL_EXIT_FAIL;
}
