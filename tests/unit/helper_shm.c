/* helper_shm: see helper_shm.h. */
#include "helper_shm.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "shm_dir.h"

static char tshm_rundir[64];

void tshm_begin(const char *prefix, char *instance, size_t size)
{
	static unsigned counter;
	snprintf(tshm_rundir, sizeof(tshm_rundir), "/tmp/ustack-utest-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tshm_rundir));
	ck_assert_int_eq(setenv("USTACK_RUNTIME_DIR", tshm_rundir, 1), 0);
	int n = snprintf(instance, size, "%s%ld-%u", prefix, (long)getpid(), counter++);
	ck_assert(n > 0 && (size_t)n < size);
}

void tshm_end(const char *instance)
{
	int rc = shm_dir_remove(instance);
	ck_assert_msg(rc == 0 || rc == -ENOENT, "shm_dir_remove: %s", strerror(-rc));
	char dir[256];
	ck_assert_int_eq(ustack_runtime_dir(instance, dir, sizeof(dir)), 0);
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tshm_rundir);
	ck_assert_int_eq(system(cmd), 0);
}

int tshm_raw_open(const char *instance, const char *name, int flags, mode_t mode)
{
	int dfd = shm_dir_open(instance, true);
	ck_assert_int_ge(dfd, 0);
	close(dfd);
	char path[512];
	ck_assert_int_eq(shm_obj_path(instance, name, path, sizeof(path)), 0);
	return open(path, flags | O_CLOEXEC, mode);
}
