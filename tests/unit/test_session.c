/* test_session: the region handover (common/session.h) — a hello with its descriptors arrives
 * whole with the peer's credentials; every malformed hello is refused with every descriptor it
 * carried closed; the client sees the server's welcome, its refusals, and its absence.
 *
 * Server-side tests use a SOCK_SEQPACKET socketpair and a raw sendmsg, so they can send what no
 * well-behaved client would. Client tests run a one-shot server thread on the session socket
 * path in a private runtime directory (USTACK_RUNTIME_DIR). Leaks are checked by counting the
 * entries of /proc/self/fd.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "helper_check.h"
#include "paths.h"
#include "session.h"

static char rundir[64];
static char instance[32];

static void suite_setup(void)
{
	snprintf(rundir, sizeof(rundir), "/tmp/ustack-session-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(rundir));
	setenv("USTACK_RUNTIME_DIR", rundir, 1);
	snprintf(instance, sizeof(instance), "tsess%ld", (long)getpid());
	ck_assert_int_eq(ustack_runtime_dir_create(instance), 0);
}

static void suite_teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", rundir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_session: could not remove %s\n", rundir);
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	unsigned n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static struct session_hello hello_new(uint32_t n_slots)
{
	return (struct session_hello){.magic = SESSION_MAGIC, .version = SESSION_VERSION,
				      .op = SESSION_NEW, .n_slots = n_slots};
}

/* n eventfds (stand-ins for the region memfd, the doorbell and the slots). */
static void make_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		fds[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		ck_assert_int_ge(fds[i], 0);
	}
}

static void close_fds(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* Send len bytes of body with n fds as one SCM_RIGHTS message (n may be 0). */
static void raw_send(int s, const void *body, size_t len, const int *fds, unsigned n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 128)];
		struct cmsghdr align;
	} cbuf;
	memset(&cbuf, 0, sizeof(cbuf));
	struct iovec iov = {.iov_base = (void *)body, .iov_len = len};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	ck_assert_uint_le(n, 128);
	if (n) {
		msg.msg_control = cbuf.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	ck_assert_int_eq(sendmsg(s, &msg, 0), (ssize_t)len);
}

START_TEST(path_rules)
{
	char p[108];
	char want[160];
	ck_assert_int_eq(session_path(instance, "udpd", p, sizeof(p)), 0);
	snprintf(want, sizeof(want), "%s/%s/udpd.session", rundir, instance);
	ck_assert_str_eq(p, want);
	ck_assert_int_eq(session_path(instance, "../x", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(session_path(instance, "", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(session_path("a/b", "udpd", p, sizeof(p)), -EINVAL);
	ck_assert_int_eq(session_path(instance, "udpd", p, 10), -ENAMETOOLONG);
}
END_TEST

START_TEST(hello_with_fds_round_trip)
{
	int sp[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	enum { SLOTS = 5 };
	int fds[2 + SLOTS];
	make_fds(fds, 2 + SLOTS);
	struct session_hello h = hello_new(SLOTS);
	h.op = SESSION_RESUME;
	h.session = 0x1122334455667788ull;
	memset(h.secret, 0x42, sizeof(h.secret));
	raw_send(sp[0], &h, sizeof(h), fds, 2 + SLOTS);

	struct session_hello got;
	int rfds[SESSION_FDS_MAX];
	unsigned n = 99;
	pid_t pid = 0;
	uid_t uid = (uid_t)-1;
	ck_assert_int_eq(session_server_recv(sp[1], 1000, &got, rfds, &n, &pid, &uid), 0);
	ck_assert_uint_eq(n, 2 + SLOTS);
	ck_assert_int_eq(pid, getpid());
	ck_assert_uint_eq(uid, getuid());
	ck_assert_uint_eq(got.op, SESSION_RESUME);
	ck_assert_uint_eq(got.session, h.session);
	ck_assert_mem_eq(got.secret, h.secret, sizeof(h.secret));
	/* Same objects, in order, close-on-exec. */
	for (unsigned i = 0; i < n; i++) {
		uint64_t v = i + 1;
		ck_assert_int_eq(write(rfds[i], &v, sizeof(v)), 8);
		ck_assert_int_eq(read(fds[i], &v, sizeof(v)), 8);
		ck_assert_uint_eq(v, i + 1);
		ck_assert_int_ne(fcntl(rfds[i], F_GETFD) & FD_CLOEXEC, 0);
	}
	close_fds(rfds, n);
	close_fds(fds, 2 + SLOTS);

	/* Zero slots is a valid session (region + doorbell only). */
	make_fds(fds, 2);
	h = hello_new(0);
	raw_send(sp[0], &h, sizeof(h), fds, 2);
	ck_assert_int_eq(session_server_recv(sp[1], 1000, &got, rfds, &n, NULL, NULL), 0);
	ck_assert_uint_eq(n, 2);
	close_fds(rfds, n);
	close_fds(fds, 2);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

/* Send body + nfds fds over a fresh pair; the server must refuse with -EBADMSG and leave no
 * descriptor behind. */
static void expect_refused(const void *body, size_t len, unsigned nfds, bool passcred)
{
	int sp[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	if (passcred) {
		int one = 1;
		ck_assert_int_eq(setsockopt(sp[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)), 0);
	}
	int fds[128];
	make_fds(fds, nfds);
	raw_send(sp[0], body, len, fds, nfds);
	close_fds(fds, nfds); /* the ones in flight live on in the message */

	unsigned before = open_fds();
	struct session_hello got;
	int rfds[SESSION_FDS_MAX];
	unsigned n = 99;
	ck_assert_int_eq(session_server_recv(sp[1], 1000, &got, rfds, &n, NULL, NULL), -EBADMSG);
	ck_assert_uint_eq(n, 0);
	ck_assert_uint_eq(open_fds(), before);
	close(sp[0]);
	close(sp[1]);
}

START_TEST(malformed_hellos_refused_fds_closed)
{
	struct session_hello h = hello_new(3);
	expect_refused(&h, sizeof(h), 4, false);          /* one slot fd missing */
	expect_refused(&h, sizeof(h), 6, false);          /* one fd too many */
	expect_refused(&h, sizeof(h), 0, false);          /* no fds at all */
	expect_refused(&h, sizeof(h) - 1, 5, false);      /* short */
	uint8_t longer[sizeof(h) + 8] = {0};
	memcpy(longer, &h, sizeof(h));
	expect_refused(longer, sizeof(longer), 5, false); /* long */

	struct session_hello bad = h;
	bad.magic ^= 1;
	expect_refused(&bad, sizeof(bad), 5, false);
	bad = h;
	bad.version = SESSION_VERSION + 1;
	expect_refused(&bad, sizeof(bad), 5, false);
	bad = h;
	bad.op = 7;
	expect_refused(&bad, sizeof(bad), 5, false);
	bad = hello_new(SESSION_SLOTS_MAX + 1);
	expect_refused(&bad, sizeof(bad), SESSION_SLOTS_MAX + 3, false);
	/* More descriptors than a hello can ever carry: the kernel truncates (MSG_CTRUNC). */
	bad = hello_new(100);
	expect_refused(&bad, sizeof(bad), 102, false);
	/* Ancillary data other than SCM_RIGHTS (credentials, here forced by SO_PASSCRED). */
	expect_refused(&h, sizeof(h), 5, true);
}
END_TEST

START_TEST(silence_times_out_and_close_is_reset)
{
	int sp[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sp), 0);
	struct session_hello got;
	int rfds[SESSION_FDS_MAX];
	unsigned n;
	ck_assert_int_eq(session_server_recv(sp[1], 50, &got, rfds, &n, NULL, NULL), -ETIMEDOUT);
	close(sp[0]);
	ck_assert_int_eq(session_server_recv(sp[1], 50, &got, rfds, &n, NULL, NULL), -ECONNRESET);
	close(sp[1]);
}
END_TEST

/* A one-shot server on the layer's session path: accept, receive, answer. */
struct one_shot {
	int listen_fd;
	int recv_rc;
	struct session_hello hello;
	unsigned n_fds;
	uid_t uid;
	struct session_welcome welcome; /* what to answer; status may be an error */
	bool garbage;                   /* answer with a malformed welcome instead */
	bool no_answer;                 /* close without answering */
};

static void *one_shot_run(void *arg)
{
	struct one_shot *os = arg;
	int c = accept4(os->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0) {
		os->recv_rc = -errno;
		return NULL;
	}
	int fds[SESSION_FDS_MAX];
	os->recv_rc = session_server_recv(c, 2000, &os->hello, fds, &os->n_fds, NULL, &os->uid);
	if (os->recv_rc == 0) {
		for (unsigned i = 0; i < os->n_fds; i++)
			close(fds[i]);
	}
	if (os->garbage) {
		uint32_t junk[3] = {1, 2, 3};
		ssize_t r = send(c, junk, sizeof(junk), MSG_NOSIGNAL);
		(void)r;
	} else if (!os->no_answer) {
		session_server_send(c, &os->welcome);
	}
	/* Keep the connection until the client read the answer (it closes first). */
	char b;
	ssize_t r = recv(c, &b, 1, 0);
	(void)r;
	close(c);
	return NULL;
}

static int listen_on_session_path(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ck_assert_int_eq(session_path(instance, "udpd", sa.sun_path, sizeof(sa.sun_path)), 0);
	unlink(sa.sun_path);
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(s, 8), 0);
	return s;
}

static int client_against(struct one_shot *os, const struct session_hello *h, unsigned n_fds,
			  int *sock_fd, struct session_welcome *w)
{
	pthread_t t;
	os->listen_fd = listen_on_session_path();
	ck_assert_int_eq(pthread_create(&t, NULL, one_shot_run, os), 0);
	int fds[SESSION_FDS_MAX];
	make_fds(fds, n_fds);
	int rc = session_client_open(instance, "udpd", h, fds, n_fds, 2000, sock_fd, w);
	close_fds(fds, n_fds);
	if (rc == 0)
		close(*sock_fd); /* lets the server thread finish */
	pthread_join(t, NULL);
	close(os->listen_fd);
	return rc;
}

START_TEST(client_server_new_session)
{
	struct one_shot os = {.welcome = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
					  .status = 0, .session = 77}};
	memset(os.welcome.secret, 0x99, SESSION_SECRET_LEN);
	struct session_hello h = hello_new(4);
	int sock = -1;
	struct session_welcome w;
	unsigned before = open_fds();
	ck_assert_int_eq(client_against(&os, &h, 6, &sock, &w), 0);
	ck_assert_int_ge(sock, 0);
	ck_assert_int_eq(os.recv_rc, 0);
	ck_assert_uint_eq(os.n_fds, 6);
	ck_assert_uint_eq(os.uid, getuid());
	ck_assert_uint_eq(w.session, 77);
	ck_assert_uint_eq(w.secret[15], 0x99);
	ck_assert_uint_eq(open_fds(), before);
}
END_TEST

START_TEST(client_resume_wrong_secret_refused)
{
	struct one_shot os = {.welcome = {.magic = SESSION_MAGIC, .version = SESSION_VERSION,
					  .status = -EPERM}};
	struct session_hello h = hello_new(1);
	h.op = SESSION_RESUME;
	h.session = 5;
	memset(h.secret, 1, sizeof(h.secret));
	int sock = -1;
	struct session_welcome w;
	unsigned before = open_fds();
	ck_assert_int_eq(client_against(&os, &h, 3, &sock, &w), -EPERM);
	ck_assert_int_eq(sock, -1);
	ck_assert_int_eq(w.status, -EPERM);
	ck_assert_uint_eq(os.hello.op, SESSION_RESUME);
	ck_assert_uint_eq(os.hello.session, 5);
	ck_assert_uint_eq(open_fds(), before);
}
END_TEST

START_TEST(client_garbage_or_silent_server)
{
	struct session_hello h = hello_new(0);
	int sock = -1;
	struct session_welcome w;
	unsigned before = open_fds();
	struct one_shot os = {.garbage = true};
	ck_assert_int_eq(client_against(&os, &h, 2, &sock, &w), -EBADMSG);
	struct one_shot os2 = {.no_answer = true};
	ck_assert_int_eq(client_against(&os2, &h, 2, &sock, &w), -ETIMEDOUT);
	ck_assert_int_eq(sock, -1);
	ck_assert_uint_eq(open_fds(), before);
}
END_TEST

START_TEST(client_without_server)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	ck_assert_int_eq(session_path(instance, "udpd", sa.sun_path, sizeof(sa.sun_path)), 0);
	unlink(sa.sun_path);
	struct session_hello h = hello_new(0);
	int fds[2];
	make_fds(fds, 2);
	int sock = -1;
	struct session_welcome w;
	ck_assert_int_eq(session_client_open(instance, "udpd", &h, fds, 2, 100, &sock, &w), -ENOENT);
	/* A stale socket file with nobody listening (a server killed): refused. */
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	ck_assert_int_eq(session_client_open(instance, "udpd", &h, fds, 2, 100, &sock, &w),
			 -ECONNREFUSED);
	/* Caller errors: fd count must match the hello. */
	ck_assert_int_eq(session_client_open(instance, "udpd", &h, fds, 1, 100, &sock, &w), -EINVAL);
	ck_assert_int_eq(sock, -1);
	close_fds(fds, 2);
	unlink(sa.sun_path);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");
	tcase_add_unchecked_fixture(tc, suite_setup, suite_teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, path_rules);
	tcase_add_test(tc, hello_with_fds_round_trip);
	tcase_add_test(tc, malformed_hellos_refused_fds_closed);
	tcase_add_test(tc, silence_times_out_and_close_is_reset);
	tcase_add_test(tc, client_server_new_session);
	tcase_add_test(tc, client_resume_wrong_secret_refused);
	tcase_add_test(tc, client_garbage_or_silent_server);
	tcase_add_test(tc, client_without_server);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(session_suite());
}
