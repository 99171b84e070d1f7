/* down: take an instance apart, undoing exactly what up.state says `up` created.
 *
 * Idempotent and best effort: every step runs even when an earlier one failed, each failure is
 * reported, and the exit status says whether the instance is really gone afterwards (runtime
 * dir, pool, TAP, manager). Order matters:
 *   1. stop ustack@NAME.target and every layer unit (systemctl stop waits for them)
 *   2. private mode: SIGKILL the manager by its recorded PID (checked to still be ours), wait
 *   3. a layer that still answers its control socket outlived its manager (the manager died
 *      first): SIGKILL it by the PID it reports, after checking that PID runs that layer
 *   4. drop-ins (system mode; private ones live in the runtime dir), TAP, the namespace only if
 *      `up` created it and no other device has moved in since
 *   5. pool, the shared-memory directory with the state segments, config file, runtime dir
 *      (only ever below ustack_runtime_dir(instance))
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "pool.h"
#include "shm_dir.h"
#include "ustackctl.h"

#define DOWN_STOP_TIMEOUT_MS 60000
#define DOWN_PROBE_TIMEOUT_MS 300
#define DOWN_KILL_WAIT_MS 3000

static void down_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int down_stop_units(const char *instance, const struct manager *m)
{
	const char *args[3 + UCTL_LAYERS_MAX * LAYER_UNITS];
	char units[1 + UCTL_LAYERS_MAX * LAYER_UNITS][96];
	size_t n = 0, u = 0;
	args[n++] = "stop";
	layer_target(instance, units[u], sizeof(units[u]));
	args[n++] = units[u++];
	for (unsigned i = 0; i < layer_table_len; i++)
		for (unsigned t = 0; t < LAYER_UNITS; t++) {
			/* Absent layers too: a unit of a layer present in an older build may run. */
			layer_unit(&layer_table[i], instance, t, units[u], sizeof(units[u]));
			args[n++] = units[u++];
		}
	args[n] = NULL;
	char err[2048];
	int rc = manager_systemctl(m, args, DOWN_STOP_TIMEOUT_MS, NULL, 0, err, sizeof(err));
	if (rc < 0) {
		uctl_err("systemctl stop: %s", strerror(-rc));
		return rc;
	}
	/* systemctl stop fails for units that are not loaded (an absent layer's template): what
	 * matters is that nothing is left running. */
	int ret = 0;
	for (size_t i = 0; i < u; i++) {
		char state[32];
		if (manager_show(m, units[i], "ActiveState", state, sizeof(state)) < 0)
			continue;
		if (strcmp(state, "inactive") != 0 && strcmp(state, "failed") != 0 && state[0]) {
			uctl_err("%s is still %s after systemctl stop", units[i], state);
			ret = -EBUSY;
		}
	}
	return ret;
}

static bool down_proc_is(pid_t pid, const char *comm)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return false;
	bool same = fgets(buf, sizeof(buf), f) && strncmp(buf, comm, strlen(comm)) == 0 &&
		    (buf[strlen(comm)] == '\n' || buf[strlen(comm)] == '\0');
	fclose(f);
	return same;
}

/* Layers still answering after their units stopped are orphans of a dead manager. */
static int down_kill_orphans(const char *instance)
{
	void *zctx = zmq_ctx_new();
	if (!zctx)
		return -ENOMEM;
	int ret = 0;
	for (unsigned i = 0; i < layer_table_len; i++) {
		const struct layer_info *l = &layer_table[i];
		uint32_t pid = 0;
		uint64_t up_ms;
		char why[256], comm[32];
		/* A dead layer's stale socket: nobody to ask (ZeroMQ would retry until the
		 * probe's timeout, 300 ms per layer, most of what `down` took). */
		if (!status_ctl_listening(instance, l->name))
			continue;
		int rc = status_probe(zctx, instance, l, DOWN_PROBE_TIMEOUT_MS, &pid, &up_ms, why,
				      sizeof(why));
		if (rc != 0 || pid <= 1)
			continue;
		snprintf(comm, sizeof(comm), "ustack-%s", l->name);
		if (!down_proc_is((pid_t)pid, comm)) {
			uctl_err("%s answers as pid %u, which is not %s: not killing it", l->name, pid,
				 comm);
			ret = -EBUSY;
			continue;
		}
		uctl_warn("%s (pid %u) outlived its manager: sending SIGKILL", l->name, pid);
		kill((pid_t)pid, SIGKILL);
		unsigned waited = 0;
		while (down_proc_is((pid_t)pid, comm) && waited < DOWN_KILL_WAIT_MS) {
			down_sleep_ms(20);
			waited += 20;
		}
		if (down_proc_is((pid_t)pid, comm)) {
			uctl_err("%s (pid %u) is still there after SIGKILL", l->name, pid);
			ret = -EBUSY;
		}
	}
	zmq_ctx_term(zctx);
	return ret;
}

static int down_manager(const char *instance, const struct uctl_state *st)
{
	struct manager m;
	int ret = 0, rc;
	enum state_mode mode = st->mode;
	/* An `up` that died before recording the mode may still have linked units under a
	 * system manager. */
	if (mode == STATE_MODE_NONE && manager_system_available())
		mode = STATE_MODE_SYSTEM;
	if (mode == STATE_MODE_NONE)
		return 0;
	if (manager_init(&m, instance, mode, st->manager_pid, st->manager_start) < 0)
		return -EINVAL;
	if (mode == STATE_MODE_PRIVATE) {
		if (manager_private_alive(&m)) {
			rc = down_stop_units(instance, &m);
			if (rc < 0)
				ret = rc;
			rc = manager_private_stop(&m);
			if (rc < 0)
				ret = rc;
		}
		return ret;
	}
	rc = down_stop_units(instance, &m);
	if (rc < 0)
		ret = rc;
	rc = manager_remove_dropins(&m);
	if (rc < 0)
		ret = rc;
	const char *reload[] = {"daemon-reload", NULL};
	if (manager_systemctl(&m, reload, 30000, NULL, 0, NULL, 0) != 0)
		uctl_warn("systemctl daemon-reload failed");
	return ret;
}

static bool down_pool_exists(const char *instance)
{
	char path[UCTL_PATH_MAX];
	struct stat sb;
	return pool_path(instance, path, sizeof(path)) == 0 && stat(path, &sb) == 0;
}

/* A private manager that died (or was killed by down) leaves its units' PrivateTmp= directories
 * behind: /tmp/systemd-private-<boot id>-<unit>-<random> and the same in /var/tmp. Only ours: the
 * unit's name, ending in ".service-", is in the directory's name. */
static int down_private_tmp(const char *instance)
{
	static const char *const bases[] = {"/tmp", "/var/tmp"};
	int ret = 0;
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		DIR *d = opendir(bases[b]);
		if (!d)
			continue;
		struct dirent *de;
		while ((de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, "systemd-private-", 16) != 0)
				continue;
			for (unsigned i = 0; i < layer_table_len * LAYER_UNITS; i++) {
				char unit[96], needle[112];
				if (layer_unit(&layer_table[i / LAYER_UNITS], instance,
					       i % LAYER_UNITS, unit, sizeof(unit)) < 0)
					continue;
				snprintf(needle, sizeof(needle), "-%s-", unit);
				if (!strstr(de->d_name, needle))
					continue;
				char path[UCTL_PATH_MAX];
				snprintf(path, sizeof(path), "%s/%s", bases[b], de->d_name);
				int rc = state_remove_tree(path, path);
				if (rc < 0) {
					uctl_err("cannot remove %s: %s", path, strerror(-rc));
					ret = rc;
				}
				break;
			}
		}
		closedir(d);
	}
	return ret;
}

int down_teardown(const char *instance)
{
	int ret = 0, rc;
	struct uctl_state st;
	rc = state_read(instance, &st);
	if (rc == -EINVAL) {
		uctl_err("the state file of instance %s is unreadable: the TAP and namespace (if any) "
			 "are left alone",
			 instance);
		ret = rc;
	}
	if (rc < 0)
		memset(&st, 0, sizeof(st));

	rc = down_manager(instance, &st);
	if (rc < 0)
		ret = rc;
	rc = down_kill_orphans(instance);
	if (rc < 0)
		ret = rc;
	rc = down_private_tmp(instance);
	if (rc < 0)
		ret = rc;

	const char *ns = st.netns[0] ? st.netns : NULL;
	bool ns_there = !ns || netdev_netns_exists(ns);
	if (st.ifname[0] && ns_there && netdev_link_exists(ns, st.ifname)) {
		rc = netdev_link_del(ns, st.ifname);
		if (rc < 0)
			ret = rc;
	}
	if (ns && st.netns_created && ns_there) {
		/* We made it, but somebody else may have moved in since (another instance, a
		 * test's veth): deleting it would destroy their devices. */
		char others[256];
		int n = netdev_netns_other_links(ns, others, sizeof(others));
		if (n > 0) {
			uctl_warn("namespace %s still holds %s: leaving it in place", ns, others);
		} else {
			rc = netdev_netns_del(ns);
			if (rc < 0)
				ret = rc;
		}
	}

	rc = pool_unlink(instance);
	if (rc < 0 && rc != -ENOENT) {
		uctl_err("cannot remove the buffer pool: %s", strerror(-rc));
		ret = rc;
	}
	/* The transports' state segments outlive their servers on purpose; down ends them, with
	 * anything else in the instance's shared-memory directory, and the directory. */
	rc = shm_dir_remove(instance);
	if (rc < 0 && rc != -ENOENT) {
		uctl_err("cannot remove the shared-memory directory: %s", strerror(-rc));
		ret = rc;
	}
	char path[UCTL_PATH_MAX];
	if (ustack_config_path(instance, path, sizeof(path)) == 0 && unlink(path) < 0 &&
	    errno != ENOENT) {
		uctl_err("cannot remove %s: %s", path, strerror(errno));
		ret = -errno;
	}
	if (ustack_runtime_dir(instance, path, sizeof(path)) == 0) {
		rc = state_remove_tree(path, path);
		if (rc < 0) {
			uctl_err("cannot remove %s: %s", path, strerror(-rc));
			ret = rc;
		}
	}
	return ret;
}

int down_cmd(const struct uctl_opts *o)
{
	struct uctl_state st = {.mode = STATE_MODE_NONE};
	bool was_up = state_read(o->instance, &st) != -ENOENT;
	int rc = down_teardown(o->instance);

	/* Gone means: no runtime dir, no pool, no TAP of ours. */
	char rt[UCTL_PATH_MAX];
	struct stat sb;
	bool gone = true;
	if (ustack_runtime_dir(o->instance, rt, sizeof(rt)) == 0 && lstat(rt, &sb) == 0) {
		uctl_err("%s is still there", rt);
		gone = false;
	}
	struct manager m;
	if (was_up && st.mode == STATE_MODE_PRIVATE &&
	    manager_init(&m, o->instance, st.mode, st.manager_pid, st.manager_start) == 0 &&
	    manager_private_alive(&m)) {
		uctl_err("the private manager (pid %d) is still there", (int)st.manager_pid);
		gone = false;
	}
	if (down_pool_exists(o->instance)) {
		uctl_err("the buffer pool of %s is still there", o->instance);
		gone = false;
	}
	if (was_up && st.ifname[0]) {
		const char *ns = st.netns[0] ? st.netns : NULL;
		if ((!ns || netdev_netns_exists(ns)) && netdev_link_exists(ns, st.ifname)) {
			uctl_err("device %s is still there", st.ifname);
			gone = false;
		}
	}
	if (!gone)
		return UCTL_EXIT_FAIL;
	if (rc < 0)
		uctl_warn("instance %s is gone, but not everything went cleanly (see above)",
			  o->instance);
	printf("instance %s is down\n", o->instance);
	return UCTL_EXIT_OK;
}
