/* shm_dir: the instance's private directory for shared-memory objects (see shm_dir.h).
 *
 * Trust chain: the runtime directory (must not be writable by anyone but its owner, who must be
 * us or root) holds the link; the link must name SHM_DIR_BASE/ustack-<instance>.XXXXXX; that
 * directory must be ours with mode 0700; every object in it must be a regular file of ours with
 * no group/other bits. Root (ustackctl) accepts what the runtime directory's owner made, since the
 * layers run as that user.
 */
#include "shm_dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "paths.h"

#define SHM_DIR_PATH_MAX 256
#define SHM_DIR_SUFFIX_LEN 6 /* mkdtemp's XXXXXX */

static bool shm_obj_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > SHM_OBJ_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
			return false;
	}
	return true;
}

/* "/dev/shm/ustack-<instance>." : every name the link may point to starts with it. */
static int shm_dir_prefix(const char *instance, char *out, size_t size)
{
	int n = snprintf(out, size, "%s/ustack-%s.", SHM_DIR_BASE, instance);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool shm_dir_target_valid(const char *instance, const char *target)
{
	char prefix[SHM_DIR_PATH_MAX];
	if (shm_dir_prefix(instance, prefix, sizeof(prefix)) < 0)
		return false;
	size_t pl = strlen(prefix);
	if (strncmp(target, prefix, pl) != 0 || strlen(target) != pl + SHM_DIR_SUFFIX_LEN)
		return false;
	for (const char *p = target + pl; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
			return false;
	return true;
}

/* Open the runtime directory and check it may be trusted to hold the link. */
static int shm_dir_open_runtime(const char *instance, bool create, char *path, size_t size,
				uid_t *owner)
{
	int rc = ustack_runtime_dir(instance, path, size);
	if (rc < 0)
		return rc;
	if (create) {
		rc = ustack_runtime_dir_create(instance);
		if (rc < 0)
			return rc;
	}
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	uid_t me = geteuid();
	if ((sb.st_mode & (S_IWGRP | S_IWOTH)) ||
	    (sb.st_uid != me && sb.st_uid != 0 && me != 0)) {
		log_err("refusing runtime directory %s: owned by uid %u with mode %04o; it must be "
			"ours (uid %u) or root's and writable by its owner only",
			path, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777), (unsigned)me);
		close(fd);
		return -EPERM;
	}
	*owner = sb.st_uid;
	return fd;
}

/* May we use something owned by `uid`? Ours; or, for root, the runtime directory's owner's (the
 * layers' user) or root's. */
static bool shm_dir_owner_ok(uid_t uid, uid_t rt_owner)
{
	uid_t me = geteuid();
	return uid == me || (me == 0 && (uid == rt_owner || uid == 0));
}

/* Follow the link: the directory's fd, -ENOENT (no link, or it points nowhere: *stale says
 * which), or -EPERM (logged). */
static int shm_dir_follow(int rtfd, const char *instance, const char *rtpath, uid_t rt_owner,
			  char *target, size_t tsize, bool *stale)
{
	*stale = false;
	ssize_t n = readlinkat(rtfd, SHM_DIR_LINK, target, tsize - 1);
	if (n < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	target[n] = '\0';
	if (!shm_dir_target_valid(instance, target)) {
		log_err("refusing %s/%s: it points to '%s', not to %s/ustack-%s.XXXXXX", rtpath,
			SHM_DIR_LINK, target, SHM_DIR_BASE, instance);
		return -EPERM;
	}
	int fd = open(target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT) {
			*stale = true;
			return -ENOENT;
		}
		int e = errno;
		log_err("cannot open %s: %s", target, strerror(e));
		return -e;
	}
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!shm_dir_owner_ok(sb.st_uid, rt_owner) || (sb.st_mode & 077)) {
		log_err("refusing shared-memory directory %s: owned by uid %u with mode %04o; it "
			"must be ours (uid %u) with mode 0700",
			target, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777),
			(unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Under the runtime directory's lock: make the directory and the link (replacing a stale one). */
static int shm_dir_make(int rtfd, const char *instance, const char *rtpath, uid_t rt_owner)
{
	char target[SHM_DIR_PATH_MAX];
	bool stale;
	int fd = shm_dir_follow(rtfd, instance, rtpath, rt_owner, target, sizeof(target), &stale);
	if (fd != -ENOENT)
		return fd; /* another process made it while we waited for the lock, or a refusal */
	if (stale && unlinkat(rtfd, SHM_DIR_LINK, 0) < 0 && errno != ENOENT)
		return -errno;
	char made[SHM_DIR_PATH_MAX];
	int rc = shm_dir_prefix(instance, made, sizeof(made));
	if (rc < 0)
		return rc;
	if (strlen(made) + SHM_DIR_SUFFIX_LEN >= sizeof(made))
		return -ENAMETOOLONG;
	strcat(made, "XXXXXX");
	if (!mkdtemp(made)) { /* mode 0700, a name nobody can guess or take first */
		rc = -errno;
		log_err("cannot make a directory %s: %s", made, strerror(-rc));
		return rc;
	}
	if (symlinkat(made, rtfd, SHM_DIR_LINK) < 0) {
		rc = -errno;
		rmdir(made);
		log_err("cannot link %s/%s to %s: %s", rtpath, SHM_DIR_LINK, made, strerror(-rc));
		return rc;
	}
	fd = open(made, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int shm_dir_open(const char *instance, bool create)
{
	char rtpath[SHM_DIR_PATH_MAX], target[SHM_DIR_PATH_MAX];
	uid_t rt_owner;
	int rtfd = shm_dir_open_runtime(instance, create, rtpath, sizeof(rtpath), &rt_owner);
	if (rtfd < 0)
		return rtfd;
	bool stale;
	int fd = shm_dir_follow(rtfd, instance, rtpath, rt_owner, target, sizeof(target), &stale);
	if (fd == -ENOENT && create) {
		/* Two layers starting at once must end up in one directory: the lock makes the
		 * check-and-create (and the repair of a stale link) one step. */
		if (flock(rtfd, LOCK_EX) < 0) {
			fd = -errno;
		} else {
			fd = shm_dir_make(rtfd, instance, rtpath, rt_owner);
			flock(rtfd, LOCK_UN);
		}
	}
	close(rtfd);
	return fd;
}

int shm_obj_open(const char *instance, const char *name, int flags, mode_t mode)
{
	if (!shm_obj_name_valid(name))
		return -EINVAL;
	int dfd = shm_dir_open(instance, (flags & O_CREAT) != 0);
	if (dfd < 0)
		return dfd;
	struct stat dsb;
	int fd = fstat(dfd, &dsb) < 0 ? -errno : 0;
	if (fd == 0) {
		fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd < 0)
			fd = errno == ELOOP ? -EPERM : -errno;
	}
	close(dfd);
	if (fd < 0 || ((flags & O_CREAT) && (flags & O_EXCL)))
		return fd; /* made by us just now: nothing to check */
	struct stat sb;
	if (fstat(fd, &sb) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (!S_ISREG(sb.st_mode) || !shm_dir_owner_ok(sb.st_uid, dsb.st_uid) ||
	    (sb.st_mode & 077)) {
		char path[SHM_DIR_PATH_MAX + SHM_OBJ_NAME_MAX + 2];
		shm_obj_path(instance, name, path, sizeof(path));
		log_err("refusing %s: owned by uid %u with mode %04o; it must be a regular file of "
			"ours (uid %u) that nobody else may open",
			path, (unsigned)sb.st_uid, (unsigned)(sb.st_mode & 07777),
			(unsigned)geteuid());
		close(fd);
		return -EPERM;
	}
	return fd;
}

int shm_obj_unlink(const char *instance, const char *name)
{
	if (!shm_obj_name_valid(name))
		return -EINVAL;
	int dfd = shm_dir_open(instance, false);
	if (dfd < 0)
		return dfd;
	int rc = unlinkat(dfd, name, 0) < 0 ? -errno : 0;
	close(dfd);
	return rc;
}

int shm_obj_path(const char *instance, const char *name, char *out, size_t size)
{
	char link[SHM_DIR_PATH_MAX], target[SHM_DIR_PATH_MAX];
	int rc = ustack_runtime_path(instance, SHM_DIR_LINK, link, sizeof(link));
	if (rc < 0)
		return rc;
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	const char *dir = link;
	if (n > 0) {
		target[n] = '\0';
		dir = target;
	}
	int w = snprintf(out, size, "%s/%s", dir, name);
	return w < 0 || (size_t)w >= size ? -ENAMETOOLONG : 0;
}

/* Remove the regular files of ours in dir (fd), then the directory itself (path). */
static int shm_dir_empty_and_remove(int dfd, const char *path)
{
	int ret = 0;
	int dup_fd = dup(dfd);
	DIR *d = dup_fd < 0 ? NULL : fdopendir(dup_fd);
	if (!d) {
		if (dup_fd >= 0)
			close(dup_fd);
		return -errno;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, de->d_name, 0) < 0 && errno != ENOENT) {
			ret = -errno;
			log_err("cannot remove %s/%s: %s", path, de->d_name, strerror(errno));
		}
	}
	closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT) {
		ret = -errno;
		log_err("cannot remove %s: %s", path, strerror(errno));
	}
	return ret;
}

int shm_dir_remove(const char *instance)
{
	char rtpath[SHM_DIR_PATH_MAX], target[SHM_DIR_PATH_MAX];
	uid_t rt_owner;
	int rtfd = shm_dir_open_runtime(instance, false, rtpath, sizeof(rtpath), &rt_owner);
	if (rtfd < 0)
		return rtfd;
	bool stale;
	int ret = 0;
	int dfd = shm_dir_follow(rtfd, instance, rtpath, rt_owner, target, sizeof(target), &stale);
	if (dfd >= 0) {
		ret = shm_dir_empty_and_remove(dfd, target);
		close(dfd);
	} else if (dfd == -ENOENT && !stale) {
		ret = -ENOENT;
	} else if (dfd != -ENOENT) {
		ret = dfd; /* not ours: leave the directory alone, but the link goes */
	}
	if (unlinkat(rtfd, SHM_DIR_LINK, 0) < 0 && errno != ENOENT && ret == 0)
		ret = -errno;
	close(rtfd);
	return ret;
}
