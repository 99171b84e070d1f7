/* test_state_segment: a server's state segment is created, found again with its data, recreated
 * when it does not match, refused when it is not ours, and removed.
 *
 * Each test uses an instance name of its own (pid + counter) and removes its segment in the
 * teardown (helper_shm), so a failed test leaves nothing in /dev/shm.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helper_check.h"
#include "helper_shm.h"
#include "state_segment.h"

#define LAYER "udp"
#define PAYLOAD 10000u

static char instance[32];

static void setup(void)
{
	tshm_begin("tseg", instance, sizeof(instance));
}

static void teardown(void)
{
	tshm_end(instance);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(name_rules)
{
	char name[STATE_SEGMENT_NAME_MAX];
	ck_assert_int_eq(state_segment_name("demo", "udp", name, sizeof(name)), 0);
	ck_assert_str_eq(name, "udp-state");
	ck_assert_int_eq(state_segment_name("de/mo", "udp", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(state_segment_name("demo", "", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(state_segment_name("demo", "u/p", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(state_segment_name("demo", "UDP", name, sizeof(name)), -EINVAL);
	ck_assert_int_eq(state_segment_name("demo", "udp", name, 8), -ENAMETOOLONG);

	struct state_segment *seg = NULL;
	bool fresh;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, 0, &seg, &fresh), -EINVAL);
	ck_assert_ptr_null(seg);
}
END_TEST

START_TEST(create_then_reattach_sees_data)
{
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 3, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	ck_assert_uint_eq(state_segment_payload_size(seg), PAYLOAD);
	ck_assert_uint_eq(state_segment_generation(seg), 1);
	uint8_t *p = state_segment_payload(seg);
	ck_assert_uint_eq((uintptr_t)p % 64, 0);
	ck_assert(all_zero(p, PAYLOAD));
	memset(p, 0xa5, PAYLOAD);
	state_segment_close(&seg);
	ck_assert_ptr_null(seg);
	state_segment_close(&seg); /* safe on NULL */

	ck_assert_int_eq(state_segment_open(instance, LAYER, 3, PAYLOAD, &seg, &fresh), 0);
	ck_assert(!fresh);
	ck_assert_uint_eq(state_segment_generation(seg), 2);
	p = state_segment_payload(seg);
	for (unsigned i = 0; i < PAYLOAD; i++)
		ck_assert_uint_eq(p[i], 0xa5);

	/* A second view at the same time (what a restarted server sees while the old one's
	 * mapping lingers) shares the data. */
	struct state_segment *seg2 = NULL;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 3, PAYLOAD, &seg2, &fresh), 0);
	ck_assert(!fresh);
	ck_assert_uint_eq(state_segment_generation(seg2), 3);
	((uint8_t *)state_segment_payload(seg2))[7] = 1;
	ck_assert_uint_eq(p[7], 1);
	state_segment_close(&seg2);
	state_segment_close(&seg);
}
END_TEST

static void fill_segment(uint32_t version, size_t size)
{
	struct state_segment *seg = NULL;
	bool fresh;
	ck_assert_int_eq(state_segment_open(instance, LAYER, version, size, &seg, &fresh), 0);
	memset(state_segment_payload(seg), 0x5a, size);
	state_segment_close(&seg);
}

START_TEST(version_mismatch_recreates)
{
	fill_segment(1, PAYLOAD);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 2, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	ck_assert_uint_eq(state_segment_generation(seg), 1);
	ck_assert(all_zero(state_segment_payload(seg), PAYLOAD));
	state_segment_close(&seg);
}
END_TEST

START_TEST(size_mismatch_recreates)
{
	fill_segment(1, PAYLOAD);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD * 2, &seg, &fresh), 0);
	ck_assert(fresh);
	ck_assert_uint_eq(state_segment_payload_size(seg), PAYLOAD * 2);
	ck_assert(all_zero(state_segment_payload(seg), PAYLOAD * 2));
	state_segment_close(&seg);
	/* and smaller again */
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, 100, &seg, &fresh), 0);
	ck_assert(fresh);
	state_segment_close(&seg);
}
END_TEST

static int raw_open(int flags, mode_t mode)
{
	char name[STATE_SEGMENT_NAME_MAX];
	ck_assert_int_eq(state_segment_name(instance, LAYER, name, sizeof(name)), 0);
	return tshm_raw_open(instance, name, flags, mode);
}

START_TEST(garbage_and_truncated_recreate)
{
	/* Garbage header. */
	int fd = raw_open(O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	uint32_t junk[4] = {0xdeadbeef, 1, 2, 3};
	ck_assert_int_eq(pwrite(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
	close(fd);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	state_segment_close(&seg);

	/* A good header on an object cut short (the real size is checked, not just the header). */
	fd = raw_open(O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, STATE_SEGMENT_HDR_SIZE + PAYLOAD / 2), 0);
	close(fd);
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	state_segment_close(&seg);
}
END_TEST

START_TEST(half_made_recreated_after_wait)
{
	/* A creator killed between O_EXCL and the magic: an object without magic (even empty). */
	int fd = raw_open(O_RDWR | O_CREAT | O_EXCL, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	state_segment_close(&seg);
}
END_TEST

START_TEST(readable_by_others_refused)
{
	fill_segment(1, PAYLOAD);
	int fd = raw_open(O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fchmod(fd, 0644), 0);
	close(fd);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD, &seg, &fresh), -EPERM);
	ck_assert_ptr_null(seg);
	/* and left alone: still there with its data */
	fd = raw_open(O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	uint8_t b;
	ck_assert_int_eq(pread(fd, &b, 1, STATE_SEGMENT_HDR_SIZE), 1);
	ck_assert_uint_eq(b, 0x5a);
	close(fd);
}
END_TEST

START_TEST(created_private)
{
	fill_segment(1, PAYLOAD);
	int fd = raw_open(O_RDWR, 0);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	close(fd);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_uint_eq(st.st_uid, geteuid());
}
END_TEST

START_TEST(unlink_removes)
{
	ck_assert_int_eq(state_segment_unlink(instance, LAYER), -ENOENT);
	fill_segment(1, PAYLOAD);
	ck_assert_int_eq(state_segment_unlink(instance, LAYER), 0);
	ck_assert_int_eq(state_segment_unlink(instance, LAYER), -ENOENT);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	ck_assert(all_zero(state_segment_payload(seg), PAYLOAD));
	state_segment_close(&seg);
	ck_assert_int_eq(state_segment_unlink("bad/name", LAYER), -EINVAL);
}
END_TEST

START_TEST(layers_are_separate)
{
	fill_segment(1, PAYLOAD);
	struct state_segment *seg = NULL;
	bool fresh = false;
	ck_assert_int_eq(state_segment_open(instance, "tcp", 1, PAYLOAD, &seg, &fresh), 0);
	ck_assert(fresh);
	state_segment_close(&seg);
	ck_assert_int_eq(state_segment_unlink(instance, "tcp"), 0);
	ck_assert_int_eq(state_segment_open(instance, LAYER, 1, PAYLOAD, &seg, &fresh), 0);
	ck_assert(!fresh);
	state_segment_close(&seg);
}
END_TEST

static Suite *state_segment_suite(void)
{
	Suite *s = suite_create("state_segment");
	TCase *tc = tcase_create("state_segment");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, name_rules);
	tcase_add_test(tc, create_then_reattach_sees_data);
	tcase_add_test(tc, version_mismatch_recreates);
	tcase_add_test(tc, size_mismatch_recreates);
	tcase_add_test(tc, garbage_and_truncated_recreate);
	tcase_add_test(tc, half_made_recreated_after_wait);
	tcase_add_test(tc, readable_by_others_refused);
	tcase_add_test(tc, created_private);
	tcase_add_test(tc, unlink_removes);
	tcase_add_test(tc, layers_are_separate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tcheck_run(state_segment_suite());
}
