/* test_twin_parse: which of a layer's two units serves, from what `systemctl show` says of them
 * (tools/ustackctl/twin_parse.c): the layer's own word on its pid first, else the unit with a
 * main process that does not say it stands by; nothing when that is ambiguous, as just after a
 * takeover, before the restarted unit's new process has spoken.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "helper_check.h"
#include "ustackctl.h"

/* The output of `systemctl show -p MainPID,NRestarts,ActiveState,StatusText A B` for units
 * (pid, restarts, state, status text) a and b, in systemctl's own property order. */
static void t_show(char *out, size_t size, long pa, unsigned ra, const char *sa, long pb,
		   unsigned rb, const char *sb)
{
	snprintf(out, size,
		 "MainPID=%ld\nStatusText=%s\nNRestarts=%u\nActiveState=active\n\n"
		 "MainPID=%ld\nStatusText=%s\nNRestarts=%u\nActiveState=active\n",
		 pa, sa, ra, pb, sb, rb);
}

static int t_parse(char *text, long ctl_pid, struct layer_twins *tw)
{
	memset(tw, 0, sizeof(*tw));
	snprintf(tw->u[0].unit, sizeof(tw->u[0].unit), "ustack-ipd@t.service");
	snprintf(tw->u[1].unit, sizeof(tw->u[1].unit), "ustack-ipd-twin@t.service");
	return layer_twins_parse(text, ctl_pid, tw);
}

START_TEST(fields_and_restarts_of_both_units)
{
	char text[512];
	struct layer_twins tw;
	t_show(text, sizeof(text), 100, 2, "serving instance t", 200, 3, "standby for pid 100");
	ck_assert_int_eq(t_parse(text, 0, &tw), 0);
	ck_assert_int_eq(tw.u[0].pid, 100);
	ck_assert_int_eq(tw.u[1].pid, 200);
	ck_assert_str_eq(tw.u[0].active, "active");
	ck_assert(!tw.u[0].standby && tw.u[1].standby);
	ck_assert_uint_eq(tw.restarts, 5);
	ck_assert_int_eq(tw.serving, 0);
	ck_assert_int_eq(layer_twins_standby_pid(&tw), 200);
}
END_TEST

START_TEST(the_twin_serves_after_a_takeover)
{
	char text[512];
	struct layer_twins tw;
	/* the twin took over; the first unit is restarting (no main process yet) */
	t_show(text, sizeof(text), 0, 1, "serving instance t", 200, 0, "taking over from pid 100");
	ck_assert_int_eq(t_parse(text, 0, &tw), 0);
	ck_assert_int_eq(tw.serving, 1);
	ck_assert_int_eq(layer_twins_standby_pid(&tw), 0); /* "standby none" */
	/* its new process has said nothing yet: the old status text is still there */
	t_show(text, sizeof(text), 300, 1, "serving instance t", 200, 0, "serving instance t");
	ck_assert_int_eq(t_parse(text, 0, &tw), 0);
	ck_assert_int_eq(tw.serving, -1);
	/* the layer's own pid settles it */
	t_show(text, sizeof(text), 300, 1, "serving instance t", 200, 0, "serving instance t");
	ck_assert_int_eq(t_parse(text, 200, &tw), 0);
	ck_assert_int_eq(tw.serving, 1);
	/* and once it stands by, the status texts alone do */
	t_show(text, sizeof(text), 300, 1, "standby for pid 200", 200, 0, "serving instance t");
	ck_assert_int_eq(t_parse(text, 0, &tw), 0);
	ck_assert_int_eq(tw.serving, 1);
	ck_assert_int_eq(layer_twins_standby_pid(&tw), 300);
}
END_TEST

START_TEST(a_pid_nobody_has_falls_back_to_status_texts)
{
	char text[512];
	struct layer_twins tw;
	t_show(text, sizeof(text), 100, 0, "serving instance t", 200, 0, "standby for pid 100");
	ck_assert_int_eq(t_parse(text, 999, &tw), 0);
	ck_assert_int_eq(tw.serving, 0);
	/* both standing by (the serving one just died): nobody serves */
	t_show(text, sizeof(text), 0, 1, "standby for pid 7", 200, 0, "standby for pid 100");
	ck_assert_int_eq(t_parse(text, 0, &tw), 0);
	ck_assert_int_eq(tw.serving, -1);
}
END_TEST

START_TEST(output_without_two_units_is_refused)
{
	struct layer_twins tw;
	char one[] = "MainPID=1\nNRestarts=0\n";
	ck_assert_int_eq(t_parse(one, 0, &tw), -EPROTO);
	char none[] = "";
	ck_assert_int_eq(t_parse(none, 0, &tw), -EPROTO);
	char junk[] = "no equals sign here\n\nnor here\n";
	ck_assert_int_eq(t_parse(junk, 0, &tw), -EPROTO);
	/* a trailing blank line or two changes nothing */
	char text[512];
	t_show(text, sizeof(text), 100, 0, "serving", 200, 0, "standby for pid 100");
	strcat(text, "\n\n");
	ck_assert_int_eq(t_parse(text, 0, &tw), 0);
	ck_assert_int_eq(tw.serving, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("twin_parse");
	TCase *tc = tcase_create("parse");
	tcase_add_test(tc, fields_and_restarts_of_both_units);
	tcase_add_test(tc, the_twin_serves_after_a_takeover);
	tcase_add_test(tc, a_pid_nobody_has_falls_back_to_status_texts);
	tcase_add_test(tc, output_without_two_units_is_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void) { return tcheck_run(suite()); }
