/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The recipe's plans run for real (root, with nft): namespaces, an uplink
 * into an egress namespace the test makes, a tap moved in, all removed
 * again. Every name is derived from this process's id, nothing touches the
 * host's addresses or rules, and the fixture's teardown (check's parent
 * process) removes whatever is left, failed test or not. */
#include <check.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-net-recipe.h"
#include "alk-netns.h"
#include "alk-nft.h"

static char id_a[ALK_NETNS_ID_LEN + 1];
static char id_b[ALK_NETNS_ID_LEN + 1];
static char ns_a[ALK_NETNS_NAME_LEN + 1];
static char ns_b[ALK_NETNS_NAME_LEN + 1];
static char tap[16];
static char egress_ns[16]; /* the test's own egress namespace, never the host's */
static gboolean root;

#define INSTANCE "/test/net-netns"
#define POOL "10.213.0.0/24"

/* g_spawn_sync: the fixture runs in check's parent, whose forked children must
 * not inherit a GLib worker thread (GSubprocess would start one). */
static gboolean sh(const char *script, char **out)
{
	const char *argv[] = {"/bin/sh", "-c", script, NULL};
	gint status = 0;

	GSpawnFlags flags = G_SPAWN_STDERR_TO_DEV_NULL | (out ? 0 : G_SPAWN_STDOUT_TO_DEV_NULL);

	return g_spawn_sync(NULL, (char **)argv, NULL, flags, NULL, NULL, out, NULL, &status,
	                    NULL) &&
	       g_spawn_check_wait_status(status, NULL);
}

static gboolean shf(const char *prefix, const char *arg)
{
	g_autofree char *script = g_strconcat(prefix, arg, NULL);

	return sh(script, NULL);
}

static void cleanup(void)
{
	const char *names[] = {ns_a, ns_b};

	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		shf("ip link del dev ", names[i]);
		shf("ip netns del ", names[i]);
	}
	shf("ip link del dev ", tap);
	shf("ip netns del ", egress_ns);
}

static void setup(void)
{
	g_autofree char *nft = g_find_program_in_path("nft");

	g_snprintf(id_a, sizeof id_a, "7e57%08x", (guint)getpid());
	g_snprintf(id_b, sizeof id_b, "7e58%08x", (guint)getpid());
	g_snprintf(ns_a, sizeof ns_a, "al%s", id_a);
	g_snprintf(ns_b, sizeof ns_b, "al%s", id_b);
	g_snprintf(tap, sizeof tap, "at%s", id_a);
	g_snprintf(egress_ns, sizeof egress_ns, "alke%08x", (guint)getpid());
	root = getuid() == 0 && sh("ip -V", NULL) && nft != NULL;
	if (root)
		cleanup();
}

static void teardown(void)
{
	if (root)
		cleanup();
}

static gboolean ns_listed(const char *name)
{
	g_autofree char *out = NULL;

	ck_assert(sh("ip netns list", &out));
	return strstr(out, name) != NULL;
}

static gboolean link_in(const char *ns, const char *link, const char *want)
{
	g_autofree char *script = ns ? g_strdup_printf("ip -n %s link show dev %s", ns, link)
	                             : g_strdup_printf("ip link show dev %s", link);
	g_autofree char *out = NULL;

	return sh(script, &out) && (want == NULL || strstr(out, want) != NULL);
}

static void assert_gone(const char *name)
{
	g_autoptr(GPtrArray) list = alk_netns_list(NULL);

	ck_assert_msg(!ns_listed(name), "%s still listed", name);
	ck_assert_msg(!link_in(NULL, name, NULL), "host link %s remains", name);
	ck_assert(!g_ptr_array_find_with_equal_func(list, name, g_str_equal, NULL));
}

#define REQUIRE_ROOT()                                                                             \
	if (!root) {                                                                               \
		g_print("skipped: needs root and ip\n");                                           \
		return;                                                                            \
	}

START_TEST(names)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *n = alk_netns_name_for_id("0123456789ab", NULL);
	const char *const bad[] = {"",
	                           "0123456789a",
	                           "0123456789abc",
	                           "0123456789AB",
	                           "0123456789ag",
	                           "../../etc/xx",
	                           "0123456789a\n",
	                           NULL};

	ck_assert_str_eq(n, "al0123456789ab");
	ck_assert(alk_netns_name_valid(n));
	ck_assert(!alk_netns_name_valid(NULL));
	ck_assert(!alk_netns_name_valid("ab0123456789ab"));
	ck_assert(!alk_netns_name_valid("al0123456789ab0"));
	for (guint i = 0; bad[i] != NULL; i++) {
		g_autofree char *x = alk_netns_name_for_id(bad[i], &error);

		ck_assert_msg(x == NULL, "accepted id '%s'", bad[i]);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
		g_clear_error(&error);
	}
	ck_assert_ptr_null(alk_netns_name_for_id(NULL, NULL));
}
END_TEST

static GPtrArray *allow(const char *const *entries)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *list = alk_allow_list_parse_egress(entries, NULL, &error);

	ck_assert_msg(list != NULL, "%s", error ? error->message : "");
	return list;
}

static AlkNetLayout *layout(const char *id, const char *egress, gint uplink)
{
	g_autoptr(GError) error = NULL;
	AlkNetLayout *l = alk_net_layout_new(id, INSTANCE, egress, POOL, uplink, &error);

	ck_assert_msg(l != NULL, "%s", error ? error->message : "");
	return l;
}

static gboolean run_plan(AlkNetPlan *plan, GError **error)
{
	return alk_net_plan_run(plan, error);
}

/* cmd's output (run in ns, or the host's namespace for NULL) has want */
static gboolean shows(const char *ns, const char *cmd, const char *want)
{
	g_autofree char *script =
	    ns ? g_strdup_printf("ip netns exec %s %s", ns, cmd) : g_strdup(cmd);
	g_autofree char *out = NULL;

	return sh(script, &out) && strstr(out, want) != NULL;
}

START_TEST(bad_arguments)
{
	const char *const ids[] = {"",  "0123", "0123456789AB", "-n3456789abc", "../../etc/xx",
	                           NULL};
	const char *const bad[] = {"-n", "a b", "a/b", "..", "abcdefghijklmnop", "x;y", NULL};
	g_autoptr(GError) error = NULL;
	AlkNetPlan *plan;

	/* refused before any command runs: no root needed */
	for (guint i = 0; ids[i] != NULL; i++) {
		ck_assert_ptr_null(alk_net_layout_new(ids[i], INSTANCE, NULL, POOL, -1, &error));
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
		g_clear_error(&error);
	}
	ck_assert_ptr_null(alk_net_layout_new("0123456789ab", INSTANCE, NULL, POOL, 64, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID)); /* outside the /24 */
	g_clear_error(&error);
	ck_assert_ptr_null(
	    alk_net_layout_new("0123456789ab", INSTANCE, NULL, "10.0.0.0/31", -1, &error));
	g_clear_error(&error);
	for (guint i = 0; bad[i] != NULL; i++) {
		plan = alk_net_plan_new();
		alk_net_plan_ip(plan, NULL, FALSE, "link", "show", NULL); /* never runs */
		alk_net_plan_nft(plan, bad[i], "table inet x\n");
		ck_assert_msg(!run_plan(plan, &error), "ran in '%s'", bad[i]);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
		g_clear_error(&error);
	}
}
END_TEST

/* The recipe's plans, made and removed for real: an allowlist sandbox's
 * namespace with its uplink into the test's own egress namespace. */
START_TEST(lifecycle)
{
	const char *const entries[] = {"192.0.2.1:443", NULL};
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(GPtrArray) listed = NULL;
	g_autoptr(AlkNetLayout) l = NULL;
	g_autofree char *table = NULL;
	AlkNetRules rules = {.generation = 1};

	REQUIRE_ROOT();
	ck_assert(shf("ip netns add ", egress_ns));
	l = layout(id_a, egress_ns, 1);
	list = allow(entries);
	rules.allow = list;
	ck_assert_msg(run_plan(alk_net_plan_setup(l, &rules, NULL), &error), "%s",
	              error ? error->message : "");
	ck_assert(ns_listed(ns_a));
	ck_assert(link_in(ns_a, "lo", "UP"));
	ck_assert(shows(ns_a, "ip -o addr show dev " ALK_NETNS_UPLINK, "10.213.0.6/30"));
	ck_assert(shows(ns_a, "ip route show default", "via 10.213.0.5"));
	ck_assert(shows(egress_ns, "ip -o addr show", "10.213.0.5/30"));
	ck_assert(shows(ns_a, "nft list tables", "table inet airlock"));
	ck_assert(shows(ns_a, "nft list table inet airlock", "192.0.2.1 . 443"));
	/* the in-process steps wrote the namespace's own sysctls, not the host's */
	ck_assert(shows(ns_a, "cat /proc/sys/net/ipv4/ip_forward", "1"));
	ck_assert(shows(ns_a, "cat /proc/sys/net/ipv6/conf/all/disable_ipv6", "1"));
	table = alk_nft_egress_table(INSTANCE);
	ck_assert(shows(egress_ns, "nft list tables", table));
	ck_assert(!link_in(NULL, ns_a, NULL)); /* the uplink's end is in the egress namespace */
	/* it exists already: the first step fails, naming it */
	ck_assert(!run_plan(alk_net_plan_setup(l, &rules, NULL), &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_FAILED));
	ck_assert(strstr(error->message, ns_a) != NULL);
	g_clear_error(&error);
	/* the guest's tap, moved in */
	ck_assert(shf("ip tuntap add mode tap dev ", tap));
	ck_assert_msg(run_plan(alk_net_plan_attach(l), &error), "%s", error ? error->message : "");
	ck_assert(!link_in(NULL, tap, NULL));
	ck_assert(link_in(ns_a, tap, NULL));
	ck_assert(shows(ns_a, "ip -o addr show", "10.254.254.1/30"));
	listed = alk_netns_list(&error);
	ck_assert(g_ptr_array_find_with_equal_func(listed, ns_a, g_str_equal, NULL));
	ck_assert_msg(run_plan(alk_net_plan_teardown(l), &error), "%s",
	              error ? error->message : "");
	assert_gone(ns_a);
	ck_assert(!link_in(NULL, tap, NULL));
	ck_assert(!shows(egress_ns, "ip -o link show", ns_a));
	ck_assert(run_plan(alk_net_plan_teardown(l), &error)); /* nothing left: still success */
	/* this instance's egress table goes; nothing else of the egress namespace */
	ck_assert(run_plan(alk_net_plan_egress_remove(egress_ns, INSTANCE), &error));
	ck_assert(!shows(egress_ns, "nft list tables", table));
	ck_assert(run_plan(alk_net_plan_egress_remove(egress_ns, INSTANCE), &error));
}
END_TEST

static void async_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_net_plan_finish(res, &error), "%s", error ? error->message : "");
	g_main_loop_quit(data);
}

/* A "crash": an isolated sandbox's namespace left behind with no daemon
 * state, found by listing as reconcile does, removed by an async plan. */
START_TEST(crash_reconcile)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GPtrArray) list = NULL;
	g_autoptr(AlkNetLayout) l = NULL;
	AlkNetRules rules = {0};

	REQUIRE_ROOT();
	l = layout(id_b, NULL, -1);
	ck_assert(run_plan(alk_net_plan_setup(l, &rules, NULL), NULL));
	ck_assert(!shows(ns_b, "ip -o link show", ALK_NETNS_UPLINK)); /* isolated: no uplink */
	list = alk_netns_list(NULL);
	for (guint i = 0; i < list->len; i++) {
		const char *name = g_ptr_array_index(list, i);
		g_autoptr(AlkNetLayout) found = NULL;

		ck_assert(alk_netns_name_valid(name));
		if (!g_str_equal(name, ns_b))
			continue; /* not ours: another sandbox's, never touched */
		found = layout(name + strlen(ALK_NETNS_PREFIX), NULL, -1);
		alk_net_plan_run_async(alk_net_plan_teardown(found), NULL, async_done, loop);
		g_main_loop_run(loop);
	}
	assert_gone(ns_b);
}
END_TEST

/* nft and sysctl steps run in-process, in their namespace: a ruleset nft
 * refuses fails the plan with nft's words, a sysctl that does not exist
 * with its name, and a key that is not a plain name never runs at all. */
START_TEST(in_process_steps)
{
	g_autoptr(AlkNetPlan) bad_key = alk_net_plan_new();
	AlkNetPlan *plan;
	g_autoptr(GError) error = NULL;

	REQUIRE_ROOT();
	ck_assert(shf("ip netns add ", ns_b));
	plan = alk_net_plan_new();
	alk_net_plan_sysctl(plan, ns_b, "net.ipv4.ip_forward", "1");
	alk_net_plan_nft(
	    plan, ns_b,
	    "table inet t {\n chain c {\n  type filter hook input priority 0;\n }\n}\n");
	ck_assert_msg(run_plan(plan, &error), "%s", error ? error->message : "");
	ck_assert(shows(ns_b, "cat /proc/sys/net/ipv4/ip_forward", "1"));
	ck_assert(shows(ns_b, "nft list tables", "table inet t"));
	ck_assert(!shows(NULL, "nft list tables", "table inet t")); /* not the host's */
	plan = alk_net_plan_new();
	alk_net_plan_nft(plan, ns_b, "table inet t {\n chain c {\n  tipe filter;\n }\n}\n");
	ck_assert(!run_plan(plan, &error));
	ck_assert_msg(strstr(error->message, "nft -f - in ") != NULL &&
	                  strstr(error->message, "Error:") != NULL,
	              "%s", error->message);
	g_clear_error(&error);
	plan = alk_net_plan_new();
	alk_net_plan_sysctl(plan, ns_b, "net.ipv4.no_such_key", "1");
	ck_assert(!run_plan(plan, &error));
	ck_assert_msg(strstr(error->message, "sysctl net.ipv4.no_such_key=1") != NULL, "%s",
	              error->message);
	g_clear_error(&error);
	alk_net_plan_sysctl(bad_key, ns_b, "../../../etc/passwd", "1");
	alk_net_plan_sysctl(bad_key, ns_b, "net.ipv4.ip_forward", "1; reboot");
	ck_assert(!run_plan(g_steal_pointer(&bad_key), &error));
	ck_assert_msg(strstr(error->message, "bad sysctl ../../../etc/passwd=1") != NULL, "%s",
	              error->message);
	ck_assert(shf("ip netns del ", ns_b));
}
END_TEST

/* Link steps go through rtnetlink in their namespace: they do what the
 * `ip` command they stand for would, and a link that is not there, a name
 * too long, an address that is none, a namespace that is not there or
 * badly named fail the plan with what was asked and the kernel's words. */
START_TEST(link_steps)
{
	static const AlkNetLink bad[] = {
	    {.op = ALK_NET_LINK_UP, .ifname = "nosuch0"},
	    {.op = ALK_NET_LINK_UP, .ifname = "a-name-longer-than-ifnamsiz"},
	    {.op = ALK_NET_LINK_ADDR, .ifname = "lo", .arg = "10.0.0.300/24"},
	    {.op = ALK_NET_LINK_ROUTE, .arg = "not-an-address"},
	    {.op = ALK_NET_LINK_VETH, .ifname = "tv0", .arg = "tv1", .peer_ns = "alnosuchns000"},
	    {.op = ALK_NET_LINK_MOVE, .ifname = "lo", .peer_ns = "../../etc"},
	    {.op = ALK_NET_LINK_DELETE, .ifname = "nosuch0"},
	};
	g_autoptr(GError) error = NULL;
	AlkNetPlan *plan;

	REQUIRE_ROOT();
	shf("ip netns del ", ns_a); /* an earlier test's, if it left it */
	ck_assert(shf("ip netns add ", ns_b));
	ck_assert(shf("ip netns add ", ns_a));
	plan = alk_net_plan_new();
	alk_net_plan_ip_link(plan, ns_b, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = "lo"}, "link", "set",
	                     "lo", "up", NULL);
	alk_net_plan_ip_link(
	    plan, ns_a, FALSE,
	    &(AlkNetLink){
	        .op = ALK_NET_LINK_VETH, .ifname = "alktv0", .arg = "eth0", .peer_ns = ns_b},
	    "link", "add", "alktv0", "type", "veth", "peer", "name", "eth0", "netns", ns_b, NULL);
	alk_net_plan_ip_link(
	    plan, ns_a, FALSE,
	    &(AlkNetLink){.op = ALK_NET_LINK_ADDR, .ifname = "alktv0", .arg = "10.213.1.1/30"},
	    "addr", "add", "10.213.1.1/30", "dev", "alktv0", NULL);
	alk_net_plan_ip_link(plan, ns_a, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = "alktv0"}, "link",
	                     "set", "alktv0", "up", NULL);
	alk_net_plan_ip_link(
	    plan, ns_b, FALSE,
	    &(AlkNetLink){.op = ALK_NET_LINK_ADDR, .ifname = "eth0", .arg = "10.213.1.2/30"},
	    "addr", "add", "10.213.1.2/30", "dev", "eth0", NULL);
	alk_net_plan_ip_link(plan, ns_b, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_UP, .ifname = "eth0"}, "link", "set",
	                     "eth0", "up", NULL);
	alk_net_plan_ip_link(plan, ns_b, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_ROUTE, .arg = "10.213.1.1"}, "route",
	                     "add", "default", "via", "10.213.1.1", NULL);
	ck_assert_msg(run_plan(plan, &error), "%s", error ? error->message : "");
	ck_assert(shows(ns_b, "ip -o link show lo", "UP"));
	ck_assert(shows(ns_b, "ip -o addr show dev eth0", "inet 10.213.1.2/30"));
	ck_assert(shows(ns_b, "ip route show default", "default via 10.213.1.1 dev eth0"));
	ck_assert(shows(ns_a, "ip -o addr show dev alktv0", "inet 10.213.1.1/30"));
	/* the uplink works: the egress end answers a ping from inside */
	ck_assert(
	    shows(ns_b, "busybox ping -c 1 -W 5 10.213.1.1 >/dev/null && echo reached", "reached"));

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		plan = alk_net_plan_new();
		alk_net_plan_ip_link(plan, ns_b, FALSE, &bad[i], "bad", NULL);
		ck_assert_msg(!run_plan(plan, &error), "bad link step %u ran", i);
		ck_assert_msg(strstr(error->message, "netlink ") != NULL ||
		                  g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID),
		              "%u: %s", i, error->message);
		g_clear_error(&error);
	}
	/* a step that may fail (the teardown's delete of what is gone) does not */
	plan = alk_net_plan_new();
	alk_net_plan_ip_link(plan, ns_b, TRUE, &bad[G_N_ELEMENTS(bad) - 1], "link", "del", NULL);
	ck_assert_msg(run_plan(plan, &error), "%s", error ? error->message : "");
	/* the delete: the host end of the veth goes, and its peer with it */
	plan = alk_net_plan_new();
	alk_net_plan_ip_link(plan, ns_a, FALSE,
	                     &(AlkNetLink){.op = ALK_NET_LINK_DELETE, .ifname = "alktv0"}, "link",
	                     "del", "alktv0", NULL);
	ck_assert_msg(run_plan(plan, &error), "%s", error ? error->message : "");
	ck_assert(!shows(ns_a, "ip -o link", "alktv0"));
	ck_assert(shf("ip netns del ", ns_b));
	ck_assert(shf("ip netns del ", ns_a));
}
END_TEST

START_TEST(async_invalid)
{
	g_autoptr(GError) error = NULL;
	AlkNetPlan *plan = alk_net_plan_new();

	alk_net_plan_netns_del(plan, "no pe");
	alk_net_plan_run_async(plan, NULL, NULL, NULL); /* no callback: must not crash */
	plan = alk_net_plan_new();
	alk_net_plan_netns_del(plan, "no pe");
	ck_assert(!alk_net_plan_run(plan, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
}
END_TEST

static Suite *netns_suite(void)
{
	Suite *s = suite_create("net-netns");
	TCase *tc = tcase_create("netns");

	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, names);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, lifecycle);
	tcase_add_test(tc, crash_reconcile);
	tcase_add_test(tc, async_invalid);
	tcase_add_test(tc, in_process_steps);
	tcase_add_test(tc, link_steps);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(netns_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
