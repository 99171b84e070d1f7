/* sock_test: the fault-injection calls for applications' tests (include/ustack/test.h).
 *
 * Each call runs `ustackctl` ($USTACK_CTL, else from $PATH) with posix_spawnp, its stdout on
 * /dev/null and its stderr ours, and waits for it. Arguments are checked here first, so a
 * mistake is EINVAL without a child. Why ustackctl and not the control sockets: test.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <ustack/test.h>

#include "paths.h"
#include "sock_priv.h"

extern char **environ;

#define SOCK_TEST_HANG_MAX_MS 3600000u

static int sock_test_fail(int err)
{
	errno = err;
	return -1;
}

/* The instance to act on: the caller's, else libsock's own (us_set_instance, else
 * $USTACK_INSTANCE). 0 or -EINVAL. */
static int sock_test_instance(const char *given, char *out, size_t size)
{
	const char *name = given;
	if (!name) {
		pthread_mutex_lock(&sock_lib.setup_lock);
		if (sock_lib.instance_set)
			snprintf(out, size, "%s", sock_lib.instance);
		else
			out[0] = '\0';
		pthread_mutex_unlock(&sock_lib.setup_lock);
		name = out[0] ? out : getenv("USTACK_INSTANCE");
	}
	if (!name || !ustack_instance_valid(name))
		return -EINVAL;
	if (name != out)
		snprintf(out, size, "%s", name);
	return 0;
}

static bool sock_test_layer_valid(const char *layer)
{
	static const char *const layers[] = {"nicd", "ipd", "tcpd", "udpd"};
	for (size_t i = 0; layer && i < sizeof(layers) / sizeof(layers[0]); i++)
		if (strcmp(layer, layers[i]) == 0)
			return true;
	return false;
}

/* Run ustackctl ARGS (NULL-terminated, at most 8): its exit status, or a negative errno. */
static int sock_test_run(const char *const *args)
{
	const char *ctl = getenv("USTACK_CTL");
	if (!ctl || !*ctl)
		ctl = "ustackctl";
	const char *argv[10] = {ctl};
	for (size_t i = 0; args[i] && i < 8; i++)
		argv[i + 1] = args[i];
	posix_spawn_file_actions_t fa;
	if (posix_spawn_file_actions_init(&fa) != 0)
		return -ENOMEM;
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int rc = posix_spawnp(&pid, ctl, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return -rc;
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -EIO;
}

/* A fault command: 0, or -1 with errno (ustackctl's exit 2: EINVAL, 1: EIO). */
static int sock_test_fault(const char *instance, const char *what, const char *layer,
			   const char *arg)
{
	char inst[sizeof(sock_lib.instance)];
	if (sock_test_instance(instance, inst, sizeof(inst)) < 0)
		return sock_test_fail(EINVAL);
	const char *args[] = {"fault", "--instance", inst, what, layer, arg, NULL};
	int rc = sock_test_run(args);
	if (rc == 0)
		return 0;
	return sock_test_fail(rc < 0 ? -rc : rc == 2 ? EINVAL : EIO);
}

US_API int us_test_kill(const char *instance, const char *layer)
{
	if (!sock_test_layer_valid(layer))
		return sock_test_fail(EINVAL);
	return sock_test_fault(instance, "kill", layer, NULL);
}

US_API int us_test_hang(const char *instance, const char *layer, unsigned ms)
{
	if (!sock_test_layer_valid(layer) || ms == 0 || ms > SOCK_TEST_HANG_MAX_MS)
		return sock_test_fail(EINVAL);
	char secs[32];
	snprintf(secs, sizeof(secs), "%u.%03u", ms / 1000, ms % 1000);
	return sock_test_fault(instance, "hang", layer, secs);
}

US_API int us_test_clear(const char *instance, const char *layer)
{
	if (layer && !sock_test_layer_valid(layer))
		return sock_test_fail(EINVAL);
	return sock_test_fault(instance, "clear", layer, NULL);
}

US_API int us_test_wait_serving(const char *instance, unsigned timeout_ms)
{
	char inst[sizeof(sock_lib.instance)], secs[32];
	if (timeout_ms == 0 || timeout_ms > SOCK_TEST_HANG_MAX_MS ||
	    sock_test_instance(instance, inst, sizeof(inst)) < 0)
		return sock_test_fail(EINVAL);
	/* ustackctl takes 0.1 s at least */
	unsigned ms = timeout_ms < 100 ? 100 : timeout_ms;
	snprintf(secs, sizeof(secs), "%u.%03u", ms / 1000, ms % 1000);
	const char *args[] = {"wait", "--instance", inst, "--timeout", secs, NULL};
	int rc = sock_test_run(args);
	if (rc == 0)
		return 0;
	return sock_test_fail(rc < 0 ? -rc : rc == 1 ? ETIMEDOUT : EINVAL);
}
