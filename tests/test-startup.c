/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Start-up under virt_type = auto, with real daemons: the API answers at
 * once while the KVM probe runs (creates wait for it, then go on), the
 * probe's verdict is remembered so that a restart answers within 2 s and
 * does not probe again, and a daemon touches only its own instance's probe
 * domains. On the development machines /dev/kvm answers and KVM guests
 * hang: the probe runs until its timeout. */
#include <check.h>
#include <libvirt/libvirt.h>
#include <string.h>
#include <unistd.h>

#include "alk-kvm-verdict.h"
#include "alk-test-api.h"

/* long enough that the probe still runs while the test looks at it */
#define AUTO_EXTRA(timeout) "[daemon]\nvirt_type = auto\nkvm_probe_timeout_s = " #timeout "\n"

static AlkTestDaemon *other;

static JsonObject *health_of(AlkTestDaemon *d)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTestResponse) r = alk_test_http_json(d, "GET", "/v1/health", NULL, &error);

	ck_assert_msg(r != NULL, "health: %s", error ? error->message : "?");
	ck_assert_uint_eq(r->status, 200);
	return alk_test_response_json(r);
}

static const char *field(JsonObject *o, const char *name)
{
	return json_object_get_string_member(o, name);
}

/* Waits until start-up is done; returns health then. */
static JsonObject *wait_started(AlkTestDaemon *d, guint timeout_s)
{
	gint64 deadline = alk_test_deadline(timeout_s);

	for (;;) {
		JsonObject *h = health_of(d);
		if (strcmp(field(h, "startup"), "done") == 0)
			return h;
		ck_assert_msg(g_get_monotonic_time() < deadline, "start-up not done in %u s",
		              timeout_s);
		json_object_unref(h);
		g_usleep(200000);
	}
}

static char *daemon_log(AlkTestDaemon *d)
{
	char *log = NULL;
	g_file_get_contents(d->log_path, &log, NULL, NULL);
	return log != NULL ? log : g_strdup("");
}

static gboolean kvm_present(void)
{
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		return TRUE;
	g_printerr("no usable /dev/kvm: the probe is skipped, nothing to remember\n");
	return FALSE;
}

/* Restarts d and says how long until /v1/health answered: a measurement,
 * never a verdict (tests do not fail on timing); what is asserted is that
 * health answers while the probe or reconcile still runs. */
static void restart_timed(AlkTestDaemon *d)
{
	g_autoptr(GError) error = NULL;
	gint64 t0 = g_get_monotonic_time();

	ck_assert_msg(alk_test_daemon_restart(d, &error), "restart: %s",
	              error ? error->message : "?");
	g_printerr("health answered %.2f s after the restart began\n",
	           (g_get_monotonic_time() - t0) / (double)G_USEC_PER_SEC);
}

START_TEST(restart_remembers_verdict)
{
	AlkTestDaemon *d = alk_test_api_d();
	g_autoptr(JsonObject) first = health_of(d);
	g_autoptr(JsonObject) done = NULL;
	g_autoptr(JsonObject) again = NULL;
	g_autoptr(JsonObject) sb = NULL;
	g_autofree char *id = NULL;
	g_autofree char *verdict_path = g_build_filename(d->state_dir, ALK_KVM_VERDICT_FILE, NULL);
	g_autofree char *path = NULL;
	g_autofree char *log = NULL;

	if (!kvm_present())
		return;
	/* the API answers while the probe runs, and says so */
	ck_assert_str_eq(field(first, "kvm_probe"), "running");
	ck_assert_str_eq(field(first, "virt_type"), "pending");
	ck_assert_str_eq(field(first, "status"), "starting");
	/* a create waits for the verdict, then boots */
	id = alk_test_api_create("{}");
	done = wait_started(d, 60);
	ck_assert_str_eq(field(done, "kvm_probe"), "probed");
	ck_assert_str_eq(field(done, "status"), "ok");
	ck_assert(g_file_test(verdict_path, G_FILE_TEST_IS_REGULAR));

	restart_timed(d);
	again = health_of(d);
	ck_assert_str_eq(field(again, "kvm_probe"), "cached");
	ck_assert_str_eq(field(again, "virt_type"), field(done, "virt_type"));
	log = daemon_log(d);
	ck_assert_msg(strstr(log, "KVM probe: booting") == NULL, "probed again: %s", log);
	/* the adopted sandbox is there at once */
	path = g_strconcat("/v1/sandboxes/", id, NULL);
	sb = alk_test_api_expect("GET", path, NULL, 200);
	ck_assert_str_eq(field(sb, "id"), id);
}
END_TEST

START_TEST(garbage_verdict_probes_again)
{
	AlkTestDaemon *d = alk_test_api_d();
	g_autofree char *verdict_path = g_build_filename(d->state_dir, ALK_KVM_VERDICT_FILE, NULL);
	g_autoptr(JsonObject) h = NULL;
	g_autoptr(JsonObject) done = NULL;
	g_autofree char *text = NULL;
	g_autofree char *log = NULL;

	if (!kvm_present())
		return;
	json_object_unref(wait_started(d, 60));
	ck_assert(g_file_set_contents(verdict_path, "[kvm-probe]\nverdict=\x01garbage", -1, NULL));
	restart_timed(d);
	h = health_of(d);
	ck_assert_str_eq(field(h, "kvm_probe"), "running");
	log = daemon_log(d);
	ck_assert_msg(strstr(log, "ignoring") != NULL, "%s", log);
	done = wait_started(d, 60);
	ck_assert_str_eq(field(done, "kvm_probe"), "probed");
	/* rewritten: a verdict file again */
	ck_assert(g_file_get_contents(verdict_path, &text, NULL, NULL));
	ck_assert_msg(strstr(text, "verdict=") != NULL && strstr(text, "garbage") == NULL, "%s",
	              text);
}
END_TEST

/* The names of running probe domains whose disk lies under state_dir. */
static GPtrArray *probe_domains(const char *state_dir)
{
	virConnectPtr conn = virConnectOpen("qemu:///system");
	virDomainPtr *doms = NULL;
	int n = conn != NULL ? virConnectListAllDomains(conn, &doms, 0) : -1;
	GPtrArray *out = g_ptr_array_new_with_free_func(g_free);

	ck_assert_msg(n >= 0, "listing libvirt's domains");
	for (int i = 0; i < n; i++) {
		const char *name = virDomainGetName(doms[i]);
		g_autofree char *xml = virDomainGetXMLDesc(doms[i], 0);
		if (g_str_has_prefix(name, "airlock-probe-") && xml != NULL &&
		    strstr(xml, state_dir) != NULL)
			g_ptr_array_add(out, g_strdup(name));
		virDomainFree(doms[i]);
	}
	free(doms);
	virConnectClose(conn);
	return out;
}

static gboolean probe_running(AlkTestDaemon *d)
{
	g_autoptr(JsonObject) h = health_of(d);
	return strcmp(field(h, "kvm_probe"), "running") == 0;
}

static void setup_auto(void)
{
	g_autoptr(GError) error = NULL;
	alk_test_api_daemon = alk_test_daemon_start(AUTO_EXTRA(8), &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static void setup_long_probe(void)
{
	g_autoptr(GError) error = NULL;
	alk_test_api_daemon = alk_test_daemon_start(AUTO_EXTRA(120), &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

static void teardown_two(void)
{
	g_clear_pointer(&other, alk_test_daemon_stop);
	alk_test_api_teardown();
}

/* Two instances on one host: B's reconcile leaves A's running probe alone;
 * A, restarted after a crash mid-probe, destroys its own leftover probe. */
START_TEST(probes_by_instance)
{
	AlkTestDaemon *a = alk_test_api_d();
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) before = NULL;
	g_autoptr(GPtrArray) after_b = NULL;
	g_autoptr(GPtrArray) after_restart = NULL;
	g_autofree char *log_b = NULL;
	g_autofree char *log_a = NULL;
	const char *probe;

	if (!kvm_present())
		return;
	/* the probe domain appears once its overlay is made */
	for (int i = 0; i < 100; i++) {
		g_clear_pointer(&before, g_ptr_array_unref);
		before = probe_domains(a->state_dir);
		if (before->len > 0)
			break;
		g_usleep(100000);
	}
	ck_assert_uint_eq(before->len, 1);
	probe = g_ptr_array_index(before, 0);

	other = alk_test_daemon_start(NULL, &error);
	ck_assert_msg(other != NULL, "second daemon: %s", error ? error->message : "?");
	json_object_unref(wait_started(other, 60));
	log_b = daemon_log(other);
	ck_assert_msg(strstr(log_b, "another instance's KVM probe") != NULL, "%s", log_b);
	after_b = probe_domains(a->state_dir);
	if (!probe_running(a)) {
		/* KVM works on this host: the probe ended by itself, meanwhile */
		g_printerr("A's KVM probe finished already: nothing more to check\n");
		return;
	}
	ck_assert_uint_eq(after_b->len, 1);
	ck_assert_str_eq(g_ptr_array_index(after_b, 0), probe);

	/* A dies mid-probe; its next start destroys the leftover */
	restart_timed(a);
	for (int i = 0; i < 150; i++) {
		g_clear_pointer(&log_a, g_free);
		log_a = daemon_log(a);
		if (strstr(log_a, "reconcile: done") != NULL)
			break;
		g_usleep(100000);
	}
	ck_assert_msg(strstr(log_a, "a leftover KVM probe") != NULL, "%s", log_a);
	after_restart = probe_domains(a->state_dir);
	for (guint i = 0; i < after_restart->len; i++)
		ck_assert_str_ne(g_ptr_array_index(after_restart, i), probe);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("startup");
	SRunner *sr;
	int failed;

	alk_test_api_add(s, "restart_remembers_verdict", restart_remembers_verdict, setup_auto,
	                 NULL);
	alk_test_api_add(s, "garbage_verdict_probes_again", garbage_verdict_probes_again,
	                 setup_auto, NULL);
	alk_test_api_add(s, "probes_by_instance", probes_by_instance, setup_long_probe,
	                 teardown_two);
	sr = srunner_create(s);
	/* restarts must happen in the process that stops the daemons */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
