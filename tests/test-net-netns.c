/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Namespaces, veths and a tap made and removed for real (root). Every name is
 * derived from this process's id, and the fixture's teardown (check's parent
 * process) removes whatever is left, failed test or not. */
#include <check.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-netns.h"

static char ns_a[ALK_NETNS_NAME_LEN + 1];
static char ns_b[ALK_NETNS_NAME_LEN + 1];
static char tap[16];
static gboolean root;

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
}

static void setup(void)
{
	g_snprintf(ns_a, sizeof ns_a, "al7e57%08x", (guint)getpid());
	g_snprintf(ns_b, sizeof ns_b, "al7e58%08x", (guint)getpid());
	g_snprintf(tap, sizeof tap, "alkt%08x", (guint)getpid());
	root = getuid() == 0 && sh("ip -V", NULL);
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

START_TEST(bad_arguments)
{
	const char *const links[] = {"", "-x", "a b", "a/b", "..", "abcdefghijklmnop", "x;y", NULL};
	g_autoptr(GError) error = NULL;

	/* refused before any command runs: no root needed */
	ck_assert(!alk_netns_create("al0123", &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	ck_assert(!alk_netns_delete("alktest-1", &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	ck_assert(!alk_netns_add_veth("-n", &error));
	g_clear_error(&error);
	for (guint i = 0; links[i] != NULL; i++) {
		ck_assert_msg(!alk_netns_move_link("al0123456789ab", links[i], &error), "%s",
		              links[i]);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
		g_clear_error(&error);
	}
}
END_TEST

START_TEST(lifecycle)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) list = NULL;
	g_autofree char *addr = NULL;

	REQUIRE_ROOT();
	ck_assert_msg(alk_netns_create(ns_a, &error), "%s", error ? error->message : "");
	ck_assert(ns_listed(ns_a));
	ck_assert(link_in(ns_a, "lo", "UP"));
	ck_assert(!alk_netns_create(ns_a, &error)); /* exists already */
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_FAILED));
	ck_assert(strstr(error->message, ns_a) != NULL);
	g_clear_error(&error);
	ck_assert_msg(alk_netns_add_veth(ns_a, &error), "%s", error ? error->message : "");
	ck_assert(link_in(NULL, ns_a, "state UP") || link_in(NULL, ns_a, "UP"));
	ck_assert(link_in(ns_a, ALK_NETNS_UPLINK, NULL));
	ck_assert(!link_in(NULL, ALK_NETNS_UPLINK "@", NULL));
	ck_assert(shf("ip tuntap add mode tap dev ", tap));
	ck_assert_msg(alk_netns_move_link(ns_a, tap, &error), "%s", error ? error->message : "");
	ck_assert(!link_in(NULL, tap, NULL));
	ck_assert(link_in(ns_a, tap, NULL));
	/* addresses only inside our own namespace */
	addr = g_strconcat("ip -n ", ns_a, " addr add 10.213.0.1/30 dev " ALK_NETNS_UPLINK, NULL);
	ck_assert(sh(addr, NULL));
	list = alk_netns_list(&error);
	ck_assert(g_ptr_array_find_with_equal_func(list, ns_a, g_str_equal, NULL));
	ck_assert_msg(alk_netns_delete(ns_a, &error), "%s", error ? error->message : "");
	assert_gone(ns_a);
	ck_assert(!link_in(NULL, tap, NULL));
	ck_assert(alk_netns_delete(ns_a, &error)); /* nothing left: still success */
}
END_TEST

static void async_done(GObject *source, GAsyncResult *res, gpointer data)
{
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_netns_finish(res, &error), "%s", error ? error->message : "");
	g_main_loop_quit(data);
}

/* A "crash": namespace and veth left behind with no daemon state, found by
 * listing as reconcile does, removed through the async API. */
START_TEST(crash_reconcile)
{
	g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
	g_autoptr(GPtrArray) list = NULL;

	REQUIRE_ROOT();
	ck_assert(alk_netns_create(ns_b, NULL));
	ck_assert(alk_netns_add_veth(ns_b, NULL));
	list = alk_netns_list(NULL);
	for (guint i = 0; i < list->len; i++) {
		const char *name = g_ptr_array_index(list, i);

		ck_assert(alk_netns_name_valid(name));
		if (!g_str_equal(name, ns_b))
			continue; /* not ours: another sandbox's, never touched */
		alk_netns_delete_async(name, NULL, async_done, loop);
		g_main_loop_run(loop);
	}
	assert_gone(ns_b);
	ck_assert(!link_in(NULL, ns_b, NULL));
}
END_TEST

START_TEST(async_invalid)
{
	g_autoptr(GError) error = NULL;

	alk_netns_create_async("nope", NULL, NULL, NULL); /* no callback: must not crash */
	ck_assert(!alk_netns_create("nope", &error));
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
