/* test_config: the instance config's switches (common/config.c): [nic] offload, on by default,
 * "on"/"off" only (a typo must not silently pick a side); [stack] link, zmq by default, "zmq"
 * or "shm" only; both written and read back as they were. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "helper_check.h"

static char path[64];

static void setup(void)
{
	snprintf(path, sizeof(path), "/tmp/ustack-test-config.XXXXXX");
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
}

static void teardown(void)
{
	unlink(path);
}

/* Load an [ip] address plus `extra` lines; returns what config_load returns. */
static int load(const char *extra, struct ustack_config *c)
{
	FILE *f = fopen(path, "w");
	char err[256];

	ck_assert_ptr_nonnull(f);
	fprintf(f, "[ip]\naddress = 10.0.0.2/24\n%s", extra);
	fclose(f);
	config_defaults(c, "t");
	return config_load(path, c, err, sizeof(err));
}

START_TEST(offload_defaults_on)
{
	struct ustack_config c;

	ck_assert_int_eq(load("", &c), 0);
	ck_assert(c.nic_offload);
}
END_TEST

START_TEST(offload_on_and_off)
{
	struct ustack_config c;

	ck_assert_int_eq(load("[nic]\noffload = off\n", &c), 0);
	ck_assert(!c.nic_offload);
	ck_assert_int_eq(load("[nic]\noffload = on\n", &c), 0);
	ck_assert(c.nic_offload);
}
END_TEST

START_TEST(offload_other_values_refused)
{
	const char *bad[] = {"yes", "no", "1", "0", "On", "OFF", "true", ""};
	struct ustack_config c;
	char line[64];
	bool b = true;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "[nic]\noffload = %s\n", bad[i]);
		ck_assert_msg(load(line, &c) == -EINVAL, "'%s' accepted", bad[i]);
		ck_assert_int_eq(config_parse_switch(bad[i], &b), -EINVAL);
		ck_assert(b); /* untouched */
	}
}
END_TEST

START_TEST(offload_written_and_read_back)
{
	struct ustack_config c, back;

	for (int on = 0; on < 2; on++) {
		config_defaults(&c, "t");
		ck_assert_int_eq(config_parse_cidr("10.0.0.2/24", &c.ip_addr, &c.ip_prefix), 0);
		c.nic_offload = on;
		ck_assert_int_eq(config_write(path, &c), 0);
		config_defaults(&back, "t");
		back.nic_offload = !on;
		ck_assert_int_eq(config_load(path, &back, NULL, 0), 0);
		ck_assert_int_eq(back.nic_offload, on);
	}
}
END_TEST

START_TEST(link_kind)
{
	struct ustack_config c, back;

	ck_assert_int_eq(load("", &c), 0);
	ck_assert(!c.link_shm);
	ck_assert_int_eq(load("[stack]\nlink = shm\n", &c), 0);
	ck_assert(c.link_shm);
	ck_assert_int_eq(load("[stack]\nlink = zmq\n", &c), 0);
	ck_assert(!c.link_shm);
	const char *bad[] = {"SHM", "ring", "", "shm1"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char line[64];
		snprintf(line, sizeof(line), "[stack]\nlink = %s\n", bad[i]);
		ck_assert_msg(load(line, &c) == -EINVAL, "'%s' accepted", bad[i]);
	}
	ck_assert_int_eq(load("[stack]\nbusy_poll_us = 50\n", &c), 0);
	ck_assert_uint_eq(c.busy_poll_us, 50);
	ck_assert_int_eq(load("[stack]\nbusy_poll_us = 10001\n", &c), -EINVAL);
	ck_assert_int_eq(load("[stack]\nbusy_poll_us = -1\n", &c), -EINVAL);
	for (int shm = 0; shm < 2; shm++) {
		config_defaults(&c, "t");
		ck_assert_int_eq(config_parse_cidr("10.0.0.2/24", &c.ip_addr, &c.ip_prefix), 0);
		c.link_shm = shm;
		c.busy_poll_us = shm ? 25 : 0;
		ck_assert_int_eq(config_write(path, &c), 0);
		config_defaults(&back, "t");
		back.link_shm = !shm;
		ck_assert_int_eq(config_load(path, &back, NULL, 0), 0);
		ck_assert_int_eq(back.link_shm, shm);
		ck_assert_uint_eq(back.busy_poll_us, shm ? 25 : 0);
	}
}
END_TEST

START_TEST(cpu_lists)
{
	cpu_set_t set;
	ck_assert_int_eq(cpu_list_parse("1", &set), 0);
	ck_assert_int_eq(CPU_COUNT(&set), 1);
	ck_assert(CPU_ISSET(1, &set));
	ck_assert_int_eq(cpu_list_parse("0,2-4,7", &set), 0);
	ck_assert_int_eq(CPU_COUNT(&set), 5);
	ck_assert(CPU_ISSET(0, &set) && CPU_ISSET(3, &set) && CPU_ISSET(7, &set));
	ck_assert(!CPU_ISSET(1, &set) && !CPU_ISSET(5, &set));
	ck_assert_int_eq(cpu_list_parse("3-3", &set), 0);
	ck_assert_int_eq(CPU_COUNT(&set), 1);
	/* a failed parse leaves the set as it was */
	const char *bad[] = {"", ",", "1,", ",1", "3-1", "1-", "-1", "a", "1 2", "0x1", "1;2",
			     "99999", "1024"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(cpu_list_parse(bad[i], &set) == -EINVAL, "'%s' accepted", bad[i]);
		ck_assert_int_eq(CPU_COUNT(&set), 1);
	}
	ck_assert_int_eq(cpu_list_apply(""), 0); /* no list: nothing changes */
	ck_assert_int_eq(cpu_list_apply("1023"), -EINVAL); /* no such CPU here */
}
END_TEST

START_TEST(cpus_key)
{
	struct ustack_config c, back;
	ck_assert_int_eq(load("", &c), 0);
	ck_assert_str_eq(c.cpus, "");
	ck_assert_int_eq(load("[stack]\ncpus = 0-1,3\n", &c), 0);
	ck_assert_str_eq(c.cpus, "0-1,3");
	ck_assert_int_eq(load("[stack]\ncpus = 2-1\n", &c), -EINVAL);
	ck_assert_int_eq(load("[stack]\ncpus = one\n", &c), -EINVAL);
	config_defaults(&c, "t");
	ck_assert_int_eq(config_parse_cidr("10.0.0.2/24", &c.ip_addr, &c.ip_prefix), 0);
	snprintf(c.cpus, sizeof(c.cpus), "1");
	ck_assert_int_eq(config_write(path, &c), 0);
	config_defaults(&back, "t");
	ck_assert_int_eq(config_load(path, &back, NULL, 0), 0);
	ck_assert_str_eq(back.cpus, "1");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("offload");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, offload_defaults_on);
	tcase_add_test(tc, offload_on_and_off);
	tcase_add_test(tc, offload_other_values_refused);
	tcase_add_test(tc, offload_written_and_read_back);
	tcase_add_test(tc, link_kind);
	tcase_add_test(tc, cpu_lists);
	tcase_add_test(tc, cpus_key);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
