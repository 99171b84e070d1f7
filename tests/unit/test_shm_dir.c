/* test_shm_dir: the instance's private shared-memory directory is made once (even by racing
 * processes), found again through its link, and everything that is not safely ours is refused:
 * a link to somewhere else, a directory or object others may open, a symlink in place of an
 * object, a runtime directory others may write. A stale link is repaired; remove cleans all.
 *
 * As root, "another user" is played by chown/chmod on objects we made ourselves.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper_check.h"
#include "helper_shm.h"
#include "paths.h"
#include "shm_dir.h"

static char instance[40];

static void setup(void) { tshm_begin("tshm", instance, sizeof(instance)); }
static void teardown(void) { tshm_end(instance); }

static void link_target(char *out, size_t size)
{
	char link[512];
	ck_assert_int_eq(ustack_runtime_path(instance, SHM_DIR_LINK, link, sizeof(link)), 0);
	ssize_t n = readlink(link, out, size - 1);
	ck_assert_int_gt(n, 0);
	out[n] = '\0';
}

START_TEST(made_private_and_found_again)
{
	ck_assert_int_eq(shm_dir_open(instance, false), -ENOENT);
	int fd = shm_dir_open(instance, true);
	ck_assert_int_ge(fd, 0);
	struct stat sb;
	ck_assert_int_eq(fstat(fd, &sb), 0);
	close(fd);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 0777, 0700);
	ck_assert_uint_eq(sb.st_uid, geteuid());

	char target[512], prefix[128];
	link_target(target, sizeof(target));
	snprintf(prefix, sizeof(prefix), "/dev/shm/ustack-%s.", instance);
	ck_assert_int_eq(strncmp(target, prefix, strlen(prefix)), 0);
	ck_assert_uint_eq(strlen(target), strlen(prefix) + 6);

	/* found again, not made again */
	fd = shm_dir_open(instance, true);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char again[512];
	link_target(again, sizeof(again));
	ck_assert_str_eq(again, target);

	/* objects: made 0600, reopened, unlinked */
	int o = shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(o, 0);
	close(o);
	ck_assert_int_eq(shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600), -EEXIST);
	o = shm_obj_open(instance, "pool", O_RDWR, 0);
	ck_assert_int_ge(o, 0);
	close(o);
	ck_assert_int_eq(shm_obj_unlink(instance, "pool"), 0);
	ck_assert_int_eq(shm_obj_unlink(instance, "pool"), -ENOENT);
	ck_assert_int_eq(shm_obj_open(instance, "../x", O_RDWR, 0), -EINVAL);
	ck_assert_int_eq(shm_obj_open(instance, "", O_RDWR, 0), -EINVAL);
}
END_TEST

START_TEST(racing_creators_share_one_directory)
{
	for (int round = 0; round < 20; round++) {
		int gate[2];
		ck_assert_int_eq(pipe(gate), 0);
		pid_t kids[4];
		for (int k = 0; k < 4; k++) {
			kids[k] = fork();
			ck_assert_int_ge(kids[k], 0);
			if (kids[k] == 0) {
				char c;
				close(gate[1]);
				if (read(gate[0], &c, 1) != 0)
					_exit(10);
				/* every child makes an object of its own: all must land in one place */
				char name[16];
				snprintf(name, sizeof(name), "obj-%d", k);
				int fd = shm_obj_open(instance, name, O_RDWR | O_CREAT | O_EXCL, 0600);
				_exit(fd >= 0 ? 0 : 20);
			}
		}
		close(gate[0]);
		close(gate[1]);
		for (int k = 0; k < 4; k++) {
			int st;
			ck_assert_int_eq(waitpid(kids[k], &st, 0), kids[k]);
			ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
		}
		int dfd = shm_dir_open(instance, false);
		ck_assert_int_ge(dfd, 0);
		for (int k = 0; k < 4; k++) {
			char name[16];
			snprintf(name, sizeof(name), "obj-%d", k);
			ck_assert_int_eq(faccessat(dfd, name, F_OK, 0), 0);
		}
		close(dfd);
		/* no stray directory of a loser in /dev/shm: remove must leave nothing */
		ck_assert_int_eq(shm_dir_remove(instance), 0);
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "ls -d /dev/shm/ustack-%s.* >/dev/null 2>&1", instance);
		ck_assert_int_ne(system(cmd), 0);
	}
}
END_TEST

START_TEST(link_elsewhere_refused)
{
	char rt[256], link[512];
	ck_assert_int_eq(ustack_runtime_dir_create(instance), 0);
	ck_assert_int_eq(ustack_runtime_dir(instance, rt, sizeof(rt)), 0);
	ck_assert_int_eq(ustack_runtime_path(instance, SHM_DIR_LINK, link, sizeof(link)), 0);
	/* a directory that is ours but not an instance directory */
	char other[] = "/dev/shm/ustack-notit-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(other));
	ck_assert_int_eq(symlink(other, link), 0);
	ck_assert_int_eq(shm_dir_open(instance, true), -EPERM);
	ck_assert_int_eq(shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600), -EPERM);
	ck_assert_int_eq(unlink(link), 0);
	ck_assert_int_eq(rmdir(other), 0);
}
END_TEST

START_TEST(directory_others_may_enter_refused)
{
	int fd = shm_dir_open(instance, true);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0755), 0);
	close(fd);
	ck_assert_int_eq(shm_dir_open(instance, true), -EPERM);
	ck_assert_int_eq(shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600), -EPERM);
	char target[512];
	link_target(target, sizeof(target));
	ck_assert_int_eq(chmod(target, 0700), 0);
	fd = shm_dir_open(instance, true);
	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

START_TEST(foreign_or_open_objects_refused)
{
	int fd = shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	/* readable by others */
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	ck_assert_int_eq(shm_obj_open(instance, "pool", O_RDWR, 0), -EPERM);
	ck_assert_int_eq(fchmod(fd, 0600), 0);
	ck_assert_int_ge(shm_obj_open(instance, "pool", O_RDWR, 0), 0);
	close(fd);
	/* another user's object, mode 0600, in a directory that is ours: the "layer" is uid 65533
	 * (root, who accepts the layers' objects, plays it with seteuid in a child), the object
	 * belongs to 65534 */
	if (geteuid() == 0) {
		fd = shm_obj_open(instance, "seg", O_RDWR | O_CREAT | O_EXCL, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
		close(fd);
		fd = shm_obj_open(instance, "open", O_RDWR | O_CREAT | O_EXCL, 0600);
		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(fchown(fd, 65534, 65534), 0);
		ck_assert_int_eq(fchmod(fd, 0666), 0);
		close(fd);
		char target[512];
		link_target(target, sizeof(target));
		ck_assert_int_eq(chown(target, 65533, 65533), 0);
		/* the runtime directories (mkdtemp: 0700) must let the layer's uid through */
		ck_assert_int_eq(chmod(getenv("USTACK_RUNTIME_DIR"), 0755), 0);
		pid_t pid = fork();
		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			if (setegid(65533) < 0 || seteuid(65533) < 0)
				_exit(30);
			int own = shm_dir_open(instance, false);
			if (own < 0)
				_exit(31); /* its own directory must open */
			close(own);
			/* 0600: the kernel already says no */
			if (shm_obj_open(instance, "seg", O_RDWR, 0) != -EACCES)
				_exit(32);
			/* 0666 (a squatter's invitation): we say no */
			int r = shm_obj_open(instance, "open", O_RDWR, 0);
			_exit(r == -EPERM ? 0 : 33);
		}
		int st;
		ck_assert_int_eq(waitpid(pid, &st, 0), pid);
		ck_assert(WIFEXITED(st));
		ck_assert_int_eq(WEXITSTATUS(st), 0);
		ck_assert_int_eq(chown(target, 0, 0), 0);
	}
	/* a symlink where an object should be: O_NOFOLLOW refuses it */
	int dfd = shm_dir_open(instance, false);
	ck_assert_int_ge(dfd, 0);
	ck_assert_int_eq(symlinkat("/etc/passwd", dfd, "evil"), 0);
	close(dfd);
	ck_assert_int_eq(shm_obj_open(instance, "evil", O_RDWR, 0), -EPERM);
}
END_TEST

START_TEST(runtime_dir_writable_by_others_refused)
{
	char rt[256];
	ck_assert_int_eq(ustack_runtime_dir_create(instance), 0);
	ck_assert_int_eq(ustack_runtime_dir(instance, rt, sizeof(rt)), 0);
	ck_assert_int_eq(chmod(rt, 0777), 0);
	ck_assert_int_eq(shm_dir_open(instance, true), -EPERM);
	ck_assert_int_eq(chmod(rt, 0755), 0);
	int fd = shm_dir_open(instance, true);
	ck_assert_int_ge(fd, 0);
	close(fd);
}
END_TEST

START_TEST(stale_link_repaired_and_remove_cleans)
{
	int fd = shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char target[512];
	link_target(target, sizeof(target));
	/* /dev/shm emptied under us (a reboot-less cleanup): the link points nowhere */
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", target);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(shm_dir_open(instance, false), -ENOENT);
	fd = shm_dir_open(instance, true);
	ck_assert_int_ge(fd, 0);
	close(fd);
	char fresh[512];
	link_target(fresh, sizeof(fresh));
	ck_assert_str_ne(fresh, target);

	fd = shm_obj_open(instance, "pool", O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(shm_dir_remove(instance), 0);
	ck_assert_int_eq(access(fresh, F_OK), -1);
	ck_assert_int_eq(shm_dir_remove(instance), -ENOENT);
}
END_TEST

static Suite *shm_dir_suite(void)
{
	Suite *s = suite_create("shm_dir");
	TCase *tc = tcase_create("shm_dir");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, made_private_and_found_again);
	tcase_add_test(tc, racing_creators_share_one_directory);
	tcase_add_test(tc, link_elsewhere_refused);
	tcase_add_test(tc, directory_others_may_enter_refused);
	tcase_add_test(tc, foreign_or_open_objects_refused);
	tcase_add_test(tc, runtime_dir_writable_by_others_refused);
	tcase_add_test(tc, stale_link_repaired_and_remove_cleans);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(shm_dir_suite());
}
