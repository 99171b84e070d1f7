/* up: bring an instance up: config, namespace, TAP, systemd units, then wait until every layer
 * serves.
 *
 * Steps, each recorded in up.state before the next one runs (so a failure at any point leaves
 * exactly what `down` needs to clean):
 *   1. refuse if the instance is up; clean the leftovers of an earlier, dead one
 *   2. runtime dir, config file (config_defaults, then the command line)
 *   3. namespace (created if missing, remembered as ours), TAP with MTU and peer address
 *   4. systemd: the system manager (our templates linked into /run) or a private one per
 *      instance; per-instance drop-ins; daemon-reload; start ustack@NAME.target
 *   5. poll every present layer's STATUS until all serve (15 s)
 * On failure up says where to look and exits 1; it does not tear down by itself, so the
 * evidence (unit state, logs) is still there. `down` cleans.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <pwd.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "config.h"
#include "ustackctl.h"

#define UP_SERVE_WAIT_MS 15000
#define UP_RESTARTS_GIVE_UP 5
#define UP_PROBE_TIMEOUT_MS 500
#define UP_START_TIMEOUT_MS 90000 /* systemctl start: a unit's TimeoutStartSec plus restarts */

static int64_t up_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 when the instance is not running (leftovers of a dead one are cleaned), else -EEXIST. */
static int up_check_not_up(const struct uctl_opts *o)
{
	struct uctl_state st;
	int rc = state_read(o->instance, &st);
	if (rc == 0 && st.mode != STATE_MODE_NONE) {
		struct manager m;
		if (manager_init(&m, o->instance, st.mode, st.manager_pid, st.manager_start) == 0 &&
		    (m.mode == STATE_MODE_PRIVATE ? manager_private_alive(&m)
						  : manager_target_active(&m))) {
			uctl_err("instance %s is already up (run 'ustackctl down --instance %s' first)",
				 o->instance, o->instance);
			return -EEXIST;
		}
	}
	if (rc != -ENOENT) {
		fprintf(stderr, "ustackctl: cleaning up what an earlier 'up' of %s left behind\n",
			o->instance);
		if (down_teardown(o->instance) < 0) {
			uctl_err("cannot clean the leftovers of instance %s; fix the above and run "
				 "'ustackctl down --instance %s'",
				 o->instance, o->instance);
			return -EEXIST;
		}
		return 0;
	}
	if (manager_system_available()) {
		struct manager m;
		manager_init(&m, o->instance, STATE_MODE_SYSTEM, 0, 0);
		if (manager_target_active(&m)) {
			uctl_err("ustack@%s.target is already active under systemd (started without "
				 "ustackctl?); stop it first",
				 o->instance);
			return -EEXIST;
		}
	}
	return 0;
}

static int up_write_config(const struct uctl_opts *o, struct ustack_config *cfg)
{
	config_defaults(cfg, o->instance);
	if (o->netns)
		snprintf(cfg->netns, sizeof(cfg->netns), "%s", o->netns);
	cfg->ip_addr = o->addr;
	cfg->ip_prefix = o->prefix;
	cfg->ip_gateway = o->gateway;
	cfg->ip_peer = o->peer;
	if (o->mtu)
		cfg->mtu = (uint16_t)o->mtu;
	if (o->offload >= 0)
		cfg->nic_offload = o->offload != 0;
	if (o->link_shm >= 0)
		cfg->link_shm = o->link_shm != 0;
	if (o->busy_poll_us >= 0)
		cfg->busy_poll_us = (unsigned)o->busy_poll_us;
	if (o->cpus)
		snprintf(cfg->cpus, sizeof(cfg->cpus), "%s", o->cpus);
	char path[UCTL_PATH_MAX], dir[UCTL_PATH_MAX];
	int rc = ustack_config_path(o->instance, path, sizeof(path));
	if (rc < 0) {
		uctl_err("bad config path: %s", strerror(-rc));
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	rc = state_mkdir_p(dirname(dir), 0755);
	if (rc == 0)
		rc = config_write(path, cfg);
	if (rc < 0)
		uctl_err("cannot write config %s: %s", path, strerror(-rc));
	return rc;
}

static int up_systemd(const struct uctl_opts *o, struct uctl_state *st, struct manager *m)
{
	int rc;
	if (manager_system_available()) {
		st->mode = STATE_MODE_SYSTEM;
		rc = state_write(o->instance, st);
		if (rc == 0)
			rc = manager_init(m, o->instance, STATE_MODE_SYSTEM, 0, 0);
		if (rc == 0)
			rc = manager_system_link_units();
		if (rc == 0)
			rc = manager_write_dropins(m, o->netns);
	} else {
		st->mode = STATE_MODE_PRIVATE;
		rc = state_write(o->instance, st);
		if (rc == 0)
			rc = manager_init(m, o->instance, STATE_MODE_PRIVATE, 0, 0);
		/* Drop-ins first: the manager loads them with everything else at start. */
		if (rc == 0)
			rc = manager_write_dropins(m, o->netns);
		if (rc == 0)
			rc = manager_private_spawn(m);
		if (rc == 0) {
			/* Recorded before waiting: whatever happens next, down finds and ends it. */
			st->manager_pid = m->pid;
			st->manager_start = m->start;
			rc = state_write(o->instance, st);
			if (rc < 0)
				uctl_err("cannot record the private manager (pid %d): %s", (int)m->pid,
					 strerror(-rc));
		}
		if (rc == 0)
			rc = manager_private_wait(m);
	}
	if (rc < 0)
		return rc;

	char target[96], err[2048];
	layer_target(o->instance, target, sizeof(target));
	const char *reload[] = {"daemon-reload", NULL};
	rc = manager_systemctl(m, reload, 30000, NULL, 0, err, sizeof(err));
	if (rc != 0) {
		uctl_err("systemctl daemon-reload failed: %s",
			 rc > 0 ? run_last_line(err) : strerror(-rc));
		return -EIO;
	}
	const char *start[] = {"start", target, NULL};
	rc = manager_systemctl(m, start, UP_START_TIMEOUT_MS, NULL, 0, err, sizeof(err));
	if (rc != 0) {
		uctl_err("systemctl start %s failed: %s", target,
			 rc > 0 ? run_last_line(err) : strerror(-rc));
		manager_print_hint(m, target);
		return -EIO;
	}
	return 0;
}

/* The layers run as USTACK_USER (User= in their units). Made by systemd-sysusers from our
 * sysusers.d file when missing, as a package's postinst would. */
static int up_ensure_user(uid_t *uid, gid_t *gid)
{
	struct passwd *pw = getpwnam(USTACK_USER);
	if (!pw) {
		char file[UCTL_PATH_MAX], err[1024];
		int rc = state_sysusers_file(file, sizeof(file));
		if (rc == 0) {
			fprintf(stderr, "ustackctl: creating the system user %s (systemd-sysusers %s)\n",
				USTACK_USER, file);
			const char *argv[] = {"systemd-sysusers", file, NULL};
			struct run_spec rs = {.argv = argv, .err = err, .err_size = sizeof(err)};
			rc = run_cmd(&rs);
			if (rc != 0)
				uctl_err("systemd-sysusers %s failed: %s", file,
					 rc > 0 ? run_last_line(err) : strerror(-rc));
		}
		pw = getpwnam(USTACK_USER);
		if (!pw) {
			uctl_err("no system user %s for the layers to run as (create it: "
				 "systemd-sysusers <prefix>/lib/sysusers.d/ustack.conf)",
				 USTACK_USER);
			return -ENOENT;
		}
	}
	if (pw->pw_uid == 0) {
		uctl_err("the system user %s is root: the layers must not run as root", USTACK_USER);
		return -EPERM;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* A layer that keeps failing at start (a refused object, a missing device) will not serve by
 * waiting longer: say so after UP_RESTARTS_GIVE_UP restarts instead of after the full wait. */
static bool up_restart_looping(const struct manager *m, const bool *serving)
{
	for (unsigned i = 0; i < layer_table_len && i < 16; i++) {
		struct layer_twins tw;
		if (!layer_table[i].present || serving[i] ||
		    layer_twins_show(m, &layer_table[i], 0, &tw) < 0)
			continue;
		for (unsigned t = 0; t < LAYER_UNITS; t++)
			if (tw.u[t].restarts >= UP_RESTARTS_GIVE_UP) {
				uctl_err("%s was restarted %lu times while starting: giving up",
					 tw.u[t].unit, tw.u[t].restarts);
				return true;
			}
	}
	return false;
}

/* Poll STATUS of every present layer until all serve or the deadline passes. */
static int up_wait_serving(const struct uctl_opts *o, const struct manager *m)
{
	void *zctx = zmq_ctx_new();
	if (!zctx) {
		uctl_err("zmq_ctx_new: %s", strerror(errno));
		return -ENOMEM;
	}
	int64_t deadline = up_now_ms() + UP_SERVE_WAIT_MS;
	bool serving[16] = {false};
	char why[16][256];
	int rc = -ETIMEDOUT;
	for (;;) {
		bool all = true;
		for (unsigned i = 0; i < layer_table_len && i < 16; i++) {
			if (!layer_table[i].present || serving[i])
				continue;
			uint32_t pid;
			uint64_t up_ms;
			serving[i] = status_probe(zctx, o->instance, &layer_table[i],
						  UP_PROBE_TIMEOUT_MS, &pid, &up_ms, why[i],
						  sizeof(why[i])) == 0;
			/* Serving on its control socket is half of it: systemd must have had
			 * READY=1 too (Type=notify), or the start job hangs and the watchdog is
			 * never fed; from the serving unit and from its twin standing by. */
			struct layer_twins tw;
			if (serving[i] && layer_twins_show(m, &layer_table[i], pid, &tw) < 0) {
				snprintf(why[i], sizeof(why[i]), "serving; its units: no answer");
				serving[i] = false;
			}
			for (unsigned t = 0; serving[i] && t < LAYER_UNITS; t++)
				if (strcmp(tw.u[t].active, "active") != 0) {
					snprintf(why[i], sizeof(why[i]),
						 "serving, but systemd has %s '%s' (no READY=1?)",
						 tw.u[t].unit, tw.u[t].active);
					serving[i] = false;
				}
			all = all && serving[i];
		}
		if (all) {
			rc = 0;
			break;
		}
		if (up_now_ms() >= deadline || up_restart_looping(m, serving))
			break;
		struct timespec ts = {0, 100 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	zmq_ctx_term(zctx);
	if (rc == 0)
		return 0;
	for (unsigned i = 0; i < layer_table_len && i < 16; i++) {
		if (!layer_table[i].present || serving[i])
			continue;
		uctl_err("%s is not serving (%s)", layer_table[i].name, why[i]);
		manager_print_layer_log(m, layer_table[i].name);
		for (unsigned t = 0; t < LAYER_UNITS; t++) {
			char unit[96];
			layer_unit(&layer_table[i], o->instance, t, unit, sizeof(unit));
			manager_print_unit_status(m, unit);
			if (t == 0)
				manager_print_hint(m, unit);
		}
	}
	return rc;
}

int up_cmd(const struct uctl_opts *o)
{
	if (manager_preflight(o->instance, manager_system_available() ? STATE_MODE_SYSTEM
								      : STATE_MODE_PRIVATE) < 0)
		return UCTL_EXIT_FAIL;
	if (up_check_not_up(o) < 0)
		return UCTL_EXIT_FAIL;

	/* The units allow writes below /run/ustack (ReadWritePaths=): that path must exist even
	 * when USTACK_RUNTIME_DIR puts this instance elsewhere, or they fail to set up their
	 * mount namespace. */
	uid_t uid;
	gid_t gid;
	if (up_ensure_user(&uid, &gid) < 0 || tundev_allow_user(uid) < 0)
		return UCTL_EXIT_FAIL;
	int rc = state_mkdir_p("/run/ustack", 0755);
	if (rc == 0)
		rc = ustack_runtime_dir_create(o->instance);
	/* The layers make their sockets and the shared-memory link in it: theirs, writable by
	 * nobody else (shm_dir.h trusts it for that), open to all for the applications' two
	 * sockets. up.state and the private manager's files inside stay root's. */
	char rt[UCTL_PATH_MAX];
	if (rc == 0)
		rc = ustack_runtime_dir(o->instance, rt, sizeof(rt));
	if (rc == 0 && (chown(rt, uid, gid) < 0 || chmod(rt, 0755) < 0))
		rc = -errno;
	if (rc < 0) {
		uctl_err("cannot create the runtime directory: %s", strerror(-rc));
		return UCTL_EXIT_FAIL;
	}
	struct ustack_config cfg;
	if (up_write_config(o, &cfg) < 0)
		return UCTL_EXIT_FAIL;

	struct uctl_state st = {.mode = STATE_MODE_NONE};
	snprintf(st.ifname, sizeof(st.ifname), "%s", cfg.nic_ifname);
	if (o->netns)
		snprintf(st.netns, sizeof(st.netns), "%s", o->netns);
	if (state_write(o->instance, &st) < 0) {
		uctl_err("cannot write the state file of instance %s", o->instance);
		return UCTL_EXIT_FAIL;
	}

	if (o->netns && !netdev_netns_exists(o->netns)) {
		if (netdev_netns_add(o->netns) < 0)
			return UCTL_EXIT_FAIL;
		st.netns_created = true;
		if (state_write(o->instance, &st) < 0) {
			uctl_err("cannot write the state file of instance %s", o->instance);
			return UCTL_EXIT_FAIL;
		}
	} else if (!o->netns) {
		uctl_warn("no --netns: the TAP %s goes into the current (root?) network namespace",
			  cfg.nic_ifname);
	}

	if (netdev_link_exists(o->netns, cfg.nic_ifname)) {
		uctl_err("a device named %s already exists%s%s (another instance, or a leftover: "
			 "'ip%s%s link del %s')",
			 cfg.nic_ifname, o->netns ? " in namespace " : "", o->netns ? o->netns : "",
			 o->netns ? " -n " : "", o->netns ? o->netns : "", cfg.nic_ifname);
		/* Not ours: make sure down will not delete it. */
		st.ifname[0] = '\0';
		state_write(o->instance, &st);
		return UCTL_EXIT_FAIL;
	}
	if (netdev_tap_create(o->netns, cfg.nic_ifname, cfg.mtu, cfg.ip_peer, cfg.ip_prefix) < 0)
		return UCTL_EXIT_FAIL;

	struct manager m;
	if (up_systemd(o, &st, &m) < 0)
		return UCTL_EXIT_FAIL;
	if (up_wait_serving(o, &m) < 0)
		return UCTL_EXIT_FAIL;

	char a[INET_ADDRSTRLEN];
	struct in_addr in = {.s_addr = cfg.ip_addr};
	inet_ntop(AF_INET, &in, a, sizeof(a));
	if (m.mode == STATE_MODE_PRIVATE)
		printf("instance %s up: %s/%u on %s%s%s (private systemd manager, pid %d)\n",
		       o->instance, a, (unsigned)cfg.ip_prefix, cfg.nic_ifname,
		       o->netns ? " in netns " : "", o->netns ? o->netns : "", (int)m.pid);
	else
		printf("instance %s up: %s/%u on %s%s%s (system manager)\n", o->instance, a,
		       (unsigned)cfg.ip_prefix, cfg.nic_ifname, o->netns ? " in netns " : "",
		       o->netns ? o->netns : "");
	return UCTL_EXIT_OK;
}
