/* run: external commands (ip, systemctl) through posix_spawnp + waitpid, never a shell.
 *
 * stdin is /dev/null; stdout and stderr are captured through pipes (or sent to /dev/null) and
 * read with poll() until both close, so a chatty child never blocks on a full pipe. Every command
 * has a deadline: a child that outlives it (systemctl waiting on a wedged manager, say) is
 * SIGKILLed and reaped, and the call fails with -ETIMEDOUT.
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

#include "ustackctl.h"

extern char **environ;

#define RUN_DEFAULT_TIMEOUT_MS 30000
#define RUN_ENV_MAX 512

static int64_t run_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool run_env_matches(const char *entry, const char *name_eq_or_name)
{
	size_t n = strcspn(name_eq_or_name, "=");
	return strncmp(entry, name_eq_or_name, n) == 0 && entry[n] == '=';
}

/* Build the child's environment in envp (pointers into environ and spec; nothing allocated). */
static int run_build_env(const struct run_spec *spec, char **envp, size_t max)
{
	size_t n = 0;
	for (char **e = environ; *e; e++) {
		bool drop = false;
		for (const char *const *s = spec->env_set; s && *s && !drop; s++)
			drop = run_env_matches(*e, *s);
		for (const char *const *u = spec->env_unset; u && *u && !drop; u++)
			drop = run_env_matches(*e, *u);
		if (drop)
			continue;
		if (n + 1 >= max)
			return -E2BIG;
		envp[n++] = *e;
	}
	for (const char *const *s = spec->env_set; s && *s; s++) {
		if (n + 1 >= max)
			return -E2BIG;
		envp[n++] = (char *)*s;
	}
	envp[n] = NULL;
	return 0;
}

struct run_sink {
	int fd;
	char *buf;
	size_t size;
	size_t len;
};

static void run_sink_read(struct run_sink *s)
{
	char tmp[4096];
	ssize_t r = read(s->fd, tmp, sizeof(tmp));
	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (r <= 0) {
		close(s->fd);
		s->fd = -1;
		return;
	}
	if (s->buf && s->size > 1 && s->len < s->size - 1) {
		size_t room = s->size - 1 - s->len;
		size_t take = (size_t)r < room ? (size_t)r : room;
		memcpy(s->buf + s->len, tmp, take);
		s->len += take;
		s->buf[s->len] = '\0';
	}
}

int run_cmd(const struct run_spec *spec)
{
	char *envp[RUN_ENV_MAX];
	int rc = run_build_env(spec, envp, RUN_ENV_MAX);
	if (rc < 0)
		return rc;
	if (spec->out && spec->out_size)
		spec->out[0] = '\0';
	if (spec->err && spec->err_size)
		spec->err[0] = '\0';

	int pout[2] = {-1, -1}, perr[2] = {-1, -1};
	if (pipe2(pout, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(perr, O_CLOEXEC) < 0) {
		rc = -errno;
		close(pout[0]);
		close(pout[1]);
		return rc;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pout[1], 1);
	posix_spawn_file_actions_adddup2(&fa, perr[1], 2);
	/* The child starts with default signal dispositions and an empty mask. */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t all, none;
	sigfillset(&all);
	sigemptyset(&none);
	posix_spawnattr_setsigdefault(&at, &all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	int e = posix_spawnp(&pid, spec->argv[0], &fa, &at, (char *const *)spec->argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(pout[1]);
	close(perr[1]);
	if (e != 0) {
		close(pout[0]);
		close(perr[0]);
		return -e;
	}

	struct run_sink sinks[2] = {
		{.fd = pout[0], .buf = spec->out, .size = spec->out_size},
		{.fd = perr[0], .buf = spec->err, .size = spec->err_size},
	};
	int timeout = spec->timeout_ms > 0 ? spec->timeout_ms : RUN_DEFAULT_TIMEOUT_MS;
	int64_t deadline = run_now_ms() + timeout;
	bool timed_out = false;
	while (sinks[0].fd >= 0 || sinks[1].fd >= 0) {
		struct pollfd pfd[2];
		int map[2];
		int n = 0;
		for (int i = 0; i < 2; i++) {
			if (sinks[i].fd < 0)
				continue;
			pfd[n] = (struct pollfd){.fd = sinks[i].fd, .events = POLLIN};
			map[n++] = i;
		}
		int64_t left = deadline - run_now_ms();
		if (left <= 0) {
			timed_out = true;
			break;
		}
		int pr = poll(pfd, (nfds_t)n, (int)left);
		if (pr < 0 && errno != EINTR) {
			timed_out = true; /* cannot wait any more: treat like a timeout */
			break;
		}
		for (int i = 0; i < n && pr > 0; i++)
			if (pfd[i].revents)
				run_sink_read(&sinks[map[i]]);
	}
	/* Pipes may close before exit (a daemonizing child); wait for the exit itself too. */
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			status = -1;
			break;
		}
		if (timed_out || run_now_ms() >= deadline) {
			timed_out = true;
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < 2; i++)
		if (sinks[i].fd >= 0)
			close(sinks[i].fd);
	if (timed_out)
		return -ETIMEDOUT;
	if (status < 0)
		return -ECHILD;
	if (WIFEXITED(status)) {
		return WEXITSTATUS(status);
	}
	return -EINTR;
}

const char *run_last_line(char *text)
{
	if (!text)
		return "";
	size_t n = strlen(text);
	while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' ' || text[n - 1] == '\r'))
		text[--n] = '\0';
	char *nl = strrchr(text, '\n');
	return nl ? nl + 1 : text;
}

void run_format_argv(const char *const *argv, char *out, size_t size)
{
	size_t len = 0;
	if (size == 0)
		return;
	out[0] = '\0';
	for (const char *const *a = argv; *a; a++) {
		int w = snprintf(out + len, size - len, "%s%s", a == argv ? "" : " ", *a);
		if (w < 0 || (size_t)w >= size - len)
			break;
		len += (size_t)w;
	}
}
