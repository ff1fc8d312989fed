/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon core against a real libvirtd and real QEMU guests (TCG): the
 * sandbox lifecycle, discard on exit, limits, every way a sandbox ends, and
 * restart safety. Each test runs its own manager in-process. */
#include <check.h>
#include <libvirt/libvirt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-test-core.h"
#include "alk-test-guest.h"

static AlkTestCore *core(const char *extra)
{
	g_autoptr(GError) error = NULL;
	AlkTestCore *t = alk_test_core_new(extra, &error);
	ck_assert_msg(t != NULL, "manager: %s", error ? error->message : "?");
	return t;
}

static char *boot(AlkTestCore *t, const AlkSandboxRequest *req)
{
	AlkSandboxRequest none = {0};
	g_autoptr(GError) error = NULL;
	char *id = alk_test_core_boot(t, req != NULL ? req : &none, &error);
	ck_assert_msg(id != NULL, "boot: %s", error ? error->message : "?");
	return id;
}

/* Runs cmd; returns stdout; asserts it ran and exited 0. */
static char *sh_ok(AlkTestCore *t, const char *id, const char *cmd)
{
	AlkTestRun r;
	gboolean ok = alk_test_core_sh(t, id, cmd, &r);
	ck_assert_msg(ok, "%s: %s", cmd, r.error ? r.error->message : "?");
	ck_assert_msg(r.exit_code == 0, "%s: exit %d: %s", cmd, r.exit_code, r.err->str);
	char *out = g_strdup(r.out->str);
	alk_test_run_clear(&r);
	return out;
}

static void destroy_and_check(AlkTestCore *t, const char *id)
{
	g_autoptr(GError) error = NULL;
	ck_assert_msg(alk_manager_destroy(t->manager, id, &error), "%s",
	              error ? error->message : "");
	ck_assert(alk_test_core_wait_state(t, id, ALK_SANDBOX_DESTROYED, 120));
	ck_assert(alk_test_core_gone(t, id));
}

typedef struct {
	AlkTestCore *t;
	const char *id;
} Gone;

static gboolean is_gone(gpointer data)
{
	Gone *g = data;
	return alk_test_core_gone(g->t, g->id);
}

/* Teardown after a failure is asynchronous: wait for it. */
static void wait_gone(AlkTestCore *t, const char *id)
{
	Gone g = {t, id};
	ck_assert_msg(alk_test_loop_until(is_gone, &g, 60), "sandbox %s left something behind", id);
}

START_TEST(test_lifecycle)
{
	AlkTestCore *t = core(NULL);
	g_autofree char *id = boot(t, NULL);
	g_autofree char *out = sh_ok(t, id, "echo hi; uname -s");
	const AlkSandbox *sb = alk_manager_lookup(t->manager, id, NULL);

	ck_assert_str_eq(out, "hi\nLinux\n");
	ck_assert_int_eq(sb->state, ALK_SANDBOX_READY);
	ck_assert_str_eq(sb->image, "minimal");
	ck_assert_str_eq(sb->profile, "development");
	destroy_and_check(t, id);
	ck_assert(alk_manager_lookup(t->manager, id, NULL) == NULL);
	alk_test_core_free(t);
}
END_TEST

static char *sha256_file(const char *path)
{
	g_autofree char *data = NULL;
	gsize len;
	ck_assert(g_file_get_contents(path, &data, &len, NULL));
	return g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)data, len);
}

static gboolean file_contains(const char *path, const char *needle)
{
	g_autofree char *data = NULL;
	gsize len;
	if (!g_file_get_contents(path, &data, &len, NULL))
		return FALSE;
	return memmem(data, len, needle, strlen(needle)) != NULL;
}

START_TEST(test_discard)
{
	AlkTestCore *t = core(NULL);
	g_autofree char *base =
	    g_build_filename(alk_test_image_dir(), "minimal", "current", "rootfs.qcow2", NULL);
	g_autofree char *before = sha256_file(base);
	g_autofree char *marker =
	    g_strdup_printf("airlock-marker-%08x%08x", g_random_int(), g_random_int());
	g_autofree char *cmd = g_strdup_printf("echo %s > /root/marker && sync", marker);
	g_autofree char *id = boot(t, NULL);
	g_autofree char *overlay = g_strdup(alk_manager_lookup(t->manager, id, NULL)->overlay);
	g_autofree char *id2 = NULL;
	g_autofree char *after = NULL;
	AlkTestRun r;

	g_free(sh_ok(t, id, cmd));
	/* the write landed in this sandbox's overlay, not in the base */
	ck_assert(file_contains(overlay, marker));
	ck_assert(!file_contains(base, marker));
	destroy_and_check(t, id);
	ck_assert(!g_file_test(overlay, G_FILE_TEST_EXISTS));
	id2 = boot(t, NULL);
	ck_assert(alk_test_core_sh(t, id2, "cat /root/marker", &r));
	ck_assert_int_ne(r.exit_code, 0);
	alk_test_run_clear(&r);
	destroy_and_check(t, id2);
	after = sha256_file(base);
	ck_assert_str_eq(before, after);
	alk_test_core_free(t);
}
END_TEST

START_TEST(test_network_none)
{
	AlkTestCore *t = core(NULL);
	g_autofree char *id = boot(t, NULL);
	g_autofree char *name = g_strconcat("airlock-", id, NULL);
	virConnectPtr conn = virConnectOpen("qemu:///system");
	virDomainPtr dom = virDomainLookupByName(conn, name);
	char *xml = virDomainGetXMLDesc(dom, 0);
	g_autofree char *ifaces = sh_ok(t, id, "ls /sys/class/net");

	ck_assert(xml != NULL && strstr(xml, "<interface") == NULL);
	ck_assert(strstr(xml, "<graphics") == NULL && strstr(xml, "<sound") == NULL);
	ck_assert(strstr(xml, "<memballoon model='none'") != NULL);
	ck_assert_str_eq(ifaces, "lo\n");
	free(xml);
	virDomainFree(dom);
	virConnectClose(conn);
	destroy_and_check(t, id);
	alk_test_core_free(t);
}
END_TEST

START_TEST(test_disk_cap)
{
	AlkTestCore *t = core(NULL);
	AlkSandboxRequest req = {.disk_mib = 128};
	g_autofree char *id = boot(t, &req);
	g_autofree char *overlay = g_strdup(alk_manager_lookup(t->manager, id, NULL)->overlay);
	g_autofree char *size = sh_ok(t, id, "df -k / | awk 'NR==2 {print $2}'");
	AlkTestRun r;
	struct stat st;

	/* the root filesystem was grown to the disk, and not beyond */
	ck_assert_int_gt(atol(size), 100 * 1024);
	ck_assert_int_le(atol(size), 128 * 1024);
	ck_assert(
	    alk_test_core_sh(t, id, "dd if=/dev/zero of=/root/fill bs=1M count=400 && sync", &r));
	ck_assert_int_ne(r.exit_code, 0);
	ck_assert_msg(strstr(r.err->str, "No space left") != NULL, "%s", r.err->str);
	alk_test_run_clear(&r);
	ck_assert_int_eq(stat(overlay, &st), 0);
	ck_assert_int_le(st.st_size, (128 + 16) * 1024 * 1024);
	destroy_and_check(t, id);
	alk_test_core_free(t);
}
END_TEST

START_TEST(test_cpus_memory)
{
	AlkTestCore *t = core(NULL);
	AlkSandboxRequest req = {.cpus = 2, .memory_mib = 384};
	g_autofree char *id = boot(t, &req);
	g_autofree char *cpus = sh_ok(t, id, "grep -c ^processor /proc/cpuinfo");
	g_autofree char *mem = sh_ok(t, id, "awk '/MemTotal/ {print $2}' /proc/meminfo");

	ck_assert_str_eq(cpus, "2\n");
	/* the kernel keeps some for itself */
	ck_assert_int_gt(atol(mem), 300 * 1024);
	ck_assert_int_le(atol(mem), 384 * 1024);
	destroy_and_check(t, id);
	alk_test_core_free(t);
}
END_TEST

START_TEST(test_ttl_expiry)
{
	AlkTestCore *t = core(NULL);
	AlkSandboxRequest req = {.ttl_s = 8};
	g_autofree char *id = boot(t, &req);

	ck_assert(alk_test_core_wait_state(t, id, ALK_SANDBOX_DESTROYED, 60));
	ck_assert(alk_test_core_gone(t, id));
	alk_test_core_free(t);
}
END_TEST

START_TEST(test_guest_panic)
{
	AlkTestCore *t = core(NULL);
	g_autofree char *id = boot(t, NULL);
	AlkTestRun r;
	const AlkSandbox *sb;

	alk_test_core_sh(t, id, "echo c > /proc/sysrq-trigger", &r);
	alk_test_run_clear(&r);
	ck_assert(alk_test_core_wait_state(t, id, ALK_SANDBOX_FAILED, 60));
	sb = alk_manager_lookup(t->manager, id, NULL);
	ck_assert_msg(strstr(sb->error->message, "panicked") != NULL, "%s", sb->error->message);
	wait_gone(t, id);
	alk_test_core_free(t);
}
END_TEST

static pid_t qemu_pid(const char *id)
{
	g_autofree char *path = g_strdup_printf("/run/libvirt/qemu/airlock-%s.pid", id);
	g_autofree char *text = NULL;
	ck_assert_msg(g_file_get_contents(path, &text, NULL, NULL), "no %s", path);
	return (pid_t)atol(text);
}

START_TEST(test_qemu_killed)
{
	AlkTestCore *t = core(NULL);
	g_autofree char *id = boot(t, NULL);
	const AlkSandbox *sb;

	ck_assert_int_eq(kill(qemu_pid(id), SIGKILL), 0);
	ck_assert(alk_test_core_wait_state(t, id, ALK_SANDBOX_FAILED, 60));
	sb = alk_manager_lookup(t->manager, id, NULL);
	ck_assert_msg(strstr(sb->error->message, "QEMU") != NULL, "%s", sb->error->message);
	wait_gone(t, id);
	alk_test_core_free(t);
}
END_TEST

static void refused(AlkTestCore *t, AlkSandboxRequest *req, const char *word)
{
	g_autoptr(GError) error = NULL;
	ck_assert(alk_manager_create(t->manager, req, &error) == NULL);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_LIMIT), "%s", error->message);
	ck_assert_msg(strstr(error->message, word) != NULL, "%s", error->message);
}

START_TEST(test_widening_refused)
{
	AlkTestCore *t = core(NULL);
	AlkSandboxRequest req = {.cpus = 64};
	refused(t, &req, "cpus");
	req = (AlkSandboxRequest){.memory_mib = 1 << 20};
	refused(t, &req, "memory");
	req = (AlkSandboxRequest){.disk_mib = 1 << 30};
	refused(t, &req, "disk");
	req = (AlkSandboxRequest){.ttl_s = 10 * 365 * 86400ull};
	refused(t, &req, "ttl");
	req = (AlkSandboxRequest){.profile = "production", .network = ALK_NET_ISOLATED};
	refused(t, &req, "network");
	ck_assert_uint_eq(alk_manager_count_live(t->manager), 0);
	alk_test_core_free(t);
}
END_TEST

static gboolean all_ready(gpointer data)
{
	AlkTestCore *t = ((gpointer *)data)[0];
	char **ids = ((gpointer *)data)[1];
	for (int i = 0; ids[i] != NULL; i++)
		if (alk_test_core_seen(t, ids[i]) != ALK_SANDBOX_READY)
			return FALSE;
	return TRUE;
}

/* Deleted while its overlay and domain are still being made: the end waits
 * for them, so DESTROYED means nothing is left. */
START_TEST(test_delete_while_creating)
{
	AlkTestCore *t = core(NULL);
	AlkSandboxRequest req = {0};
	g_autoptr(GError) error = NULL;
	const AlkSandbox *sb = alk_manager_create(t->manager, &req, &error);
	g_autofree char *id = NULL;

	ck_assert_msg(sb != NULL, "%s", error ? error->message : "?");
	id = g_strdup(sb->id);
	ck_assert_int_eq(sb->state, ALK_SANDBOX_CREATING);
	ck_assert(alk_manager_destroy(t->manager, id, &error));
	ck_assert(alk_test_core_wait_state(t, id, ALK_SANDBOX_DESTROYED, 120));
	ck_assert(alk_test_core_gone(t, id));
	alk_test_core_free(t);
}
END_TEST

static void check_shared_files(void)
{
	g_autofree char *json =
	    g_build_filename(alk_test_image_dir(), "minimal", "current", "image.json", NULL);
	g_autoptr(JsonParser) p = json_parser_new();
	const char *names[3] = {NULL, "initrd.img", "rootfs.qcow2"};

	ck_assert_msg(json_parser_load_from_file(p, json, NULL), "%s", json);
	/* vmlinux (the PVH ELF) or vmlinuz, as its build wrote it */
	names[0] =
	    json_object_get_string_member(json_node_get_object(json_parser_get_root(p)), "kernel");
	ck_assert(names[0] != NULL);
	for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
		g_autofree char *path =
		    g_build_filename(alk_test_image_dir(), "minimal", "current", names[i], NULL);
		struct stat st;
		ck_assert_int_eq(stat(path, &st), 0);
		ck_assert_msg(st.st_uid == 0 && st.st_gid == 0, "%s is owned by %u:%u", path,
		              st.st_uid, st.st_gid);
		ck_assert_msg((st.st_mode & 07777) == 0444, "%s has mode %o", path,
		              st.st_mode & 07777);
	}
}

START_TEST(test_eight_concurrent)
{
	AlkTestCore *t = core(NULL);
	g_auto(GStrv) ids = g_new0(char *, 9);
	gpointer data[2] = {t, ids};
	AlkSandboxRequest req = {0};

	for (int i = 0; i < 8; i++) {
		g_autoptr(GError) error = NULL;
		const AlkSandbox *sb = alk_manager_create(t->manager, &req, &error);
		ck_assert_msg(sb != NULL, "create %d: %s", i, error ? error->message : "?");
		ids[i] = g_strdup(sb->id);
	}
	ck_assert_msg(alk_test_loop_until(all_ready, data, 600), "not all 8 became ready");
	/* shared by all eight, and still root's and read-only while they run */
	check_shared_files();
	for (int i = 0; i < 8; i++)
		g_free(sh_ok(t, ids[i], "true"));
	for (int i = 0; i < 8; i++)
		ck_assert(alk_manager_destroy(t->manager, ids[i], NULL));
	for (int i = 0; i < 8; i++) {
		ck_assert(alk_test_core_wait_state(t, ids[i], ALK_SANDBOX_DESTROYED, 120));
		ck_assert(alk_test_core_gone(t, ids[i]));
	}
	alk_test_core_free(t);
}
END_TEST

START_TEST(test_boot_failure)
{
	AlkTestCore *t = core(NULL);
	AlkSandboxRequest req = {.image = "minimal-flooder"};
	g_autoptr(GError) error = NULL;
	g_autofree char *id = alk_test_core_boot(t, &req, &error);
	g_autoptr(GPtrArray) all = NULL;
	const AlkSandbox *sb;

	ck_assert(id == NULL);
	ck_assert_msg(strstr(error->message, "not protocol frames") != NULL, "%s", error->message);
	ck_assert_msg(strstr(error->message, "--- console ---") != NULL, "%s", error->message);
	all = alk_manager_list(t->manager);
	ck_assert_uint_eq(all->len, 1);
	sb = g_ptr_array_index(all, 0);
	ck_assert_int_eq(sb->state, ALK_SANDBOX_FAILED);
	wait_gone(t, sb->id);
	alk_test_core_free(t);
}
END_TEST

/* A child process runs a manager with three sandboxes and is killed -9;
 * a new manager adopts them, and each must answer an exec. */
START_TEST(test_daemon_killed)
{
	int fds[2];
	char buf[3 * 13 + 1] = {0};
	pid_t child;

	ck_assert_int_eq(pipe(fds), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		AlkTestCore *t = core(NULL);
		close(fds[0]);
		for (int i = 0; i < 3; i++) {
			g_autofree char *id = boot(t, NULL);
			g_autofree char *line = g_strconcat(id, "\n", NULL);
			if (write(fds[1], line, 13) != 13)
				_exit(2);
		}
		for (;;)
			pause();
	}
	close(fds[1]);
	for (gsize got = 0; got < 39;) {
		ssize_t n = read(fds[0], buf + got, 39 - got);
		ck_assert_msg(n > 0, "the first daemon died before booting three sandboxes");
		got += n;
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	AlkTestCore *t = core(NULL);
	g_auto(GStrv) ids = g_strsplit(g_strstrip(buf), "\n", -1);
	ck_assert_uint_eq(g_strv_length(ids), 3);
	for (int i = 0; i < 3; i++) {
		ck_assert(alk_test_core_wait_state(t, ids[i], ALK_SANDBOX_READY, 60));
		ck_assert(alk_manager_lookup(t->manager, ids[i], NULL)->adopted);
		g_autofree char *out = sh_ok(t, ids[i], "echo adopted");
		ck_assert_str_eq(out, "adopted\n");
	}
	for (int i = 0; i < 3; i++)
		destroy_and_check(t, ids[i]);
	alk_test_core_free(t);
}
END_TEST

typedef struct {
	AlkTestCore *t;
	const char *id;
	gint64 deadline;
} RecordWait;

/* Whether libvirt's copy of the record carries the deadline. */
static gboolean record_has_deadline(gpointer data)
{
	RecordWait *w = data;
	g_autofree char *name = g_strconcat("airlock-", w->id, NULL);
	g_autofree char *needle = g_strdup_printf("\"deadline\":%" G_GINT64_FORMAT, w->deadline);
	virDomainPtr dom;
	char *xml;
	gboolean found;

	alk_test_core_gone(w->t, w->id); /* opens t->conn */
	dom = virDomainLookupByName(w->t->conn, name);
	xml = dom ? virDomainGetMetadata(dom, VIR_DOMAIN_METADATA_ELEMENT,
	                                 "https://airlock.invalid/xmlns/sandbox/1", 0)
	          : NULL;
	found = xml != NULL && strstr(xml, needle) != NULL;
	free(xml);
	if (dom != NULL)
		virDomainFree(dom);
	return found;
}

/* A deadline moved by set_ttl is what a restarted daemon adopts. */
START_TEST(test_ttl_survives_restart)
{
	AlkTestCore *t = core(NULL);
	g_autofree char *id = boot(t, NULL);
	g_autoptr(GError) error = NULL;
	RecordWait w = {t, id, 0};

	ck_assert_msg(alk_manager_set_ttl(t->manager, id, 1234, &error), "%s",
	              error ? error->message : "");
	w.deadline = alk_manager_lookup(t->manager, id, NULL)->deadline;
	ck_assert(alk_test_loop_until(record_has_deadline, &w, 30));
	ck_assert_msg(alk_test_core_restart(t, &error), "%s", error ? error->message : "");
	ck_assert(alk_test_core_wait_state(t, id, ALK_SANDBOX_READY, 60));
	ck_assert_int_eq(alk_manager_lookup(t->manager, id, NULL)->deadline, w.deadline);
	destroy_and_check(t, id);
	alk_test_core_free(t);
}
END_TEST

static gboolean libvirt_state(AlkTestCore *t, gboolean up)
{
	return alk_manager_libvirt_up(t->manager) == up;
}

static gboolean libvirt_down(gpointer t)
{
	return libvirt_state(t, FALSE);
}

static gboolean libvirt_up(gpointer t)
{
	return libvirt_state(t, TRUE);
}

static void run_cmd(const char *cmd)
{
	int status = -1;
	ck_assert(g_spawn_command_line_sync(cmd, NULL, NULL, &status, NULL));
	ck_assert_msg(status == 0, "%s failed", cmd);
}

START_TEST(test_libvirtd_restart)
{
	static const AlkTaskCallbacks cb = {0};
	AlkTestCore *t = core(NULL);
	g_autofree char *id = boot(t, NULL);
	AlkMsgExec msg = {.argc = 3, .argv = {"/bin/sh", "-c", "sleep 6; echo survived"}};
	AlkSandboxRequest req = {0};
	g_autoptr(GError) error = NULL;
	gboolean systemd = file_contains("/proc/1/comm", "systemd");
	AlkTestRun r;

	/* an exec in flight while libvirtd goes away and comes back */
	ck_assert(alk_manager_exec(t->manager, id, &msg, &cb, NULL, &error) != NULL);
	run_cmd(systemd ? "systemctl stop libvirtd" : "pkill -x libvirtd");
	ck_assert(alk_test_loop_until(libvirt_down, t, 30));
	ck_assert(alk_manager_create(t->manager, &req, &error) == NULL);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE), "%s",
	              error->message);
	ck_assert_msg(strstr(error->message, "libvirt unavailable") != NULL, "%s", error->message);
	g_clear_error(&error);
	/* the agent channel does not need libvirt */
	ck_assert(alk_test_core_sh(t, id, "sleep 6; echo survived", &r));
	ck_assert_str_eq(r.out->str, "survived\n");
	alk_test_run_clear(&r);
	run_cmd(systemd ? "systemctl start libvirtd" : "libvirtd -d");
	ck_assert(alk_test_loop_until(libvirt_up, t, 60));
	g_autofree char *id2 = boot(t, NULL);
	destroy_and_check(t, id2);
	destroy_and_check(t, id);
	alk_test_core_free(t);
}
END_TEST

static char *tmpfs(const char *options)
{
	g_autofree char *dir = g_dir_make_tmp("alk-core-XXXXXX", NULL);
	ck_assert(dir != NULL);
	ck_assert_msg(mount("tmpfs", dir, "tmpfs", 0, options) == 0, "mount %s", options);
	return g_steal_pointer(&dir);
}

static void untmpfs(const char *dir)
{
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

START_TEST(test_state_dir_full)
{
	g_autofree char *dir = tmpfs("size=64k,mode=0711");
	g_autoptr(GError) error = NULL;
	AlkTestCore *t = alk_test_core_new_at(dir, NULL, &error);
	AlkSandboxRequest req = {0};
	g_autofree char *id = NULL;
	g_autofree char *left = NULL;
	int status;

	ck_assert_msg(t != NULL, "%s", error ? error->message : "?");
	id = alk_test_core_boot(t, &req, &error);
	ck_assert(id == NULL);
	ck_assert_msg(strstr(error->message, "No space left") != NULL, "%s", error->message);
	/* nothing partial is left: only the empty sandboxes/ folder */
	g_autofree char *cmd = g_strdup_printf("find %s -mindepth 2", dir);
	ck_assert(g_spawn_command_line_sync(cmd, &left, NULL, &status, NULL));
	ck_assert_str_eq(left, "");
	alk_test_core_free(t);
	untmpfs(dir);
}
END_TEST

START_TEST(test_state_dir_readonly)
{
	g_autofree char *dir = tmpfs("size=1m,mode=0711");
	g_autofree char *sub = g_build_filename(dir, "sandboxes", NULL);
	g_autoptr(GError) error = NULL;
	AlkTestCore *t;
	AlkSandboxRequest req = {0};

	ck_assert_int_eq(g_mkdir(sub, 0711), 0);
	ck_assert_int_eq(mount(NULL, dir, NULL, MS_REMOUNT | MS_RDONLY, "size=1m"), 0);
	t = alk_test_core_new_at(dir, NULL, &error);
	ck_assert_msg(t != NULL, "%s", error ? error->message : "?");
	ck_assert(alk_manager_create(t->manager, &req, &error) == NULL);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_IO), "%s", error->message);
	ck_assert_msg(strstr(error->message, "Read-only") != NULL, "%s", error->message);
	ck_assert_uint_eq(alk_manager_count_live(t->manager), 0);
	alk_test_core_free(t);
	untmpfs(dir);
}
END_TEST

/* A last manager over the tests' dirs adopts whatever a failed test left;
 * any such leftover is a failure, and is destroyed. */
static int leftovers(void)
{
	g_autoptr(GError) error = NULL;
	AlkTestCore *t = alk_test_core_new(NULL, &error);
	guint live;
	if (t == NULL) {
		fprintf(stderr, "final sweep: %s\n", error->message);
		return 1;
	}
	live = alk_manager_count_live(t->manager);
	if (live > 0)
		fprintf(stderr, "final sweep: %u sandboxes were left behind\n", live);
	alk_test_core_free(t);
	return live > 0;
}

/* virt_type=auto boots a bounded KVM probe and falls back to TCG when the
 * probe's agent does not answer; either way nothing of the probe remains
 * and sandboxes boot with the type chosen. The manager starts at once,
 * with the type pending while the probe runs on the loop. */
static gboolean started(gpointer data)
{
	AlkTestCore *t = data;
	return g_str_equal(alk_manager_startup(t->manager), "done");
}

START_TEST(test_virt_auto)
{
	AlkTestCore *t = core("virt_type = auto\nkvm_probe_timeout_s = 10\n");
	const char *type;
	g_autofree char *probe_dir = g_strdup_printf("%s/sandboxes/probe%d", t->run_dir, getpid());
	g_autofree char *id = NULL;
	g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, t->state_dir, -1);
	/* the probe's domain carries its instance (a tag of state_dir) and pid */
	g_autofree char *probe = g_strdup_printf("airlock-probe-%.12s-%d", sum, getpid());
	virConnectPtr conn = virConnectOpen("qemu:///system");
	virDomainPtr dom;

	ck_assert(alk_test_loop_until(started, t, 60));
	type = alk_manager_virt_type(t->manager);
	dom = virDomainLookupByName(conn, probe);
	ck_assert(g_str_equal(type, "kvm") || g_str_equal(type, "qemu"));
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		ck_assert_str_eq(type, "qemu");
	ck_assert(dom == NULL);
	ck_assert(!g_file_test(probe_dir, G_FILE_TEST_EXISTS));
	virConnectClose(conn);
	id = boot(t, NULL);
	destroy_and_check(t, id);
	alk_test_core_free(t);
}
END_TEST

static void sweep(void)
{
	alk_test_sweep(getpid());
}

static TCase *tcase(const char *name, const TTest *test)
{
	TCase *tc = tcase_create(name);
	tcase_set_timeout(tc, 900);
	tcase_add_unchecked_fixture(tc, NULL, sweep);
	tcase_add_test(tc, test);
	return tc;
}

int main(void)
{
	Suite *s = suite_create("core");
	SRunner *sr;
	int failed;
	char pid[32];

	g_snprintf(pid, sizeof(pid), "%d", getpid());
	g_setenv("ALK_TEST_OWNER", pid, TRUE);
	suite_add_tcase(s, tcase("lifecycle", test_lifecycle));
	suite_add_tcase(s, tcase("discard", test_discard));
	suite_add_tcase(s, tcase("network-none", test_network_none));
	suite_add_tcase(s, tcase("disk-cap", test_disk_cap));
	suite_add_tcase(s, tcase("cpus-memory", test_cpus_memory));
	suite_add_tcase(s, tcase("ttl", test_ttl_expiry));
	suite_add_tcase(s, tcase("panic", test_guest_panic));
	suite_add_tcase(s, tcase("qemu-killed", test_qemu_killed));
	suite_add_tcase(s, tcase("widening", test_widening_refused));
	suite_add_tcase(s, tcase("boot-failure", test_boot_failure));
	suite_add_tcase(s, tcase("state-full", test_state_dir_full));
	suite_add_tcase(s, tcase("state-readonly", test_state_dir_readonly));
	suite_add_tcase(s, tcase("daemon-killed", test_daemon_killed));
	suite_add_tcase(s, tcase("ttl-restart", test_ttl_survives_restart));
	suite_add_tcase(s, tcase("libvirtd-restart", test_libvirtd_restart));
	suite_add_tcase(s, tcase("virt-auto", test_virt_auto));
	suite_add_tcase(s, tcase("delete-creating", test_delete_while_creating));
	suite_add_tcase(s, tcase("eight", test_eight_concurrent));
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	failed += leftovers();
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
