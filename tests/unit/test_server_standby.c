/* test_server_standby: a layer's standby (server_claim_layer with standby): it waits while
 * another process holds the layer, says so to systemd and feeds its watchdog meanwhile, and
 * takes the layer the moment the holder dies, SIGKILL included.
 *
 * Real processes, a real lock file in a temporary runtime directory, and a datagram socket in
 * the place of systemd's notify socket: the test reads exactly what a manager would.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper_check.h"
#include "server.h"

#define T_INSTANCE "standbytest"
#define T_LAYER "udpd"
#define T_WAIT_MS 5000 /* liveness bound: far above what any step takes */

static char t_dir[64];
static char t_notify[96]; /* fits sun_path (108) */

static void t_setup(void)
{
	snprintf(t_dir, sizeof(t_dir), "/tmp/ustack-standby-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t_dir));
	setenv("USTACK_RUNTIME_DIR", t_dir, 1);
	snprintf(t_notify, sizeof(t_notify), "%s/notify", t_dir);
}

static void t_teardown(void)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s/%s.lock", t_dir, T_INSTANCE, T_LAYER);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", t_dir, T_INSTANCE);
	rmdir(path);
	unlink(t_notify);
	rmdir(t_dir);
}

/* A child that claims the layer, then reports on `report` ("claimed N" with rc N) and waits
 * for its end. With watchdog_usec, it runs under a notify socket and watchdog as systemd's
 * services do. */
/* The standby's preparation in t_claimer: tells `t_prep_report` the holder it was given, and
 * succeeds on its T_PREP_OK-th call. */
#define T_PREP_OK 4
static int t_prep_report = -1;
static int t_prep_calls;

static int t_prep(void *arg, long holder)
{
	(void)arg;
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "prep %ld;", holder);
	if (write(t_prep_report, msg, (size_t)n) != n)
		_exit(3);
	return ++t_prep_calls >= T_PREP_OK ? 0 : -EAGAIN;
}

static pid_t t_claimer(bool standby, int report, unsigned watchdog_usec)
{
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	if (watchdog_usec) {
		char v[32];
		setenv("NOTIFY_SOCKET", t_notify, 1);
		snprintf(v, sizeof(v), "%u", watchdog_usec);
		setenv("WATCHDOG_USEC", v, 1);
		snprintf(v, sizeof(v), "%ld", (long)getpid());
		setenv("WATCHDOG_PID", v, 1);
	}
	struct server_standby_prep prep = {.fn = t_prep};
	int rc = server_claim_layer(T_INSTANCE, T_LAYER, standby, t_prep_report >= 0 ? &prep : NULL);
	char msg[32];
	int n = snprintf(msg, sizeof(msg), "claimed %d", rc);
	if (write(report, msg, (size_t)n) != n)
		_exit(2);
	if (rc < 0)
		_exit(1);
	pause();
	_exit(0);
}

/* The next report on fd within ms: its rc, or 1 when none came. */
static int t_report(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	if (poll(&p, 1, ms) != 1)
		return 1;
	char buf[64];
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	int rc = 1;
	ck_assert_int_eq(sscanf(buf, "claimed %d", &rc), 1);
	return rc;
}

static pid_t t_holder_pid(void)
{
	char path[256], buf[32] = "";
	snprintf(path, sizeof(path), "%s/%s/%s.lock", t_dir, T_INSTANCE, T_LAYER);
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(buf, sizeof(buf), f));
	fclose(f);
	return (pid_t)strtol(buf, NULL, 10);
}

static void t_close_pipes(int a[2], int b[2])
{
	close(a[0]);
	close(a[1]);
	close(b[0]);
	close(b[1]);
}

static void t_end(pid_t pid)
{
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
}

START_TEST(second_without_standby_refuses)
{
	int a[2], b[2];
	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	pid_t first = t_claimer(false, a[1], 0);
	ck_assert_int_eq(t_report(a[0], T_WAIT_MS), 0);
	pid_t second = t_claimer(false, b[1], 0);
	ck_assert_int_eq(t_report(b[0], T_WAIT_MS), -EBUSY);
	int st;
	ck_assert_int_eq(waitpid(second, &st, 0), second);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	ck_assert_int_eq(t_holder_pid(), first);
	t_end(first);
	t_close_pipes(a, b);
}
END_TEST

START_TEST(standby_takes_over_from_a_killed_holder)
{
	int a[2], b[2];
	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	int ns = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", t_notify);
	ck_assert_int_eq(bind(ns, (struct sockaddr *)&sun, sizeof(sun)), 0);

	pid_t holder = t_claimer(false, a[1], 0);
	ck_assert_int_eq(t_report(a[0], T_WAIT_MS), 0);
	pid_t standby = t_claimer(true, b[1], 100000); /* feeds every 50 ms */

	/* It tells the manager it is ready and whom it stands by for, then feeds the watchdog,
	 * and does not get the layer while the holder lives. */
	char msg[256], want[64];
	struct pollfd p = {.fd = ns, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, T_WAIT_MS), 1);
	ssize_t n = recv(ns, msg, sizeof(msg) - 1, 0);
	ck_assert_int_gt(n, 0);
	msg[n] = '\0';
	snprintf(want, sizeof(want), "READY=1\nSTATUS=standby for pid %ld", (long)holder);
	ck_assert_str_eq(msg, want);
	unsigned feeds = 0;
	while (feeds < 3) {
		ck_assert_int_eq(poll(&p, 1, T_WAIT_MS), 1);
		n = recv(ns, msg, sizeof(msg) - 1, 0);
		ck_assert_int_gt(n, 0);
		msg[n] = '\0';
		ck_assert_str_eq(msg, "WATCHDOG=1");
		feeds++;
	}
	ck_assert_int_eq(t_report(b[0], 0), 1);
	ck_assert_int_eq(t_holder_pid(), holder);

	/* SIGKILL: nothing of the holder's runs after it; the kernel drops its lock. */
	t_end(holder);
	ck_assert_int_eq(t_report(b[0], T_WAIT_MS), 0);
	ck_assert_int_eq(t_holder_pid(), standby);
	/* The first thing said after the wait: the unit picks the serving twin by it. */
	snprintf(want, sizeof(want), "STATUS=taking over from pid %ld", (long)holder);
	bool said = false;
	while (!said && poll(&p, 1, T_WAIT_MS) == 1) {
		n = recv(ns, msg, sizeof(msg) - 1, 0);
		ck_assert_int_gt(n, 0);
		msg[n] = '\0';
		if (strcmp(msg, "WATCHDOG=1") != 0) {
			ck_assert_str_eq(msg, want);
			said = true;
		}
	}
	ck_assert(said);
	t_end(standby);
	close(ns);
	t_close_pipes(a, b);
}
END_TEST

/* The preparation runs while standing by, with the holder's pid, until it succeeds (three
 * refusals, then done: retried 50, 100, 200 ms apart), and never again after that; the
 * takeover is not held up by it. */
START_TEST(standby_prepares_until_done)
{
	int a[2], b[2], p[2];
	ck_assert_int_eq(pipe(a), 0);
	ck_assert_int_eq(pipe(b), 0);
	ck_assert_int_eq(pipe(p), 0);
	pid_t holder = t_claimer(false, a[1], 0);
	ck_assert_int_eq(t_report(a[0], T_WAIT_MS), 0);
	t_prep_report = p[1];
	pid_t standby = t_claimer(true, b[1], 0);
	t_prep_report = -1;
	char want[T_PREP_OK * 32] = "", got[sizeof(want)] = "";
	for (int i = 0; i < T_PREP_OK; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "prep %ld;", (long)holder);
	size_t have = 0;
	while (have < strlen(want)) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		ck_assert_msg(poll(&pf, 1, T_WAIT_MS) == 1, "preparation calls so far: '%s'", got);
		ssize_t n = read(p[0], got + have, sizeof(got) - 1 - have);
		ck_assert_int_gt(n, 0);
		have += (size_t)n;
		got[have] = '\0';
	}
	ck_assert_str_eq(got, want);
	/* Done: no fifth call, and the standby still waits. */
	struct pollfd pf = {.fd = p[0], .events = POLLIN};
	ck_assert_int_eq(poll(&pf, 1, 500), 0);
	ck_assert_int_eq(t_report(b[0], 0), 1);
	t_end(holder);
	ck_assert_int_eq(t_report(b[0], T_WAIT_MS), 0);
	ck_assert_int_eq(t_holder_pid(), standby);
	t_end(standby);
	t_close_pipes(a, b);
	close(p[0]);
	close(p[1]);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("server_standby");
	TCase *tc = tcase_create("claim");
	tcase_add_checked_fixture(tc, t_setup, t_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, second_without_standby_refuses);
	tcase_add_test(tc, standby_takes_over_from_a_killed_holder);
	tcase_add_test(tc, standby_prepares_until_done);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return tcheck_run(suite()); }
