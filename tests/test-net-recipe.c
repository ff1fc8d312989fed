/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Golden files: net's recipe (alk-net-recipe.h) rendered for fixed inputs,
 * compared with tests/golden/. A change that alters a plan or a ruleset
 * shows up here as a diff to read, not only as a failing guest. After an
 * intended change, rewrite them with
 *   ALK_REGENERATE_GOLDEN=1 ctest --test-dir build -R net-recipe
 * (as libvirt's VIR_TEST_REGENERATE_OUTPUT) and review `git diff tests/golden`. */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-net-recipe.h"
#include "alk-nft.h"

#define ck_assert_no_error(e) ck_assert_msg((e) == NULL, "%s", (e) ? (e)->message : "")

#define ID "0123456789ab"
#define INSTANCE "/var/lib/airlock"
#define OTHER_INSTANCE "/srv/airlock-b"
#define POOL "10.253.0.0/16"
#define EGRESS "altrouter"

static gboolean regenerate(void)
{
	return g_strcmp0(g_getenv("ALK_REGENERATE_GOLDEN"), "1") == 0;
}

/* The first line where got and want part, for the failure message. */
static char *first_difference(const char *got, const char *want)
{
	g_auto(GStrv) g = g_strsplit(got, "\n", -1);
	g_auto(GStrv) w = g_strsplit(want, "\n", -1);

	for (guint i = 0;; i++) {
		if (g[i] == NULL || w[i] == NULL || !g_str_equal(g[i], w[i]))
			return g_strdup_printf("line %u: got '%s', want '%s'", i + 1,
			                       g[i] ? g[i] : "(end)", w[i] ? w[i] : "(end)");
	}
}

static void assert_golden(const char *name, const char *text)
{
	g_autofree char *path = g_build_filename(ALK_GOLDEN_DIR, name, NULL);
	g_autofree char *want = NULL;
	g_autoptr(GError) error = NULL;

	if (regenerate()) {
		ck_assert_msg(g_file_set_contents(path, text, -1, &error), "%s", error->message);
		return;
	}
	ck_assert_msg(g_file_get_contents(path, &want, NULL, &error),
	              "%s (run with ALK_REGENERATE_GOLDEN=1 to write it)", error->message);
	if (!g_str_equal(text, want)) {
		g_autofree char *diff = first_difference(text, want);

		ck_abort_msg("%s differs from its rendering, %s\n(if intended: "
		             "ALK_REGENERATE_GOLDEN=1, then review git diff)",
		             name, diff);
	}
}

static GPtrArray *allow(const char *const *entries, GPtrArray *denied)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *list = alk_allow_list_parse_egress(entries, denied, &error);

	ck_assert_no_error(error);
	return list;
}

static GPtrArray *masks(const char *const *texts)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);

	for (guint i = 0; texts[i] != NULL; i++)
		g_ptr_array_add(out, g_inet_address_mask_new_from_string(texts[i], NULL));
	return out;
}

static void add_pin(GPtrArray *pins, const char *addr, guint16 port, guint timeout_s)
{
	g_autoptr(GInetAddress) a = g_inet_address_new_from_string(addr);

	g_ptr_array_add(pins, alk_nft_pin_new(a, port, timeout_s));
}

static AlkNetLayout *layout(const char *id, const char *egress, gint uplink)
{
	g_autoptr(GError) error = NULL;
	AlkNetLayout *l = alk_net_layout_new(id, INSTANCE, egress, POOL, uplink, &error);

	ck_assert_no_error(error);
	return l;
}

/* Takes plan. */
static void assert_plan(const char *name, AlkNetPlan *plan)
{
	g_autoptr(AlkNetPlan) p = plan;
	g_autofree char *text = NULL;

	ck_assert_ptr_nonnull(p);
	text = alk_net_plan_to_string(p);
	assert_golden(name, text);
}

static const char *or_none(const char *s)
{
	return s[0] != '\0' ? s : "(none)";
}

static char *layout_text(const AlkNetLayout *l)
{
	return g_strdup_printf(
	    "id %s\nnamespace %s\ntap %s\nmac %s (%02x:%02x:%02x:%02x:%02x:%02x)\nguest %s\n"
	    "gateway %s\nuplink %d\nuplink outer %s\nuplink inner %s\nuplink via %s\n"
	    "egress namespace %s\npool %s\negress table %s\n",
	    l->id, l->ns, l->tap, l->mac, l->mac_bytes[0], l->mac_bytes[1], l->mac_bytes[2],
	    l->mac_bytes[3], l->mac_bytes[4], l->mac_bytes[5], l->guest, l->gateway, l->uplink,
	    or_none(l->uplink_outer), or_none(l->uplink_inner), or_none(l->uplink_via),
	    l->egress_ns ? l->egress_ns : "(own)", l->pool, l->egress_table);
}

/* ---- the layout ---- */

START_TEST(layouts)
{
	g_autoptr(AlkNetLayout) isolated = layout(ID, NULL, -1);
	g_autoptr(AlkNetLayout) first = layout("fedcba987654", EGRESS, 0);
	g_autoptr(AlkNetLayout) last = layout("00000000ffff", "", 16383);
	g_autofree char *a = layout_text(isolated);
	g_autofree char *b = layout_text(first);
	g_autofree char *c = layout_text(last);
	g_autofree char *all = g_strconcat(a, "\n", b, "\n", c, NULL);

	assert_golden("layout.txt", all);
	ck_assert_uint_eq(alk_net_uplink_capacity(POOL), 16384);
	ck_assert_uint_eq(alk_net_uplink_capacity("10.0.0.0/30"), 1);
	ck_assert_uint_eq(alk_net_uplink_capacity("10.0.0.0/31"), 0);
	ck_assert_uint_eq(alk_net_uplink_capacity("2001:db8::/64"), 0);
	ck_assert_uint_eq(alk_net_uplink_capacity("nonsense"), 0);
}
END_TEST

/* ---- plans ---- */

START_TEST(isolated)
{
	g_autoptr(AlkNetLayout) l = layout(ID, EGRESS, -1);
	AlkNetRules rules = {0};
	g_autoptr(GError) error = NULL;

	assert_plan("isolated-setup.plan", alk_net_plan_setup(l, &rules, &error));
	ck_assert_no_error(error);
	assert_plan("attach.plan", alk_net_plan_attach(l));
	assert_plan("teardown.plan", alk_net_plan_teardown(l));
}
END_TEST

/* An allowlist with names, networks, pins and the operator's deny list. */
START_TEST(allowlist_with_pins)
{
	const char *const entries[] = {"example.com:443", "*.cdn.test",    "192.0.2.0/24:80",
	                               "198.51.100.7",    "api.test:8443", "10.0.0.0/8:80",
	                               "10.1.0.0/16:80",  "0.0.0.0/0:22",  NULL};
	const char *const deny[] = {"192.168.0.0/16", "198.18.0.1/32", NULL};
	g_autoptr(GPtrArray) denied = masks(deny);
	g_autoptr(GPtrArray) list = allow(entries, denied);
	g_autoptr(GPtrArray) pins = alk_nft_pins_new();
	g_autoptr(AlkNetLayout) l = layout(ID, EGRESS, 3);
	g_autoptr(GError) error = NULL;
	AlkNetRules rules = {.allow = list, .generation = 1, .pins = pins, .extra_denied = denied};

	add_pin(pins, "93.184.216.34", 443, 300);
	add_pin(pins, "93.184.216.34", 443, 120); /* the longer timeout stays */
	add_pin(pins, "203.0.113.9", 0, 60);
	add_pin(pins, "203.0.113.10", 8443, 0); /* raised to 1 s */
	assert_plan("allowlist-setup.plan", alk_net_plan_setup(l, &rules, &error));
	ck_assert_no_error(error);
	assert_plan("allowlist-pins.plan", alk_net_plan_pins(l, pins, denied, &error));
	ck_assert_no_error(error);
	/* the same in the daemon's own namespace as egress */
	{
		g_autoptr(AlkNetLayout) own = layout(ID, NULL, 3);

		assert_plan("allowlist-setup-own-egress.plan",
		            alk_net_plan_setup(own, &rules, &error));
		assert_plan("allowlist-teardown-own-egress.plan", alk_net_plan_teardown(own));
	}
}
END_TEST

/* A change: the next generation, a narrower list, the pins it still admits. */
START_TEST(changed_generation)
{
	const char *const entries[] = {"example.com:443", "192.0.2.0/24:80", NULL};
	g_autoptr(GPtrArray) list = allow(entries, NULL);
	g_autoptr(GPtrArray) pins = alk_nft_pins_new();
	g_autoptr(AlkNetLayout) l = layout(ID, EGRESS, 3);
	g_autoptr(GError) error = NULL;
	AlkNetRules rules = {.allow = list, .generation = 2, .pins = pins};

	add_pin(pins, "93.184.216.34", 443, 250);
	assert_plan("allowlist-change.plan", alk_net_plan_rules(l, &rules, &error));
	ck_assert_no_error(error);
	rules.allow = NULL; /* everything removed */
	rules.generation = 3;
	rules.pins = NULL;
	assert_plan("allowlist-emptied.plan", alk_net_plan_rules(l, &rules, &error));
	ck_assert_no_error(error);
}
END_TEST

/* A pin in a denied range is refused, not rendered. */
START_TEST(denied_pin_refused)
{
	const char *const deny[] = {"198.18.0.0/15", NULL};
	g_autoptr(GPtrArray) denied = masks(deny);
	g_autoptr(GPtrArray) pins = alk_nft_pins_new();
	g_autoptr(AlkNetLayout) l = layout(ID, EGRESS, 3);
	g_autoptr(GError) error = NULL;

	add_pin(pins, "198.18.3.4", 443, 60);
	ck_assert_ptr_null(alk_net_plan_pins(l, pins, denied, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	g_ptr_array_set_size(pins, 0);
	add_pin(pins, "169.254.169.254", 80, 60);
	ck_assert_ptr_null(alk_net_plan_pins(l, pins, NULL, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
}
END_TEST

/* What a sandbox never reaches, from the host's and egress's addresses. */
START_TEST(deny_lists)
{
	const char *const host[] = {"192.0.2.200/32",  "127.0.0.1/32",   "fe80::1/128",
	                            "2001:db8::5/128", "169.254.3.3/32", NULL};
	const char *const edge[] = {"198.51.100.1/32", NULL};
	g_autoptr(GPtrArray) h = masks(host);
	g_autoptr(GPtrArray) e = masks(edge);
	g_autoptr(GPtrArray) denied =
	    alk_net_denied_from(h, e, POOL, " 10.0.0.0/8 ,172.16.0.0/12,, 192.168.1.0/24");
	g_autoptr(GPtrArray) none = alk_net_denied_from(NULL, NULL, POOL, "");
	g_autoptr(GString) text = g_string_new(NULL);
	g_autoptr(AlkNetLayout) l = layout(ID, EGRESS, 0);
	const char *const entries[] = {"0.0.0.0/0:443", "example.com", NULL};
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GError) error = NULL;
	AlkNetRules rules = {.generation = 5};

	for (guint i = 0; i < denied->len; i++) {
		g_autofree char *m = g_inet_address_mask_to_string(g_ptr_array_index(denied, i));

		g_string_append_printf(text, "%s\n", m);
	}
	g_string_append(text, "--\n");
	for (guint i = 0; i < none->len; i++) {
		g_autofree char *m = g_inet_address_mask_to_string(g_ptr_array_index(none, i));

		g_string_append_printf(text, "%s\n", m);
	}
	assert_golden("denied.txt", text->str);
	list = allow(entries, denied);
	rules.allow = list;
	rules.extra_denied = denied;
	assert_plan("allowlist-deny.plan", alk_net_plan_rules(l, &rules, &error));
	ck_assert_no_error(error);
}
END_TEST

/* Two daemon instances sharing one egress namespace: their plans name
 * different egress tables, and removing one's touches only its own. */
START_TEST(two_instances)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkNetLayout) a = layout(ID, EGRESS, 0);
	g_autoptr(AlkNetLayout) b =
	    alk_net_layout_new("fedcba987654", OTHER_INSTANCE, EGRESS, "10.252.0.0/16", 0, &error);
	g_autofree char *table_a = alk_nft_egress_table(INSTANCE);
	g_autofree char *table_b = alk_nft_egress_table(OTHER_INSTANCE);
	AlkNetRules rules = {0};
	g_autoptr(AlkNetPlan) pa = alk_net_plan_setup(a, &rules, NULL);
	g_autoptr(AlkNetPlan) pb = alk_net_plan_setup(b, &rules, NULL);
	g_autoptr(AlkNetPlan) ra = alk_net_plan_egress_remove(EGRESS, INSTANCE);
	g_autofree char *ta = alk_net_plan_to_string(pa);
	g_autofree char *tb = alk_net_plan_to_string(pb);
	g_autofree char *tr = alk_net_plan_to_string(ra);

	ck_assert_no_error(error);
	ck_assert_str_eq(a->egress_table, table_a);
	ck_assert_str_eq(b->egress_table, table_b);
	ck_assert_str_ne(table_a, table_b);
	ck_assert(strstr(ta, table_a) != NULL && strstr(ta, table_b) == NULL);
	ck_assert(strstr(tb, table_b) != NULL && strstr(tb, table_a) == NULL);
	ck_assert(strstr(tr, table_a) != NULL && strstr(tr, table_b) == NULL);
	/* neither names the other's pool, nor the shared table of old */
	ck_assert(strstr(ta, "10.252.0.0/16") == NULL && strstr(tb, "10.253.0.0/16") == NULL);
	ck_assert(strstr(ta, "airlock_egress\n") == NULL && strstr(ta, "airlock_egress ") == NULL);
	assert_golden("egress-remove.plan", tr);
	{
		g_autofree char *ea = alk_nft_render_egress(table_a, POOL);
		g_autofree char *eb = alk_nft_render_egress(table_b, "10.252.0.0/16");

		assert_golden("egress-instance-a.nft", ea);
		assert_golden("egress-instance-b.nft", eb);
	}
}
END_TEST

/* The rendering itself: quoting, "|| true", conditions, a bad namespace. */
START_TEST(plan_rendering)
{
	g_autoptr(AlkNetPlan) plan = alk_net_plan_new();
	g_autofree char *text = NULL;

	alk_net_plan_ip(plan, NULL, TRUE, "link", "del", "dev", "x y", NULL);
	alk_net_plan_netns_del(plan, "al0123456789ab");
	alk_net_plan_sysctl(plan, "ns1", "net.ipv4.ip_forward", "1");
	alk_net_plan_nft(plan, NULL, "flush ruleset"); /* no final newline */
	alk_net_plan_ip(plan, "bad name", FALSE, "link", NULL);
	text = alk_net_plan_to_string(plan);
	ck_assert_str_eq(text, "# invalid: bad namespace name 'bad name'\n"
	                       "ip link del dev 'x y' || true\n"
	                       "[ -e /run/netns/al0123456789ab ] && ip netns del al0123456789ab\n"
	                       "ip netns exec ns1 sysctl -q -w net.ipv4.ip_forward=1\n"
	                       "nft -f - <<'EOF'\nflush ruleset\nEOF\n");
}
END_TEST

static Suite *recipe_suite(void)
{
	Suite *s = suite_create("net-recipe");
	TCase *tc = tcase_create("recipe");

	tcase_add_test(tc, layouts);
	tcase_add_test(tc, isolated);
	tcase_add_test(tc, allowlist_with_pins);
	tcase_add_test(tc, changed_generation);
	tcase_add_test(tc, denied_pin_refused);
	tcase_add_test(tc, deny_lists);
	tcase_add_test(tc, two_instances);
	tcase_add_test(tc, plan_rendering);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(recipe_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
