/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The sandbox manager over the fake backend (alk-test-fake-virt.h): the
 * real manager, overlays and agent channel, with the guest agent run on
 * the host instead of a VM. No libvirt; each case takes seconds. */
#include <check.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alk-error.h"
#include "alk-manager.h"
#include "alk-test-fake-net.h"
#include "alk-test-fake-virt.h"
#include "alk-volume.h"

#define WAIT_S 20

typedef struct {
	char *root; /* image/, state/, run/ */
	AlkConfig *config;
	AlkTestFakeVirt *fake;
	AlkTestFakeNet *net;
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
/* A build of image tiny, made current: its files are never booted.
 * user: its default user, or NULL; exec: its "exec" member's JSON, or NULL. */
static void make_build_with(const char *root, const char *id, const char *user, const char *exec)
{
	g_autofree char *top = g_build_filename(root, "image", "tiny", NULL);
	g_autofree char *dir = g_build_filename(top, "builds", id, NULL);
	g_autofree char *current = g_build_filename(top, "current", NULL);
	g_autofree char *next = g_build_filename(top, ".current-new", NULL);
	g_autofree char *target = g_strconcat("builds/", id, NULL);
	g_autofree char *rootfs = g_build_filename(dir, "rootfs.qcow2", NULL);
	const char *qemu_img[] = {"qemu-img", "create", "-q", "-f", "qcow2", rootfs, "64M", NULL};
	g_autofree char *json = g_strdup_printf(
	    "{\"format_version\":2,\"name\":\"tiny\",\"arch\":\"x86_64\",\"kernel\":\"vmlinuz\","
	    "\"initrd\":\"initrd.img\",\"rootfs\":\"rootfs.qcow2\",\"rootfs_virtual_mib\":64,"
	    "\"cmdline\":\"quiet\",\"kernel_version\":\"0\",\"agent_version\":\"airlock-agent\","
	    "\"agent_sha256\":\"" /* 64 hex */
	    "0000000000000000000000000000000000000000000000000000000000000000\","
	    "\"built_at\":\"2026-01-01T00:00:00Z\",\"build_id\":\"%s\",%s%s%s%s%s%s"
	    "\"source\":{\"kind\":\"minimal\"}}",
	    id, user != NULL ? "\"default_user\":\"" : "", user != NULL ? user : "",
	    user != NULL ? "\"," : "", exec != NULL ? "\"exec\":" : "", exec != NULL ? exec : "",
	    exec != NULL ? "," : "");
	const char *files[] = {"vmlinuz", "initrd.img", "image.json"};

	ck_assert_int_eq(g_mkdir_with_parents(dir, 0755), 0);
	for (guint i = 0; i < G_N_ELEMENTS(files); i++) {
		g_autofree char *path = g_build_filename(dir, files[i], NULL);
		ck_assert(g_file_set_contents(path, i == 2 ? json : "", -1, NULL));
		ck_assert_int_eq(g_chmod(path, 0444), 0);
	}
	run(qemu_img);
	ck_assert_int_eq(g_chmod(rootfs, 0444), 0);
	/* switched as the builder does: a new link renamed over the old */
	ck_assert_int_eq(symlink(target, next), 0);
	ck_assert_int_eq(rename(next, current), 0);
}

static void make_build_as(const char *root, const char *id, const char *user)
{
	make_build_with(root, id, user, NULL);
}

static void make_build(const char *root, const char *id)
{
	make_build_as(root, id, NULL);
}

#define FIRST_BUILD "20260101T000000Z-00000000"

static char *make_image(const char *root)
{
	make_build(root, FIRST_BUILD);
	return g_build_filename(root, "image", NULL);
}

/* The fixture's configuration, with more [daemon] lines. */
static AlkConfig *config_with(const char *daemon_lines)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *data =
	    g_strdup_printf("[daemon]\nvirt_type = qemu\nstate_dir = %s/state\n"
	                    "run_dir = %s/run\nimage_dir = %s/image\ntemplate_dir = %s\n"
	                    "default_image = tiny\nboot_timeout_s = 20\n%s"
	                    "[network]\ndns_upstream = 127.0.0.1\n",
	                    f.root, f.root, f.root, ALK_SOURCE_DIR "/xml-templates", daemon_lines);
	AlkConfig *c = alk_config_load_data(data, -1, &error);

	ck_assert_msg(c != NULL, "%s", error ? error->message : "?");
	return c;
}

static void start_manager(void)
{
	g_autoptr(GError) error = NULL;
	f.m = alk_test_fake_virt_manager(f.fake, f.config);
	alk_manager_set_net_backend(f.m, &alk_test_fake_net_ops, f.net);
	ck_assert_msg(alk_manager_start(f.m, &error), "%s", error ? error->message : "?");
}

static void setup(void)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *images = NULL;

	f.root = g_dir_make_tmp("alk-mgr-XXXXXX", &error);
	ck_assert_msg(f.root != NULL, "%s", error ? error->message : "?");
	ck_assert_int_eq(g_chmod(f.root, 0755), 0);
	images = make_image(f.root);
	f.config = config_with("");
	f.fake = alk_test_fake_virt_new();
	f.net = alk_test_fake_net_new();
	start_manager();
}

static void teardown(void)
{
	const char *rm[] = {"rm", "-rf", "--one-file-system", f.root, NULL};
	alk_manager_free(f.m);
	alk_test_fake_virt_free(f.fake);
	alk_test_fake_net_free(f.net);
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

/* ---- named volumes ---- */

static void volume_made(GObject *src, GAsyncResult *res, gpointer data)
{
	*(GAsyncResult **)data = g_object_ref(res);
}

static gboolean have_result(gpointer data)
{
	return *(GAsyncResult **)data != NULL;
}

static void make_volume(const char *name)
{
	g_autoptr(GAsyncResult) res = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkVolumeInfo) v = NULL;

	alk_manager_volume_create_async(f.m, name, 16, volume_made, &res);
	ck_assert(loop_until(have_result, &res, WAIT_S));
	v = alk_manager_volume_create_finish(f.m, res, &error);
	ck_assert_msg(v != NULL, "%s", error ? error->message : "?");
	ck_assert_uint_eq(v->size_mib, 16);
}

static const AlkSandbox *create_with_volume(const char *name, gboolean readonly, GError **error)
{
	AlkSandboxRequest req = {0};

	g_strlcpy(req.volumes[0].name, name, sizeof req.volumes[0].name);
	g_strlcpy(req.volumes[0].path, "/data", sizeof req.volumes[0].path);
	req.volumes[0].readonly = readonly;
	req.nvolumes = 1;
	return alk_manager_create(f.m, &req, error);
}

static void assert_refused(const char *name, gboolean readonly, gint code)
{
	g_autoptr(GError) error = NULL;

	ck_assert(create_with_volume(name, readonly, &error) == NULL);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, code), "%s", error->message);
}

static guint holders(const char *name)
{
	g_autoptr(AlkVolumeInfo) v = alk_manager_volume_get(f.m, name, NULL);

	return v->writers->len + v->readers->len;
}

/* One writer, kept across a restart, released once its domain is gone. */
START_TEST(test_volumes_one_writer)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *id = NULL;
	g_autofree char *id2 = NULL;
	g_autofree char *id3 = NULL;
	const AlkSandbox *sb;

	make_volume("data");
	sb = create_with_volume("data", FALSE, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "");
	id = g_strdup(sb->id);
	/* claimed at create, before the guest runs */
	assert_refused("data", FALSE, ALK_ERROR_CONFLICT);
	assert_refused("data", TRUE, ALK_ERROR_CONFLICT);
	assert_refused("nosuch", TRUE, ALK_ERROR_NOT_FOUND);
	ck_assert(!alk_manager_volume_delete(f.m, "data", &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&error);
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert_msg(error == NULL, "%s", error ? error->message : "");
	/* a restarted manager reads the claim back from the record */
	alk_manager_detach(f.m);
	g_clear_pointer(&f.m, alk_manager_free);
	start_manager();
	ck_assert(alk_manager_lookup(f.m, id, NULL) != NULL);
	ck_assert_uint_eq(holders("data"), 1);
	assert_refused("data", TRUE, ALK_ERROR_CONFLICT);
	/* its end lets go */
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
	ck_assert_uint_eq(holders("data"), 0);
	/* readers together, the volume kept through it all */
	sb = create_with_volume("data", TRUE, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "");
	id2 = g_strdup(sb->id);
	sb = create_with_volume("data", TRUE, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "");
	id3 = g_strdup(sb->id);
	ck_assert_uint_eq(holders("data"), 2);
	assert_refused("data", FALSE, ALK_ERROR_CONFLICT);
	ck_assert(alk_manager_destroy(f.m, id2, NULL));
	ck_assert(alk_manager_destroy(f.m, id3, NULL));
	assert_gone(id2);
	assert_gone(id3);
	ck_assert_uint_eq(holders("data"), 0);
	ck_assert(alk_manager_volume_delete(f.m, "data", &error));
	ck_assert(alk_manager_volume_get(f.m, "data", NULL) == NULL);
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

/* ---- networked sandboxes (the fake net: plans recorded, not run) ---- */

static char *create_networked(AlkNetMode mode, const char *allow0)
{
	char *allow[] = {(char *)allow0, NULL};
	AlkSandboxRequest req = {.network = mode, .allow = allow0 != NULL ? allow : NULL};
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = alk_manager_create(f.m, &req, &error);
	char *id;

	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	id = g_strdup(sb->id);
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert_msg(error == NULL, "not ready: %s", error ? error->message : "");
	return id;
}

static char *ns_of(const char *id)
{
	return g_strconcat("al", id, NULL);
}

START_TEST(test_network_made_and_removed)
{
	g_autofree char *id = create_networked(ALK_NET_ALLOWLIST, "192.0.2.0/24");
	g_autofree char *ns = ns_of(id);
	g_autofree char *add = g_strconcat("ip netns add ", ns, NULL);
	g_autofree char *del = g_strconcat("ip netns del ", ns, NULL);
	gint setup, attach, teardown;

	/* made in order: namespace and rules, then the tap moved in */
	setup = alk_test_fake_net_find(f.net, 0, add);
	ck_assert_int_ge(setup, 0);
	attach = alk_test_fake_net_find(f.net, (guint)setup + 1, "netns al");
	ck_assert_int_gt(attach, setup);
	ck_assert(alk_test_fake_net_has(f.net, ns));
	ck_assert(alk_test_fake_net_find(f.net, 0, del) < 0);
	ck_assert_str_eq(alk_manager_lookup(f.m, id, NULL)->net.allow[0], "192.0.2.0/24");
	/* and removed once the domain is gone, with the files after it */
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	g_clear_error(&(GError *){wait_for(id, ALK_SANDBOX_DESTROYED)});
	assert_gone(id);
	teardown = alk_test_fake_net_find(f.net, 0, del);
	ck_assert_int_gt(teardown, attach);
	ck_assert(!alk_test_fake_net_has(f.net, ns));
}
END_TEST

/* A manager call's answer, and an exec's. */
typedef struct {
	gboolean done;
	gboolean ok;
	GError *error;
	guint8 out[64];
	gsize out_len;
	gint exit_code;
} Op;

static gboolean op_done(gpointer data)
{
	return ((Op *)data)->done;
}

static void changed(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	op->done = TRUE;
	op->ok = alk_manager_set_network_finish(f.m, res, &op->error);
}

static gboolean net_held(gpointer data)
{
	return alk_test_fake_net_held(f.net) > 0;
}

/* Runs the loop until nothing is pending: what can happen without the held
 * plan has happened. */
static void loop_idle(void)
{
	while (g_main_context_iteration(NULL, FALSE))
		;
}

START_TEST(test_network_change_during_delete)
{
	g_autofree char *id = create_networked(ALK_NET_ALLOWLIST, "192.0.2.0/24");
	g_autofree char *ns = ns_of(id);
	g_autofree char *domain = g_strconcat("airlock-", id, NULL);
	g_autofree char *del = g_strconcat("ip netns del ", ns, NULL);
	const char *allow[] = {"198.51.100.0/24", NULL};
	Op c = {0};
	guint plans;

	alk_test_fake_net_hold(f.net, TRUE);
	alk_manager_set_network_async(f.m, id, allow, changed, &c);
	ck_assert(loop_until(net_held, NULL, WAIT_S)); /* the new rules are loading */
	plans = alk_test_fake_net_plans(f.net)->len;
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_STOPPING);
	/* the end waits for the rules: nothing is destroyed or deleted meanwhile */
	loop_idle();
	ck_assert(!c.done);
	ck_assert_uint_eq(alk_test_fake_virt_destroys(f.fake), 0);
	ck_assert(alk_test_fake_virt_has(f.fake, domain));
	ck_assert_uint_eq(alk_test_fake_net_plans(f.net)->len, plans);
	/* the rules load: the change is answered once, then the end goes on */
	alk_test_fake_net_hold(f.net, FALSE);
	ck_assert(loop_until(op_done, &c, WAIT_S));
	ck_assert(!c.ok);
	ck_assert_msg(g_error_matches(c.error, ALK_ERROR, ALK_ERROR_ENDED), "%s",
	              c.error ? c.error->message : "no error");
	g_clear_error(&c.error);
	assert_gone(id);
	ck_assert(alk_test_fake_net_find(f.net, plans, del) >= (gint)plans);
	ck_assert(!alk_test_fake_net_has(f.net, ns));
	ck_assert(alk_manager_lookup(f.m, id, NULL) == NULL);
}
END_TEST

START_TEST(test_network_change_refused_twice)
{
	g_autofree char *id = create_networked(ALK_NET_ALLOWLIST, "192.0.2.0/24");
	const char *allow[] = {"198.51.100.0/24", NULL};
	Op a = {0}, b = {0};

	alk_test_fake_net_hold(f.net, TRUE);
	alk_manager_set_network_async(f.m, id, allow, changed, &a);
	alk_manager_set_network_async(f.m, id, allow, changed, &b);
	ck_assert(loop_until(op_done, &b, WAIT_S));
	ck_assert(!b.ok && g_error_matches(b.error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&b.error);
	alk_test_fake_net_hold(f.net, FALSE);
	ck_assert(loop_until(op_done, &a, WAIT_S));
	ck_assert_msg(a.ok, "%s", a.error ? a.error->message : "?");
	ck_assert_str_eq(alk_manager_lookup(f.m, id, NULL)->net.allow[0], "198.51.100.0/24");
	ck_assert_uint_eq(alk_manager_lookup(f.m, id, NULL)->net.generation, 1);
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
}
END_TEST

START_TEST(test_network_setup_fails)
{
	AlkSandboxRequest req = {.network = ALK_NET_ISOLATED};
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;
	g_autofree char *id = NULL;
	g_autofree char *ns = NULL;
	g_autofree char *del = NULL;

	alk_test_fake_net_fail_next(f.net, "fake: RTNETLINK answers: File exists");
	sb = alk_manager_create(f.m, &req, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	id = g_strdup(sb->id);
	ns = ns_of(id);
	del = g_strconcat("ip netns del ", ns, NULL);
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert(error != NULL && strstr(error->message, "network: fake: RTNETLINK") != NULL);
	assert_gone(id);
	/* no domain was made; what the half-run plan may have left is removed */
	ck_assert_uint_eq(alk_test_fake_virt_destroys(f.fake), 0);
	ck_assert_int_ge(alk_test_fake_net_find(f.net, 0, del), 0);
}
END_TEST

START_TEST(test_network_adopted)
{
	g_autofree char *id = create_networked(ALK_NET_ISOLATED, NULL);
	g_autofree char *ns = ns_of(id);
	g_autoptr(GError) error = NULL;

	alk_manager_free(f.m); /* the sandbox lives on */
	start_manager();
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert_msg(error == NULL, "%s", error ? error->message : "");
	ck_assert(alk_manager_lookup(f.m, id, NULL)->adopted);
	ck_assert(alk_test_fake_net_has(f.net, ns));
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
	ck_assert(!alk_test_fake_net_has(f.net, ns));
}
END_TEST

/* ---- pause and resume ---- */

static void op_paused(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	op->done = TRUE;
	op->ok = alk_manager_pause_finish(f.m, res, &op->error);
}

/* Pauses (or resumes) id and waits for the answer: NULL, or its error. */
static GError *pause_now(const char *id, gboolean pause)
{
	Op op = {0};

	alk_manager_pause_async(f.m, id, pause, op_paused, &op);
	ck_assert(loop_until(op_done, &op, WAIT_S));
	ck_assert(op.ok == (op.error == NULL));
	return op.error;
}

/* ---- screen and input (the fake has no screen; QEMU's answers are its) ---- */

static void op_input(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	op->done = TRUE;
	op->ok = alk_manager_input_finish(f.m, res, &op->error);
}

static void op_shot(GObject *src, GAsyncResult *res, gpointer data)
{
	Op *op = data;
	g_autoptr(AlkScreenshot) shot = alk_manager_screenshot_finish(f.m, res, &op->error);
	op->done = TRUE;
	op->ok = shot != NULL;
}

static GError *input_now(const char *id, const AlkInputEvent *ev, guint n)
{
	Op op = {0};

	alk_manager_input_async(f.m, id, ev, n, op_input, &op);
	ck_assert(loop_until(op_done, &op, WAIT_S));
	ck_assert(op.ok == (op.error == NULL));
	return op.error;
}

static GError *shot_now(const char *id)
{
	Op op = {0};

	alk_manager_screenshot_async(f.m, id, NULL, op_shot, &op);
	ck_assert(loop_until(op_done, &op, WAIT_S));
	return op.error;
}

START_TEST(test_screen_and_input)
{
	g_autofree char *plain = create_ready();
	AlkSandboxRequest req = {.display_width = 1024, .display_height = 768};
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = alk_manager_create(f.m, &req, &error);
	g_autofree char *id = NULL;
	const AlkInputEvent move = {.kind = ALK_INPUT_ABS, .x = 100, .y = 200, .px = 3, .py = 7};

	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	id = g_strdup(sb->id);
	/* not ready yet, or without a display: refused, saying why */
	error = input_now(id, &move, 1);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&error);
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert(error == NULL);
	error = input_now(plain, &move, 1);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	ck_assert_msg(strstr(error->message, "has no display") != NULL, "%s", error->message);
	g_clear_error(&error);
	error = shot_now(plain);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&error);
	error = input_now("0123456789ab", &move, 1);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_NOT_FOUND));
	g_clear_error(&error);
	error = input_now(id, &move, 0);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	/* a move lands: the sandbox knows where the pointer is */
	sb = alk_manager_lookup(f.m, id, NULL);
	ck_assert(!sb->cursor_known);
	ck_assert(input_now(id, &move, 1) == NULL);
	sb = alk_manager_lookup(f.m, id, NULL);
	ck_assert(sb->cursor_known && sb->cursor_x == 3 && sb->cursor_y == 7);
	/* the backend's failure is the call's */
	error = shot_now(id);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_FAILED));
	ck_assert(alk_manager_destroy(f.m, id, NULL) && alk_manager_destroy(f.m, plain, NULL));
	assert_gone(id);
	assert_gone(plain);
}
END_TEST

static void exec_output(AlkTask *task, int stream, const guint8 *data, gsize len,
                        gpointer user_data)
{
	Op *op = user_data;
	gsize n = MIN(len, sizeof(op->out) - op->out_len);
	memcpy(op->out + op->out_len, data, n);
	op->out_len += n;
}

static void exec_done(AlkTask *task, const AlkTaskResult *result, gpointer user_data)
{
	Op *op = user_data;
	op->done = op->ok = TRUE;
	op->exit_code = result->exit != NULL ? (gint)result->exit->exit_code : -1;
}

static void exec_failed(AlkTask *task, const GError *error, gpointer user_data)
{
	Op *op = user_data;
	op->done = TRUE;
	op->error = g_error_copy(error);
}

static const AlkTaskCallbacks exec_cb = {
    .output = exec_output, .done = exec_done, .failed = exec_failed};

/* Runs `echo word` in id: NULL (and the output checked), or why it could not start. */
static GError *echo_in(const char *id, const char *word)
{
	AlkMsgExec msg = {.argv = {"/bin/echo", word, NULL}, .argc = 2};
	g_autofree char *want = g_strconcat(word, "\n", NULL);
	GError *error = NULL;
	Op op = {0};

	if (alk_manager_exec(f.m, id, &msg, &exec_cb, &op, &error) == NULL)
		return error;
	ck_assert(loop_until(op_done, &op, WAIT_S));
	ck_assert_msg(op.ok, "exec failed: %s", op.error ? op.error->message : "?");
	ck_assert_int_eq(op.exit_code, 0);
	ck_assert_uint_eq(op.out_len, strlen(want));
	ck_assert(memcmp(op.out, want, op.out_len) == 0);
	return NULL;
}

START_TEST(test_pause_resume)
{
	g_autofree char *id = create_ready();
	g_autoptr(GError) error = NULL;

	ck_assert(echo_in(id, "before") == NULL);
	ck_assert(pause_now(id, TRUE) == NULL);
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_PAUSED);
	/* refused while paused, saying so */
	error = echo_in(id, "during");
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	ck_assert_msg(strstr(error->message, "paused") != NULL, "%s", error->message);
	g_clear_error(&error);
	/* pausing twice, resuming what runs: refused, nothing changed */
	error = pause_now(id, TRUE);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&error);
	ck_assert(pause_now(id, FALSE) == NULL);
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_READY);
	error = pause_now(id, FALSE);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&error);
	ck_assert(echo_in(id, "after") == NULL);
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
}
END_TEST

START_TEST(test_pause_refused_while_busy)
{
	g_autofree char *id = create_ready();
	AlkMsgExec msg = {.argv = {"/bin/sleep", "30", NULL}, .argc = 2};
	g_autoptr(GError) error = NULL;
	Op op = {0};

	ck_assert(alk_manager_exec(f.m, id, &msg, &exec_cb, &op, &error) != NULL);
	error = pause_now(id, TRUE);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	ck_assert_msg(strstr(error->message, "in flight") != NULL, "%s", error->message);
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_READY);
	/* the delete ends the command with its one callback */
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	ck_assert(loop_until(op_done, &op, WAIT_S));
	ck_assert(g_error_matches(op.error, ALK_ERROR, ALK_ERROR_ENDED));
	g_clear_error(&op.error);
	assert_gone(id);
}
END_TEST

START_TEST(test_delete_while_paused)
{
	g_autofree char *id = create_ready();

	ck_assert(pause_now(id, TRUE) == NULL);
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	g_clear_error(&(GError *){wait_for(id, ALK_SANDBOX_DESTROYED)});
	assert_gone(id);
	ck_assert_uint_eq(alk_test_fake_virt_count(f.fake), 0);
}
END_TEST

START_TEST(test_paused_adopted)
{
	g_autofree char *id = create_ready();
	g_autoptr(GError) error = NULL;

	ck_assert(pause_now(id, TRUE) == NULL);
	alk_manager_free(f.m); /* the sandbox lives on, paused */
	start_manager();
	ck_assert_int_eq(alk_manager_lookup(f.m, id, NULL)->state, ALK_SANDBOX_PAUSED);
	ck_assert(alk_manager_lookup(f.m, id, NULL)->adopted);
	error = echo_in(id, "during");
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	g_clear_error(&error);
	/* resumed, its agent answers again before it is ready */
	ck_assert(pause_now(id, FALSE) == NULL);
	error = wait_for(id, ALK_SANDBOX_READY);
	ck_assert_msg(error == NULL, "%s", error ? error->message : "");
	ck_assert(echo_in(id, "after") == NULL);
	ck_assert(alk_manager_destroy(f.m, id, NULL));
	assert_gone(id);
}
END_TEST

START_TEST(test_paused_ends)
{
	g_autofree char *a = create_ready();
	g_autofree char *b = create_ready();
	g_autofree char *dom = g_strconcat("airlock-", b, NULL);
	g_autoptr(GError) error = NULL;

	/* the TTL runs on while paused: it ends a paused sandbox like any other */
	ck_assert(pause_now(a, TRUE) == NULL);
	ck_assert(alk_manager_set_ttl(f.m, a, 1, &error));
	g_clear_error(&(GError *){wait_for(a, ALK_SANDBOX_DESTROYED)});
	assert_gone(a);
	/* QEMU dying under a paused sandbox fails it, and nothing is left */
	ck_assert(pause_now(b, TRUE) == NULL);
	ck_assert(alk_test_fake_virt_stop(f.fake, dom, ALK_VIRT_OPS_STOPPED_FAILED));
	ck_assert(loop_until(gone, b, WAIT_S));
	ck_assert_int_eq(alk_manager_lookup(f.m, b, NULL)->state, ALK_SANDBOX_FAILED);
}
END_TEST

/* ---- the warm pool ---- */

/* The manager again, under a configuration with these [daemon] lines. */
static void restart_with(const char *daemon_lines)
{
	alk_manager_free(f.m);
	alk_config_free(f.config);
	f.config = config_with(daemon_lines);
	start_manager();
}

typedef struct {
	guint ready, other; /* members ready, members not yet */
} PoolCount;

static PoolCount pool_count(void)
{
	g_autoptr(GPtrArray) all = alk_manager_list(f.m);
	PoolCount c = {0};

	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);
		if (sb->pool == NULL || !alk_sandbox_is_live(sb) ||
		    sb->state == ALK_SANDBOX_STOPPING)
			continue;
		if (sb->state == ALK_SANDBOX_READY)
			c.ready++;
		else
			c.other++;
	}
	return c;
}

static gboolean pool_ready_at(gpointer data)
{
	PoolCount c = pool_count();
	return c.ready == GPOINTER_TO_UINT(data) && c.other == 0;
}

static void assert_pool_ready(guint n)
{
	ck_assert_msg(loop_until(pool_ready_at, GUINT_TO_POINTER(n), WAIT_S),
	              "the pool never held %u ready members (%u ready, %u not)", n,
	              pool_count().ready, pool_count().other);
}

START_TEST(test_pool_hands_out_once)
{
	g_autoptr(GHashTable) labels = g_hash_table_new(g_str_hash, g_str_equal);
	AlkSandboxRequest req = {.labels = labels, .ttl_s = 120};
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;
	g_autofree char *a = NULL;
	gint64 now;

	restart_with("pool = tiny/development:2\n");
	assert_pool_ready(2);
	g_hash_table_insert(labels, "job", "42");
	now = g_get_real_time() / G_USEC_PER_SEC;
	sb = alk_manager_create(f.m, &req, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	/* at once: ready, handed out, the request's TTL and labels from now */
	ck_assert_int_eq(sb->state, ALK_SANDBOX_READY);
	ck_assert(sb->warm && sb->pool == NULL);
	ck_assert_int_ge(sb->deadline, now + 120);
	ck_assert_int_le(sb->deadline, now + 122);
	ck_assert_str_eq(g_hash_table_lookup(sb->labels, "job"), "42");
	a = g_strdup(sb->id);
	ck_assert(echo_in(a, "warm") == NULL);
	/* the pool fills again; the next create gets another member */
	assert_pool_ready(2);
	sb = alk_manager_create(f.m, &(AlkSandboxRequest){0}, &error);
	ck_assert(sb != NULL && sb->warm && strcmp(sb->id, a) != 0);
	/* another shape is made cold */
	sb = alk_manager_create(f.m, &(AlkSandboxRequest){.memory_mib = 256}, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	ck_assert(!sb->warm && sb->state == ALK_SANDBOX_CREATING);
}
END_TEST

static gboolean one_domain(gpointer data)
{
	return alk_test_fake_virt_count(f.fake) == 1;
}

START_TEST(test_pool_adopted_after_restart)
{
	g_autofree char *taken = NULL;
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	restart_with("pool = tiny/development:1\n");
	assert_pool_ready(1);
	/* its record still says "member" when the daemon restarts: the mark
	 * in its state dir says otherwise */
	alk_test_fake_virt_fail_set_record(f.fake, 1);
	sb = alk_manager_create(f.m, &(AlkSandboxRequest){0}, &error);
	ck_assert(sb != NULL && sb->warm);
	taken = g_strdup(sb->id);
	assert_pool_ready(1);
	/* a restart: the member stays a member, the one handed out stays out */
	restart_with("pool = tiny/development:1\n");
	assert_pool_ready(1);
	ck_assert_msg(wait_for(taken, ALK_SANDBOX_READY) == NULL, "taken one not adopted");
	sb = alk_manager_lookup(f.m, taken, NULL);
	ck_assert(sb->adopted && sb->warm && sb->pool == NULL);
	ck_assert_uint_eq(alk_test_fake_virt_count(f.fake), 2);
	/* without the key, the member goes; the one handed out stays */
	restart_with("");
	ck_assert(loop_until(one_domain, NULL, WAIT_S));
	ck_assert(alk_manager_lookup(f.m, taken, NULL) != NULL);
}
END_TEST

START_TEST(test_pool_makes_room)
{
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	restart_with("max_sandboxes = 2\npool = tiny/development:2\n");
	assert_pool_ready(2);
	/* another shape at capacity: a member goes to make room */
	sb = alk_manager_create(f.m, &(AlkSandboxRequest){.memory_mib = 256}, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	ck_assert(!sb->warm);
	ck_assert_msg(wait_for(sb->id, ALK_SANDBOX_READY) == NULL, "cold one not ready");
	/* the pool refills only as far as room allows: one member */
	assert_pool_ready(1);
	ck_assert_uint_le(alk_manager_count_live(f.m), 2);
}
END_TEST

#define SECOND_BUILD "20260202T000000Z-00000001"

static void rebuild_image(void)
{
	make_build(f.root, SECOND_BUILD);
}

static gboolean pool_of_build(gpointer data)
{
	g_autoptr(GPtrArray) all = alk_manager_list(f.m);
	guint n = 0;

	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);
		if (sb->pool != NULL && alk_sandbox_is_live(sb))
			n += sb->state == ALK_SANDBOX_READY && g_strcmp0(sb->build, data) == 0
			         ? 1
			         : 100;
	}
	return n == 1;
}

START_TEST(test_pool_replaced_on_rebuild)
{
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;
	g_autofree char *old = NULL;

	restart_with("pool = tiny/development:1\n");
	assert_pool_ready(1);
	rebuild_image();
	/* a member of the old build is not handed out; the take replaces it */
	sb = alk_manager_create(f.m, &(AlkSandboxRequest){0}, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	ck_assert(!sb->warm);
	ck_assert_str_eq(sb->build, SECOND_BUILD);
	ck_assert(loop_until(pool_of_build, SECOND_BUILD, WAIT_S));
}
END_TEST

/* ---- boot once, restore many ---- */

static gboolean count_is(gpointer data)
{
	return alk_test_fake_virt_count(f.fake) == GPOINTER_TO_UINT(data);
}

/* The frozen layers under state/templates now. */
static guint frozen_layers(void)
{
	g_autofree char *root = g_build_filename(f.root, "state", "templates", NULL);
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	const char *name;
	guint n = 0;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *frozen = g_build_filename(root, name, "frozen.qcow2", NULL);
		struct stat st;
		if (stat(frozen, &st) == 0) {
			/* root's and read-only */
			ck_assert_uint_eq(st.st_mode & 07777, 0444);
			ck_assert_uint_eq(st.st_uid, 0);
			n++;
		}
	}
	return n;
}

/* n templates saved and frozen: handed out from now on (their state
 * changes in the same turn of the loop as their layer freezes). */
static gboolean frozen_is(gpointer data)
{
	return frozen_layers() == GPOINTER_TO_UINT(data);
}

/* The backing file qemu-img reads from id's overlay. */
static char *overlay_backing(const char *id)
{
	g_autofree char *overlay =
	    g_build_filename(f.root, "state", "sandboxes", id, "overlay.qcow2", NULL);
	const char *argv[] = {"qemu-img", "info", "-U", "--output=json", overlay, NULL};
	g_autofree char *out = NULL;
	int status = 0;
	const char *p, *q;

	ck_assert(g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out,
	                       NULL, &status, NULL));
	p = strstr(out, "\"backing-filename\": \"");
	ck_assert_msg(p != NULL, "%s", out);
	p += strlen("\"backing-filename\": \"");
	q = strchr(p, '"');
	return g_strndup(p, (gsize)(q - p));
}

START_TEST(test_restore_template_once)
{
	g_autofree char *cold = NULL;
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	g_autofree char *backing = NULL;

	restart_with("restore = true\n");
	/* the first of its shape boots cold; its template boots beside it */
	cold = create_ready();
	ck_assert_uint_eq(alk_test_fake_virt_restores(f.fake), 0);
	ck_assert(loop_until(frozen_is, GUINT_TO_POINTER(1), WAIT_S));
	ck_assert_uint_eq(alk_test_fake_virt_saves(f.fake), 1);
	/* the maker is gone, and was never listed */
	ck_assert(loop_until(count_is, GUINT_TO_POINTER(1), WAIT_S));
	/* clones: restored and renewed (ready only after RENEW and a new HELLO) */
	a = create_ready();
	b = create_ready();
	ck_assert_uint_eq(alk_test_fake_virt_restores(f.fake), 2);
	ck_assert_uint_eq(alk_test_fake_virt_saves(f.fake), 1);
	backing = overlay_backing(a);
	ck_assert_msg(g_str_has_suffix(backing, "/frozen.qcow2"), "%s", backing);
	/* a clone's end frees its own overlay only */
	ck_assert(alk_manager_destroy(f.m, a, NULL));
	assert_gone(a);
	ck_assert_uint_eq(frozen_layers(), 1);
	ck_assert(alk_manager_destroy(f.m, b, NULL));
	assert_gone(b);
	ck_assert_uint_eq(frozen_layers(), 1);
}
END_TEST

START_TEST(test_restore_rebuilt)
{
	g_autofree char *cold = NULL;
	g_autofree char *clone = NULL;
	g_autofree char *next = NULL;
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	restart_with("restore = true\n");
	cold = create_ready();
	ck_assert(loop_until(frozen_is, GUINT_TO_POINTER(1), WAIT_S));
	clone = create_ready();
	ck_assert_uint_eq(alk_test_fake_virt_restores(f.fake), 1);
	rebuild_image();
	/* the new build boots cold and gets a template of its own; the old
	 * one stays while its clone lives, then goes */
	next = create_ready();
	sb = alk_manager_lookup(f.m, next, &error);
	ck_assert_str_eq(sb->build, SECOND_BUILD);
	ck_assert_uint_eq(alk_test_fake_virt_restores(f.fake), 1);
	ck_assert(loop_until(frozen_is, GUINT_TO_POINTER(2), WAIT_S));
	ck_assert_uint_eq(alk_test_fake_virt_saves(f.fake), 2);
	ck_assert(alk_manager_destroy(f.m, clone, NULL));
	assert_gone(clone);
	ck_assert_uint_eq(frozen_layers(), 1);
}
END_TEST

START_TEST(test_restore_falls_back)
{
	g_autofree char *cold = NULL;
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	g_autofree char *backing = NULL;

	restart_with("restore = true\n");
	cold = create_ready();
	ck_assert(loop_until(frozen_is, GUINT_TO_POINTER(1), WAIT_S));
	/* a restore that fails: the sandbox boots cold on the base all the same */
	alk_test_fake_virt_fail_restore(f.fake, 1);
	a = create_ready();
	ck_assert_uint_eq(alk_test_fake_virt_restores(f.fake), 0);
	backing = overlay_backing(a);
	ck_assert_msg(g_str_has_suffix(backing, "/rootfs.qcow2"), "%s", backing);
	/* that template is gone and not used again: the next boots cold as
	 * well, while a new one is made */
	b = create_ready();
	ck_assert_uint_eq(alk_test_fake_virt_restores(f.fake), 0);
	ck_assert(loop_until(frozen_is, GUINT_TO_POINTER(1), WAIT_S));
	ck_assert_uint_eq(alk_test_fake_virt_saves(f.fake), 2);
}
END_TEST

/* ---- a node of a cluster ---- */

START_TEST(test_capacity_and_full)
{
	g_autofree char *a = NULL;
	g_autofree char *b = NULL;
	g_autoptr(GError) error = NULL;

	restart_with("max_sandboxes = 2\n");
	ck_assert_uint_ge(alk_manager_capacity_pct(f.m), 1);
	a = create_ready();
	ck_assert_uint_le(alk_manager_capacity_pct(f.m), 50);
	b = create_ready();
	ck_assert_uint_eq(alk_manager_capacity_pct(f.m), 0);
	/* refused as full, before anything is made */
	ck_assert(alk_manager_create(f.m, &(AlkSandboxRequest){0}, &error) == NULL);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_FULL), "%s", error->message);
	ck_assert_uint_eq(alk_test_fake_virt_count(f.fake), 2);
	ck_assert(alk_manager_destroy(f.m, a, NULL));
	assert_gone(a);
	ck_assert_uint_ge(alk_manager_capacity_pct(f.m), 1);
	/* without libvirt there is no room at all */
	alk_test_fake_virt_set_connected(f.fake, FALSE);
	ck_assert_uint_eq(alk_manager_capacity_pct(f.m), 0);
	alk_test_fake_virt_set_connected(f.fake, TRUE);
}
END_TEST

START_TEST(test_node_tag)
{
	g_autofree char *id = NULL;
	g_autoptr(GError) error = NULL;

	alk_manager_free(f.m);
	alk_config_free(f.config);
	f.config = config_with("");
	g_free(f.config->cluster.node);
	f.config->cluster.node = g_strdup("0a");
	start_manager();
	id = create_ready();
	ck_assert_msg(g_str_has_prefix(id, "0a"), "%s", id);
	/* another node's id: not here, and said so */
	ck_assert(alk_manager_lookup(f.m, "0b0000000000", &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_NOT_FOUND));
	ck_assert_msg(strstr(error->message, "node 0b's, this is node 0a") != NULL, "%s",
	              error->message);
	g_clear_error(&error);
	/* the same host under another tag while it holds a sandbox: refused */
	alk_manager_free(f.m);
	g_free(f.config->cluster.node);
	f.config->cluster.node = g_strdup("0c");
	f.m = alk_test_fake_virt_manager(f.fake, f.config);
	alk_manager_set_net_backend(f.m, &alk_test_fake_net_ops, f.net);
	ck_assert(!alk_manager_start(f.m, &error));
	ck_assert_msg(strstr(error->message, "does not carry this node's tag") != NULL, "%s",
	              error->message);
	g_clear_error(&error);
	/* back under its own tag it adopts the sandbox */
	alk_manager_free(f.m);
	g_free(f.config->cluster.node);
	f.config->cluster.node = g_strdup("0a");
	start_manager();
	ck_assert_msg(wait_for(id, ALK_SANDBOX_READY) == NULL, "not adopted");
}
END_TEST

/* ---- who an exec runs as ---- */

/* Runs `sh -c script` in id as msg says; its output, or NULL with *error. */
static char *sh_in(const char *id, const char *user, const char *script, GError **error)
{
	AlkMsgExec msg = {.argv = {"/bin/sh", "-c", script, NULL}, .argc = 3, .user = user};
	Op op = {0};

	if (alk_manager_exec(f.m, id, &msg, &exec_cb, &op, error) == NULL)
		return NULL;
	ck_assert(loop_until(op_done, &op, WAIT_S));
	ck_assert_msg(op.ok, "exec failed: %s", op.error ? op.error->message : "?");
	return g_strndup((const char *)op.out, op.out_len);
}

START_TEST(test_exec_default_user)
{
	g_autofree char *id = NULL;
	g_autofree char *prod = NULL;
	g_autofree char *out = NULL;
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb;

	/* the image says who: its default user, unless the exec says otherwise */
	make_build_as(f.root, SECOND_BUILD, "nobody");
	id = create_ready();
	ck_assert_str_eq(alk_manager_lookup(f.m, id, NULL)->default_user, "nobody");
	out = sh_in(id, NULL, "id -u; grep NoNewPrivs /proc/self/status | tr -d '\\t'", &error);
	ck_assert_str_eq(out, "65534\nNoNewPrivs:1\n");
	g_free(out);
	out = sh_in(id, "0", "id -u", &error);
	ck_assert_str_eq(out, "0\n");
	/* production: root refused, naming the profile */
	sb = alk_manager_create(f.m, &(AlkSandboxRequest){.profile = "production"}, &error);
	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	prod = g_strdup(sb->id);
	ck_assert(wait_for(prod, ALK_SANDBOX_READY) == NULL);
	ck_assert(sh_in(prod, "root", "id -u", &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_DENIED));
	ck_assert_msg(strstr(error->message, "profile production") != NULL, "%s", error->message);
}
END_TEST

START_TEST(test_exec_image_defaults)
{
	g_autofree char *id = NULL;
	g_autofree char *out = NULL;
	g_autoptr(GError) error = NULL;
	AlkMsgExec msg = {.argc = 0};
	Op op = {0};

	make_build_with(f.root, SECOND_BUILD, NULL,
	                "{\"env\":[\"GREETING=from the image\",\"KEPT=1\"],\"cwd\":\"/tmp\","
	                "\"argv\":[\"/bin/sh\",\"-c\",\"echo $GREETING $KEPT; pwd\"]}");
	id = create_ready();
	/* no argv: the image's command, in its cwd, with its environment */
	ck_assert(alk_manager_exec(f.m, id, &msg, &exec_cb, &op, &error) != NULL);
	ck_assert(loop_until(op_done, &op, WAIT_S));
	ck_assert_msg(op.ok, "%s", op.error ? op.error->message : "?");
	out = g_strndup((const char *)op.out, op.out_len);
	ck_assert_str_eq(out, "from the image 1\n/tmp\n");
	g_clear_pointer(&out, g_free);
	/* the exec's own env and cwd win */
	{
		AlkMsgExec m2 = {.argv = {"/bin/sh", "-c", "echo $GREETING $KEPT; pwd", NULL},
		                 .argc = 3,
		                 .env = {"GREETING=mine", NULL},
		                 .envc = 1,
		                 .cwd = "/"};
		Op o2 = {0};
		ck_assert(alk_manager_exec(f.m, id, &m2, &exec_cb, &o2, &error) != NULL);
		ck_assert(loop_until(op_done, &o2, WAIT_S));
		out = g_strndup((const char *)o2.out, o2.out_len);
		ck_assert_str_eq(out, "mine 1\n/\n");
	}
	/* kept across a restart (the sandbox's state dir) */
	alk_manager_free(f.m);
	start_manager();
	ck_assert(wait_for(id, ALK_SANDBOX_READY) == NULL);
	ck_assert_str_eq(alk_manager_lookup(f.m, id, NULL)->exec_argv[0], "/bin/sh");
	ck_assert_str_eq(alk_manager_lookup(f.m, id, NULL)->exec_cwd, "/tmp");
}
END_TEST

START_TEST(test_exec_no_default_command)
{
	g_autofree char *id = create_ready();
	g_autoptr(GError) error = NULL;
	AlkMsgExec msg = {.argc = 0};
	Op op = {0};

	ck_assert(alk_manager_exec(f.m, id, &msg, &exec_cb, &op, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, "no default command") != NULL, "%s", error->message);
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
	tcase_add_test(tc, test_volumes_one_writer);
	tcase_add_test(tc, test_guest_stops);
	tcase_add_test(tc, test_guest_powers_off);
	tcase_add_test(tc, test_vanished_while_away);
	tcase_add_test(tc, test_ttl_expiry);
	tcase_add_test(tc, test_network_made_and_removed);
	tcase_add_test(tc, test_network_change_during_delete);
	tcase_add_test(tc, test_network_change_refused_twice);
	tcase_add_test(tc, test_network_setup_fails);
	tcase_add_test(tc, test_network_adopted);
	tcase_add_test(tc, test_pause_resume);
	tcase_add_test(tc, test_screen_and_input);
	tcase_add_test(tc, test_pause_refused_while_busy);
	tcase_add_test(tc, test_delete_while_paused);
	tcase_add_test(tc, test_paused_adopted);
	tcase_add_test(tc, test_paused_ends);
	tcase_add_test(tc, test_pool_hands_out_once);
	tcase_add_test(tc, test_pool_adopted_after_restart);
	tcase_add_test(tc, test_pool_makes_room);
	tcase_add_test(tc, test_pool_replaced_on_rebuild);
	tcase_add_test(tc, test_restore_template_once);
	tcase_add_test(tc, test_restore_rebuilt);
	tcase_add_test(tc, test_restore_falls_back);
	tcase_add_test(tc, test_capacity_and_full);
	tcase_add_test(tc, test_node_tag);
	tcase_add_test(tc, test_exec_default_user);
	tcase_add_test(tc, test_exec_image_defaults);
	tcase_add_test(tc, test_exec_no_default_command);
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
