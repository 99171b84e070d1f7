/* test_sock_args: what libsock decides without any server — argument checks with Linux's
 * errnos, EBADF for descriptors that are not stack sockets, the pass-through of us_close,
 * us_fcntl and us_poll for ordinary descriptors, and us_socket's failure when there is no stack.
 *
 * (Stream sockets past socket() need a server: test_sock_stream.c runs them against a fake
 * tcpd.) Where Linux's answer is the reference, the test asks the kernel the same question and
 * compares, so a difference between kernels would show up as a failure rather than hide in a
 * hard-coded errno. Linked against libsock.so: only the public API is reachable.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ustack/sock.h"

/* errno of a call that must fail */
#define FAILS_WITH(call, err)                                                        \
	do {                                                                         \
		errno = 0;                                                           \
		long r_ = (long)(call);                                              \
		ck_assert_msg(r_ == -1, "%s returned %ld, expected -1", #call, r_);  \
		ck_assert_msg(errno == (err), "%s: errno %d (%s), expected %d (%s)", \
			      #call, errno, strerror(errno), (err), strerror(err));   \
	} while (0)

/* The kernel's errno for socket(domain, type, protocol), closing what it opens. */
static int kernel_socket_errno(int domain, int type, int protocol)
{
	errno = 0;
	int fd = socket(domain, type, protocol);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	return errno;
}

START_TEST(socket_args_like_linux)
{
	/* {domain, type, protocol} Linux refuses, for reasons libsock shares. */
	static const int cases[][3] = {
		{AF_INET6, 99, 0},                     /* type out of range beats the family */
		{AF_INET, 99, 0},
		{AF_INET, SOCK_DGRAM | 0x100000, 0},   /* unknown flag */
		{AF_INET, -1, 0},
		{12345, SOCK_DGRAM, 0},                /* no such family */
		{-1, SOCK_DGRAM, 0},
		{AF_INET, SOCK_SEQPACKET, 0},          /* no such type in AF_INET */
		{AF_INET, SOCK_RDM, 0},
		{AF_INET, SOCK_DGRAM, IPPROTO_TCP},    /* wrong protocol for the type */
		{AF_INET, SOCK_DGRAM, 300},            /* protocol out of range */
		{AF_INET, SOCK_DGRAM, -1},
		{AF_INET, SOCK_STREAM, IPPROTO_UDP},   /* wrong protocol for a stream */
		{AF_INET, SOCK_STREAM, IPPROTO_ICMP},
		{AF_INET, SOCK_STREAM | 0x4000, 0},    /* unknown flag */
		{AF_INET, SOCK_STREAM, 256},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int want = kernel_socket_errno(cases[i][0], cases[i][1], cases[i][2]);
		ck_assert_int_ne(want, 0);
		FAILS_WITH(us_socket(cases[i][0], cases[i][1], cases[i][2]), want);
	}
}
END_TEST

START_TEST(socket_unsupported_here)
{
	/* Families and types Linux has but this stack does not (yet). */
	FAILS_WITH(us_socket(AF_INET6, SOCK_DGRAM, 0), EAFNOSUPPORT);
	FAILS_WITH(us_socket(AF_UNIX, SOCK_DGRAM, 0), EAFNOSUPPORT);
	FAILS_WITH(us_socket(AF_INET, SOCK_SEQPACKET, 0), ESOCKTNOSUPPORT);
	FAILS_WITH(us_socket(AF_INET, SOCK_RAW, IPPROTO_UDP), ESOCKTNOSUPPORT);
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), EPROTONOSUPPORT);
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_ICMP), EPROTONOSUPPORT);
}
END_TEST

START_TEST(not_a_stack_socket)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(9)};
	socklen_t len = sizeof(sin);
	char buf[16] = {0};
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
	int v = 1;
	int fds[] = {p[0], -1, 100000};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		int fd = fds[i];
		FAILS_WITH(us_bind(fd, (struct sockaddr *)&sin, sizeof(sin)), EBADF);
		FAILS_WITH(us_connect(fd, (struct sockaddr *)&sin, sizeof(sin)), EBADF);
		FAILS_WITH(us_send(fd, buf, 1, 0), EBADF);
		FAILS_WITH(us_sendto(fd, buf, 1, 0, (struct sockaddr *)&sin, sizeof(sin)), EBADF);
		FAILS_WITH(us_sendmsg(fd, &msg, 0), EBADF);
		FAILS_WITH(us_recv(fd, buf, sizeof(buf), MSG_DONTWAIT), EBADF);
		FAILS_WITH(us_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sin, &len), EBADF);
		FAILS_WITH(us_recvmsg(fd, &msg, 0), EBADF);
		FAILS_WITH(us_getsockname(fd, (struct sockaddr *)&sin, &len), EBADF);
		FAILS_WITH(us_getpeername(fd, (struct sockaddr *)&sin, &len), EBADF);
		FAILS_WITH(us_setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &v, sizeof(v)), EBADF);
		FAILS_WITH(us_getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len), EBADF);
		/* the descriptor is checked before anything else, as Linux does */
		FAILS_WITH(us_bind(fd, NULL, 1), EBADF);
		FAILS_WITH(us_sendmsg(fd, NULL, 0), EBADF);
		FAILS_WITH(us_recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&sin, NULL), EBADF);
		FAILS_WITH(us_getsockname(fd, (struct sockaddr *)&sin, NULL), EBADF);
		FAILS_WITH(us_listen(fd, 5), EBADF);
		FAILS_WITH(us_accept(fd, (struct sockaddr *)&sin, &len), EBADF);
		FAILS_WITH(us_accept4(fd, NULL, NULL, SOCK_NONBLOCK), EBADF);
		FAILS_WITH(us_accept4(fd, NULL, NULL, 0x1000), EBADF); /* fdget comes first */
		FAILS_WITH(us_shutdown(fd, SHUT_RDWR), EBADF);
		FAILS_WITH(us_shutdown(fd, 7), EBADF);
	}
	/* ... and the pipe was not touched */
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(read(p[0], buf, 1), 1);
	close(p[0]);
	close(p[1]);
}
END_TEST

START_TEST(close_fcntl_pass_through)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(us_fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(us_fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	ck_assert_int_ne(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0);
	ck_assert_int_eq(us_fcntl(p[0], F_SETFD, FD_CLOEXEC), 0);
	ck_assert_int_eq(us_fcntl(p[0], F_GETFD), FD_CLOEXEC);
	int d = us_fcntl(p[0], F_DUPFD_CLOEXEC, 50);
	ck_assert_int_ge(d, 50);
	ck_assert_int_eq(us_close(d), 0);
	ck_assert_int_eq(us_close(p[0]), 0);
	ck_assert_int_eq(us_close(p[1]), 0);
	FAILS_WITH(fcntl(p[0], F_GETFD), EBADF);
	FAILS_WITH(us_close(p[0]), EBADF);
	FAILS_WITH(us_close(-1), EBADF);
	FAILS_WITH(us_fcntl(-1, F_GETFL), EBADF);
}
END_TEST

START_TEST(poll_ordinary_fds)
{
	int p[2];
	ck_assert_int_eq(pipe(p), 0);
	struct pollfd pf[3] = {
		{.fd = p[0], .events = POLLIN},
		{.fd = -1, .events = POLLIN}, /* ignored, as poll(2) */
		{.fd = p[1], .events = POLLOUT},
	};
	ck_assert_int_eq(us_poll(pf, 1, 0), 0);
	ck_assert_int_eq(us_poll(pf, 2, 20), 0); /* times out */
	ck_assert_int_eq(us_poll(pf, 3, 0), 1);
	ck_assert_int_eq(pf[2].revents, POLLOUT);
	ck_assert_int_eq(write(p[1], "x", 1), 1);
	ck_assert_int_eq(us_poll(pf, 3, -1), 2);
	ck_assert_int_eq(pf[0].revents, POLLIN);
	ck_assert_int_eq(pf[1].revents, 0);
	close(p[0]);
	close(p[1]);
	FAILS_WITH(us_poll(NULL, 1, 0), EFAULT);
	ck_assert_int_eq(us_poll(NULL, 0, 0), 0);
}
END_TEST

START_TEST(instance_names)
{
	FAILS_WITH(us_set_instance(NULL), EINVAL);
	FAILS_WITH(us_set_instance(""), EINVAL);
	FAILS_WITH(us_set_instance("no/slash"), EINVAL);
	FAILS_WITH(us_set_instance("this-name-is-far-too-long-for-an-instance"), EINVAL);
}
END_TEST

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each of these runs in its own forked process (CK_FORK): the library's process-wide state
 * starts fresh. */
START_TEST(socket_without_instance)
{
	unsetenv("USTACK_INSTANCE");
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM, 0), EINVAL);
}
END_TEST

START_TEST(socket_without_stack)
{
	/* No runtime directory: nothing of the instance runs; fail at once. */
	setenv("USTACK_RUNTIME_DIR", "/nonexistent/ustack-test", 1);
	ck_assert_int_eq(us_set_instance("nostack"), 0);
	double t0 = now_s();
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM, 0), ENETDOWN);
	ck_assert_double_lt(now_s() - t0, 1.0);
	/* the set-up is kept: a second try fails the same way, without leaking */
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, IPPROTO_UDP), ENETDOWN);
	/* the instance cannot change under an initialised library */
	FAILS_WITH(us_set_instance("other"), EBUSY);
	ck_assert_int_eq(us_set_instance("nostack"), 0);
}
END_TEST

START_TEST(stream_socket_without_stack)
{
	/* tcpd is reached on the first stream socket: no runtime directory, no tcpd, at once */
	setenv("USTACK_RUNTIME_DIR", "/nonexistent/ustack-test", 1);
	ck_assert_int_eq(us_set_instance("nostack"), 0);
	double t0 = now_s();
	FAILS_WITH(us_socket(AF_INET, SOCK_STREAM, 0), ENETDOWN);
	FAILS_WITH(us_socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP), ENETDOWN);
	ck_assert_double_lt(now_s() - t0, 1.0);
	/* and the datagram side is set up on its own, failing the same way */
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM, 0), ENETDOWN);
}
END_TEST

START_TEST(stream_socket_tcpd_absent_bounded)
{
	/* The runtime directory exists (udpd's files could be there) but tcpd never answers:
	 * retried within the bound (~5 s), then ENETDOWN; nothing hangs. */
	char dir[] = "/tmp/ustack-sockargs-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char inst[128];
	snprintf(inst, sizeof(inst), "%s/notcpd", dir);
	ck_assert_int_eq(mkdir(inst, 0755), 0);
	setenv("USTACK_RUNTIME_DIR", dir, 1);
	setenv("USTACK_INSTANCE", "notcpd", 1);
	double t0 = now_s();
	FAILS_WITH(us_socket(AF_INET, SOCK_STREAM, 0), ENETDOWN);
	double took = now_s() - t0;
	ck_assert_double_ge(took, 4.5);
	ck_assert_double_lt(took, 8.0);
	rmdir(inst);
	rmdir(dir);
}
END_TEST

START_TEST(socket_server_absent_bounded)
{
	/* The runtime directory exists but udpd never answers: retried within the bound (~5 s),
	 * then ENETDOWN. */
	char dir[] = "/tmp/ustack-sockargs-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char inst[128];
	snprintf(inst, sizeof(inst), "%s/absent", dir);
	ck_assert_int_eq(mkdir(inst, 0755), 0);
	setenv("USTACK_RUNTIME_DIR", dir, 1);
	setenv("USTACK_INSTANCE", "absent", 1);
	double t0 = now_s();
	FAILS_WITH(us_socket(AF_INET, SOCK_DGRAM, 0), ENETDOWN);
	double took = now_s() - t0;
	ck_assert_double_ge(took, 4.5);
	ck_assert_double_lt(took, 8.0);
	rmdir(inst);
	rmdir(dir);
}
END_TEST

static Suite *sock_args_suite(void)
{
	Suite *s = suite_create("sock_args");
	TCase *tc = tcase_create("args");
	tcase_add_test(tc, socket_args_like_linux);
	tcase_add_test(tc, socket_unsupported_here);
	tcase_add_test(tc, not_a_stack_socket);
	tcase_add_test(tc, close_fcntl_pass_through);
	tcase_add_test(tc, poll_ordinary_fds);
	tcase_add_test(tc, instance_names);
	suite_add_tcase(s, tc);
	TCase *none = tcase_create("no_stack");
	tcase_set_timeout(none, 20);
	tcase_add_test(none, socket_without_instance);
	tcase_add_test(none, socket_without_stack);
	tcase_add_test(none, socket_server_absent_bounded);
	tcase_add_test(none, stream_socket_without_stack);
	tcase_add_test(none, stream_socket_tcpd_absent_bounded);
	suite_add_tcase(s, none);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(sock_args_suite());
	/* Every test in its own process: libsock's process-wide state starts fresh each time. */
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
