/* test_nic_handoff: the serving nicd hands its device file to its standby (nic_handoff.h).
 *
 * A file handed over is the same open file (same inode), close-on-exec, and is given only to a
 * peer of our uid; the standby takes one only from the pid that holds the layer, exactly one
 * file with the READY byte; NOT_YET and a missing listener mean "ask again" (-EAGAIN). Any
 * other answer (no file, two files) is refused, and every file it carried is closed.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper_check.h"
#include "nic_handoff.h"

static char t_dir[64];
static char t_path[100];

static void t_setup(void)
{
	snprintf(t_dir, sizeof(t_dir), "/tmp/ustack-handoff-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t_dir));
	snprintf(t_path, sizeof(t_path), "%s/%s", t_dir, NIC_HANDOFF_FILE);
}

static void t_teardown(void)
{
	unlink(t_path);
	rmdir(t_dir);
}

struct t_fetch {
	pthread_t thread;
	pid_t holder;
	int rc;
};

static void *t_fetch_main(void *arg)
{
	struct t_fetch *f = arg;
	f->rc = nic_handoff_fetch(t_path, f->holder, 2000);
	return NULL;
}

static void t_fetch_start(struct t_fetch *f, pid_t holder)
{
	f->holder = holder;
	f->rc = 1;
	ck_assert_int_eq(pthread_create(&f->thread, NULL, t_fetch_main, f), 0);
}

/* Serve until one standby was answered (or 2 s passed). */
static void t_serve_one(struct nic_handoff *h, int dev_fd)
{
	for (int i = 0; i < 200; i++) {
		struct pollfd p = {.fd = h->fd, .events = POLLIN};
		ck_assert_int_ge(poll(&p, 1, 10), 0);
		if (p.revents && nic_handoff_serve(h, dev_fd, 4) > 0)
			return;
	}
	ck_abort_msg("no standby connected");
}

static void t_same_file(int a, int b)
{
	struct stat sa, sb;
	ck_assert_int_eq(fstat(a, &sa), 0);
	ck_assert_int_eq(fstat(b, &sb), 0);
	ck_assert(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino);
}

START_TEST(test_given_to_the_standby)
{
	struct nic_handoff h;
	ck_assert_int_eq(nic_handoff_listen(&h, t_path), 0);
	struct stat st;
	ck_assert_int_eq(stat(t_path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);

	struct t_fetch f;
	t_fetch_start(&f, getpid());
	t_serve_one(&h, pipefd[0]);
	ck_assert_int_eq(pthread_join(f.thread, NULL), 0);
	ck_assert_int_ge(f.rc, 0);
	ck_assert_int_ne(f.rc, pipefd[0]);
	t_same_file(f.rc, pipefd[0]);
	ck_assert_int_eq(fcntl(f.rc, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	/* It is the same pipe: what goes in at one end comes out of the file handed over. */
	ck_assert_int_eq(write(pipefd[1], "x", 1), 1);
	char c = 0;
	ck_assert_int_eq(read(f.rc, &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	ck_assert_uint_eq(h.stats.given, 1);
	ck_assert_uint_eq(h.stats.not_yet + h.stats.refused, 0);

	close(f.rc);
	close(pipefd[0]);
	close(pipefd[1]);
	nic_handoff_close(&h);
	ck_assert_int_eq(access(t_path, F_OK), -1); /* the listener's file went with it */
}
END_TEST

START_TEST(test_not_yet_and_no_listener)
{
	/* Nobody listens (the serving nicd is still starting): ask again. */
	ck_assert_int_eq(nic_handoff_fetch(t_path, getpid(), 100), -EAGAIN);

	struct nic_handoff h;
	ck_assert_int_eq(nic_handoff_listen(&h, t_path), 0);
	struct t_fetch f;
	t_fetch_start(&f, getpid());
	t_serve_one(&h, -EAGAIN);
	ck_assert_int_eq(pthread_join(f.thread, NULL), 0);
	ck_assert_int_eq(f.rc, -EAGAIN);
	ck_assert_uint_eq(h.stats.not_yet, 1);
	ck_assert_uint_eq(h.stats.given, 0);
	nic_handoff_close(&h);

	/* A socket file left by a killed predecessor is replaced by the next listener. */
	ck_assert_int_eq(nic_handoff_listen(&h, t_path), 0);
	close(h.fd); /* as a SIGKILL would: the file stays */
	h.fd = -1;
	ck_assert_int_eq(access(t_path, F_OK), 0);
	ck_assert_int_eq(nic_handoff_listen(&h, t_path), 0);
	nic_handoff_close(&h);
}
END_TEST

START_TEST(test_only_from_the_holder)
{
	struct nic_handoff h;
	ck_assert_int_eq(nic_handoff_listen(&h, t_path), 0);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	/* The layer's lock names another pid: whoever listens here is not the serving nicd. */
	pid_t other = getppid();
	ck_assert_int_ne(other, getpid());
	ck_assert_int_eq(nic_handoff_fetch(t_path, other, 500), -EPERM);
	/* The server saw a peer that left at once: nothing was given. */
	struct pollfd p = {.fd = h.fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 500), 1);
	(void)nic_handoff_serve(&h, pipefd[0], 4);
	ck_assert_uint_eq(h.stats.given, 0);
	close(pipefd[0]);
	close(pipefd[1]);
	nic_handoff_close(&h);
}
END_TEST

/* Another user can neither get the device (the server checks SO_PEERCRED, behind the socket's
 * mode 0600, loosened here to reach that check) nor be fooled by a server of another user. */
START_TEST(test_other_uid_refused)
{
	ck_assert_msg(geteuid() == 0, "this test changes uid: run it as root, as tests/run.sh does");
	struct nic_handoff h;
	ck_assert_int_eq(nic_handoff_listen(&h, t_path), 0);
	ck_assert_int_eq(chmod(t_dir, 0755), 0);
	ck_assert_int_eq(chmod(t_path, 0666), 0);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	pid_t me = getpid();
	pid_t child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(10);
		int rc = nic_handoff_fetch(t_path, me, 1000);
		_exit(rc == -EPERM ? 0 : rc >= 0 ? 11 : 12);
	}
	struct pollfd p = {.fd = h.fd, .events = POLLIN};
	ck_assert_int_eq(poll(&p, 1, 2000), 1);
	ck_assert_uint_eq(nic_handoff_serve(&h, pipefd[0], 4), 1);
	int status = 0;
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
	ck_assert_uint_eq(h.stats.refused, 1);
	ck_assert_uint_eq(h.stats.given, 0);
	close(pipefd[0]);
	close(pipefd[1]);
	nic_handoff_close(&h);
}
END_TEST

/* A fake server at the path: answers one connection with `byte` and `nfds` files. */
static void t_fake_answer(int lfd, char byte, const int *fds, unsigned nfds)
{
	int conn = accept(lfd, NULL, NULL);
	ck_assert_int_ge(conn, 0);
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	char ctrl[CMSG_SPACE(4 * sizeof(int))];
	memset(ctrl, 0, sizeof(ctrl));
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	if (nfds) {
		msg.msg_control = ctrl;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	ck_assert_int_eq(sendmsg(conn, &msg, 0), 1);
	close(conn);
}

static unsigned t_open_fds(void)
{
	unsigned n = 0;
	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

START_TEST(test_malformed_answers_refused)
{
	int lfd = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t_path);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	int pipefd[2];
	ck_assert_int_eq(pipe(pipefd), 0);
	int two[2] = {pipefd[0], pipefd[1]};
	unsigned open0 = t_open_fds();
	struct {
		char byte;
		const int *fds;
		unsigned nfds;
		int want;
	} cases[] = {
		{NIC_HANDOFF_READY, NULL, 0, -EPROTO},     /* READY without a file */
		{NIC_HANDOFF_READY, two, 2, -EPROTO},      /* two files */
		{'?', two, 1, -EPROTO},                    /* an unknown byte with a file */
		{NIC_HANDOFF_NOT_YET, two, 1, -EAGAIN},    /* NOT_YET, a file anyway */
		{NIC_HANDOFF_READY, two, 1, 0},            /* the one good answer */
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct t_fetch f;
		t_fetch_start(&f, getpid());
		t_fake_answer(lfd, cases[i].byte, cases[i].fds, cases[i].nfds);
		ck_assert_int_eq(pthread_join(f.thread, NULL), 0);
		if (cases[i].want == 0) {
			ck_assert_int_ge(f.rc, 0);
			t_same_file(f.rc, pipefd[0]);
			close(f.rc);
		} else {
			ck_assert_msg(f.rc == cases[i].want, "case %u: %d", i, f.rc);
		}
		/* Whatever came with a refused answer was closed, not leaked. */
		ck_assert_uint_eq(t_open_fds(), open0);
	}
	close(lfd);
	close(pipefd[0]);
	close(pipefd[1]);
}
END_TEST

static Suite *nic_handoff_suite(void)
{
	Suite *s = suite_create("nic_handoff");
	TCase *tc = tcase_create("handoff");
	tcase_add_checked_fixture(tc, t_setup, t_teardown);
	tcase_add_test(tc, test_given_to_the_standby);
	tcase_add_test(tc, test_not_yet_and_no_listener);
	tcase_add_test(tc, test_only_from_the_holder);
	tcase_add_test(tc, test_other_uid_refused);
	tcase_add_test(tc, test_malformed_answers_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	return tcheck_run(nic_handoff_suite());
}
