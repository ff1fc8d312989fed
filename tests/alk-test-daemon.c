/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <libvirt/libvirt.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-test-guest.h"
#include "alk-test-http.h"

#ifndef ALK_AIRLOCKD_BIN
#define ALK_AIRLOCKD_BIN "airlockd"
#endif

#define START_TIMEOUT_S 90
#define STOP_TIMEOUT_S 30

guint16 alk_test_free_port(void)
{
	struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(in);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	guint16 port = 0;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof(in)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&in, &len) == 0)
		port = ntohs(in.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static char *new_token(const char *name, const char *scope, GString *file)
{
	g_autofree char *hex =
	    g_strdup_printf("%08x%08x%08x", g_random_int(), g_random_int(), g_random_int());
	char *token = g_strconcat("alk_test_", name, "_", hex, NULL);
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);

	g_string_append_printf(file, "%s %s %s\n", name, scope, sum);
	return token;
}

static gboolean write_tokens(AlkTestDaemon *d, GError **error)
{
	g_autoptr(GString) file = g_string_new("# tokens of a test daemon\n");
	g_autofree char *path = g_build_filename(d->dir, "tokens", NULL);

	d->write_token = new_token("tester", "write", file);
	d->read_token = new_token("reader", "read", file);
	if (!g_file_set_contents_full(path, file->str, file->len, G_FILE_SET_CONTENTS_NONE, 0600,
	                              error))
		return FALSE;
	return chmod(path, 0600) == 0;
}

static gboolean write_config(AlkTestDaemon *d, const char *extra, GError **error)
{
	/* TCG unless the test asks for another virt_type (the probe's tests) */
	gboolean own_virt_type = extra != NULL && strstr(extra, "virt_type") != NULL;
	g_autofree char *text = g_strdup_printf(
	    "[daemon]\n%sstate_dir = %s\nrun_dir = %s\nimage_dir = %s\n"
	    "template_dir = %s\nboot_timeout_s = 240\n"
	    "[api]\nsocket = %s\nsocket_group = root\nlisten = 127.0.0.1:%u\n"
	    "tokens_file = %s/tokens\naudit_log = %s\naudit_head = %s/audit.head\n%s\n",
	    own_virt_type ? "" : "virt_type = qemu\n", d->state_dir, d->run_dir,
	    alk_test_image_dir(), g_getenv("ALK_TEMPLATE_DIR") ?: ALK_SOURCE_DIR "/xml-templates",
	    d->socket_path, d->port, d->dir, d->audit_path, d->dir, extra != NULL ? extra : "");

	d->config_path = g_build_filename(d->dir, "airlockd.conf", NULL);
	return g_file_set_contents(d->config_path, text, -1, error);
}

static gboolean spawn(AlkTestDaemon *d, GError **error)
{
	g_autoptr(GStrvBuilder) b = g_strv_builder_new();
	g_auto(GStrv) argv = NULL;
	g_auto(GStrv) wrapper = NULL;
	const char *wrap = g_getenv("ALK_TEST_DAEMON_WRAPPER");
	int log = open(d->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	gboolean ok;

	if (wrap != NULL && !g_shell_parse_argv(wrap, NULL, &wrapper, error))
		return FALSE;
	if (wrapper != NULL)
		g_strv_builder_addv(b, (const char **)wrapper);
	g_strv_builder_add(b, g_getenv("ALK_AIRLOCKD") ?: ALK_AIRLOCKD_BIN);
	g_strv_builder_add_many(b, "--config", d->config_path, NULL);
	argv = g_strv_builder_end(b);
	ok = g_spawn_async_with_pipes_and_fds(
	    NULL, (const char *const *)argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_SEARCH_PATH,
	    NULL, NULL, -1, log, log, NULL, NULL, 0, &d->pid, NULL, NULL, NULL, error);
	close(log);
	return ok;
}

static gboolean reap(AlkTestDaemon *d, gboolean block)
{
	int status = 0;
	pid_t r;

	if (d->exited)
		return TRUE;
	/* ECHILD: not our child (a forked test asks): see gone() */
	r = waitpid(d->pid, &status, block ? 0 : WNOHANG);
	if (r == d->pid) {
		d->exited = TRUE;
		d->exit_status = status;
	}
	return d->exited;
}

static gboolean healthy(AlkTestDaemon *d)
{
	g_autoptr(AlkTestResponse) r =
	    alk_test_http_request(d, FALSE, NULL, "GET", "/v1/health", NULL, NULL, 0, 5, NULL);
	return r != NULL && r->status == 200;
}

static gboolean wait_healthy(AlkTestDaemon *d, GError **error)
{
	gint64 deadline = alk_test_deadline(START_TIMEOUT_S);

	while (g_get_monotonic_time() < deadline) {
		if (healthy(d))
			return TRUE;
		if (reap(d, FALSE)) {
			g_autofree char *log = NULL;
			g_file_get_contents(d->log_path, &log, NULL, NULL);
			g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "airlockd exited: %s",
			            log != NULL ? log : "(no log)");
			return FALSE;
		}
		g_usleep(50000);
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT, "airlockd did not answer in %d s",
	            START_TIMEOUT_S);
	return FALSE;
}

AlkTestDaemon *alk_test_daemon_start(const char *extra, GError **error)
{
	static guint counter;
	AlkTestDaemon *d = g_new0(AlkTestDaemon, 1);

	counter++;
	d->dir = g_dir_make_tmp("alk-api-XXXXXX", error);
	if (d->dir == NULL) {
		g_free(d);
		return NULL;
	}
	d->state_dir = g_strdup_printf("/var/lib/airlock-test/api-%d-%u", getpid(), counter);
	d->run_dir = g_strdup_printf(ALK_TEST_RUN_DIR "/api-%d-%u", getpid(), counter);
	d->socket_path = g_build_filename(d->dir, "api.sock", NULL);
	d->log_path = g_build_filename(d->dir, "airlockd.log", NULL);
	d->audit_path = g_build_filename(d->dir, "audit.jsonl", NULL);
	d->port = alk_test_free_port();
	d->tcp_url = g_strdup_printf("http://127.0.0.1:%u", d->port);
	if (!write_tokens(d, error) || !write_config(d, extra, error) || !spawn(d, error) ||
	    !wait_healthy(d, error)) {
		alk_test_daemon_stop(d);
		return NULL;
	}
	return d;
}

/* ---- stopping ---- */

static GPtrArray *sandbox_ids(AlkTestDaemon *d)
{
	g_autoptr(AlkTestResponse) r =
	    alk_test_http_request(d, FALSE, NULL, "GET", "/v1/sandboxes", NULL, NULL, 0, 30, NULL);
	g_autoptr(JsonObject) obj = r != NULL ? alk_test_response_json(r) : NULL;
	JsonArray *list = obj != NULL ? json_object_get_array_member(obj, "sandboxes") : NULL;
	GPtrArray *ids = g_ptr_array_new_with_free_func(g_free);

	for (guint i = 0; list != NULL && i < json_array_get_length(list); i++) {
		JsonObject *sb = json_array_get_object_element(list, i);
		g_ptr_array_add(ids, g_strdup(json_object_get_string_member(sb, "id")));
	}
	return ids;
}

static void delete_sandboxes(AlkTestDaemon *d)
{
	g_autoptr(GPtrArray) ids = sandbox_ids(d);

	for (guint i = 0; i < ids->len; i++) {
		g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s?wait=destroyed",
		                                        (char *)g_ptr_array_index(ids, i));
		g_autoptr(AlkTestResponse) r =
		    alk_test_http_request(d, FALSE, NULL, "DELETE", path, NULL, NULL, 0, 180, NULL);
		if (r == NULL || r->status >= 300)
			g_printerr("test daemon: deleting %s: %u\n", path,
			           r != NULL ? r->status : 0);
	}
}

static void silence(void *data, virErrorPtr error)
{
}

/* Domains whose disk lies under the daemon's state dir, whatever happened
 * to the daemon. */
static void destroy_leftovers(AlkTestDaemon *d)
{
	virConnectPtr conn;
	virDomainPtr *doms = NULL;
	int n;

	/* other tests' domains come and go meanwhile: no error noise */
	virSetErrorFunc(NULL, silence);
	conn = virConnectOpen("qemu:///system");
	n = conn != NULL ? virConnectListAllDomains(conn, &doms, 0) : 0;

	for (int i = 0; i < n; i++) {
		g_autofree char *xml = virDomainGetXMLDesc(doms[i], 0);
		if (xml != NULL && strstr(xml, d->state_dir) != NULL) {
			g_printerr("test daemon: destroying leftover domain %s\n",
			           virDomainGetName(doms[i]));
			virDomainDestroy(doms[i]);
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	if (conn != NULL)
		virConnectClose(conn);
}

/* The network namespaces (al<id>) of the daemon's sandboxes; an uplink goes
 * with its namespace. */
static void delete_namespaces(AlkTestDaemon *d)
{
	g_autofree char *dir = g_build_filename(d->state_dir, "sandboxes", NULL);
	g_autoptr(GDir) sandboxes = g_dir_open(dir, 0, NULL);
	const char *id;

	while (sandboxes != NULL && (id = g_dir_read_name(sandboxes)) != NULL) {
		g_autofree char *ns = g_strconcat("al", id, NULL);
		g_autofree char *path = g_build_filename("/run/netns", ns, NULL);
		const char *argv[] = {"ip", "netns", "del", ns, NULL};

		if (!g_file_test(path, G_FILE_TEST_EXISTS))
			continue;
		g_printerr("test daemon: deleting leftover namespace %s\n", ns);
		g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
		             NULL, NULL);
	}
}

static void remove_tree(const char *path)
{
	const char *argv[] = {"rm", "-rf", "--one-file-system", path, NULL};
	if (path != NULL)
		g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
		             NULL, NULL);
}

static gboolean gone(AlkTestDaemon *d)
{
	g_autofree char *stat_path = g_strdup_printf("/proc/%d/stat", d->pid);
	g_autofree char *stat = NULL;
	const char *paren;

	if (reap(d, FALSE))
		return TRUE;
	if (!g_file_get_contents(stat_path, &stat, NULL, NULL))
		return TRUE;
	/* a zombie whose parent is another process (a forked test) */
	paren = strrchr(stat, ')');
	return paren != NULL && paren[1] == ' ' && paren[2] == 'Z';
}

char *alk_test_daemon_terminate(AlkTestDaemon *d, guint timeout_s)
{
	gint64 deadline = alk_test_deadline(timeout_s);
	char *log = NULL;

	if (!d->exited)
		kill(d->pid, SIGTERM);
	while (!gone(d)) {
		if (g_get_monotonic_time() > deadline)
			return NULL;
		g_usleep(20000);
	}
	g_file_get_contents(d->log_path, &log, NULL, NULL);
	return log;
}

/* A GLib critical, or an ASan/UBSan/LSan or valgrind report on stderr:
 * that fails the test run. */
static gboolean problem_report(const char *log)
{
	static const char *const signs[] = {
	    "Sanitizer",
	    "runtime error:",
	    "CRITICAL **",
	    /* valgrind memcheck */
	    "Invalid read",
	    "Invalid write",
	    "Invalid free",
	    "uninitialised",
	    "Mismatched free",
	};
	const char *lost = log != NULL ? strstr(log, "definitely lost: ") : NULL;

	for (guint i = 0; log != NULL && i < G_N_ELEMENTS(signs); i++) {
		if (strstr(log, signs[i]) != NULL)
			return TRUE;
	}
	/* valgrind's summary says "definitely lost: 0 bytes" when clean */
	return lost != NULL && lost[strlen("definitely lost: ")] != '0';
}

void alk_test_daemon_crash(AlkTestDaemon *d)
{
	if (!d->exited) {
		kill(d->pid, SIGKILL);
		reap(d, TRUE); /* SIGKILL: bounded */
	}
}

gboolean alk_test_daemon_restart(AlkTestDaemon *d, GError **error)
{
	alk_test_daemon_crash(d);
	g_spawn_close_pid(d->pid);
	d->pid = 0;
	d->exited = FALSE;
	return spawn(d, error) && wait_healthy(d, error);
}

void alk_test_daemon_stop(AlkTestDaemon *d)
{
	g_autofree char *log = NULL;
	gboolean report;

	if (d == NULL)
		return;
	if (d->pid > 0 && !reap(d, FALSE)) {
		delete_sandboxes(d);
		log = alk_test_daemon_terminate(d, STOP_TIMEOUT_S);
		if (log == NULL) {
			g_printerr("test daemon: did not stop in %d s: killing it\n",
			           STOP_TIMEOUT_S);
			kill(d->pid, SIGKILL);
		}
		reap(d, TRUE);
	}
	if (d->pid > 0)
		g_spawn_close_pid(d->pid);
	if (log == NULL)
		g_file_get_contents(d->log_path, &log, NULL, NULL);
	report = problem_report(log);
	destroy_leftovers(d);
	delete_namespaces(d);
	remove_tree(d->state_dir);
	remove_tree(d->run_dir);
	if (g_getenv("ALK_TEST_KEEP_LOGS") == NULL)
		remove_tree(d->dir);
	g_free(d->dir);
	g_free(d->config_path);
	g_free(d->socket_path);
	g_free(d->tcp_url);
	g_free(d->write_token);
	g_free(d->read_token);
	g_free(d->state_dir);
	g_free(d->run_dir);
	g_free(d->log_path);
	g_free(d->audit_path);
	g_free(d);
	if (report)
		g_error("airlockd reported a problem on exit:\n%s", log);
}

static guint64 status_kib(AlkTestDaemon *d, const char *key)
{
	g_autofree char *path = g_strdup_printf("/proc/%d/status", d->pid);
	g_autofree char *text = NULL;
	const char *p;

	if (!g_file_get_contents(path, &text, NULL, NULL) || (p = strstr(text, key)) == NULL)
		return 0;
	return g_ascii_strtoull(p + strlen(key), NULL, 10);
}

guint64 alk_test_daemon_hwm_kib(AlkTestDaemon *d)
{
	return status_kib(d, "VmHWM:");
}

guint64 alk_test_daemon_rss_kib(AlkTestDaemon *d)
{
	return status_kib(d, "VmRSS:");
}
