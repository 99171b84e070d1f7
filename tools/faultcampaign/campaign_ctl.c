/* campaign_ctl: ustackctl run as a child process, for faults, status and stats.
 *
 * Why a child and not the ctl requests themselves: `fault kill` and `fault hang` go through the
 * instance's systemd manager (the unit's MainPID, the detached SIGCONT helper, the hang record
 * that `status` shows and `clear` ends); running the one tool that does this keeps one
 * implementation of each fault, and the campaign injects exactly what a user's `ustackctl fault`
 * does. The cost (a fork and exec per call, some milliseconds) falls between faults, outside
 * every measured interval except the recovery wait, whose polling it only coarsens slightly.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "campaign.h"

extern char **environ;

static const char *cp_ctl_path = "ustackctl";

void cp_ctl_set_path(const char *path)
{
	cp_ctl_path = path;
}

int cp_ctl(char *out, size_t out_size, int timeout_ms, const char *const *args)
{
	const char *argv[24];
	size_t n = 0;
	argv[n++] = cp_ctl_path;
	for (size_t i = 0; args[i] && n < 23; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -errno;
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	pid_t pid;
	int rc = posix_spawnp(&pid, cp_ctl_path, &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (rc != 0) {
		close(pfd[0]);
		return -rc;
	}
	size_t len = 0;
	uint64_t deadline = cp_now_ns() + (uint64_t)timeout_ms * 1000000u;
	bool timed_out = false;
	for (;;) {
		uint64_t now = cp_now_ns();
		if (now >= deadline) {
			timed_out = true;
			break;
		}
		struct pollfd p = {.fd = pfd[0], .events = POLLIN};
		int left = (int)((deadline - now) / 1000000u) + 1;
		if (poll(&p, 1, left) <= 0)
			continue;
		char tmp[4096];
		ssize_t r = read(pfd[0], tmp, sizeof(tmp));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (out && len + 1 < out_size) {
			size_t k = (size_t)r < out_size - 1 - len ? (size_t)r : out_size - 1 - len;
			memcpy(out + len, tmp, k);
			len += k;
		}
	}
	close(pfd[0]);
	if (out && out_size)
		out[len] = '\0';
	if (timed_out)
		kill(pid, SIGKILL);
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (timed_out)
		return -ETIMEDOUT;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -EINTR;
}

int cp_ctl_status(const char *instance, struct cp_status *st)
{
	char out[8192];
	const char *args[] = {"status", "--instance", instance, NULL};
	int rc = cp_ctl(out, sizeof(out), 10000, args);
	if (rc < 0)
		return rc;
	st->all_serving = rc == 0;
	for (int l = 0; l < CP_LAYERS; l++)
		st->pid[l] = st->restarts[l] = -1;
	/* "nicd  serving  pid 4242  up 12.3s  restarts 0" */
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char name[16];
		long pid, restarts = -1;
		if (sscanf(line, "%15s serving pid %ld", name, &pid) != 2)
			continue;
		const char *r = strstr(line, "restarts ");
		if (r)
			restarts = strtol(r + 9, NULL, 10); /* "?" without a manager: 0 */
		for (int l = 0; l < CP_LAYERS; l++)
			if (strcmp(name, cp_layer_names[l]) == 0) {
				st->pid[l] = pid;
				st->restarts[l] = restarts;
			}
	}
	return 0;
}

int cp_ctl_stats(const char *instance, struct cp_stats *st)
{
	st->size = 1 << 20;
	st->text = malloc(st->size);
	if (!st->text)
		return -ENOMEM;
	const char *args[] = {"stats", "--instance", instance, NULL};
	int rc = cp_ctl(st->text, st->size, 10000, args);
	if (rc != 0) {
		cp_stats_free(st);
		return rc < 0 ? rc : -EIO;
	}
	return 0;
}

long long cp_stats_get(const struct cp_stats *st, const char *key)
{
	size_t kl = strlen(key);
	for (const char *p = st->text; p && *p;) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoll(p + kl + 1, NULL, 10);
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return -1;
}

void cp_stats_free(struct cp_stats *st)
{
	free(st->text);
	st->text = NULL;
}
