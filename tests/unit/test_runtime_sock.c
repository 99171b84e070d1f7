/* test_runtime_sock: a listener that replaces a killed predecessor's socket file never leaves
 * its path missing (runtime_sock.h).
 *
 * A watcher thread stat()s the path as fast as it can while the listener is replaced again and
 * again, as a takeover does: not once may it find the path missing (ustackctl would have said
 * "not running"). Each new listener answers a connect by the path at once, with the mode asked
 * for, and leaves no temporary name behind; a failure leaves the old file where it was.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "helper_check.h"
#include "runtime_sock.h"

#define T_ROUNDS 300

static char t_dir[64];
static char t_path[100];

static void t_setup(void)
{
	snprintf(t_dir, sizeof(t_dir), "/tmp/ustack-rsock-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t_dir));
	snprintf(t_path, sizeof(t_path), "%s/layer.ctl", t_dir);
}

static void t_teardown(void)
{
	unlink(t_path);
	rmdir(t_dir);
}

/* Files in t_dir besides t_path (a temporary name left behind). */
static unsigned t_strays(void)
{
	DIR *d = opendir(t_dir);
	ck_assert_ptr_nonnull(d);
	unsigned n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		     strcmp(e->d_name, "layer.ctl");
	closedir(d);
	return n;
}

struct t_watch {
	pthread_t thread;
	atomic_bool stop;
	unsigned long looks;
	unsigned long missing;
};

static void *t_watch_main(void *arg)
{
	struct t_watch *w = arg;
	struct stat sb;
	while (!atomic_load(&w->stop)) {
		w->looks++;
		if (stat(t_path, &sb) < 0 && errno == ENOENT)
			w->missing++;
	}
	return NULL;
}

static void t_watch_start(struct t_watch *w)
{
	memset(w, 0, sizeof(*w));
	ck_assert_int_eq(pthread_create(&w->thread, NULL, t_watch_main, w), 0);
}

static void t_watch_stop(struct t_watch *w)
{
	atomic_store(&w->stop, true);
	ck_assert_int_eq(pthread_join(w->thread, NULL), 0);
	ck_assert_uint_gt(w->looks, T_ROUNDS);
	ck_assert_msg(w->missing == 0, "the path was missing %lu times in %lu looks", w->missing,
		      w->looks);
}

static int t_unix_listener(void)
{
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(runtime_sock_listen_unix(fd, t_path, 0666, 4), 0);
	return fd;
}

/* A connect by the path reaches `lfd`, which accepts it. */
static void t_unix_reaches(int lfd)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t_path);
	int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c, 0);
	ck_assert_int_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
	int a = accept(lfd, NULL, NULL);
	ck_assert_int_ge(a, 0);
	close(a);
	close(c);
}

START_TEST(test_unix_replaced_never_missing)
{
	/* A killed predecessor's file: a socket nobody listens on any more. */
	int dead = t_unix_listener();
	close(dead);
	struct t_watch w;
	t_watch_start(&w);
	for (unsigned i = 0; i < T_ROUNDS; i++) {
		int fd = t_unix_listener();
		t_unix_reaches(fd);
		close(fd); /* killed: its file stays */
	}
	t_watch_stop(&w);
	struct stat sb;
	ck_assert_int_eq(stat(t_path, &sb), 0);
	ck_assert(S_ISSOCK(sb.st_mode));
	ck_assert_uint_eq(sb.st_mode & 07777, 0666);
	ck_assert_uint_eq(t_strays(), 0);
}
END_TEST

START_TEST(test_unix_failure_leaves_path)
{
	int dead = t_unix_listener();
	close(dead);
	struct stat before, after;
	ck_assert_int_eq(stat(t_path, &before), 0);
	/* listen() on a datagram socket fails after the bind: nothing moves. */
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(runtime_sock_listen_unix(fd, t_path, 0600, 4), -EOPNOTSUPP);
	close(fd);
	ck_assert_int_eq(stat(t_path, &after), 0);
	ck_assert_uint_eq(after.st_ino, before.st_ino);
	ck_assert_uint_eq(t_strays(), 0);
	/* A path whose temporary name cannot fit a socket address. */
	char longp[sizeof(((struct sockaddr_un *)0)->sun_path)];
	memset(longp, 'x', sizeof(longp) - 8);
	memcpy(longp, "/tmp/", 5);
	longp[sizeof(longp) - 8] = '\0';
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(runtime_sock_listen_unix(fd, longp, 0600, 4), -ENAMETOOLONG);
	close(fd);
	ck_assert_int_eq(access(longp, F_OK), -1);
}
END_TEST

START_TEST(test_zmq_replaced_never_missing)
{
	void *zctx = zmq_ctx_new();
	ck_assert_ptr_nonnull(zctx);
	int linger = 0, timeout = 2000;
	int dead = t_unix_listener(); /* a killed predecessor's file */
	close(dead);
	struct t_watch w;
	t_watch_start(&w);
	for (unsigned i = 0; i < T_ROUNDS / 10; i++) {
		void *rx = zmq_socket(zctx, ZMQ_PULL);
		ck_assert_ptr_nonnull(rx);
		zmq_setsockopt(rx, ZMQ_LINGER, &linger, sizeof(linger));
		zmq_setsockopt(rx, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
		ck_assert_int_eq(runtime_sock_bind_zmq(rx, t_path, 0600), 0);
		/* Reached by the path, the endpoint every peer knows. */
		char ep[128];
		snprintf(ep, sizeof(ep), "ipc://%s", t_path);
		void *tx = zmq_socket(zctx, ZMQ_PUSH);
		ck_assert_ptr_nonnull(tx);
		zmq_setsockopt(tx, ZMQ_LINGER, &linger, sizeof(linger));
		ck_assert_int_eq(zmq_connect(tx, ep), 0);
		ck_assert_int_eq(zmq_send(tx, &i, sizeof(i), 0), (int)sizeof(i));
		unsigned got = ~0u;
		ck_assert_int_eq(zmq_recv(rx, &got, sizeof(got), 0), (int)sizeof(got));
		ck_assert_uint_eq(got, i);
		zmq_close(tx);
		zmq_close(rx); /* as a kill leaves it: the file stays for the next */
	}
	t_watch_stop(&w);
	struct stat sb;
	ck_assert_int_eq(stat(t_path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	zmq_ctx_term(zctx);
	ck_assert_uint_eq(t_strays(), 0);
}
END_TEST

static Suite *runtime_sock_suite(void)
{
	Suite *s = suite_create("runtime_sock");
	TCase *tc = tcase_create("replace");
	tcase_add_checked_fixture(tc, t_setup, t_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_unix_replaced_never_missing);
	tcase_add_test(tc, test_unix_failure_leaves_path);
	tcase_add_test(tc, test_zmq_replaced_never_missing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return tcheck_run(runtime_sock_suite()); }
