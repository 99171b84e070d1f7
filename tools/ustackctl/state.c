/* state: the up.state file of an instance, and the directories ustackctl works with.
 *
 * <runtime dir>/up.state records what `up` created, so `down` undoes exactly that and nothing
 * else (a namespace that existed before is never deleted). It is plain key=value lines:
 *
 *   mode=private|system
 *   manager_pid=N          (0 for the system manager)
 *   manager_start=T        (its start time, /proc/PID/stat field 22: pid + start name it)
 *   netns=NS               (empty: the caller's namespace)
 *   netns_created=0|1
 *   ifname=IF
 *
 * `up` rewrites it (atomically) after every step that creates something, so an `up` that fails
 * half-way leaves a state that `down` can clean.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ustackctl.h"

#define STATE_FILE "up.state"

int state_path(const char *instance, char *out, size_t size)
{
	return ustack_runtime_path(instance, STATE_FILE, out, size);
}

static void state_chomp(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
}

int state_read(const char *instance, struct uctl_state *st)
{
	char path[UCTL_PATH_MAX];
	int rc = state_path(instance, path, sizeof(path));
	if (rc < 0)
		return rc;
	memset(st, 0, sizeof(*st));
	FILE *f = fopen(path, "r");
	if (!f)
		return -errno;
	char line[256];
	rc = 0;
	while (fgets(line, sizeof(line), f)) {
		state_chomp(line);
		char *eq = strchr(line, '=');
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (!eq) {
			rc = -EINVAL;
			break;
		}
		*eq = '\0';
		const char *k = line, *v = eq + 1;
		if (strcmp(k, "mode") == 0) {
			if (strcmp(v, "private") == 0)
				st->mode = STATE_MODE_PRIVATE;
			else if (strcmp(v, "system") == 0)
				st->mode = STATE_MODE_SYSTEM;
			else if (strcmp(v, "none") == 0)
				st->mode = STATE_MODE_NONE;
			else
				rc = -EINVAL;
		} else if (strcmp(k, "manager_pid") == 0) {
			char *end;
			long p = strtol(v, &end, 10);
			if (*end || p < 0 || p > INT_MAX)
				rc = -EINVAL;
			else
				st->manager_pid = (pid_t)p;
		} else if (strcmp(k, "manager_start") == 0) {
			char *end;
			errno = 0;
			unsigned long long t = strtoull(v, &end, 10);
			if (*end || errno || v[0] == '-')
				rc = -EINVAL;
			else
				st->manager_start = t;
		} else if (strcmp(k, "netns") == 0) {
			if (v[0] && !netdev_netns_name_valid(v))
				rc = -EINVAL;
			else
				snprintf(st->netns, sizeof(st->netns), "%s", v);
		} else if (strcmp(k, "netns_created") == 0) {
			st->netns_created = strcmp(v, "1") == 0;
		} else if (strcmp(k, "ifname") == 0) {
			/* ifname goes to ip(8) as one argument: keep it a plain device name. */
			if (strlen(v) >= sizeof(st->ifname) || strchr(v, '/') || v[0] == '-')
				rc = -EINVAL;
			else
				snprintf(st->ifname, sizeof(st->ifname), "%s", v);
		}
		/* unknown keys: written by a newer ustackctl; ignore */
		if (rc < 0)
			break;
	}
	fclose(f);
	return rc;
}

int state_write(const char *instance, const struct uctl_state *st)
{
	char path[UCTL_PATH_MAX], tmp[UCTL_PATH_MAX + 16];
	int rc = state_path(instance, path, sizeof(path));
	if (rc < 0)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	static const char *const modes[] = {"none", "private", "system"};
	fprintf(f, "# written by ustackctl up; read by ustackctl down\n");
	fprintf(f,
		"mode=%s\nmanager_pid=%d\nmanager_start=%llu\nnetns=%s\nnetns_created=%d\n"
		"ifname=%s\n",
		modes[st->mode], (int)st->manager_pid, (unsigned long long)st->manager_start,
		st->netns, st->netns_created ? 1 : 0, st->ifname);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rc = -errno;
		fclose(f);
		unlink(tmp);
		return rc;
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		rc = -errno;
		unlink(tmp);
		return rc;
	}
	return 0;
}

/* <dir of our executable>/<rel>, canonical. */
static int state_exe_relative(const char *rel, char *out, size_t size)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0)
		return -errno;
	exe[n] = '\0';
	char joined[PATH_MAX + 64];
	if (snprintf(joined, sizeof(joined), "%s/%s", dirname(exe), rel) >= (int)sizeof(joined))
		return -ENAMETOOLONG;
	char real[PATH_MAX];
	if (!realpath(joined, real))
		return -errno;
	if (snprintf(out, size, "%s", real) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

static int state_dir_from(const char *env, const char *rel, char *out, size_t size)
{
	const char *v = getenv(env);
	if (v && *v) {
		char real[PATH_MAX];
		if (!realpath(v, real))
			return -errno;
		if (snprintf(out, size, "%s", real) >= (int)size)
			return -ENAMETOOLONG;
		return 0;
	}
	return state_exe_relative(rel, out, size);
}

int state_unit_dir(char *out, size_t size)
{
	return state_dir_from("USTACK_UNIT_DIR", "../lib/systemd/system", out, size);
}

int state_sysusers_file(char *out, size_t size)
{
	char dir[UCTL_PATH_MAX];
	int rc = state_unit_dir(dir, sizeof(dir));
	if (rc < 0)
		return rc;
	if (snprintf(out, size, "%s/../../sysusers.d/ustack.conf", dir) >= (int)size)
		return -ENAMETOOLONG;
	return 0;
}

int state_private_manager_dir(char *out, size_t size)
{
	return state_dir_from("USTACK_PRIVATE_MANAGER_DIR", "../lib/ustack/private-manager", out,
			      size);
}

int state_mkdir_p(const char *path, mode_t mode)
{
	char buf[UCTL_PATH_MAX];
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	struct stat sb;
	if (stat(buf, &sb) < 0)
		return -errno;
	return S_ISDIR(sb.st_mode) ? 0 : -ENOTDIR;
}

static int state_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	int rc = (flag == FTW_DP) ? rmdir(path) : unlink(path);
	if (rc < 0 && errno != ENOENT) {
		uctl_err("cannot remove %s: %s", path, strerror(errno));
		return -errno;
	}
	return 0;
}

int state_remove_tree(const char *path, const char *root)
{
	/* Both are ustack paths we built ourselves; still refuse anything outside root, and
	 * never follow a symlink out of it (FTW_PHYS, FTW_MOUNT). */
	size_t rl = strlen(root);
	if (rl < 2 || strncmp(path, root, rl) != 0 || (path[rl] != '\0' && path[rl] != '/') ||
	    strstr(path, "/../") || strstr(path, "/.."))
		return -EPERM;
	struct stat sb;
	if (lstat(path, &sb) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(sb.st_mode))
		return unlink(path) < 0 ? -errno : 0;
	int rc = nftw(path, state_rm_one, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
	return rc < 0 ? -errno : rc;
}
