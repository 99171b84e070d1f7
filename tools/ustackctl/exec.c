/* exec: run an unmodified program on the stack: `ustackctl exec --instance NAME -- CMD ARGS`.
 *
 * Sets USTACK_INSTANCE=NAME, puts libsock-preload.so first in LD_PRELOAD (what the program's
 * environment had there stays after it) and execs CMD in place, as env(1) does, so its exit
 * status and signals are the program's own. The shim is looked for next to this ustackctl:
 * <bindir>/../<libdir>/ as installed, <bindir>/../lib/ in a build tree. An instance that is
 * not up is refused here rather than by every socket() the program makes (ENETDOWN after
 * seconds of retrying).
 */
#include <errno.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ustackctl.h"

#ifndef USTACK_INSTALL_LIBDIR
#define USTACK_INSTALL_LIBDIR "lib"
#endif
#define EXEC_SHIM "libsock-preload.so"

/* The shim's path into buf, from where this program lives; 0, or -ENOENT. */
static int exec_find_shim(char *buf, size_t cap)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n < 0)
		return -errno;
	self[n] = '\0';
	const char *bindir = dirname(self);
	const char *libdirs[] = {USTACK_INSTALL_LIBDIR, "lib"};
	for (unsigned i = 0; i < sizeof(libdirs) / sizeof(libdirs[0]); i++) {
		struct stat sb;
		int w = snprintf(buf, cap, "%s/../%s/%s", bindir, libdirs[i], EXEC_SHIM);
		if (w > 0 && (size_t)w < cap && stat(buf, &sb) == 0 && S_ISREG(sb.st_mode)) {
			char real[PATH_MAX];
			if (realpath(buf, real) && strlen(real) < cap)
				memcpy(buf, real, strlen(real) + 1);
			return 0;
		}
	}
	return -ENOENT;
}

int exec_cmd(const struct uctl_opts *o)
{
	struct uctl_state st;
	if (state_read(o->instance, &st) != 0 || st.mode == STATE_MODE_NONE) {
		uctl_err("instance %s is not up (ustackctl up --instance %s ...)", o->instance,
			 o->instance);
		return UCTL_EXIT_FAIL;
	}
	char shim[PATH_MAX];
	if (exec_find_shim(shim, sizeof(shim)) < 0) {
		uctl_err("no %s next to this ustackctl (in ../%s or ../lib)", EXEC_SHIM,
			 USTACK_INSTALL_LIBDIR);
		return UCTL_EXIT_FAIL;
	}
	const char *old = getenv("LD_PRELOAD");
	size_t len = strlen(shim) + (old && *old ? 1 + strlen(old) : 0) + 1;
	char *preload = malloc(len);
	if (!preload) {
		uctl_err("out of memory");
		return UCTL_EXIT_FAIL;
	}
	snprintf(preload, len, "%s%s%s", shim, old && *old ? ":" : "", old && *old ? old : "");
	if (setenv("USTACK_INSTANCE", o->instance, 1) != 0 || setenv("LD_PRELOAD", preload, 1) != 0) {
		uctl_err("setenv: %s", strerror(errno));
		free(preload);
		return UCTL_EXIT_FAIL;
	}
	free(preload);
	fflush(stdout);
	execvp(o->exec_argv[0], o->exec_argv);
	uctl_err("%s: %s", o->exec_argv[0], strerror(errno));
	/* as env(1): 127 when the command is not found, 126 when it cannot be run */
	return errno == ENOENT ? 127 : 126;
}
