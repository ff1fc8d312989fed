/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Network policy from inside real guests: a real airlockd whose egress is
 * the router namespace of the test's own "internet" (alk-test-inet.h), and
 * guests trying to reach what they may and what they may not. No traffic
 * leaves the namespaces this test makes. */
#include <check.h>
#include <glib.h>
#include <string.h>
#include <unistd.h>

#include "alk-netns.h"
#include "alk-test-api.h"
#include "alk-test-inet.h"

#define WAIT_S 30

static AlkTestInet *inet;

static void setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *extra = NULL;

	inet = alk_test_inet_new(&error);
	if (inet == NULL) {
		g_printerr("test internet: %s\n", error->message);
		return;
	}
	extra = g_strdup_printf("[api]\nrequest_timeout_s = 30\n"
	                        "[network]\negress_netns = %s\ndns_upstream = %s\n",
	                        alk_test_inet_router(inet), ALK_TEST_INET_DNS_ADDR);
	alk_test_api_daemon = alk_test_daemon_start(extra, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static void teardown(void)
{
	alk_test_api_teardown();
	g_clear_pointer(&inet, alk_test_inet_free);
}

/* ---- helpers ---- */

typedef struct {
	gint64 exit_code;
	char *out;
} Run;

static Run run_sh(const char *id, const char *cmd)
{
	g_autoptr(JsonObject) r = alk_test_api_sh(id, cmd);
	JsonNode *code = json_object_get_member(r, "exit_code");
	Run out = {
	    /* killed by a signal: exit_code is null */
	    .exit_code = code != NULL && !JSON_NODE_HOLDS_NULL(code) ? json_node_get_int(code) : -1,
	    .out =
	        g_strdup_printf("%s%s", json_object_get_string_member_with_default(r, "stdout", ""),
	                        json_object_get_string_member_with_default(r, "stderr", "")),
	};
	return out;
}

/* cmd must succeed and print want */
static void reaches(const char *id, const char *cmd, const char *want)
{
	Run r = run_sh(id, cmd);

	ck_assert_msg(r.exit_code == 0 && strstr(r.out, want) != NULL,
	              "%s: exit %" G_GINT64_FORMAT ", output '%s', wanted '%s'", cmd, r.exit_code,
	              r.out, want);
	g_free(r.out);
}

/* cmd must fail */
static void blocked(const char *id, const char *cmd)
{
	Run r = run_sh(id, cmd);

	ck_assert_msg(r.exit_code != 0, "%s reached something: '%s'", cmd, r.out);
	g_free(r.out);
}

static char *http(const char *url)
{
	/* not -T: it crashes busybox 1.35's wget */
	return g_strdup_printf("timeout 5 wget -q -O - %s", url);
}

static JsonObject *net_of(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(JsonObject) sb = alk_test_api_expect("GET", path, NULL, 200);

	return json_object_ref(json_object_get_object_member(sb, "network"));
}

static gint64 counter(const char *id, const char *name)
{
	g_autoptr(JsonObject) net = net_of(id);

	return json_object_get_int_member(json_object_get_object_member(net, "counters"), name);
}

/* The counters are read every few seconds: wait for one to pass `above`. */
static void counter_rises(const char *id, const char *name, gint64 above)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	gint64 v;

	while ((v = counter(id, name)) <= above && g_get_monotonic_time() < deadline)
		g_usleep(200000);
	ck_assert_msg(v > above, "%s stayed at %" G_GINT64_FORMAT, name, v);
}

static gboolean ns_exists(const char *name)
{
	g_autofree char *path = g_build_filename("/run/netns", name, NULL);

	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static gboolean router_has_link(const char *name)
{
	const char *argv[] = {"ip", "-o", "link", "show", NULL};
	g_autofree char *out = NULL;
	g_autofree char *want = g_strdup_printf(" %s@", name);

	if (inet == NULL) /* no egress namespace in this test case */
		return FALSE;
	ck_assert_int_eq(alk_test_inet_run(inet, alk_test_inet_router(inet), argv, &out, NULL), 0);
	return strstr(out, want) != NULL;
}

/* Everything of a sandbox's network is gone (destroy is asynchronous). */
static void network_gone_ns(const char *ns)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;

	while ((ns_exists(ns) || router_has_link(ns)) && g_get_monotonic_time() < deadline)
		g_usleep(100000);
	ck_assert_msg(!ns_exists(ns), "namespace %s outlived its sandbox", ns);
	ck_assert_msg(!router_has_link(ns), "uplink %s outlived its sandbox", ns);
}

static void network_gone(const char *id)
{
	g_autofree char *ns = g_strdup_printf("al%s", id);

	network_gone_ns(ns);
}

static void destroy(const char *id)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s", id);
	g_autoptr(AlkTestResponse) r = alk_test_api_call("DELETE", path, NULL);

	ck_assert_msg(r->status == 200 || r->status == 202 || r->status == 204, "DELETE: %u",
	              r->status);
	network_gone(id);
}

static gboolean dns_log_has(const char *name)
{
	g_auto(GStrv) names = alk_test_inet_dns_queries(inet);

	return names != NULL && g_strv_contains((const char *const *)names, name);
}

/* ---- tests ---- */

START_TEST(isolated_reaches_nothing)
{
	g_autofree char *id = alk_test_api_create("{\"network\":{\"mode\":\"isolated\"}}");
	g_autoptr(JsonObject) net = net_of(id);
	g_autofree char *allowed = http("http://" ALK_TEST_INET_ALLOWED_ADDR "/");
	g_autofree char *router = http("http://" ALK_TEST_INET_ROUTER_ADDR "/");
	gint64 denied0 = counter(id, "denied_packets");

	ck_assert_str_eq(json_object_get_string_member(net, "mode"), "isolated");
	/* its link is up, with the address airlock gave it */
	reaches(id, "ip -o -4 addr show", "10.254.254.2/30");
	reaches(id, "cat /sys/class/net/eth0/operstate", "up");
	blocked(id, "ping -c 1 -W 2 10.254.254.1");                      /* ICMP */
	blocked(id, "nslookup allowed.test 10.254.254.1");               /* DNS */
	blocked(id, "nslookup allowed.test " ALK_TEST_INET_DNS_ADDR);    /* DNS, direct */
	blocked(id, allowed);                                            /* TCP */
	blocked(id, router);                                             /* the "host" */
	run_sh(id, "echo x | nc -u -w 1 " ALK_TEST_INET_DNS_ADDR " 53"); /* UDP */
	ck_assert(!dns_log_has("allowed.test"));
	counter_rises(id, "denied_packets", denied0);
	destroy(id);
}
END_TEST

START_TEST(allowlist_admits_only_what_it_names)
{
	g_autofree char *id = alk_test_api_create(
	    "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"allowed.test:80\","
	    "\"*.allowed.test:80\"]}}");
	/* another sandbox: its uplink must be out of reach */
	g_autofree char *other = alk_test_api_create(
	    "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"allowed.test:80\"]}}");
	g_autofree char *ok = http("http://allowed.test/");
	g_autofree char *cname = http("http://cname.allowed.test/");
	g_autofree char *other_port = http("http://allowed.test:8080/");
	g_autofree char *denied_name = http("http://denied.test/");
	g_autofree char *raw_ip = http("http://" ALK_TEST_INET_DENIED_ADDR "/");
	g_autofree char *metadata = http("http://169.254.169.254/");
	g_autofree char *host = http("http://" ALK_TEST_INET_ROUTER_ADDR "/");
	g_autofree char *v6 = http("http://[2001:db8::1]/");
	gint64 denied0 = counter(id, "denied_packets");
	gint64 refused0 = counter(id, "dns_refused");

	/* the positive case, in the same guest as every negative one */
	reaches(id, ok, "allowed-80");
	reaches(id, cname, "allowed-80");
	blocked(id, other_port);
	blocked(id, denied_name);
	ck_assert_msg(!dns_log_has("denied.test"), "a denied name reached the upstream");
	/* around the resolver: straight to the upstream, or to the gateway's other ports */
	blocked(id, "nslookup denied.test " ALK_TEST_INET_DNS_ADDR);
	ck_assert_msg(!dns_log_has("denied.test"), "the guest reached the upstream directly");
	blocked(id, "ping -c 1 -W 2 10.254.254.1");
	blocked(id, "echo | timeout 5 nc 10.254.254.1 22");
	blocked(id, raw_ip);
	blocked(id, metadata);
	blocked(id, host);
	blocked(id, v6);
	reaches(id, "cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6", "1");
	/* hostile upstream answers are never served */
	blocked(id, "nslookup meta.allowed.test | grep -q 169.254.169.254");
	blocked(id, "nslookup loop.allowed.test | grep -q 127.0.0.1");
	reaches(id, "nslookup inject.allowed.test", ALK_TEST_INET_ALLOWED_ADDR);
	blocked(id, "nslookup inject.allowed.test | grep -q " ALK_TEST_INET_DENIED_ADDR);
	blocked(id, raw_ip); /* the injected record pinned nothing */
	/* the other sandbox's uplink (both ends) and the pool's first ones */
	for (guint i = 1; i <= 6; i++) {
		g_autofree char *url = g_strdup_printf("http://10.253.0.%u/", i);
		g_autofree char *cmd = http(url);

		blocked(id, cmd);
	}
	reaches(other, ok, "allowed-80");
	counter_rises(id, "denied_packets", denied0);
	counter_rises(id, "dns_refused", refused0);
	ck_assert_int_gt(counter(id, "allowed_packets"), 0);
	destroy(other);
	destroy(id);
}
END_TEST

static void put_allow(const char *id, const char *json)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/network", id);
	g_autoptr(JsonObject) r = alk_test_api_expect("PUT", path, json, 200);
}

static gint64 slow_size(const char *id)
{
	Run r = run_sh(id, "wc -c </tmp/slow");
	gint64 size = g_ascii_strtoll(r.out, NULL, 10);

	g_free(r.out);
	return size;
}

/* Waits (bounded) until the slow download grows past `above`. */
static gint64 slow_grows(const char *id, gint64 above)
{
	gint64 deadline = g_get_monotonic_time() + WAIT_S * G_USEC_PER_SEC;
	gint64 size;

	while ((size = slow_size(id)) <= above && g_get_monotonic_time() < deadline)
		g_usleep(100000);
	ck_assert_msg(size > above, "the slow download stalled at %" G_GINT64_FORMAT, size);
	return size;
}

/* A connection opened under one allowlist: it survives a change that still
 * admits it, and is cut by one that does not. */
static void slow_download_is_cut(const char *id)
{
	gint64 size;

	reaches(id,
	        "setsid sh -c 'timeout 60 wget -q -O /tmp/slow http://allowed.test/slow' "
	        "</dev/null >/dev/null 2>&1 & echo started",
	        "started");
	size = slow_grows(id, 0);
	put_allow(id, "{\"allow\":[\"allowed.test:80\", \"denied.test:80\"]}");
	size = slow_grows(id, size);
	put_allow(id, "{\"allow\":[\"denied.test:80\"]}");
	/* what was in flight lands within a second; then nothing more */
	g_usleep(G_USEC_PER_SEC);
	size = slow_size(id);
	g_usleep(3 * G_USEC_PER_SEC);
	ck_assert_int_eq(slow_size(id), size);
	run_sh(id, "killall wget; rm -f /tmp/slow");
}

START_TEST(allowlist_changes_at_run_time)
{
	g_autofree char *id = alk_test_api_create(
	    "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"allowed.test:80\"]}}");
	g_autofree char *allowed = http("http://allowed.test/");
	g_autofree char *denied = http("http://denied.test/");
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/network", id);

	reaches(id, allowed, "allowed-80");
	blocked(id, denied);
	put_allow(id, "{\"allow\":[\"denied.test:80\"]}");
	reaches(id, denied, "denied-80");
	blocked(id, allowed); /* no new answer, and its old pin is gone */
	blocked(id, "timeout 5 wget -q -O - http://" ALK_TEST_INET_ALLOWED_ADDR "/");
	put_allow(id, "{\"allow\":[\"allowed.test:80\"]}");
	reaches(id, allowed, "allowed-80");
	slow_download_is_cut(id);
	put_allow(id, "{\"allow\":[]}");
	blocked(id, allowed);
	{
		g_autoptr(AlkTestResponse) bad =
		    alk_test_api_call("PUT", path, "{\"allow\":[\"169.254.169.254:80\"]}");
		alk_test_api_assert_error(bad, 400, "invalid_request");
	}
	destroy(id);
}
END_TEST

START_TEST(crash_and_restart_leave_nothing)
{
	g_autofree char *id = alk_test_api_create(
	    "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"allowed.test:80\"]}}");
	g_autofree char *gone = alk_test_api_create("{\"network\":{\"mode\":\"isolated\"}}");
	g_autofree char *allowed = http("http://allowed.test/");
	g_autofree char *ns_gone = g_strdup_printf("al%s", gone);
	g_autoptr(GError) error = NULL;

	reaches(id, allowed, "allowed-80");
	/* kill -9; the isolated sandbox's domain goes while no daemon watches,
	 * so the restarted one finds its namespace orphaned */
	alk_test_daemon_crash(alk_test_api_d());
	{
		g_autofree char *dom = g_strconcat("airlock-", gone, NULL);
		const char *argv[] = {"virsh", "-q", "-c", "qemu:///system", "destroy", dom, NULL};
		gint status = -1;

		ck_assert(g_spawn_sync(NULL, (char **)argv, NULL,
		                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL,
		                       NULL, NULL, &status, NULL));
		ck_assert_int_eq(status, 0);
	}
	ck_assert(ns_exists(ns_gone));
	ck_assert_msg(alk_test_daemon_restart(alk_test_api_d(), &error), "%s",
	              error ? error->message : "");
	network_gone(gone);
	/* the adopted one keeps its pins across a change of its allowlist (the
	 * answer from before the crash, not asked again) */
	put_allow(id, "{\"allow\":[\"allowed.test:80\",\"example.test:80\"]}");
	reaches(id, "timeout 5 wget -q -O - http://" ALK_TEST_INET_ALLOWED_ADDR "/", "allowed-80");
	/* and it still works, its resolver included */
	reaches(id, allowed, "allowed-80");
	blocked(id, "timeout 5 wget -q -O - http://denied.test/");
	destroy(id);
	ck_assert(!ns_exists(ns_gone));
}
END_TEST

/* The egress namespace the daemon is told about does not exist. */
static void setup_no_egress(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon = alk_test_daemon_start("[network]\negress_netns = altrmissing\n"
	                                            "dns_upstream = 192.0.2.53\n",
	                                            &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static GPtrArray *airlock_namespaces(void)
{
	g_autoptr(GDir) dir = g_dir_open("/run/netns", 0, NULL);
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);
	const char *name;

	while (dir != NULL && (name = g_dir_read_name(dir)) != NULL) {
		if (alk_netns_name_valid(name))
			g_ptr_array_add(out, g_strdup(name));
	}
	return out;
}

/* A network that cannot be built is refused with the reason and leaves
 * nothing behind; what needs no egress still works. */
START_TEST(failed_network_leaves_nothing)
{
	g_autoptr(GPtrArray) before = airlock_namespaces();
	g_autoptr(AlkTestResponse) r = alk_test_api_call(
	    "POST", "/v1/sandboxes?wait=ready",
	    "{\"network\":{\"mode\":\"allowlist\",\"allow\":[\"allowed.test:80\"]}}");
	g_autoptr(JsonObject) body = alk_test_response_json(r);
	const char *msg =
	    json_object_get_string_member(json_object_get_object_member(body, "error"), "message");
	g_autoptr(JsonObject) list = NULL;
	g_autoptr(GPtrArray) after = NULL;

	ck_assert_msg(r->status >= 400, "created: %u", r->status);
	ck_assert_msg(strstr(msg, "network.egress_netns") != NULL && strstr(msg, "altrmissing"),
	              "%s", msg);
	list = alk_test_api_expect("GET", "/v1/sandboxes", NULL, 200);
	ck_assert_uint_eq(json_array_get_length(json_object_get_array_member(list, "sandboxes")),
	                  0);
	after = airlock_namespaces();
	ck_assert_uint_eq(after->len, before->len);
	/* isolated needs no egress */
	{
		g_autofree char *ok = alk_test_api_create("{\"network\":{\"mode\":\"isolated\"}}");

		reaches(ok, "ip -o -4 addr show", "10.254.254.2/30");
		destroy(ok);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net");
	SRunner *sr;
	int failed;

	if (getuid() != 0) {
		g_print("skipped: needs root\n");
		return 77;
	}
	alk_test_api_add(s, "isolated", isolated_reaches_nothing, setup, teardown);
	alk_test_api_add(s, "allowlist", allowlist_admits_only_what_it_names, setup, teardown);
	alk_test_api_add(s, "change", allowlist_changes_at_run_time, setup, teardown);
	alk_test_api_add(s, "restart", crash_and_restart_leave_nothing, setup, teardown);
	alk_test_api_add(s, "failure", failed_network_leaves_nothing, setup_no_egress, NULL);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
