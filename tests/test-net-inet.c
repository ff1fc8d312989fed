/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test internet (tests/alk-test-inet.h) proved from inside its router
 * namespace: addresses and routes, each web server's body, each name of the
 * upstream's zone, its query log; and that freeing it, or a later run after
 * a crash, leaves no namespace, process or file behind. Root only: exits 77
 * (skipped) otherwise. All traffic stays inside the namespaces it makes. */
#include <check.h>
#include <errno.h>
#include <glib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-netns.h"
#include "alk-test-inet.h"

#define PYTHON "/usr/bin/python3"

static AlkTestInet *inet;
static char *setup_error;

static void setup(void)
{
	g_autoptr(GError) error = NULL;

	inet = alk_test_inet_new(&error);
	if (inet == NULL)
		setup_error = g_strdup(error->message);
}

static void teardown(void)
{
	g_clear_pointer(&inet, alk_test_inet_free);
	g_clear_pointer(&setup_error, g_free);
}

static AlkTestInet *net(void)
{
	ck_assert_msg(inet != NULL, "%s", setup_error);
	return inet;
}

/* Runs argv in ns, asserting exit 0; its stdout. */
static char *run_ok(const char *ns, const char *const *argv)
{
	g_autoptr(GError) error = NULL;
	char *out = NULL;
	int code = alk_test_inet_run(net(), ns, argv, &out, &error);

	ck_assert_msg(code == 0, "%s in %s: %d %s", argv[0], ns, code,
	              error != NULL ? error->message : "");
	return out;
}

static void assert_has(const char *text, const char *want)
{
	ck_assert_msg(strstr(text, want) != NULL, "no '%s' in:\n%s", want, text);
}

/* In the host namespace: only iproute2's bookkeeping, no traffic. */
static char *host_out(const char *const *argv)
{
	char *out = NULL;
	gint status = 0;

	ck_assert(g_spawn_sync(NULL, (char **)argv, NULL,
	                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out,
	                       NULL, &status, NULL));
	return out;
}

static gboolean ns_exists(const char *name)
{
	const char *argv[] = {"ip", "netns", "list", NULL};
	g_autofree char *path = g_build_filename(ALK_NETNS_DIR, name, NULL);
	g_autofree char *list = host_out(argv);
	g_auto(GStrv) lines = g_strsplit(list, "\n", -1);
	gboolean listed = FALSE;

	for (guint i = 0; lines[i] != NULL; i++) {
		g_auto(GStrv) words = g_strsplit(lines[i], " ", 2);
		listed = listed || g_strcmp0(words[0], name) == 0;
	}
	return listed || g_file_test(path, G_FILE_TEST_EXISTS);
}

static void assert_name(const char *name, const char *prefix)
{
	guint64 pid;

	ck_assert(g_str_has_prefix(name, prefix));
	ck_assert_msg(
	    g_ascii_string_to_unsigned(name + strlen(prefix), 10, 1, G_MAXINT, &pid, NULL), "%s",
	    name);
	ck_assert_uint_le(strlen(name), 15);
	ck_assert_msg(!alk_netns_name_valid(name), "%s looks like a sandbox's", name);
	ck_assert(ns_exists(name));
}

START_TEST(names)
{
	assert_name(alk_test_inet_router(net()), ALK_TEST_INET_ROUTER_PREFIX);
	assert_name(alk_test_inet_internet(net()), ALK_TEST_INET_INTERNET_PREFIX);
	ck_assert_str_ne(alk_test_inet_router(net()), alk_test_inet_internet(net()));
	ck_assert(g_file_test(alk_test_inet_dns_log(net()), G_FILE_TEST_IS_REGULAR));
}
END_TEST

START_TEST(topology)
{
	const char *r = alk_test_inet_router(net()), *i = alk_test_inet_internet(net());
	const char *addrs[] = {"ip", "-o", "-4", "addr", "show", NULL};
	const char *routes[] = {"ip", "-4", "route", "show", NULL};
	const char *lo[] = {"ip", "link", "show", "dev", "lo", NULL};
	const char *fwd[] = {"sysctl", "-n", "net.ipv4.ip_forward", NULL};
	g_autofree char *r_addrs = run_ok(r, addrs), *i_addrs = run_ok(i, addrs);
	g_autofree char *r_routes = run_ok(r, routes), *i_routes = run_ok(i, routes);
	g_autofree char *r_lo = run_ok(r, lo), *i_lo = run_ok(i, lo);
	g_autofree char *r_fwd = run_ok(r, fwd);

	assert_has(r_addrs, "inet 198.18.0.1/24");
	assert_has(i_addrs, "inet 198.18.0.2/24");
	assert_has(i_addrs, "lo    inet 198.18.1.10/32");
	assert_has(i_addrs, "lo    inet 198.18.1.20/32");
	assert_has(i_addrs, "lo    inet 198.18.1.53/32");
	assert_has(r_routes, "198.18.1.0/24 via 198.18.0.2 dev " ALK_TEST_INET_ROUTER_LINK);
	ck_assert_msg(strstr(r_routes, "default") == NULL, "%s", r_routes);
	assert_has(i_routes, "default via 198.18.0.1 dev " ALK_TEST_INET_INTERNET_LINK);
	assert_has(r_lo, ",UP");
	assert_has(i_lo, ",UP");
	ck_assert_str_eq(r_fwd, "1\n");
}
END_TEST

static const struct {
	const char *url;
	const char *body;
} pages[] = {
    {"http://198.18.1.10/", "allowed-80\n"},
    {"http://198.18.1.10:8080/", "allowed-8080\n"},
    {"http://198.18.1.20/", "denied-80\n"},
    {"http://198.18.0.1/", "router\n"},
};

/* urllib with proxies off: whatever the environment says, only our servers */
static char *python_get(const char *ns, const char *url)
{
	const char *argv[] = {PYTHON, "-c",
	                      "import sys, urllib.request as u\n"
	                      "o = u.build_opener(u.ProxyHandler({}))\n"
	                      "sys.stdout.write(o.open(sys.argv[1], timeout=5).read().decode())\n",
	                      url, NULL};
	return run_ok(ns, argv);
}

START_TEST(http)
{
	const char *r = alk_test_inet_router(net());
	g_autofree char *wget = g_find_program_in_path("wget");
	g_autofree char *back = NULL;

	for (guint k = 0; k < G_N_ELEMENTS(pages); k++) {
		g_autofree char *py = python_get(r, pages[k].url);

		ck_assert_str_eq(py, pages[k].body);
		if (wget != NULL) {
			const char *argv[] = {"wget", "-q", "--no-proxy", "-T",         "5",
			                      "-t",   "1",  "-O-",        pages[k].url, NULL};
			g_autofree char *out = run_ok(r, argv);
			ck_assert_str_eq(out, pages[k].body);
		}
	}
	/* and the way back: the internet reaches the router's address */
	back = python_get(alk_test_inet_internet(net()), "http://198.18.0.1/");
	ck_assert_str_eq(back, "router\n");
}
END_TEST

START_TEST(http_refused)
{
	const char *argv[] = {PYTHON, "-c",
	                      "import socket\n"
	                      "try:\n"
	                      "    socket.create_connection(('198.18.1.20', 8080), timeout=5)\n"
	                      "except ConnectionRefusedError:\n"
	                      "    raise SystemExit(3)\n",
	                      NULL};
	g_autoptr(GError) error = NULL;
	int code = alk_test_inet_run(net(), alk_test_inet_router(net()), argv, NULL, &error);

	ck_assert_msg(code == 3, "%d %s", code, error != NULL ? error->message : "");
}
END_TEST

static const struct {
	const char *name;
	const char *answer;
} zone[] = {
    {"allowed.test", "NOERROR\nallowed.test 300 A 198.18.1.10\n"},
    {"denied.test", "NOERROR\ndenied.test 300 A 198.18.1.20\n"},
    {"cname.allowed.test",
     "NOERROR\ncname.allowed.test 300 CNAME allowed.test\nallowed.test 300 A 198.18.1.10\n"},
    {"meta.allowed.test", "NOERROR\nmeta.allowed.test 300 A 169.254.169.254\n"},
    {"loop.allowed.test", "NOERROR\nloop.allowed.test 300 A 127.0.0.1\n"},
    {"inject.allowed.test",
     "NOERROR\ninject.allowed.test 300 A 198.18.1.10\ndenied.test 300 A 198.18.1.20\n"},
    {"allowed.test.", "NOERROR\nallowed.test 300 A 198.18.1.10\n"},
    {"nothing.test", "NXDOMAIN\n"},
    {"sub.allowed.test", "NXDOMAIN\n"},
    {"test", "NXDOMAIN\n"},
};

START_TEST(dns)
{
	g_auto(GStrv) before = alk_test_inet_dns_queries(net());
	g_auto(GStrv) after = NULL;
	guint first = g_strv_length(before);

	for (guint k = 0; k < G_N_ELEMENTS(zone); k++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *text =
		    alk_test_inet_dns_query(net(), alk_test_inet_router(net()),
		                            ALK_TEST_INET_DNS_ADDR, 0, zone[k].name, &error);

		ck_assert_msg(text != NULL, "%s: %s", zone[k].name, error->message);
		ck_assert_str_eq(text, zone[k].answer);
	}
	/* every name reached the upstream, in order, once each: nothing else */
	after = alk_test_inet_dns_queries(net());
	ck_assert_uint_eq(g_strv_length(after), first + G_N_ELEMENTS(zone));
	for (guint k = 0; k < G_N_ELEMENTS(zone); k++) {
		g_autofree char *want = g_strdup(zone[k].name);

		if (g_str_has_suffix(want, "."))
			want[strlen(want) - 1] = '\0';
		ck_assert_str_eq(after[first + k], want);
	}
}
END_TEST

/* Only its own two namespaces: the harness refuses the host's or another's. */
START_TEST(run_refuses_other_namespaces)
{
	const char *argv[] = {"true", NULL};
	const char *const others[] = {"", "al0123456789ab", "../netns", "default", NULL};

	for (guint k = 0; others[k] != NULL; k++) {
		g_autoptr(GError) error = NULL;

		ck_assert_int_eq(alk_test_inet_run(net(), others[k], argv, NULL, &error), -1);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
		g_clear_error(&error);
		ck_assert_int_eq(alk_test_inet_socket(net(), others[k], SOCK_DGRAM, &error), -1);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	}
	ck_assert_int_eq(alk_test_inet_run(net(), NULL, argv, NULL, NULL), -1);
}
END_TEST

/* ---- lifecycle: an instance of the test's own (the forked test process) ---- */

static GArray *ns_pids(const char *ns)
{
	const char *argv[] = {"ip", "netns", "pids", ns, NULL};
	g_autofree char *out = host_out(argv);
	g_auto(GStrv) lines = g_strsplit(out, "\n", -1);
	GArray *pids = g_array_new(FALSE, FALSE, sizeof(pid_t));

	for (guint i = 0; lines[i] != NULL; i++) {
		guint64 pid;
		pid_t p;

		if (!g_ascii_string_to_unsigned(lines[i], 10, 1, G_MAXINT, &pid, NULL))
			continue;
		p = (pid_t)pid;
		g_array_append_val(pids, p);
	}
	return pids;
}

START_TEST(free_leaves_nothing)
{
	g_autoptr(GError) error = NULL;
	AlkTestInet *n = alk_test_inet_new(&error);
	g_autofree char *r = NULL, *i = NULL, *dir = NULL;
	g_autoptr(GArray) pids = NULL;
	g_autoptr(GArray) more = NULL;
	g_auto(GStrv) queries = NULL;

	ck_assert_msg(n != NULL, "%s", error != NULL ? error->message : "");
	r = g_strdup(alk_test_inet_router(n));
	i = g_strdup(alk_test_inet_internet(n));
	dir = g_path_get_dirname(alk_test_inet_dns_log(n));
	queries = alk_test_inet_dns_queries(n);
	ck_assert_uint_eq(g_strv_length(queries), 0); /* the readiness probe's is gone */
	ck_assert_ptr_null(alk_test_inet_new(&error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	pids = ns_pids(r);
	more = ns_pids(i);
	ck_assert_uint_ge(pids->len, 1); /* the router's web server */
	ck_assert_uint_ge(more->len, 4); /* three web servers, the DNS server */
	g_array_append_vals(pids, more->data, more->len);

	alk_test_inet_free(n);
	ck_assert_msg(!ns_exists(r), "%s remains", r);
	ck_assert_msg(!ns_exists(i), "%s remains", i);
	ck_assert_msg(!g_file_test(dir, G_FILE_TEST_EXISTS), "%s remains", dir);
	for (guint k = 0; k < pids->len; k++) {
		pid_t pid = g_array_index(pids, pid_t, k);
		ck_assert_msg(kill(pid, 0) < 0 && errno == ESRCH, "process %d remains", pid);
	}
}
END_TEST

static void ip_quiet(const char *a, const char *b, const char *c)
{
	const char *argv[] = {"ip", a, b, c, NULL};
	g_free(host_out(argv));
}

/* What a crashed run leaves: both namespaces, a process inside, a temp dir;
 * named for a pid that cannot exist (none reaches pid_max), and unique to
 * this process so that parallel runs do not sweep each other's. */
START_TEST(sweeps_stale)
{
	g_autofree char *max_text = NULL;
	guint64 dead;
	g_autofree char *r = NULL, *i = NULL, *dir = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestInet) n = NULL;
	const char *sleeper[] = {"ip", "netns", "exec", NULL, "sleep", "600", NULL};
	gint64 deadline = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
	GPid pid;
	int status = 0;

	ck_assert(g_file_get_contents("/proc/sys/kernel/pid_max", &max_text, NULL, NULL));
	ck_assert(
	    g_ascii_string_to_unsigned(g_strstrip(max_text), 10, 1, G_MAXINT / 2, &dead, NULL));
	dead += (guint64)getpid();
	r = g_strdup_printf(ALK_TEST_INET_ROUTER_PREFIX "%" G_GUINT64_FORMAT, dead);
	i = g_strdup_printf(ALK_TEST_INET_INTERNET_PREFIX "%" G_GUINT64_FORMAT, dead);
	dir = g_strdup_printf("%s/alk-inet-%" G_GUINT64_FORMAT "-stale0", g_get_tmp_dir(), dead);
	ip_quiet("netns", "add", r);
	ip_quiet("netns", "add", i);
	ck_assert(ns_exists(r) && ns_exists(i));
	ck_assert_int_eq(g_mkdir_with_parents(dir, 0700), 0);
	sleeper[3] = r;
	ck_assert(g_spawn_async(NULL, (char **)sleeper, NULL,
	                        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH, NULL, NULL, &pid,
	                        NULL));

	n = alk_test_inet_new(&error);
	ck_assert_msg(n != NULL, "%s", error != NULL ? error->message : "");
	ck_assert_msg(!ns_exists(r), "%s remains", r);
	ck_assert_msg(!ns_exists(i), "%s remains", i);
	ck_assert_msg(!g_file_test(dir, G_FILE_TEST_EXISTS), "%s remains", dir);
	while (waitpid(pid, &status, WNOHANG) != pid) {
		ck_assert_msg(g_get_monotonic_time() < deadline, "the stale process still runs");
		g_usleep(10000);
	}
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}
END_TEST

static Suite *inet_suite(void)
{
	Suite *s = suite_create("net-inet");
	TCase *shared = tcase_create("servers");
	TCase *life = tcase_create("lifecycle");

	tcase_add_unchecked_fixture(shared, setup, teardown);
	tcase_set_timeout(shared, 120);
	tcase_add_test(shared, names);
	tcase_add_test(shared, topology);
	tcase_add_test(shared, http);
	tcase_add_test(shared, http_refused);
	tcase_add_test(shared, dns);
	tcase_add_test(shared, run_refuses_other_namespaces);
	suite_add_tcase(s, shared);
	tcase_set_timeout(life, 120);
	tcase_add_test(life, free_leaves_nothing);
	tcase_add_test(life, sweeps_stale);
	suite_add_tcase(s, life);
	return s;
}

static gboolean can_run(void)
{
	const char *argv[] = {"ip", "-V", NULL};
	gint status = 0;

	return getuid() == 0 && g_file_test(PYTHON, G_FILE_TEST_IS_EXECUTABLE) &&
	       g_spawn_sync(NULL, (char **)argv, NULL,
	                    G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
	                        G_SPAWN_STDERR_TO_DEV_NULL,
	                    NULL, NULL, NULL, NULL, &status, NULL) &&
	       g_spawn_check_wait_status(status, NULL);
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (!can_run()) {
		g_print("skipped: needs root, ip and " PYTHON "\n");
		return 77;
	}
	sr = srunner_create(inet_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
