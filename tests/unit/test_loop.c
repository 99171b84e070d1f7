/* test_loop: the event loop's sources — what each waits for (loop_source_events) and work found
 * for one source by another (loop_source_pend).
 *
 * The loop is run for real over descriptors and ZeroMQ sockets in this process; every test
 * arms a guard timer that stops the loop after 2 s, so a handler that is never called shows up
 * as a failed expectation, never as a hung test.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
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

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("sources");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pend_runs_another_source);
	tcase_add_test(tc, events_zero_silences_a_source);
	tcase_add_test(tc, pollout_waits_for_room);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(loop_suite());
}
