/* test_campaign_plan: the pure part of ustack-faultcampaign (tools/faultcampaign/
 * campaign_plan.c): a seed names one plan (each fault independent of the count asked for),
 * every kind and layer is drawn, parameters stay in their documented ranges (a short hang below
 * half the watchdog, a long one past it, links only between neighbours), the byte stream is the
 * same however it is cut, and quantiles are nearest-rank. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "campaign.h"
#include "helper_check.h"

#define WD 3000u

START_TEST(plan_reproducible)
{
	for (unsigned i = 0; i < 500; i++) {
		struct cp_fault a, b, c;
		cp_plan_fault(2026, i, WD, NULL, &a);
		cp_plan_fault(2026, i, WD, NULL, &b);
		ck_assert_mem_eq(&a, &b, sizeof(a));
		cp_plan_fault(2027, i, WD, NULL, &c);
		ck_assert(a.seed != c.seed);
	}
}
END_TEST

START_TEST(plan_covers_and_bounds)
{
	unsigned kinds[CP_KIND_COUNT] = {0}, layers[CP_LAYERS] = {0};
	for (unsigned i = 0; i < 4000; i++) {
		struct cp_fault f;
		cp_plan_fault(7, i, WD, NULL, &f);
		ck_assert_int_lt(f.kind, CP_KIND_COUNT);
		ck_assert_int_lt(f.layer, CP_LAYERS);
		kinds[f.kind]++;
		layers[f.layer]++;
		ck_assert_uint_ge(f.wait_ms, 200);
		ck_assert_uint_le(f.wait_ms, 1200);
		/* links exist only between ipd and the others */
		if (f.layer == CP_IPD)
			ck_assert_int_ne(f.to, CP_IPD);
		else
			ck_assert_int_eq(f.to, CP_IPD);
		switch (f.kind) {
		case CP_KIND_KILL:
			ck_assert_uint_eq(f.duration_ms, 0);
			break;
		case CP_KIND_HANG_SHORT:
			ck_assert_uint_ge(f.duration_ms, WD / 10);
			ck_assert_uint_lt(f.duration_ms, WD / 2);
			break;
		case CP_KIND_HANG_LONG:
			ck_assert_uint_gt(f.duration_ms, WD);
			break;
		case CP_KIND_LINK_DROP:
			ck_assert(f.p >= 0.02 && f.p <= 1.0);
			break;
		case CP_KIND_LINK_DUP:
			ck_assert(f.p >= 0.05 && f.p <= 0.5);
			break;
		case CP_KIND_LINK_CORRUPT:
			ck_assert(f.p >= 0.01 && f.p <= 0.3);
			break;
		case CP_KIND_LINK_DELAY:
			ck_assert_uint_ge(f.delay_us, 1000);
			ck_assert_uint_le(f.delay_us, 50000);
			break;
		case CP_KIND_SLOW:
			ck_assert_uint_ge(f.slow_us, 100);
			ck_assert_uint_le(f.slow_us, 20000);
			break;
		default:
			ck_abort();
		}
		if (f.kind >= CP_KIND_LINK_DROP) {
			ck_assert_uint_ge(f.duration_ms, 300);
			ck_assert_uint_le(f.duration_ms, 1500);
		}
		char d[128];
		cp_fault_describe(&f, d, sizeof(d));
		ck_assert(strstr(d, cp_layer_names[f.layer]) != NULL);
	}
	/* roughly uniform: each kind ~500 of 4000, each layer ~1000 */
	for (int k = 0; k < CP_KIND_COUNT; k++)
		ck_assert_uint_gt(kinds[k], 350);
	for (int l = 0; l < CP_LAYERS; l++)
		ck_assert_uint_gt(layers[l], 800);
}
END_TEST

/* A filter aims the plan: only the kinds and layers it names are drawn, each of them, and a
 * filter of everything is the unfiltered plan fault for fault. */
START_TEST(plan_filter_aims)
{
	const struct cp_plan_filter all = {CP_KINDS_ALL, CP_LAYERS_ALL};
	const struct cp_plan_filter aim = {(1u << CP_KIND_KILL) | (1u << CP_KIND_SLOW),
					   1u << CP_TCPD};
	unsigned kinds[CP_KIND_COUNT] = {0};
	for (unsigned i = 0; i < 2000; i++) {
		struct cp_fault a, b, f;
		cp_plan_fault(2026, i, WD, NULL, &a);
		cp_plan_fault(2026, i, WD, &all, &b);
		ck_assert_mem_eq(&a, &b, sizeof(a));
		cp_plan_fault(2026, i, WD, &aim, &f);
		ck_assert(f.kind == CP_KIND_KILL || f.kind == CP_KIND_SLOW);
		ck_assert_int_eq(f.layer, CP_TCPD);
		ck_assert_int_eq(f.to, CP_IPD);
		if (f.kind == CP_KIND_SLOW) {
			ck_assert_uint_ge(f.slow_us, 100);
			ck_assert_uint_le(f.slow_us, 20000);
		}
		kinds[f.kind]++;
	}
	ck_assert_uint_gt(kinds[CP_KIND_KILL], 800);
	ck_assert_uint_gt(kinds[CP_KIND_SLOW], 800);
}
END_TEST

START_TEST(parse_names)
{
	uint32_t m = 0;
	char bad[32] = "";
	ck_assert_int_eq(cp_parse_names("kill", cp_kind_names, CP_KIND_COUNT, &m, bad, sizeof(bad)),
			 0);
	ck_assert_uint_eq(m, 1u << CP_KIND_KILL);
	ck_assert_int_eq(cp_parse_names("hang-long,link-drop,kill", cp_kind_names, CP_KIND_COUNT,
					&m, bad, sizeof(bad)),
			 0);
	ck_assert_uint_eq(m, (1u << CP_KIND_HANG_LONG) | (1u << CP_KIND_LINK_DROP) |
				     (1u << CP_KIND_KILL));
	ck_assert_int_eq(cp_parse_names("tcpd,udpd", cp_layer_names, CP_LAYERS, &m, bad,
					sizeof(bad)),
			 0);
	ck_assert_uint_eq(m, (1u << CP_TCPD) | (1u << CP_UDPD));
	m = 77;
	ck_assert_int_eq(cp_parse_names("tcpd,bogus", cp_layer_names, CP_LAYERS, &m, bad,
					sizeof(bad)),
			 -EINVAL);
	ck_assert_str_eq(bad, "bogus");
	ck_assert_uint_eq(m, 77); /* a failure leaves the mask alone */
	ck_assert_int_eq(cp_parse_names("", cp_layer_names, CP_LAYERS, &m, bad, sizeof(bad)),
			 -EINVAL);
	ck_assert_int_eq(cp_parse_names("tcp", cp_layer_names, CP_LAYERS, &m, bad, sizeof(bad)),
			 -EINVAL);
	ck_assert_int_eq(cp_parse_names("tcpd,", cp_layer_names, CP_LAYERS, &m, bad, sizeof(bad)),
			 -EINVAL);
}
END_TEST

START_TEST(stream_independent_of_chunking)
{
	enum { N = 10000 };
	static uint8_t whole[N], cut[N];
	struct cp_stream a, b;
	cp_stream_init(&a, 42);
	cp_stream_fill(&a, whole, N);
	cp_stream_init(&b, 42);
	size_t off = 0, step = 1;
	while (off < N) {
		size_t n = step < N - off ? step : N - off;
		cp_stream_fill(&b, cut + off, n);
		off += n;
		step = step * 3 % 17 + 1;
	}
	ck_assert_mem_eq(whole, cut, N);
	/* another seed, another stream */
	cp_stream_init(&b, 43);
	cp_stream_fill(&b, cut, N);
	ck_assert(memcmp(whole, cut, N) != 0);
}
END_TEST

START_TEST(quantile_nearest_rank)
{
	double v[] = {5, 1, 4, 2, 3, 10, 9, 8, 7, 6};
	ck_assert(cp_quantile(v, 10, 0.5) == 5);
	ck_assert(cp_quantile(v, 10, 0.99) == 10);
	ck_assert(cp_quantile(v, 10, 1.0) == 10);
	ck_assert(cp_quantile(v, 10, 0.1) == 1);
	ck_assert(cp_quantile(v, 1, 0.5) == 1);
	ck_assert(cp_quantile(v, 0, 0.5) == 0);
}
END_TEST

/* What set a blackout above the target, and whether any stack would have been above it. */
START_TEST(blackout_causes_and_forced)
{
	struct cp_fault hang = {.kind = CP_KIND_HANG_SHORT, .duration_ms = 400};
	struct cp_fault hang_long = {.kind = CP_KIND_HANG_LONG, .duration_ms = 5000};
	struct cp_fault hole = {.kind = CP_KIND_LINK_DROP, .p = 1.0, .duration_ms = 700};
	struct cp_fault drop = {.kind = CP_KIND_LINK_DROP, .p = 0.3, .duration_ms = 700};
	struct cp_fault delay = {.kind = CP_KIND_LINK_DELAY, .delay_us = 45000};
	struct cp_fault slow = {.kind = CP_KIND_SLOW, .slow_us = 12000};
	struct cp_fault kill = {.kind = CP_KIND_KILL};
	struct cp_fault corrupt = {.kind = CP_KIND_LINK_CORRUPT, .p = 0.1, .duration_ms = 500};

	/* at or below the target: nothing to explain, whatever the fault */
	ck_assert_int_eq(cp_blackout_cause(&hang, 50.0, CP_WORST_UDP, -1), CP_CAUSE_WITHIN);
	ck_assert(!cp_blackout_forced(&hang, CP_CAUSE_WITHIN));
	/* hangs and blackholes last what they last */
	ck_assert_int_eq(cp_blackout_cause(&hang, 420, CP_WORST_TCP_FROM_KERNEL, 1),
			 CP_CAUSE_LENGTH);
	ck_assert(cp_blackout_forced(&hang, CP_CAUSE_LENGTH));
	ck_assert(cp_blackout_forced(&hang_long, CP_CAUSE_LENGTH));
	ck_assert_int_eq(cp_blackout_cause(&hole, 900, CP_WORST_UDP, -1), CP_CAUSE_LENGTH);
	ck_assert(cp_blackout_forced(&hole, CP_CAUSE_LENGTH));
	/* a loss burst: whose timer the worst flow waited for */
	ck_assert_int_eq(cp_blackout_cause(&drop, 230, CP_WORST_TCP_FROM_KERNEL, 1),
			 CP_CAUSE_PEER_RTO);
	ck_assert(cp_blackout_forced(&drop, CP_CAUSE_PEER_RTO));
	ck_assert_int_eq(cp_blackout_cause(&drop, 230, CP_WORST_TCP_FROM_STACK, 2),
			 CP_CAUSE_STACK_RTO);
	ck_assert(cp_blackout_forced(&drop, CP_CAUSE_STACK_RTO));
	ck_assert(cp_blackout_forced(&corrupt, CP_CAUSE_STACK_RTO));
	ck_assert(!cp_blackout_forced(&drop, CP_CAUSE_OTHER));
	ck_assert_int_eq(cp_blackout_cause(&drop, 230, CP_WORST_TCP_FROM_KERNEL, 0),
			 CP_CAUSE_OTHER);
	ck_assert_int_eq(cp_blackout_cause(&drop, 230, CP_WORST_TCP_FROM_KERNEL, -1),
			 CP_CAUSE_OTHER);
	ck_assert_int_eq(cp_blackout_cause(&drop, 80, CP_WORST_UDP, -1), CP_CAUSE_UDP);
	ck_assert(!cp_blackout_forced(&drop, CP_CAUSE_UDP));
	/* per-batch delays: the plan holds them to 50 ms, so what passes that is the stack's */
	ck_assert_int_eq(cp_blackout_cause(&delay, 61, CP_WORST_UDP, -1), CP_CAUSE_DELAY);
	ck_assert(!cp_blackout_forced(&delay, CP_CAUSE_DELAY));
	ck_assert_int_eq(cp_blackout_cause(&slow, 55, CP_WORST_TCP_FROM_STACK, 0),
			 CP_CAUSE_DELAY);
	ck_assert(!cp_blackout_forced(&slow, CP_CAUSE_DELAY));
	/* a kill ends when the stack is back: nothing is the fault's own, not even the peer's
	 * timer */
	ck_assert_int_eq(cp_blackout_cause(&kill, 230, CP_WORST_TCP_FROM_KERNEL, 1),
			 CP_CAUSE_PEER_RTO);
	ck_assert(!cp_blackout_forced(&kill, CP_CAUSE_PEER_RTO));
	ck_assert_int_eq(cp_blackout_cause(&kill, 70, CP_WORST_TCP_FROM_STACK, 0),
			 CP_CAUSE_OTHER);
	ck_assert(!cp_blackout_forced(&kill, CP_CAUSE_OTHER));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("campaign_plan");
	TCase *tc = tcase_create("plan");
	tcase_add_test(tc, plan_reproducible);
	tcase_add_test(tc, plan_covers_and_bounds);
	tcase_add_test(tc, plan_filter_aims);
	tcase_add_test(tc, parse_names);
	tcase_add_test(tc, stream_independent_of_chunking);
	tcase_add_test(tc, quantile_nearest_rank);
	tcase_add_test(tc, blackout_causes_and_forced);
	suite_add_tcase(s, tc);
	return tcheck_run(s);
}
