/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox manager over the fake backend (alk-test-fake-virt.h): the
 * real manager, overlays and agent channel, with the guest agent run on
 * the host instead of a VM. No libvirt; each case takes seconds. */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>

#include "alk-error.h"
#include "alk-manager.h"
#include "alk-test-fake-virt.h"

#define WAIT_S 20

typedef struct {
	char *root; /* image/, state/, run/ */
	AlkConfig *config;
	AlkTestFakeVirt *fake;
	AlkManager *m;
} Fixture;

static Fixture f;

static gboolean wake(gpointer data)
{
	return G_SOURCE_CONTINUE;
}

/* Runs the loop until func(data) or the deadline. */
static gboolean loop_until(gboolean (*func)(gpointer), gpointer data, guint timeout_s)
{
	gint64 end = g_get_monotonic_time() + (gint64)timeout_s * G_USEC_PER_SEC;
	guint tick = g_timeout_add(100, wake, NULL);
	gboolean ok;
	while (!(ok = func(data)) && g_get_monotonic_time() < end)
		g_main_context_iteration(NULL, TRUE);
	g_source_remove(tick);
	return ok;
}

static void run(const char *const *argv)
{
	g_autoptr(GError) error = NULL;
	int status = 0;
	ck_assert_msg(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
	                           NULL, &status, &error) &&
	                  g_spawn_check_wait_status(status, &error),
	              "%s: %s", argv[0], error ? error->message : "?");
}

/* An image the manager accepts (images/airlock-image's layout): its files are
 * never booted. */
static char *make_image(const char *root)
{
	g_autofree char *top = g_build_filename(root, "image", "tiny", NULL);
	g_autofree char *dir = g_build_filename(top, "builds", "20260101T000000Z-00000000", NULL);
	g_autofree char *current = g_build_filename(top, "current", NULL);
	g_autofree char *rootfs = g_build_filename(dir, "rootfs.qcow2", NULL);
	const char *qemu_img[] = {"qemu-img", "create", "-q", "-f", "qcow2", rootfs, "64M", NULL};
	const char *json =
	    "{\"format_version\":2,\"name\":\"tiny\",\"arch\":\"x86_64\",\"kernel\":\"vmlinuz\","
	    "\"initrd\":\"initrd.img\",\"rootfs\":\"rootfs.qcow2\",\"rootfs_virtual_mib\":64,"
	    "\"cmdline\":\"quiet\",\"kernel_version\":\"0\",\"agent_version\":\"airlock-agent\","
	    "\"agent_sha256\":\"" /* 64 hex */
	    "0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"built_at\":\"2026-01-01T00:00:00Z\",\"build_id\":\"20260101T000000Z-00000000\","
	    "\"source\":{\"kind\":\"minimal\"}}";
	const char *files[] = {"vmlinuz", "initrd.img", "image.json"};

	ck_assert_int_eq(g_mkdir_with_parents(dir, 0755), 0);
	ck_assert_int_eq(symlink("builds/20260101T000000Z-00000000", current), 0);
	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = g_build_filename(dir, files[i], NULL);
		ck_assert(g_file_set_contents(path, i == 2 ? json : "", -1, NULL));
		ck_assert_int_eq(g_chmod(path, 0444), 0);
	}
	run(qemu_img);
	ck_assert_int_eq(g_chmod(rootfs, 0444), 0);
	return g_build_filename(root, "image", NULL);
}

static void start_manager(void)
{
	g_autoptr(GError) error = NULL;
	f.m = alk_test_fake_virt_manager(f.fake, f.config);
	ck_assert_msg(alk_manager_start(f.m, &error), "%s", error ? error->message : "?");
}

static void setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *images = NULL;
	g_autofree char *data = NULL;

	f.root = g_dir_make_tmp("alk-mgr-XXXXXX", &error);
	ck_assert_msg(f.root != NULL, "%s", error ? error->message : "?");
	ck_assert_int_eq(g_chmod(f.root, 0755), 0);
	images = make_image(f.root);
	data = g_strdup_printf("[daemon]\nvirt_type = qemu\nstate_dir = %s/state\n"
	                       "run_dir = %s/run\nimage_dir = %s\ntemplate_dir = %s\n"
	                       "default_image = tiny\nboot_timeout_s = 20\n",
	                       f.root, f.root, images, ALK_SOURCE_DIR "/xml-templates");
	f.config = alk_config_load_data(data, -1, &error);
	ck_assert_msg(f.config != NULL, "%s", error ? error->message : "?");
	f.fake = alk_test_fake_virt_new();
	start_manager();
}

static void teardown(void)
{
	const char *rm[] = {"rm", "-rf", "--one-file-system", f.root, NULL};
	alk_manager_free(f.m);
	alk_test_fake_virt_free(f.fake);
	alk_config_free(f.config);
	run(rm);
	g_free(f.root);
	memset(&f, 0, sizeof f);
}

/* ---- waiting ---- */

typedef struct {
	gboolean done;
	AlkSandboxState state;
	GError *error;
} Wait;

static void wait_cb(const AlkSandbox *sb, const GError *error, gpointer data)
{
	Wait *w = data;
	w->done = TRUE;
	w->state = sb != NULL ? sb->state : ALK_SANDBOX_DESTROYED;
	w->error = error != NULL ? g_error_copy(error) : NULL;
}

static gboolean wait_done(gpointer data)
{
	return ((Wait *)data)->done;
}

/* Waits until id settles (alk_manager_wait); the error it settled with,
 * or NULL. */
static GError *wait_for(const char *id, AlkSandboxState until)
{
	Wait w = {0};
	AlkManagerWait *pending = NULL;
	g_autoptr(GError) error = NULL;

	ck_assert_msg(alk_manager_wait(f.m, id, until, wait_cb, &w, &pending, &error), "%s",
	              error ? error->message : "?");
	if (!loop_until(wait_done, &w, WAIT_S)) {
		alk_manager_wait_cancel(pending);
		ck_abort_msg("sandbox %s never settled", id);
	}
	return w.error;
}

static const char *create(void)
{
	AlkSandboxRequest req = {0};
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = alk_manager_create(f.m, &req, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	return sb->id;
}

static char *create_ready(void)
{
	char *id = g_strdup(create());
	g_autoptr(GError) error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert_msg(error == NULL, "not ready: %s", error ? error->message : "");
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_READY);
	return id;
}

/* Nothing of id left: no domain in the fake, no files, no entry. */
static gboolean gone(gpointer data)
{
	const char *id = data;
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);
	g_autofree char *state = g_build_filename(f.root, "state", "sandboxes", id, NULL);
	g_autofree char *runtime = g_build_filename(f.root, "run", "sandboxes", id, NULL);
	const AlkSandbox *sb = alk_manager_lookup(f.m, id, NULL);

	return !alk_test_fake_virt_has(f.fake, domain) && !g_file_test(state, G_FILE_TEST_EXISTS) &&
	       !g_file_test(runtime, G_FILE_TEST_EXISTS) &&
	       (sb == NULL || !alk_sandbox_is_live(sb));
}

static void assert_gone(const char *id)
{
	ck_assert_msg(loop_until(gone, (gpointer)id, WAIT_S), "sandbox %s left something", id);
}

static gboolean held(gpointer data)
{
	return alk_test_fake_virt_held(f.fake) > 0;
}

/* ---- cases ---- */

START_TEST(test_create_ready_destroy)
{
	g_autofree char *id = create_ready();
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);
	g_autoptr(GError) error = NULL;

	ck_assert(alk_test_fake_virt_has(f.fake, domain));
	ck_assert(alk_manager_destroy(f.m, id, &error));
	g_clear_error(&error);
	error = wait_for(id, ALK_SANDBOX_DESTROYED);
	ck_assert(error == NULL);
	assert_gone(id);
	ck_assert(alk_manager_lookup(f.m, id, NULL) == NULL);
	ck_assert_uint_eq(alk_test_fake_virt_count(f.fake), 0);
}
END_TEST

START_TEST(test_delete_while_creating)
{
	g_autofree char *id = NULL;

	alk_test_fake_virt_hold_creates(f.fake, TRUE);
	id = g_strdup(create());
	ck_assert(loop_until(held, NULL, WAIT_S)); /* its domain is being made */
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	alk_test_fake_virt_hold_creates(f.fake, FALSE);
	g_clear_error(&(GError *){wait_for(id, ALK_SANDBOX_DESTROYED)});
	assert_gone(id);
	ck_assert(alk_manager_lookup(f.m, id, NULL) == NULL);
	ck_assert_uint_eq(alk_test_fake_virt_count(f.fake), 0);
}
END_TEST

START_TEST(test_boot_failure)
{
	g_autofree char *id = NULL;
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	alk_test_fake_virt_fail_create(f.fake, "fake: no room for QEMU");
	id = g_strdup(create());
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert(error != NULL);
	ck_assert_msg(strstr(error->message, "no room for QEMU") != NULL, "%s", error->message);
	assert_gone(id);
	sb = alk_manager_lookup(f.m, id, NULL);
	ck_assert(sb != NULL); /* failed sandboxes stay visible with their error */
	ck_assert_int_eq(sb->state, ALK_SANDBOX_FAILED);
	ck_assert(strstr(sb->error->message, "no room for QEMU") != NULL);
	ck_assert(alk_manager_destroy(f.m, id, NULL)); /* forgotten */
	ck_assert(alk_manager_lookup(f.m, id, NULL) == NULL);
}
END_TEST

START_TEST(test_libvirt_lost_mid_create)
{
	g_autofree char *id = NULL;
	g_autoptr(GError) error = NULL;

	alk_test_fake_virt_hold_creates(f.fake, TRUE);
	id = g_strdup(create());
	ck_assert(loop_until(held, NULL, WAIT_S));
	alk_test_fake_virt_set_connected(f.fake, FALSE);
	ck_assert(!alk_manager_libvirt_up(f.m));
	alk_test_fake_virt_hold_creates(f.fake, FALSE); /* the call in flight fails */
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert(error != NULL);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE), "%s",
	              error->message);
	assert_gone(id);
	/* no new sandbox while libvirt is away */
	g_clear_error(&error);
	ck_assert(alk_manager_create(f.m, &(AlkSandboxRequest){0}, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE));
	alk_test_fake_virt_set_connected(f.fake, TRUE);
	ck_assert(alk_manager_libvirt_up(f.m));
	g_free(create_ready());
}
END_TEST

START_TEST(test_destroy_retried)
{
	g_autofree char *id = create_ready();
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);

	alk_test_fake_virt_fail_destroy(f.fake, 2);
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	ck_assert(loop_until(gone, id, WAIT_S));
	ck_assert_uint_eq(alk_test_fake_virt_destroys(f.fake), 3);
	ck_assert(!alk_test_fake_virt_has(f.fake, domain));
}
END_TEST

START_TEST(test_destroy_while_libvirt_away)
{
	g_autofree char *id = create_ready();
	g_autoptr(GError) error = NULL;

	alk_test_fake_virt_set_connected(f.fake, FALSE);
	ck_assert(!alk_manager_destroy(f.m, id, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE));
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_READY);
	alk_test_fake_virt_set_connected(f.fake, TRUE);
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
}
END_TEST

START_TEST(test_adopt_after_restart)
{
	g_autofree char *id = create_ready();
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	/* the daemon exits; the domain lives on in the fake */
	alk_manager_detach(f.m);
	g_clear_pointer(&f.m, alk_manager_free);
	ck_assert(alk_test_fake_virt_has(f.fake, domain));
	start_manager();
	sb = alk_manager_lookup(f.m, id, NULL);
	ck_assert_msg(sb != NULL, "sandbox %s not adopted", id);
	error = wait_for(id, ALK_SANDBOX_READY); /* the agent answered again */
	ck_assert_msg(error == NULL, "%s", error ? error->message : "");
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
}
END_TEST

START_TEST(test_guest_stops)
{
	g_autofree char *id = create_ready();
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	ck_assert(alk_test_fake_virt_stop(f.fake, domain, ALK_VIRT_OPS_STOPPED_CRASHED));
	error = wait_for(id, ALK_SANDBOX_DESTROYED);
	assert_gone(id);
	sb = alk_manager_lookup(f.m, id, NULL);
	ck_assert(sb != NULL && sb->state == ALK_SANDBOX_FAILED);
	ck_assert_msg(strstr(sb->error->message, "panicked") != NULL, "%s", sb->error->message);
	ck_assert_uint_eq(alk_test_fake_virt_destroys(f.fake), 0); /* nothing to destroy */
}
END_TEST

START_TEST(test_guest_powers_off)
{
	g_autofree char *id = create_ready();
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);

	/* nothing to destroy: it may be forgotten before this returns */
	ck_assert(alk_test_fake_virt_stop(f.fake, domain, ALK_VIRT_OPS_STOPPED_SHUTDOWN));
	assert_gone(id);
	/* an orderly end, not a failure: forgotten */
	ck_assert(alk_manager_lookup(f.m, id, NULL) == NULL);
}
END_TEST

/* The domain died while libvirt was away: found out when it is back. */
START_TEST(test_vanished_while_away)
{
	g_autofree char *id = create_ready();
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);
	const AlkSandbox *sb;

	alk_test_fake_virt_set_connected(f.fake, FALSE);
	ck_assert(alk_test_fake_virt_stop(f.fake, domain, ALK_VIRT_OPS_STOPPED_FAILED));
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_READY);
	alk_test_fake_virt_set_connected(f.fake, TRUE);
	g_clear_error(&(GError *){wait_for(id, ALK_SANDBOX_DESTROYED)});
	assert_gone(id);
	sb = alk_manager_lookup(f.m, id, NULL);
	ck_assert(sb != NULL && sb->state == ALK_SANDBOX_FAILED);
	ck_assert_msg(strstr(sb->error->message, "QEMU exited") != NULL, "%s", sb->error->message);
}
END_TEST

/* What the watch saw last: why a sandbox ended. */
static char *ended_why;

static void on_watch(AlkManager *m, const AlkSandbox *sb, gpointer data)
{
	if (sb->end_reason != NULL && ended_why == NULL)
		ended_why = g_strdup(sb->end_reason);
}

START_TEST(test_ttl_expiry)
{
	g_autofree char *id = create_ready();
	g_autoptr(GError) error = NULL;

	alk_manager_set_watch(f.m, on_watch, NULL);
	/* a new deadline, also written to the domain's record */
	ck_assert_msg(alk_manager_set_ttl(f.m, id, 1, &error), "%s", error ? error->message : "");
	error = wait_for(id, ALK_SANDBOX_DESTROYED);
	assert_gone(id);
	ck_assert_str_eq(ended_why != NULL ? ended_why : "-", "ttl expired");
	g_clear_pointer(&ended_why, g_free);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("manager");
	TCase *tc = tcase_create("fake-virt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_create_ready_destroy);
	tcase_add_test(tc, test_delete_while_creating);
	tcase_add_test(tc, test_boot_failure);
	tcase_add_test(tc, test_libvirt_lost_mid_create);
	tcase_add_test(tc, test_destroy_retried);
	tcase_add_test(tc, test_destroy_while_libvirt_away);
	tcase_add_test(tc, test_adopt_after_restart);
	tcase_add_test(tc, test_guest_stops);
	tcase_add_test(tc, test_guest_powers_off);
	tcase_add_test(tc, test_vanished_while_away);
	tcase_add_test(tc, test_ttl_expiry);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
