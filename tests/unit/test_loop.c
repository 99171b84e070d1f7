/* test_loop: the event loop's sources — what each waits for (loop_source_events) and work found
 * for one source by another (loop_source_pend) — its timers, and busy polling.
 *
 * The loop is run for real over descriptors and ZeroMQ sockets in this process; every test
 * arms a guard timer that stops the loop after 2 s, so a handler that is never called shows up
 * as a failed expectation, never as a hung test.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "helper_check.h"
#include "loop.h"

struct t {
	struct loop *l;
	int fd[2];
	int src_a, src_b;
	unsigned calls_a, calls_b;
	bool guard_fired;
	void *push, *pull;
	int pulled;
};

static uint64_t guard(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	t->guard_fired = true;
	loop_stop(t->l);
	return CLOCK_NEVER;
}

static void t_init(struct t *t)
{
	*t = (struct t){0};
	ck_assert_int_eq(loop_create(&t->l), 0);
	ck_assert_int_eq(pipe(t->fd), 0);
	ck_assert_int_ge(loop_add_timer(t->l, guard, t, clock_now() + 2 * CLOCK_NS_PER_S), 0);
}

static void t_fini(struct t *t)
{
	close(t->fd[0]);
	close(t->fd[1]);
	loop_destroy(&t->l);
}

/* Reads what the pipe has and counts the call. */
static bool on_read_count(void *arg, uint64_t now)
{
	struct t *t = arg;
	char c;
	(void)now;
	if (read(t->fd[0], &c, 1) == 1)
		t->calls_a++;
	return false;
}

/* A: reads the pipe, then (first time) kicks B and stops the loop when B has run. */
static bool on_a(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	char c;
	if (read(t->fd[0], &c, 1) < 0) {
		/* nothing: called for pending work only */
	}
	if (t->calls_a++ == 0)
		loop_source_pend(t->l, t->src_b);
	return false;
}

static bool on_b(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	t->calls_b++;
	loop_stop(t->l);
	return false;
}

/* B has no readiness at all (a descriptor that never becomes readable): it runs because A said
 * so, on the next pass, without the loop sleeping until the guard. */
START_TEST(pend_runs_another_source)
{
	struct t t;
	t_init(&t);
	int quiet[2];
	ck_assert_int_eq(pipe(quiet), 0);
	t.src_a = loop_add_fd(t.l, t.fd[0], on_a, &t);
	t.src_b = loop_add_fd(t.l, quiet[0], on_b, &t);
	ck_assert_int_ge(t.src_a, 0);
	ck_assert_int_eq(t.src_b, t.src_a + 1); /* ids are the order of adding */
	ck_assert_int_eq(write(t.fd[1], "x", 1), 1);
	uint64_t t0 = clock_now();
	ck_assert_int_eq(loop_run(t.l), 0);
	ck_assert(!t.guard_fired);
	ck_assert_uint_eq(t.calls_a, 1);
	ck_assert_uint_eq(t.calls_b, 1);
	ck_assert_uint_lt(clock_now() - t0, CLOCK_NS_PER_S);
	close(quiet[0]);
	close(quiet[1]);
	t_fini(&t);
}
END_TEST

static bool count_a(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	t->calls_a++;
	return false;
}

/* After 300 ms: how often A was called while silenced, then listen to POLLIN again. */
static unsigned calls_while_silent = ~0u;
static uint64_t unsilence(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	calls_while_silent = t->calls_a;
	loop_source_events(t->l, t->src_a, ZMQ_POLLIN);
	return CLOCK_NEVER;
}

/* A source told to wait for nothing is not called however readable it is; told to wait for
 * POLLIN again, it is. */
START_TEST(events_zero_silences_a_source)
{
	struct t t;
	t_init(&t);
	t.src_a = loop_add_fd(t.l, t.fd[0], count_a, &t);
	loop_source_events(t.l, t.src_a, 0);
	ck_assert_int_eq(write(t.fd[1], "x", 1), 1);
	loop_add_timer(t.l, unsilence, &t, clock_now() + 3 * CLOCK_NS_PER_S / 10);
	ck_assert_int_eq(loop_run(t.l), 0); /* until the guard */
	ck_assert(t.guard_fired);
	ck_assert_uint_eq(calls_while_silent, 0);
	ck_assert_uint_gt(t.calls_a, 0); /* level-triggered: called on every pass until read */
	t_fini(&t);
}
END_TEST

/* The PULL side takes one message when the timer says so. */
static uint64_t pull_one(void *arg, uint64_t now)
{
	struct t *t = arg;
	char buf[8];
	if (zmq_recv(t->pull, buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
		t->pulled++;
	return t->pulled < 8 ? now + CLOCK_NS_PER_S / 100 : CLOCK_NEVER;
}

/* Waits for the PUSH to take a message again: sends one when it may, and stops. */
static bool on_writable(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	t->calls_b++;
	ck_assert_int_ge(zmq_send(t->push, "m", 1, ZMQ_DONTWAIT), 0);
	loop_stop(t->l);
	return false;
}

/* A sender held back by a full PUSH waits for its ZMQ_POLLOUT: not called while the pipe is
 * full, called once the receiver has taken messages. */
START_TEST(pollout_waits_for_room)
{
	struct t t;
	t_init(&t);
	void *ctx = zmq_ctx_new();
	t.push = zmq_socket(ctx, ZMQ_PUSH);
	t.pull = zmq_socket(ctx, ZMQ_PULL);
	int hwm = 2, zero = 0;
	zmq_setsockopt(t.push, ZMQ_SNDHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(t.pull, ZMQ_RCVHWM, &hwm, sizeof(hwm));
	zmq_setsockopt(t.push, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(t.pull, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_bind(t.pull, "inproc://test-loop"), 0);
	ck_assert_int_eq(zmq_connect(t.push, "inproc://test-loop"), 0);
	int sent = 0;
	while (zmq_send(t.push, "m", 1, ZMQ_DONTWAIT) >= 0 && sent < 1000)
		sent++;
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_int_lt(sent, 1000);
	t.src_b = loop_add_zsock(t.l, t.push, on_writable, &t);
	loop_source_events(t.l, t.src_b, ZMQ_POLLOUT);
	loop_add_timer(t.l, pull_one, &t, clock_now() + CLOCK_NS_PER_S / 100);
	ck_assert_int_eq(loop_run(t.l), 0);
	ck_assert(!t.guard_fired);
	ck_assert_uint_eq(t.calls_b, 1);
	ck_assert_int_gt(t.pulled, 0); /* it waited for the receiver */
	zmq_close(t.push);
	zmq_close(t.pull);
	zmq_ctx_term(ctx);
	t_fini(&t);
}
END_TEST

/* ZeroMQ sources are watched through ZMQ_FD, which signals only changes: what is queued before
 * the loop starts, what comes after a handler drained the socket, and what waited while the
 * source was silenced must each reach the handler. */
struct zt {
	struct t *t;
	void *push, *pull;
	int sent, got;
	int src;
	bool silenced_seen; /* the handler ran while silenced */
	bool silent;
};

/* Drains the PULL to EAGAIN, as the loop's contract asks of a handler that returns false. */
static bool zt_on_pull(void *arg, uint64_t now)
{
	struct zt *z = arg;
	char buf[8];
	(void)now;
	if (z->silent)
		z->silenced_seen = true;
	while (zmq_recv(z->pull, buf, sizeof(buf), ZMQ_DONTWAIT) >= 0)
		z->got++;
	if (z->got == 12)
		loop_stop(z->t->l);
	return false;
}

/* Every 10 ms: one more message; the 5th silences the source for 4 more, which must wait. */
static uint64_t zt_send(void *arg, uint64_t now)
{
	struct zt *z = arg;
	ck_assert_int_eq(zmq_send(z->push, "m", 1, ZMQ_DONTWAIT), 1);
	z->sent++;
	if (z->sent == 5) {
		z->silent = true;
		loop_source_events(z->t->l, z->src, 0);
	} else if (z->sent == 9) {
		ck_assert_int_eq(z->got, 4 + 1 /* queued before the loop */);
		z->silent = false;
		loop_source_events(z->t->l, z->src, ZMQ_POLLIN);
	}
	return z->sent < 11 ? now + 10 * CLOCK_NS_PER_MS : CLOCK_NEVER;
}

START_TEST(zsock_edges_are_not_lost)
{
	struct t t;
	t_init(&t);
	void *ctx = zmq_ctx_new();
	struct zt z = {.t = &t};
	z.push = zmq_socket(ctx, ZMQ_PUSH);
	z.pull = zmq_socket(ctx, ZMQ_PULL);
	int zero = 0;
	zmq_setsockopt(z.push, ZMQ_LINGER, &zero, sizeof(zero));
	zmq_setsockopt(z.pull, ZMQ_LINGER, &zero, sizeof(zero));
	ck_assert_int_eq(zmq_bind(z.pull, "inproc://test-loop-edges"), 0);
	ck_assert_int_eq(zmq_connect(z.push, "inproc://test-loop-edges"), 0);
	/* queued before the loop, its signal consumed: only a look at ZMQ_EVENTS finds it */
	ck_assert_int_eq(zmq_send(z.push, "m", 1, 0), 1);
	int ev = 0;
	size_t len = sizeof(ev);
	ck_assert_int_eq(zmq_getsockopt(z.pull, ZMQ_EVENTS, &ev, &len), 0);
	ck_assert(ev & ZMQ_POLLIN);
	z.src = loop_add_zsock(t.l, z.pull, zt_on_pull, &z);
	ck_assert_int_ge(z.src, 0);
	loop_add_timer(t.l, zt_send, &z, clock_now() + 10 * CLOCK_NS_PER_MS);
	ck_assert_int_eq(loop_run(t.l), 0);
	ck_assert_msg(!t.guard_fired, "stuck with %d of 12 messages taken", z.got);
	ck_assert_int_eq(z.got, 12);
	ck_assert(!z.silenced_seen);
	zmq_close(z.push);
	zmq_close(z.pull);
	zmq_ctx_term(ctx);
	t_fini(&t);
}
END_TEST

/* Two sources on one descriptor (epoll keys on the fd): one waits for input, the other for
 * room; both are called. */
static bool on_fd_writable(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	t->calls_b++;
	loop_source_events(t->l, t->src_b, 0);
	if (t->calls_a)
		loop_stop(t->l);
	return false;
}

static bool on_fd_readable(void *arg, uint64_t now)
{
	struct t *t = arg;
	char c;
	(void)now;
	if (read(t->fd[0], &c, 1) == 1)
		t->calls_a++;
	if (t->calls_b)
		loop_stop(t->l);
	return false;
}

START_TEST(two_sources_one_fd)
{
	struct t t;
	t_init(&t);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(t.fd[0]);
	t.fd[0] = sv[0];
	t.src_a = loop_add_fd(t.l, sv[0], on_fd_readable, &t);
	t.src_b = loop_add_fd(t.l, sv[0], on_fd_writable, &t);
	ck_assert_int_ge(t.src_a, 0);
	ck_assert_int_ge(t.src_b, 0);
	loop_source_events(t.l, t.src_b, ZMQ_POLLOUT);
	ck_assert_int_eq(write(sv[1], "x", 1), 1);
	ck_assert_int_eq(loop_run(t.l), 0);
	ck_assert(!t.guard_fired);
	ck_assert_uint_eq(t.calls_a, 1);
	ck_assert_uint_eq(t.calls_b, 1);
	close(sv[1]);
	t_fini(&t);
}
END_TEST

/* Timers: each fires once at its deadline, in deadline order, and a timer re-armed from its own
 * handler fires again (the timerfd is read only when it fired, re-set only when the earliest
 * deadline moved). */
struct ticks {
	struct t *t;
	unsigned fired;
	uint64_t at[4];
};

static uint64_t tick(void *arg, uint64_t now)
{
	struct ticks *k = arg;
	k->at[k->fired++] = now;
	if (k->fired == 3) {
		loop_stop(k->t->l);
		return CLOCK_NEVER;
	}
	return now + 20 * CLOCK_NS_PER_MS;
}

START_TEST(timers_fire_and_rearm)
{
	struct t t;
	t_init(&t);
	struct ticks k = {.t = &t};
	uint64_t t0 = clock_now();
	ck_assert_int_ge(loop_add_timer(t.l, tick, &k, t0 + 30 * CLOCK_NS_PER_MS), 0);
	ck_assert_int_eq(loop_run(t.l), 0);
	ck_assert(!t.guard_fired);
	ck_assert_uint_eq(k.fired, 3);
	ck_assert_uint_ge(k.at[0], t0 + 30 * CLOCK_NS_PER_MS);
	ck_assert_uint_ge(k.at[1], k.at[0] + 20 * CLOCK_NS_PER_MS);
	ck_assert_uint_ge(k.at[2], k.at[1] + 20 * CLOCK_NS_PER_MS);
	t_fini(&t);
}
END_TEST

/* Busy polling: after work the loop polls without sleeping for the configured time (counted),
 * and not at all when it is off. */
static uint64_t stop_at(void *arg, uint64_t now)
{
	struct t *t = arg;
	(void)now;
	loop_stop(t->l);
	return CLOCK_NEVER;
}

START_TEST(busy_poll_after_work)
{
	for (unsigned us = 0; us <= 20000; us += 20000) {
		struct t t;
		t_init(&t);
		t.src_a = loop_add_fd(t.l, t.fd[0], on_read_count, &t);
		loop_set_busy_poll(t.l, us);
		ck_assert_int_eq(write(t.fd[1], "x", 1), 1);
		ck_assert_int_ge(loop_add_timer(t.l, stop_at, &t, clock_now() + 60 * CLOCK_NS_PER_MS), 0);
		ck_assert_int_eq(loop_run(t.l), 0);
		ck_assert_uint_eq(t.calls_a, 1);
		if (us)
			ck_assert_uint_gt(loop_busy_polls(t.l), 10); /* 20 ms of zero-timeout polls */
		else
			ck_assert_uint_eq(loop_busy_polls(t.l), 0);
		t_fini(&t);
	}
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("sources");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pend_runs_another_source);
	tcase_add_test(tc, events_zero_silences_a_source);
	tcase_add_test(tc, pollout_waits_for_room);
	tcase_add_test(tc, zsock_edges_are_not_lost);
	tcase_add_test(tc, two_sources_one_fd);
	tcase_add_test(tc, timers_fire_and_rearm);
	tcase_add_test(tc, busy_poll_after_work);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(loop_suite());
}
