/* manager: the systemd manager an instance's units run under, system or private.
 *
 * System mode (PID 1 is systemd): our unit templates are symlinked into /run/systemd/system
 * unless an installed copy is already on the unit path; per-instance settings go to drop-ins in
 * /run/systemd/system/<unit>.d/10-ustack.conf. Everything under /run vanishes at reboot, as a
 * stack instance does.
 *
 * Private mode (containers, CI: PID 1 is something else): one `systemd --user` per instance
 * runs the same unit files. It gets <runtime dir>/manager as XDG_RUNTIME_DIR (its private bus
 * socket lives there, so every `systemctl --user` we run carries that variable), and
 * SYSTEMD_UNIT_PATH=<runtime dir>/units:<unit dir>:<private-manager dir>, with no trailing
 * colon so the host's own user units never load. Its environment is built from scratch (a few
 * basics only) so nothing of the caller leaks into the layers except what the drop-ins pass.
 * There is no journal for it: the drop-ins send the layers' stdout/stderr to
 * <runtime dir>/manager/manager.log (StandardOutput=append:), where the manager's own stdout and
 * stderr go too (its log messages go to the kernel log, which it picks without a journal).
 *
 * Stopping a private manager: a user manager has no exit.target here, so SIGTERM does not make
 * it exit; `down` stops the units first, then SIGKILLs the manager by its recorded PID after
 * checking that PID still is our manager (same start time as recorded), never by name. The
 * layers die with it (they set PR_SET_PDEATHSIG when their parent is a private manager, see
 * server_follow_manager), so nothing of an instance outlives its manager.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ustackctl.h"

#define MANAGER_SYSTEM_RUN_DIR "/run/systemd/system"
#define MANAGER_INACCESSIBLE_DIR "/run/systemd/inaccessible"
#define MANAGER_DROPIN_FILE "10-ustack.conf"
#define MANAGER_START_WAIT_MS 5000
#define MANAGER_STOP_WAIT_MS 5000
#define MANAGER_DEFAULT_RUNTIME_BASE "/run/ustack"

static void manager_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

static int64_t manager_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int manager_read_small(const char *path, char *buf, size_t size, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0;
	while (n < size - 1) {
		ssize_t r = read(fd, buf + n, size - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	buf[n] = '\0';
	if (len)
		*len = n;
	return 0;
}

bool manager_system_available(void)
{
	char comm[64];
	if (manager_read_small("/proc/1/comm", comm, sizeof(comm), NULL) < 0)
		return false;
	return strcmp(comm, "systemd\n") == 0;
}

int manager_init(struct manager *m, const char *instance, enum state_mode mode, pid_t pid,
		 uint64_t start)
{
	memset(m, 0, sizeof(*m));
	m->mode = mode;
	m->pid = pid;
	m->start = start;
	snprintf(m->instance, sizeof(m->instance), "%s", instance);
	if (mode != STATE_MODE_PRIVATE)
		return 0;
	int rc = ustack_runtime_path(instance, "manager", m->xdg_dir, sizeof(m->xdg_dir));
	if (rc < 0)
		return rc;
	snprintf(m->xdg_env, sizeof(m->xdg_env), "XDG_RUNTIME_DIR=%s", m->xdg_dir);
	if (snprintf(m->log_path, sizeof(m->log_path), "%s/manager.log", m->xdg_dir) >=
	    (int)sizeof(m->log_path))
		return -ENAMETOOLONG;
	return 0;
}

/* ---- processes */

/* 'R', 'S', 'Z', ... of pid, or 0 if there is no such process. */
static char manager_proc_state(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (manager_read_small(path, buf, sizeof(buf), NULL) < 0)
		return 0;
	const char *rp = strrchr(buf, ')'); /* comm may contain anything but ends at the last ')' */
	return (rp && rp[1] == ' ') ? rp[2] : 0;
}

/* Field 22 of /proc/PID/stat: when the process started, in clock ticks since boot; 0 if there
 * is no such process. Set at fork and never changed, so (pid, start) names one process for the
 * whole boot, even while it is half-way through execve. */
static uint64_t manager_proc_start(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (manager_read_small(path, buf, sizeof(buf), NULL) < 0)
		return 0;
	const char *p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* After "pid (comm)": state is field 3, starttime field 22. */
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	return strtoull(p + 1, NULL, 10);
}

/* Identity by (pid, start time), never by what the process looks like: a freshly spawned
 * manager is, for a moment after posix_spawn returns, a process whose new image the kernel is
 * still loading (vfork releases the parent at exec_mmap, before the ELF loader sets up
 * argv/environ), so its /proc/PID/environ reads empty and its comm may still be ours. Judging it
 * by its environment called a live manager dead, and `up` then started a second one. */
bool manager_private_alive(const struct manager *m)
{
	if (m->mode != STATE_MODE_PRIVATE || m->pid <= 1 || m->start == 0)
		return false;
	char st = manager_proc_state(m->pid);
	if (st == 0 || st == 'Z' || st == 'X')
		return false;
	return manager_proc_start(m->pid) == m->start;
}

static bool manager_pid_gone(pid_t pid)
{
	int status;
	/* It is our child if this process started it (up, on a failure path). */
	if (waitpid(pid, &status, WNOHANG) == pid)
		return true;
	char st = manager_proc_state(pid);
	return st == 0 || st == 'Z' || st == 'X';
}

int manager_private_stop(struct manager *m)
{
	if (!manager_private_alive(m))
		return 0;
	if (kill(m->pid, SIGKILL) < 0 && errno != ESRCH) {
		uctl_err("cannot end the private manager (pid %d): %s", (int)m->pid, strerror(errno));
		return -errno;
	}
	int64_t deadline = manager_now_ms() + MANAGER_STOP_WAIT_MS;
	while (!manager_pid_gone(m->pid)) {
		if (manager_now_ms() >= deadline) {
			uctl_err("the private manager (pid %d) is still there after SIGKILL",
				 (int)m->pid);
			return -ETIMEDOUT;
		}
		manager_sleep_ms(20);
	}
	return 0;
}

/* ---- systemctl */

int manager_systemctl(const struct manager *m, const char *const *args, int timeout_ms, char *out,
		      size_t out_size, char *err, size_t err_size)
{
	const char *argv[16];
	size_t n = 0;
	argv[n++] = "systemctl";
	if (m->mode == STATE_MODE_PRIVATE)
		argv[n++] = "--user";
	argv[n++] = "--no-pager";
	argv[n++] = "--no-ask-password";
	for (const char *const *a = args; *a && n < 15; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	const char *set_private[] = {m->xdg_env, "SYSTEMD_COLORS=0", NULL};
	const char *set_system[] = {"SYSTEMD_COLORS=0", NULL};
	/* Without our XDG_RUNTIME_DIR's private socket, systemctl --user would fall back to the
	 * session bus: it must never reach the caller's own user manager. */
	const char *unset[] = {"DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", NULL};
	struct run_spec rs = {
		.argv = argv,
		.env_set = m->mode == STATE_MODE_PRIVATE ? set_private : set_system,
		.env_unset = m->mode == STATE_MODE_PRIVATE ? unset : NULL,
		.timeout_ms = timeout_ms,
		.out = out,
		.out_size = out_size,
		.err = err,
		.err_size = err_size,
	};
	return run_cmd(&rs);
}

int manager_show(const struct manager *m, const char *unit, const char *prop, char *out,
		 size_t size)
{
	const char *args[] = {"show", "-p", prop, "--value", unit, NULL};
	int rc = manager_systemctl(m, args, 5000, out, size, NULL, 0);
	if (rc != 0)
		return rc > 0 ? -EIO : rc;
	size_t n = strlen(out);
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	return 0;
}

bool manager_target_active(const struct manager *m)
{
	char target[96], out[64];
	if (layer_target(m->instance, target, sizeof(target)) < 0)
		return false;
	if (m->mode == STATE_MODE_PRIVATE && !manager_private_alive(m))
		return false;
	const char *args[] = {"is-active", target, NULL};
	manager_systemctl(m, args, 5000, out, sizeof(out), NULL, 0);
	return strncmp(out, "active", 6) == 0 || strncmp(out, "activating", 10) == 0 ||
	       strncmp(out, "reloading", 9) == 0;
}

void manager_print_hint(const struct manager *m, const char *unit)
{
	if (m->mode == STATE_MODE_PRIVATE)
		fprintf(stderr,
			"ustackctl: the layers' output is in %s (manager messages: dmesg);\n"
			"ustackctl: unit state: XDG_RUNTIME_DIR=%s systemctl --user status %s\n",
			m->log_path, m->xdg_dir, unit);
	else
		fprintf(stderr, "ustackctl: see: systemctl status %s; journalctl -u %s\n", unit,
			unit);
}

void manager_print_unit_status(const struct manager *m, const char *unit)
{
	char out[4096];
	/* A private manager has no journal to show lines from. */
	const char *args[] = {"status", m->mode == STATE_MODE_PRIVATE ? "--lines=0" : "--lines=10",
			      unit, NULL};
	manager_systemctl(m, args, 5000, out, sizeof(out), NULL, 0);
	if (out[0])
		fprintf(stderr, "%s%s", out, out[strlen(out) - 1] == '\n' ? "" : "\n");
}

/* ---- private manager start */

static int manager_env_dup(char **envp, size_t *n, const char *name)
{
	const char *v = getenv(name);
	if (!v)
		return 0;
	size_t len = strlen(name) + strlen(v) + 2;
	char *e = malloc(len);
	if (!e)
		return -ENOMEM;
	snprintf(e, len, "%s=%s", name, v);
	envp[(*n)++] = e;
	return 0;
}

static int manager_spawn(struct manager *m, const char *unit_path)
{
	char *envp[16];
	size_t n = 0;
	int rc = 0;
	static const char *const keep[] = {"HOME", "USER", "LOGNAME", "LANG", "SYSTEMD_LOG_LEVEL"};
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]) && rc == 0; i++)
		rc = manager_env_dup(envp, &n, keep[i]);
	char path_env[] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char unit_env[UCTL_PATH_MAX * 3 + 32];
	snprintf(unit_env, sizeof(unit_env), "SYSTEMD_UNIT_PATH=%s", unit_path);
	envp[n++] = path_env;
	envp[n++] = m->xdg_env;
	envp[n++] = unit_env;
	envp[n] = NULL;

	/* A manager's units cannot get more than the manager has: nicd's LimitMEMLOCK=infinity
	 * (io_uring registers the whole pool) needs the manager to start with it. The manager
	 * inherits our limits, and as root we may raise them. Without CAP_SYS_RESOURCE (some
	 * sandboxes) we cannot, which only costs nicd its registered buffers (it says so in its
	 * log), so it is not an error here. */
	struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
	(void)setrlimit(RLIMIT_MEMLOCK, &inf);

	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, m->log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	/* setsid: no controlling terminal, its own session; it is re-parented once we exit. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETSIGMASK);
	char *const argv[] = {"systemd", "--user", NULL};
	static const char *const bins[] = {"/usr/lib/systemd/systemd", "/lib/systemd/systemd",
					   "/usr/bin/systemd", "/bin/systemd"};
	int e = ENOENT;
	if (rc == 0) {
		for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]) && e == ENOENT; i++) {
			if (access(bins[i], X_OK) == 0)
				e = posix_spawn(&m->pid, bins[i], &fa, &at, argv, envp);
		}
		if (e == ENOENT)
			e = posix_spawnp(&m->pid, "systemd", &fa, &at, argv, envp);
		rc = -e;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	for (size_t i = 0; i < n; i++)
		if (envp[i] != path_env && envp[i] != m->xdg_env && envp[i] != unit_env)
			free(envp[i]);
	if (rc < 0)
		uctl_err("cannot start the private systemd manager: %s", strerror(-rc));
	return rc;
}

/* What PID 1 systemd would have made at boot, and a user manager relies on:
 * - /run/systemd/system: systemd --user refuses to start without it (its "booted with systemd"
 *   test);
 * - /run/systemd/inaccessible/{reg,dir,fifo,sock,chr,blk}: systemd 252 bind-mounts these over
 *   paths that ProtectHome=, ProtectKernelLogs=, InaccessiblePaths= hide, even in a user
 *   manager; without them every sandboxed unit fails with 226/NAMESPACE.
 * Modes and devices as systemd's make_inaccessible_nodes(): mode 0000, device 0:0. */
static int manager_prepare_host(void)
{
	static const struct {
		const char *name;
		mode_t mode;
	} nodes[] = {
		{"reg", S_IFREG}, {"dir", S_IFDIR}, {"fifo", S_IFIFO},
		{"sock", S_IFSOCK}, {"chr", S_IFCHR}, {"blk", S_IFBLK},
	};
	int rc = state_mkdir_p(MANAGER_SYSTEM_RUN_DIR, 0755);
	if (rc == 0)
		rc = state_mkdir_p(MANAGER_INACCESSIBLE_DIR, 0755);
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]) && rc == 0; i++) {
		char path[128];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/%s", MANAGER_INACCESSIBLE_DIR, nodes[i].name);
		if (lstat(path, &sb) == 0)
			continue;
		int r = nodes[i].mode == S_IFDIR ? mkdir(path, 0)
						  : mknod(path, nodes[i].mode, makedev(0, 0));
		if (r < 0 && errno != EEXIST)
			rc = -errno;
		else if (chmod(path, 0) < 0)
			rc = -errno;
		if (rc < 0)
			uctl_err("cannot create %s: %s", path, strerror(-rc));
	}
	return rc;
}

/* Values we put in unit files: no whitespace, quotes, '%' (a specifier), ':' (BindPaths'
 * separator) or '\\'. Anything else would need quoting rules we would rather not get wrong. */
static bool manager_unit_safe(const char *v)
{
	if (!v[0])
		return false;
	for (const char *p = v; *p; p++) {
		char c = *p;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '/' || c == '.' || c == '_' || c == '-' || c == '+' || c == ',' ||
		      c == '@'))
			return false;
	}
	return true;
}

/* The directory our programs run from: the units' ExecStart= points there (the build tree's bin/
 * or the install prefix's). Under /tmp, /var/tmp, /home or /root the units' PrivateTmp= and
 * ProtectHome= would hide the binaries (status 203/EXEC), as with a checkout in /tmp: such a
 * directory is bound read-only into the sandbox, and ProtectHome= becomes "tmpfs" so a mount
 * point below /home or /root can be made. Returns true and fills dir when that is needed. */
static bool manager_hidden_bindir(char *dir, size_t size, bool *under_home)
{
	char exe[UCTL_PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/');
	if (!slash || slash == exe)
		return false;
	*slash = '\0';
	static const char *const hidden[] = {"/tmp/", "/var/tmp/", "/home/", "/root/"};
	for (unsigned i = 0; i < sizeof(hidden) / sizeof(hidden[0]); i++) {
		if (strncmp(exe, hidden[i], strlen(hidden[i])) == 0) {
			if (!manager_unit_safe(exe) || strlen(exe) >= size)
				return false;
			snprintf(dir, size, "%s", exe);
			*under_home = i >= 2;
			return true;
		}
	}
	return false;
}

/* The variables the drop-ins pass on to every layer. */
static const char *const manager_pass_env[] = {"USTACK_RUNTIME_DIR", "USTACK_CONF_DIR",
					       "USTACK_LOG_LEVEL"};
#define MANAGER_PASS_ENV_COUNT (sizeof(manager_pass_env) / sizeof(manager_pass_env[0]))

static int manager_env_check(void)
{
	for (size_t i = 0; i < MANAGER_PASS_ENV_COUNT; i++) {
		const char *v = getenv(manager_pass_env[i]);
		if (v && *v && !manager_unit_safe(v)) {
			uctl_err("%s='%s' has characters that cannot go into a unit file "
				 "([A-Za-z0-9/._+,@-] only)",
				 manager_pass_env[i], v);
			return -EINVAL;
		}
	}
	return 0;
}

static int manager_find_dirs(enum state_mode mode, char *unit_dir, size_t unit_size,
			     char *pm_dir, size_t pm_size)
{
	char probe[UCTL_PATH_MAX + 32];
	struct stat sb;
	int rc = state_unit_dir(unit_dir, unit_size);
	if (rc < 0) {
		uctl_err("cannot find the unit files (lib/systemd/system next to ustackctl; set "
			 "USTACK_UNIT_DIR): %s",
			 strerror(-rc));
		return rc;
	}
	snprintf(probe, sizeof(probe), "%s/ustack@.target", unit_dir);
	if (stat(probe, &sb) < 0) {
		uctl_err("no ustack@.target in %s (set USTACK_UNIT_DIR)", unit_dir);
		return -ENOENT;
	}
	if (mode != STATE_MODE_PRIVATE)
		return 0;
	rc = state_private_manager_dir(pm_dir, pm_size);
	if (rc < 0) {
		uctl_err("cannot find the private manager's targets (lib/ustack/private-manager; set "
			 "USTACK_PRIVATE_MANAGER_DIR): %s",
			 strerror(-rc));
		return rc;
	}
	return 0;
}

int manager_preflight(const char *instance, enum state_mode mode)
{
	char unit_dir[UCTL_PATH_MAX], pm_dir[UCTL_PATH_MAX];
	int rc = manager_env_check();
	if (rc == 0)
		rc = manager_find_dirs(mode, unit_dir, sizeof(unit_dir), pm_dir, sizeof(pm_dir));
	if (rc < 0 || mode != STATE_MODE_PRIVATE)
		return rc;
	struct manager m;
	rc = manager_init(&m, instance, mode, 0, 0);
	if (rc < 0) {
		uctl_err("runtime directory path too long: %s", strerror(-rc));
		return rc;
	}
	/* Its private bus socket is <xdg>/systemd/private: it must fit a sockaddr_un. */
	if (strlen(m.xdg_dir) + sizeof("/systemd/private") >
	    sizeof(((struct sockaddr_un *)0)->sun_path)) {
		uctl_err("runtime directory %s is too long for the manager's socket (set a shorter "
			 "USTACK_RUNTIME_DIR)",
			 m.xdg_dir);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The last lines of the private manager's log, to stderr. */
static void manager_print_log_tail(const struct manager *m)
{
	FILE *f = fopen(m->log_path, "r");
	if (!f)
		return;
	char line[512];
	char tail[8][512];
	unsigned n = 0;
	while (fgets(line, sizeof(line), f))
		snprintf(tail[n++ % 8], sizeof(tail[0]), "%s", line);
	fclose(f);
	for (unsigned k = n > 8 ? n - 8 : 0; k < n; k++)
		fprintf(stderr, "  manager log: %s", tail[k % 8]);
}

void manager_print_layer_log(const struct manager *m, const char *layer)
{
	if (m->mode != STATE_MODE_PRIVATE)
		return; /* the system manager's journal has it: manager_print_unit_status shows it */
	FILE *f = fopen(m->log_path, "r");
	if (!f)
		return;
	char prefix[32], line[512], tail[10][512];
	int pl = snprintf(prefix, sizeof(prefix), "ustack-%s[", layer);
	unsigned n = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, prefix, (size_t)pl) == 0)
			snprintf(tail[n++ % 10], sizeof(tail[0]), "%s", line);
	fclose(f);
	for (unsigned k = n > 10 ? n - 10 : 0; k < n; k++)
		fprintf(stderr, "  %s", tail[k % 10]);
}

int manager_private_spawn(struct manager *m)
{
	char unit_dir[UCTL_PATH_MAX], pm_dir[UCTL_PATH_MAX], units[UCTL_PATH_MAX];
	int rc = manager_preflight(m->instance, STATE_MODE_PRIVATE);
	if (rc == 0)
		rc = manager_find_dirs(STATE_MODE_PRIVATE, unit_dir, sizeof(unit_dir), pm_dir,
				       sizeof(pm_dir));
	if (rc == 0)
		rc = ustack_runtime_path(m->instance, "units", units, sizeof(units));
	if (rc < 0)
		return rc;
	rc = manager_prepare_host();
	if (rc == 0)
		rc = state_mkdir_p(m->xdg_dir, 0711);
	/* 0711: the layers run as the stack's user and must reach the manager's notify socket
	 * (systemd/notify: READY=1, WATCHDOG=1) inside; listing stays root's, and the private
	 * bus socket there only accepts root (systemd checks its peer's credentials). */
	if (rc == 0 && chmod(m->xdg_dir, 0711) < 0)
		rc = -errno;
	if (rc == 0)
		rc = state_mkdir_p(units, 0755);
	if (rc < 0) {
		uctl_err("cannot prepare the private manager's directories: %s", strerror(-rc));
		return rc;
	}
	char unit_path[UCTL_PATH_MAX * 3 + 4];
	if (snprintf(unit_path, sizeof(unit_path), "%s:%s:%s", units, unit_dir, pm_dir) >=
	    (int)sizeof(unit_path))
		return -ENAMETOOLONG;
	rc = manager_spawn(m, unit_path);
	if (rc < 0)
		return rc;
	/* Our unreaped child: its /proc entry stays until we wait for it, so this cannot miss. */
	m->start = manager_proc_start(m->pid);
	if (m->start == 0) {
		uctl_err("cannot read the start time of the private manager (pid %d)", (int)m->pid);
		kill(m->pid, SIGKILL);
		waitpid(m->pid, NULL, 0);
		m->pid = 0;
		return -ESRCH;
	}
	return 0;
}

/* The layers run as the stack's user, the manager as root: its notify socket
 * (<xdg>/systemd/notify, made 0755 for a user manager that expects only its own uid) must let
 * them send READY=1 and WATCHDOG=1, or every start hangs and the watchdog never gets fed. PID 1's
 * own notify socket is 0777 for the same reason: the manager takes a message only from a process
 * of a unit allowed to send it (NotifyAccess=), checked by SCM_CREDENTIALS. */
static int manager_open_notify(const struct manager *m)
{
	char path[UCTL_PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/systemd/notify", m->xdg_dir);
	if (chmod(path, 0777) < 0) {
		int e = errno;
		uctl_err("cannot open the private manager's notify socket %s to the layers: %s",
			 path, strerror(e));
		return -e;
	}
	return 0;
}

int manager_private_wait(struct manager *m)
{
	int64_t deadline = manager_now_ms() + MANAGER_START_WAIT_MS;
	const char *args[] = {"show-environment", NULL};
	for (;;) {
		/* Only the process that spawned the manager calls this: it is our child, and
		 * waitpid is the one answer to "has it exited" that cannot be wrong. */
		int status;
		pid_t w = waitpid(m->pid, &status, WNOHANG);
		if (w == m->pid) {
			if (WIFEXITED(status))
				uctl_err("the private systemd manager (pid %d) exited at start with "
					 "status %d; see %s",
					 (int)m->pid, WEXITSTATUS(status), m->log_path);
			else
				uctl_err("the private systemd manager (pid %d) was killed at start by "
					 "signal %d; see %s",
					 (int)m->pid, WTERMSIG(status), m->log_path);
			manager_print_log_tail(m);
			return -ECHILD;
		}
		if (manager_systemctl(m, args, 1000, NULL, 0, NULL, 0) == 0)
			return manager_open_notify(m);
		if (manager_now_ms() >= deadline)
			break;
		manager_sleep_ms(20);
	}
	uctl_err("the private systemd manager (pid %d) did not answer within %d s; see %s",
		 (int)m->pid, MANAGER_START_WAIT_MS / 1000, m->log_path);
	manager_print_log_tail(m);
	return -ETIMEDOUT;
}

/* ---- unit files and drop-ins */

static bool manager_unit_installed(const char *name)
{
	static const char *const dirs[] = {"/etc/systemd/system", MANAGER_SYSTEM_RUN_DIR,
					   "/usr/local/lib/systemd/system", "/usr/lib/systemd/system",
					   "/lib/systemd/system"};
	char path[UCTL_PATH_MAX];
	struct stat sb;
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dirs[i], name);
		if (lstat(path, &sb) == 0)
			return true;
	}
	return false;
}

int manager_system_link_units(void)
{
	char unit_dir[UCTL_PATH_MAX];
	int rc = state_unit_dir(unit_dir, sizeof(unit_dir));
	if (rc < 0) {
		uctl_err("cannot find the unit files (set USTACK_UNIT_DIR): %s", strerror(-rc));
		return rc;
	}
	DIR *d = opendir(unit_dir);
	if (!d) {
		rc = -errno;
		uctl_err("cannot read unit directory %s: %s", unit_dir, strerror(errno));
		return rc;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL && rc == 0) {
		const char *n = de->d_name;
		size_t len = strlen(n);
		bool ours = strncmp(n, "ustack", 6) == 0 &&
			    ((len > 8 && strcmp(n + len - 8, ".service") == 0) ||
			     (len > 7 && strcmp(n + len - 7, ".target") == 0));
		if (!ours)
			continue;
		char src[UCTL_PATH_MAX * 2], dst[UCTL_PATH_MAX], cur[UCTL_PATH_MAX * 2];
		snprintf(src, sizeof(src), "%s/%s", unit_dir, n);
		snprintf(dst, sizeof(dst), "%s/%s", MANAGER_SYSTEM_RUN_DIR, n);
		if (manager_unit_installed(n)) {
			/* Another build's link: running instances use it, so it stays; say so, since
			 * its ExecStart= is not this build's. */
			ssize_t l = readlink(dst, cur, sizeof(cur) - 1);
			if (l > 0) {
				cur[l] = '\0';
				if (strcmp(cur, src) != 0)
					uctl_warn("%s links to %s, not to this build's %s", dst, cur,
						  src);
			}
			continue;
		}
		if (symlink(src, dst) < 0 && errno != EEXIST) {
			rc = -errno;
			uctl_err("cannot link %s into %s: %s", n, MANAGER_SYSTEM_RUN_DIR,
				 strerror(errno));
		}
	}
	closedir(d);
	return rc;
}

static int manager_dropin_dir(const struct manager *m, const struct layer_info *l, unsigned twin,
			      char *out, size_t size)
{
	char unit[96], base[UCTL_PATH_MAX];
	int rc = layer_unit(l, m->instance, twin, unit, sizeof(unit));
	if (rc < 0)
		return rc;
	if (m->mode == STATE_MODE_PRIVATE) {
		rc = ustack_runtime_path(m->instance, "units", base, sizeof(base));
		if (rc < 0)
			return rc;
	} else {
		snprintf(base, sizeof(base), "%s", MANAGER_SYSTEM_RUN_DIR);
	}
	if (snprintf(out, size, "%s/%s.d", base, unit) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

int manager_write_dropins(const struct manager *m, const char *netns)
{
	const char *const *pass = manager_pass_env;
	int rc = manager_env_check();
	if (rc < 0)
		return rc;
	char rt[UCTL_PATH_MAX];
	rc = ustack_runtime_dir(m->instance, rt, sizeof(rt));
	if (rc < 0)
		return rc;
	const char *rt_base = getenv("USTACK_RUNTIME_DIR");
	bool rt_custom = rt_base && *rt_base && strcmp(rt_base, MANAGER_DEFAULT_RUNTIME_BASE) != 0;
	const char *conf = getenv("USTACK_CONF_DIR");

	for (unsigned i = 0; i < layer_table_len * LAYER_UNITS; i++) {
		const struct layer_info *l = &layer_table[i / LAYER_UNITS];
		if (!l->present)
			continue;
		char dir[UCTL_PATH_MAX], path[UCTL_PATH_MAX + 32], tmp[UCTL_PATH_MAX + 48];
		rc = manager_dropin_dir(m, l, i % LAYER_UNITS, dir, sizeof(dir));
		if (rc == 0)
			rc = state_mkdir_p(dir, 0755);
		if (rc < 0) {
			uctl_err("cannot create drop-in directory %s: %s", dir, strerror(-rc));
			return rc;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, MANAGER_DROPIN_FILE);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		FILE *f = fopen(tmp, "w");
		if (!f) {
			rc = -errno;
			uctl_err("cannot write %s: %s", tmp, strerror(errno));
			return rc;
		}
		fprintf(f, "# written by ustackctl up for instance %s; removed by ustackctl down\n",
			m->instance);
		fprintf(f, "[Service]\n");
		if (netns && netns[0] && strcmp(l->name, "nicd") == 0)
			fprintf(f, "NetworkNamespacePath=/run/netns/%s\n", netns);
		for (size_t k = 0; k < MANAGER_PASS_ENV_COUNT; k++) {
			const char *v = getenv(pass[k]);
			if (v && *v)
				fprintf(f, "Environment=%s=%s\n", pass[k], v);
		}
		/* A private manager has no journal: the layers write to its log file (O_APPEND,
		 * so lines of different layers interleave but never overwrite each other). */
		if (m->mode == STATE_MODE_PRIVATE)
			fprintf(f, "StandardOutput=append:%s\nStandardError=append:%s\n", m->log_path,
				m->log_path);
		/* The units allow writes to /run/ustack only. A runtime directory elsewhere must be
		 * writable, and visible even under PrivateTmp=/ProtectHome= (a test's /tmp dir):
		 * a bind mount onto itself gives both. */
		if (rt_custom)
			fprintf(f, "ReadWritePaths=%s\nBindPaths=%s\n", rt, rt);
		if (conf && *conf)
			fprintf(f, "BindReadOnlyPaths=%s\n", conf);
		char bindir[UCTL_PATH_MAX];
		bool under_home = false;
		if (manager_hidden_bindir(bindir, sizeof(bindir), &under_home)) {
			fprintf(f, "BindReadOnlyPaths=%s\n", bindir);
			if (under_home)
				fprintf(f, "ProtectHome=tmpfs\n");
		}
		if (fflush(f) != 0 || ferror(f)) {
			rc = -errno;
			fclose(f);
			unlink(tmp);
			uctl_err("cannot write %s: %s", tmp, strerror(-rc));
			return rc;
		}
		fclose(f);
		if (rename(tmp, path) < 0) {
			rc = -errno;
			unlink(tmp);
			uctl_err("cannot write %s: %s", path, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int manager_remove_dropins(const struct manager *m)
{
	int ret = 0;
	for (unsigned i = 0; i < layer_table_len * LAYER_UNITS; i++) {
		char dir[UCTL_PATH_MAX], path[UCTL_PATH_MAX + 32];
		if (manager_dropin_dir(m, &layer_table[i / LAYER_UNITS], i % LAYER_UNITS, dir,
				       sizeof(dir)) < 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, MANAGER_DROPIN_FILE);
		if (unlink(path) < 0 && errno != ENOENT) {
			uctl_err("cannot remove %s: %s", path, strerror(errno));
			ret = -errno;
		}
		/* Only our file: another drop-in someone put there keeps the directory. */
		if (rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST) {
			uctl_err("cannot remove %s: %s", dir, strerror(errno));
			ret = -errno;
		}
	}
	return ret;
}
