/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The ruleset as text (always), then checked with `nft -c`, loaded and
 * exercised inside a throwaway namespace alktest-PID (as root, with nft). */
#include <check.h>
#include <glib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <unistd.h>

#define ck_assert_no_error(e) ck_assert_msg((e) == NULL, "%s", (e) ? (e)->message : "")

#include "alk-allow.h"
#include "alk-error.h"
#include "alk-json.h"
#include "alk-nft.h"

static char netns[64];
static gboolean have_netns;

static GPtrArray *allow(const char *const *entries)
{
	g_autoptr(GError) error = NULL;
	GPtrArray *list = alk_allow_list_parse(entries, NULL, &error);

	ck_assert_no_error(error);
	return list;
}

static AlkNftPin *pin_new(const char *addr, guint16 port, guint timeout_s)
{
	AlkNftPin *pin = g_new0(AlkNftPin, 1);

	pin->address = g_inet_address_new_from_string(addr);
	pin->port = port;
	pin->timeout_s = timeout_s;
	return pin;
}

static void pin_free(AlkNftPin *pin)
{
	g_object_unref(pin->address);
	g_free(pin);
}

static GPtrArray *pins_new(void)
{
	return g_ptr_array_new_with_free_func((GDestroyNotify)pin_free);
}

static char *render(const char *const *entries, GPtrArray *pins, const char *resolver)
{
	g_autoptr(GPtrArray) list = allow(entries);
	g_autoptr(GInetAddress) res = resolver ? g_inet_address_new_from_string(resolver) : NULL;
	g_autoptr(GError) error = NULL;
	AlkNftPolicy policy = {.allow = list, .pins = pins, .resolver = res};
	char *text = alk_nft_render(&policy, &error);

	ck_assert_no_error(error);
	return text;
}

static void assert_has(const char *text, const char *want)
{
	ck_assert_msg(strstr(text, want) != NULL, "ruleset lacks '%s':\n%s", want, text);
}

static void assert_lacks(const char *text, const char *what)
{
	ck_assert_msg(strstr(text, what) == NULL, "ruleset has '%s':\n%s", what, text);
}

/* ---- rendering ---------------------------------------------------------------------- */

START_TEST(render_shape)
{
	const char *const e[] = {"192.0.2.1:443",
	                         "10.0.0.0/8:80",
	                         "10.1.0.0/16:80",
	                         "10.1.0.0/16:22",
	                         "198.51.100.0/24",
	                         "example.com",
	                         NULL};
	g_autofree char *t = render(e, NULL, "10.213.0.1");

	assert_has(t, "table inet airlock\ndelete table inet airlock\ntable inet airlock {\n");
	assert_has(t, "counter allowed {");
	assert_has(t, "counter denied {");
	assert_has(t, "policy drop;");
	assert_has(t, "ct state established,related accept");
	assert_has(t, "ip daddr 10.213.0.1 meta l4proto { tcp, udp } th dport 53 accept");
	assert_has(t, "elements = { 192.0.2.1 . 443, 10.0.0.0/8 . 80, 10.1.0.0/16 . 22 }");
	assert_lacks(t, "10.1.0.0/16 . 80"); /* inside 10.0.0.0/8 . 80 */
	assert_has(t, "elements = { 198.51.100.0/24 }");
	assert_has(t, "169.254.0.0/16");
	assert_has(t, "meta nfproto ipv6 counter name denied drop");
	assert_has(t, "counter name denied drop\n\t}");
	assert_lacks(t, "example.com"); /* names reach nft only as pins */
	assert_lacks(t, "icmpv6");
}
END_TEST

static char *render_uplink(const char *const *entries, guint generation)
{
	g_autoptr(GPtrArray) list = allow(entries);
	g_autoptr(GInetAddress) res = g_inet_address_new_from_string("10.254.254.1");
	g_autoptr(GError) error = NULL;
	AlkNftPolicy policy = {
	    .allow = list, .resolver = res, .uplink = "eth0", .generation = generation};
	char *text = alk_nft_render(&policy, &error);

	ck_assert_no_error(error);
	return text;
}

START_TEST(render_uplink_generation)
{
	const char *const e[] = {"192.0.2.1:443", NULL};
	g_autofree char *t = render_uplink(e, 7);
	g_autofree char *none = render(e, NULL, NULL);

	/* only this generation's connections pass unchecked */
	assert_has(t, "ct state established,related ct mark 7 accept");
	assert_has(t, "192.0.2.1 . 443");
	assert_has(t, "th dport @allow4 ct mark set 7 counter name allowed accept");
	/* replies of an older generation: judged by their source */
	assert_has(t, "iifname \"eth0\" ct state established,related meta l4proto { tcp, udp } "
	              "ip saddr . th sport @pin4 ct mark set 7 accept");
	/* nothing new comes in through the uplink; what leaves is masqueraded */
	assert_has(t, "iifname \"eth0\" counter name denied drop");
	assert_has(t, "type nat hook postrouting priority srcnat");
	assert_has(t, "oifname \"eth0\" masquerade");
	/* isolated: no uplink, no NAT */
	assert_lacks(none, "masquerade");
	assert_lacks(none, "iifname");
}
END_TEST

START_TEST(render_egress)
{
	g_autofree char *t = alk_nft_render_egress("airlock_egress_0123abcd", "10.253.0.0/16");

	assert_has(t,
	           "table ip airlock_egress_0123abcd\ndelete table ip airlock_egress_0123abcd\n");
	assert_has(t, "ip saddr 10.253.0.0/16 oifname != \"al*\" masquerade");
	assert_has(t, "iifname \"al*\" oifname \"al*\" drop");
	assert_has(t, "hook input priority filter; policy accept;\n\t\tiifname \"al*\" drop");
}
END_TEST

/* Every table a text names, in order ("table ip X" and "delete table ip X"). */
static char *tables_named(const char *text)
{
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
	GString *out = g_string_new(NULL);

	for (guint i = 0; lines[i] != NULL; i++) {
		const char *l = lines[i];

		if (g_str_has_prefix(l, "delete "))
			l += strlen("delete ");
		if (g_str_has_prefix(l, "table ")) {
			g_auto(GStrv) w = g_strsplit(l, " ", 4);

			g_string_append_printf(out, "%s%s", out->len > 0 ? " " : "", w[2]);
		}
	}
	return g_string_free(out, FALSE);
}

/* Two daemons sharing an egress namespace: each has its own table, and
 * neither's text names the other's, so loading or removing one never
 * touches the other's pool. */
START_TEST(egress_instances_apart)
{
	g_autofree char *a = alk_nft_egress_table("/var/lib/airlock");
	g_autofree char *b = alk_nft_egress_table("/srv/airlock-b");
	g_autofree char *again = alk_nft_egress_table("/var/lib/airlock");
	g_autofree char *ta = alk_nft_render_egress(a, "10.253.0.0/16");
	g_autofree char *tb = alk_nft_render_egress(b, "10.252.0.0/16");
	g_autofree char *da = alk_nft_render_egress_delete(a);
	g_autofree char *na = tables_named(ta);
	g_autofree char *nb = tables_named(tb);
	g_autofree char *nd = tables_named(da);
	g_autofree char *want_a = g_strdup_printf("%s %s %s", a, a, a);
	g_autofree char *want_b = g_strdup_printf("%s %s %s", b, b, b);
	g_autofree char *want_d = g_strdup_printf("%s %s", a, a);

	ck_assert(g_str_has_prefix(a, ALK_NFT_EGRESS_PREFIX));
	ck_assert_uint_eq(strlen(a), strlen(ALK_NFT_EGRESS_PREFIX) + 8);
	ck_assert_str_eq(a, again); /* stable across restarts */
	ck_assert_str_ne(a, b);
	ck_assert_str_eq(na, want_a);
	ck_assert_str_eq(nb, want_b);
	ck_assert_str_eq(nd, want_d);
	assert_lacks(ta, "10.252.0.0/16");
	assert_lacks(tb, "10.253.0.0/16");
	assert_lacks(ta, "airlock_egress\n"); /* the old shared table is not touched */
}
END_TEST

START_TEST(counters_parse)
{
	const char *json = "{\"nftables\": [{\"metainfo\": {\"version\": \"1.0.6\"}},"
	                   "{\"counter\": {\"family\": \"inet\", \"name\": \"allowed\", "
	                   "\"table\": \"airlock\", \"handle\": 1, \"packets\": 12, "
	                   "\"bytes\": 900}},"
	                   "{\"counter\": {\"family\": \"inet\", \"name\": \"denied\", "
	                   "\"table\": \"airlock\", \"handle\": 2, \"packets\": 3, "
	                   "\"bytes\": 180}},"
	                   "{\"counter\": {\"name\": \"denied\", \"table\": \"other\", "
	                   "\"packets\": 99}}]}";
	guint64 allowed = 7, denied = 7;

	alk_nft_parse_counters(json, &allowed, &denied);
	ck_assert_uint_eq(allowed, 12);
	ck_assert_uint_eq(denied, 3);
	alk_nft_parse_counters("not json", &allowed, &denied);
	ck_assert_uint_eq(allowed + denied, 0);
	alk_nft_parse_counters("{\"nftables\": [{\"counter\": 5}, 3]}", &allowed, &denied);
	ck_assert_uint_eq(allowed + denied, 0);
	alk_nft_parse_counters(NULL, &allowed, &denied);
	ck_assert_uint_eq(allowed + denied, 0);
}
END_TEST

START_TEST(render_ipv6_on)
{
	const char *const e[] = {"[2001:db8::1]:443", NULL};
	g_autofree char *t = render(e, NULL, NULL);

	assert_lacks(t, "meta nfproto ipv6");
	assert_has(t, "2001:db8::1 . 443");
	assert_has(t, "nd-neighbor-solicit");
	assert_lacks(t, "dport 53 accept"); /* no resolver, no DNS */
}
END_TEST

START_TEST(render_pins)
{
	const char *const e[] = {"example.com:443", NULL};
	g_autoptr(GPtrArray) pins = pins_new();
	g_autofree char *t = NULL;

	g_ptr_array_add(pins, pin_new("192.0.2.7", 443, 30));
	g_ptr_array_add(pins, pin_new("192.0.2.7", 443, 60)); /* folded, longest kept */
	g_ptr_array_add(pins, pin_new("192.0.2.8", 0, 0));    /* raised to 1 s */
	g_ptr_array_add(pins, pin_new("192.0.2.9", 80, G_MAXUINT));
	t = render(e, pins, NULL);
	assert_has(t, "add element inet airlock pin4 { 192.0.2.7 . 443 timeout 60s }\n");
	assert_lacks(t, "timeout 30s");
	assert_has(t, "add element inet airlock pin4any { 192.0.2.8 timeout 1s }\n");
	assert_has(t, "add element inet airlock pin4 { 192.0.2.9 . 80 timeout 86400s }\n");
}
END_TEST

static void assert_pin_refused(const char *addr, gboolean ipv6, GPtrArray *extra)
{
	g_autoptr(GPtrArray) pins = pins_new();
	g_autoptr(GError) error = NULL;

	g_ptr_array_add(pins, pin_new(addr, 443, 30));
	ck_assert_ptr_null(alk_nft_render_pins(pins, ipv6, extra, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, addr) != NULL, "%s", error->message);
}

START_TEST(render_pins_refused)
{
	g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func(g_object_unref);

	g_ptr_array_add(extra, g_inet_address_mask_new_from_string("198.51.100.7", NULL));
	assert_pin_refused("169.254.169.254", TRUE, NULL);
	assert_pin_refused("127.0.0.1", TRUE, NULL);
	assert_pin_refused("::ffff:10.0.0.1", TRUE, NULL);
	assert_pin_refused("ff02::1", TRUE, NULL);
	assert_pin_refused("198.51.100.7", TRUE, extra);
	assert_pin_refused("2001:db8::5", FALSE, NULL); /* IPv6 is off */
}
END_TEST

/* ---- with nft, in a namespace of our own ---------------------------------------------------- */

/* g_spawn_sync, not GSubprocess: the fixture runs in check's parent, whose
 * forked children must not inherit a GLib worker thread. input: a file. */
static gboolean run(const char *const *argv, char **out, GError **error)
{
	g_autofree char *err = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, &err,
	                  &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "%s: %s", argv[0], err);
		return FALSE;
	}
	return TRUE;
}

static void ns_nft(const char *args, const char *input, char **out)
{
	g_autofree char *cmd = g_strdup_printf("ip netns exec %s nft %s", netns, args);
	g_auto(GStrv) argv = NULL;
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	gint fd = -1;

	if (input != NULL) {
		fd = g_file_open_tmp("alk-nft-XXXXXX", &path, NULL);
		ck_assert_int_ge(fd, 0);
		close(fd);
		ck_assert(g_file_set_contents(path, input, -1, NULL));
		g_free(cmd);
		cmd = g_strdup_printf("ip netns exec %s nft %s %s", netns, args, path);
	}
	argv = g_strsplit(cmd, " ", -1);
	ck_assert_msg(run((const char *const *)argv, out, &error), "nft %s: %s\n%s", args,
	              error ? error->message : "", input ? input : "");
	if (path != NULL)
		g_unlink(path);
}

static void ns_sh(const char *script)
{
	const char *argv[] = {"ip", "netns", "exec", netns, "bash", "-c", script, NULL};

	g_autoptr(GError) error = NULL;

	ck_assert_msg(run(argv, NULL, &error), "%s: %s", script, error->message);
}

static void ns_setup(void)
{
	const char *add[] = {"ip", "netns", "add", netns, NULL};
	g_autofree char *nft = g_find_program_in_path("nft");

	g_snprintf(netns, sizeof netns, "alktest-%d", (int)getpid());
	have_netns = getuid() == 0 && nft != NULL && run(add, NULL, NULL);
}

static void ns_teardown(void)
{
	const char *del[] = {"ip", "netns", "del", netns, NULL};

	if (have_netns)
		g_assert(run(del, NULL, NULL));
	have_netns = FALSE;
}

/* packets of a named counter, from `nft -j list counters` */
static gint64 counter_packets(const char *name)
{
	g_autofree char *out = NULL;
	g_autoptr(JsonNode) root = NULL;
	JsonArray *items;

	ns_nft("-j list counters", NULL, &out);
	root = alk_json_parse(out, strlen(out), ALK_JSON_MAX_SIZE, ALK_JSON_MAX_DEPTH, NULL);
	ck_assert_ptr_nonnull(root);
	items = json_object_get_array_member(json_node_get_object(root), "nftables");
	for (guint i = 0; i < json_array_get_length(items); i++) {
		JsonObject *item = json_array_get_object_element(items, i);
		JsonObject *c = json_object_has_member(item, "counter")
		                    ? json_object_get_object_member(item, "counter")
		                    : NULL;

		if (c != NULL &&
		    g_strcmp0(json_object_get_string_member(c, "table"), "airlock") == 0 &&
		    g_strcmp0(json_object_get_string_member(c, "name"), name) == 0)
			return json_object_get_int_member(c, "packets");
	}
	ck_abort_msg("no counter %s in %s", name, out);
	return -1;
}

START_TEST(nft_check_and_load)
{
	const char *const e4[] = {"192.0.2.1:443",  "10.0.0.0/8:80",   "10.1.0.0/16:80",
	                          "0.0.0.0/0:8443", "198.51.100.0/24", NULL};
	const char *const e6[] = {"[2001:db8::1]:443", "2001:db8:1::/48", "192.0.2.1", NULL};
	g_autoptr(GPtrArray) pins = pins_new();
	g_autofree char *t4 = NULL;
	g_autofree char *t6 = NULL;

	if (!have_netns) {
		g_print("skipped: needs root, nft and ip netns\n");
		return;
	}
	g_ptr_array_add(pins, pin_new("192.0.2.7", 443, 30));
	g_ptr_array_add(pins, pin_new("192.0.2.8", 0, 30));
	t4 = render(e4, pins, "10.213.0.1");
	g_ptr_array_add(pins, pin_new("2001:db8::7", 443, 30));
	t6 = render(e6, pins, "fd00::1");
	ns_nft("-c -f", t4, NULL);
	ns_nft("-c -f", t6, NULL);
	ns_nft("-f", t6, NULL);
	ns_nft("-f", t4, NULL); /* replaces the loaded table */
	{
		const char *const e[] = {"192.0.2.1:443", "example.com:80", NULL};
		g_autofree char *tu = render_uplink(e, 2);
		g_autofree char *ta = alk_nft_egress_table("/var/lib/airlock");
		g_autofree char *tb = alk_nft_egress_table("/srv/airlock-b");
		g_autofree char *eg = alk_nft_render_egress(ta, "10.253.0.0/16");
		g_autofree char *other = alk_nft_render_egress(tb, "10.252.0.0/16");
		g_autofree char *del = alk_nft_render_egress_delete(ta);
		g_autofree char *del_other = alk_nft_render_egress_delete(tb);
		g_autofree char *out = NULL;

		ns_nft("-c -f", tu, NULL);
		ns_nft("-f", other, NULL);
		ns_nft("-f", eg, NULL);
		ns_nft("-f", eg, NULL); /* idempotent */
		ns_nft("-f", del, NULL);
		ns_nft("-f", del, NULL); /* gone already: still fine */
		ns_nft("list tables", NULL, &out);
		/* the other instance's table is still there, untouched */
		ck_assert_msg(strstr(out, tb) != NULL && strstr(out, ta) == NULL, "%s", out);
		ns_nft("-f", del_other, NULL);
	}
	{
		g_autofree char *out = NULL;

		ns_nft("list table inet airlock", NULL, &out);
		ck_assert(strstr(out, "192.0.2.7 . 443") != NULL);
		ck_assert(strstr(out, "2001:db8::7") == NULL);
	}
	ck_assert_int_eq(counter_packets("denied"), 0);
	/* a datagram out of the namespace to an address not allowed: counted, dropped */
	ns_sh("ip link add d0 type veth peer name d1 && ip addr add 10.213.0.1/30 dev d0 && "
	      "ip link set d0 up && { echo x >/dev/udp/10.213.0.2/9; true; } 2>/dev/null");
	ck_assert_int_ge(counter_packets("denied"), 1);
	ck_assert_int_eq(counter_packets("allowed"), 0);
	ns_nft("delete table inet airlock", NULL, NULL);
}
END_TEST

START_TEST(nft_pins_live)
{
	const char *const e[] = {"example.com", NULL};
	g_autoptr(GPtrArray) pins = pins_new();
	g_autofree char *t = NULL;
	g_autofree char *add = NULL;
	g_autofree char *out = NULL;

	if (!have_netns)
		return;
	t = render(e, NULL, "10.213.0.1");
	ns_nft("-f", t, NULL);
	g_ptr_array_add(pins, pin_new("192.0.2.10", 0, 600));
	g_ptr_array_add(pins, pin_new("192.0.2.10", 8080, 600));
	add = alk_nft_render_pins(pins, FALSE, NULL, NULL);
	ns_nft("-f", add, NULL);
	ns_nft("-f", add, NULL); /* pinning again is harmless */
	ns_nft("list set inet airlock pin4any", NULL, &out);
	ck_assert(strstr(out, "192.0.2.10") != NULL);
	ns_nft("delete table inet airlock", NULL, NULL);
}
END_TEST

static Suite *nft_suite(void)
{
	Suite *s = suite_create("net-nft");
	TCase *tc = tcase_create("render");
	TCase *live = tcase_create("nft");

	tcase_add_test(tc, render_shape);
	tcase_add_test(tc, render_ipv6_on);
	tcase_add_test(tc, render_uplink_generation);
	tcase_add_test(tc, render_egress);
	tcase_add_test(tc, egress_instances_apart);
	tcase_add_test(tc, counters_parse);
	tcase_add_test(tc, render_pins);
	tcase_add_test(tc, render_pins_refused);
	suite_add_tcase(s, tc);
	tcase_add_unchecked_fixture(live, ns_setup, ns_teardown);
	tcase_set_timeout(live, 60);
	tcase_add_test(live, nft_check_and_load);
	tcase_add_test(live, nft_pins_live);
	suite_add_tcase(s, live);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(nft_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
