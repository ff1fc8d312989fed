/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-image.h"

#define SHA "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define BUILD "20261202T031500Z-0123abcd"
#define JSON                                                                                       \
	"{\n  \"format_version\":2,\n  \"name\":\"minimal\",\n  \"arch\":\"x86_64\",\n"            \
	"  \"build_id\":\"" BUILD "\",\n  \"default_user\":\"agent\",\n"                           \
	"  \"source\":{\"kind\":\"debian\",\"suite\":\"bookworm\",\"packages\":[\"python3\"]},\n"  \
	"  \"exec\":{\"env\":[\"A=1\"],\"cwd\":\"/srv\",\"argv\":[\"/bin/sh\"]},\n"                \
	"  \"kernel\":\"vmlinuz\",\n  \"initrd\":\"initrd.img\",\n"                                \
	"  \"rootfs\":\"rootfs.qcow2\",\n  \"rootfs_virtual_mib\":64,\n"                           \
	"  \"cmdline\":\"console=ttyS0 panic=-1 quiet root=/dev/vda rw\",\n"                       \
	"  \"kernel_version\":\"6.1.0-18-cloud-amd64\",\n  \"agent_version\":\"0.1.0\",\n"         \
	"  \"agent_sha256\":\"" SHA "\",\n  \"built_at\":\"2024-03-01T12:00:00Z\",\n"              \
	"  \"build_stamp\":\"" SHA "\"\n}\n"

static char *root;  /* the image_dir of each test */
static char *top;   /* root/minimal */
static char *image; /* root/minimal/builds/BUILD, where `current` points */

static char *path_in(const char *file)
{
	return g_build_filename(image, file, NULL);
}

/* A qcow2 header: magic, version, backing file offset, virtual size; v3 adds
 * the incompatible feature bits at byte 72 and the header length at 100. */
static void write_qcow2(const char *file, guint32 version, guint64 backing, guint64 size,
                        guint64 incompat, gsize len)
{
	g_autofree char *path = path_in(file);
	guint8 h[512] = {0};
	guint32 be32 = GUINT32_TO_BE(version);
	guint64 be64 = GUINT64_TO_BE(backing);

	memcpy(h, "QFI\xfb", 4);
	memcpy(h + 4, &be32, 4);
	memcpy(h + 8, &be64, 8);
	be64 = GUINT64_TO_BE(size);
	memcpy(h + 24, &be64, 8);
	be64 = GUINT64_TO_BE(incompat);
	memcpy(h + 72, &be64, 8);
	be32 = GUINT32_TO_BE(104);
	memcpy(h + 100, &be32, 4);
	g_unlink(path);
	ck_assert(g_file_set_contents(path, (const char *)h, (gssize)len, NULL));
	ck_assert_int_eq(g_chmod(path, 0444), 0);
}

static void write_file(const char *file, const char *text, int mode)
{
	g_autofree char *path = path_in(file);

	g_unlink(path);
	ck_assert(g_file_set_contents(path, text, -1, NULL));
	ck_assert_int_eq(g_chmod(path, mode), 0);
}

/* image.json with the first occurrence of from replaced by to. */
static void write_json(const char *from, const char *to)
{
	g_autoptr(GString) s = g_string_new(JSON);

	if (from != NULL)
		ck_assert_uint_eq(g_string_replace(s, from, to, 1), 1);
	write_file("image.json", s->str, 0444);
}

static void setup(void)
{
	root = g_dir_make_tmp("alk-image-XXXXXX", NULL);
	ck_assert_ptr_nonnull(root);
	ck_assert_int_eq(g_chmod(root, 0755), 0);
	top = g_build_filename(root, "minimal", NULL);
	image = g_build_filename(top, "builds", BUILD, NULL);
	ck_assert_int_eq(g_mkdir_with_parents(image, 0755), 0);
	g_autofree char *current = g_build_filename(top, "current", NULL);
	ck_assert_int_eq(symlink("builds/" BUILD, current), 0);
	write_json(NULL, NULL);
	write_file("vmlinuz", "kernel", 0444);
	write_file("initrd.img", "initrd", 0644);
	write_qcow2("rootfs.qcow2", 3, 0, 64 * 1024 * 1024, 0, 512);
}

static void teardown(void)
{
	g_autofree char *argv0 = g_strdup_printf("rm -rf '%s'", root);

	ck_assert(g_spawn_command_line_sync(argv0, NULL, NULL, NULL, NULL));
	g_clear_pointer(&image, g_free);
	g_clear_pointer(&top, g_free);
	g_clear_pointer(&root, g_free);
}

static AlkImage *load(GError **error)
{
	return alk_image_load_owned(root, "minimal", geteuid(), error);
}

/* Asserts the image is refused with code and a message naming the image and want. */
static void assert_refused(gint code, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkImage) img = load(&error);

	ck_assert_msg(img == NULL, "accepted, wanted '%s'", want);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, code), "code %d: %s", error->code,
	              error->message);
	ck_assert_msg(strstr(error->message, "image 'minimal'") != NULL, "%s", error->message);
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
}

START_TEST(load_valid)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkImage) img = load(&error);
	g_autofree char *kernel = path_in("vmlinuz");
	g_autofree char *rootfs = path_in("rootfs.qcow2");

	ck_assert_msg(img != NULL, "%s", error != NULL ? error->message : "");
	ck_assert_str_eq(img->name, "minimal");
	ck_assert_ptr_null(img->error);
	ck_assert_str_eq(img->dir, image);
	ck_assert_str_eq(img->kernel, kernel);
	ck_assert_str_eq(img->rootfs, rootfs);
	ck_assert(g_path_is_absolute(img->initrd));
	ck_assert_int_eq(img->rootfs_virtual_mib, 64);
	ck_assert_str_eq(img->cmdline, "console=ttyS0 panic=-1 quiet root=/dev/vda rw");
	ck_assert_str_eq(img->arch, "x86_64");
	ck_assert_str_eq(img->agent_sha256, SHA);
	ck_assert_str_eq(img->build_stamp, SHA);
	ck_assert_str_eq(img->kernel_version, "6.1.0-18-cloud-amd64");
	if (geteuid() == 0) {
		g_autoptr(AlkImage) as_root = alk_image_load(root, "minimal", NULL);
		ck_assert_ptr_nonnull(as_root);
	}
	alk_image_free(NULL);
}
END_TEST

START_TEST(load_v2_and_no_stamp)
{
	g_autoptr(AlkImage) img = NULL;

	write_qcow2("rootfs.qcow2", 2, 0, 64 * 1024 * 1024, 0, 72);
	write_json(",\n  \"build_stamp\":\"" SHA "\"", "");
	img = load(NULL);
	ck_assert_ptr_nonnull(img);
	ck_assert_ptr_null(img->build_stamp);
}
END_TEST

START_TEST(names)
{
	g_autoptr(GError) error = NULL;

	ck_assert_ptr_null(alk_image_load_owned(root, "nope", geteuid(), &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_NOT_FOUND));
	g_clear_error(&error);
	ck_assert_ptr_null(alk_image_load_owned(root, "../minimal", geteuid(), &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	g_clear_error(&error);
	ck_assert_ptr_null(alk_image_load_owned(root, "", geteuid(), &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert(alk_image_name_is_valid("debian-12_full"));
	ck_assert(!alk_image_name_is_valid("Minimal"));
	ck_assert(!alk_image_name_is_valid("a.b"));
}
END_TEST

START_TEST(json_paths)
{
	static const char *const bad[] = {"../vmlinuz", "/boot/vmlinuz", "sub/vmlinuz", "..",
	                                  ".",          "image.json"};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autofree char *to = g_strdup_printf("\"kernel\":\"%s\"", bad[i]);
		write_json("\"kernel\":\"vmlinuz\"", to);
		assert_refused(ALK_ERROR_INVALID, "field 'kernel' must be a plain file name");
	}
	write_json("\"initrd\":\"initrd.img\"", "\"initrd\":\"../../etc/shadow\"");
	assert_refused(ALK_ERROR_INVALID, "field 'initrd'");
	write_json("\"rootfs\":\"rootfs.qcow2\"", "\"rootfs\":\"/var/lib/other.qcow2\"");
	assert_refused(ALK_ERROR_INVALID, "field 'rootfs'");
	write_json("\"rootfs\":\"rootfs.qcow2\"", "\"rootfs\":\"a\\nb\"");
	assert_refused(ALK_ERROR_INVALID, "control character");
}
END_TEST

START_TEST(json_fields)
{
	write_json("  \"initrd\":\"initrd.img\",\n", "");
	assert_refused(ALK_ERROR_INVALID, "missing required field 'initrd'");
	write_json("\"rootfs_virtual_mib\":64", "\"rootfs_virtual_mib\":\"64\"");
	assert_refused(ALK_ERROR_INVALID, "field 'rootfs_virtual_mib' must be an integer");
	write_json("\"rootfs_virtual_mib\":64", "\"rootfs_virtual_mib\":64.0");
	assert_refused(ALK_ERROR_INVALID, "field 'rootfs_virtual_mib'");
	write_json("\"rootfs_virtual_mib\":64", "\"rootfs_virtual_mib\":18446744073709551680");
	assert_refused(ALK_ERROR_INVALID, "64-bit range");
	write_json("\"format_version\":2", "\"format_version\":1");
	assert_refused(ALK_ERROR_INVALID, "field 'format_version' is 1");
	write_json("\"kernel\":\"vmlinuz\"", "\"kernel\":[\"vmlinuz\"]");
	assert_refused(ALK_ERROR_INVALID, "field 'kernel' must be a string");
	write_json("\"arch\":\"x86_64\",", "\"arch\":\"x86_64\",\"stamp\":\"x\",");
	assert_refused(ALK_ERROR_INVALID, "unknown field 'stamp'");
	write_json("\"arch\":\"x86_64\"", "\"arch\":\"aarch64\"");
	assert_refused(ALK_ERROR_INVALID, "only x86_64");
	write_json("\"name\":\"minimal\"", "\"name\":\"other\"");
	assert_refused(ALK_ERROR_INVALID, "does not match the directory");
	write_json("\"agent_sha256\":\"0123", "\"agent_sha256\":\"X123");
	assert_refused(ALK_ERROR_INVALID, "field 'agent_sha256'");
	write_json("\"agent_sha256\":\"0123", "\"agent_sha256\":\"123");
	assert_refused(ALK_ERROR_INVALID, "field 'agent_sha256'");
	write_json("panic=-1", "panic=-1\\n");
	assert_refused(ALK_ERROR_INVALID, "field 'cmdline' contains a control character");
	write_json("\"arch\":\"x86_64\",", "\"arch\":\"x86_64\",\"arch\":\"x86_64\",");
	assert_refused(ALK_ERROR_INVALID, "duplicate key");
	write_json("\"cmdline\":\"console", "\"cmdline\":\"\\u0000console");
	assert_refused(ALK_ERROR_INVALID, "\\u0000");
	write_file("image.json", "[1]", 0444);
	assert_refused(ALK_ERROR_INVALID, "image.json");
	write_file("image.json", "{\"format_version\":1,}", 0444);
	assert_refused(ALK_ERROR_INVALID, "image.json: invalid JSON");
}
END_TEST

START_TEST(json_file)
{
	g_autofree char *huge = g_strnfill(ALK_IMAGE_JSON_MAX + 10, ' ');
	g_autofree char *path = path_in("image.json");

	write_file("image.json", huge, 0444);
	assert_refused(ALK_ERROR_INVALID, "exceeds the limit");
	write_json(NULL, NULL);
	ck_assert_int_eq(g_chmod(path, 0666), 0);
	assert_refused(ALK_ERROR_INVALID, "image.json: mode 0666 is writable by group or others");
	g_unlink(path);
	assert_refused(ALK_ERROR_INVALID, "image.json");
}
END_TEST

START_TEST(base_checks)
{
	g_autofree char *path = path_in("rootfs.qcow2");

	ck_assert_int_eq(g_chmod(path, 0644), 0);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: mode 0644 is writable by someone");
	ck_assert_int_eq(g_chmod(path, 0400), 0);
	g_autoptr(AlkImage) ok = load(NULL);
	ck_assert_ptr_nonnull(ok);
	write_qcow2("rootfs.qcow2", 3, 4096, 64 * 1024 * 1024, 0, 512);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: has a backing file of its own");
	write_qcow2("rootfs.qcow2", 2, 1, 64 * 1024 * 1024, 0, 512);
	assert_refused(ALK_ERROR_INVALID, "backing file");
	write_qcow2("rootfs.qcow2", 3, 0, 64 * 1024 * 1024, 1 << 2, 512);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: uses an external data file");
	write_qcow2("rootfs.qcow2", 3, 0, 64 * 1024 * 1024, 1 << 1, 512);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: is marked corrupt");
	write_qcow2("rootfs.qcow2", 3, 0, 64 * 1024 * 1024, 0, 90);
	assert_refused(ALK_ERROR_INVALID, "truncated qcow2 v3 header");
	write_qcow2("rootfs.qcow2", 4, 0, 64 * 1024 * 1024, 0, 512);
	assert_refused(ALK_ERROR_INVALID, "unsupported qcow2 version 4");
	write_qcow2("rootfs.qcow2", 3, 0, 65 * 1024 * 1024, 0, 512);
	assert_refused(ALK_ERROR_INVALID, "does not match rootfs_virtual_mib 64");
	write_qcow2("rootfs.qcow2", 3, 0, 64 * 1024 * 1024, 0, 40);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: not a qcow2 image");
	write_file("rootfs.qcow2", "", 0444);
	assert_refused(ALK_ERROR_INVALID, "not a qcow2 image");
	write_file("rootfs.qcow2",
	           "\x7f"
	           "ELF raw disk bytes, long enough to pass the length "
	           "check of seventy-two bytes at least.....",
	           0444);
	assert_refused(ALK_ERROR_INVALID, "not a qcow2 image");
}
END_TEST

START_TEST(base_owner)
{
	g_autofree char *path = path_in("rootfs.qcow2");

	if (geteuid() != 0)
		return; /* only root can give a file away */
	ck_assert_int_eq(chown(path, 1000, 0), 0);
	assert_refused(ALK_ERROR_INVALID,
	               "rootfs.qcow2: owned by uid 1000, must be owned by uid 0");
}
END_TEST

START_TEST(base_not_a_file)
{
	g_autofree char *path = path_in("rootfs.qcow2");
	g_autofree char *elsewhere = g_build_filename(root, "elsewhere.qcow2", NULL);

	g_unlink(path);
	ck_assert(g_file_set_contents(elsewhere, "QFI\xfb", -1, NULL));
	ck_assert_int_eq(symlink(elsewhere, path), 0);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: is a symlink");
	g_unlink(path);
	ck_assert_int_eq(mkfifo(path, 0444), 0);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: not a regular file");
	g_unlink(path);
	ck_assert_int_eq(g_mkdir(path, 0555), 0);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: not a regular file");
	g_rmdir(path);
	assert_refused(ALK_ERROR_INVALID, "rootfs.qcow2: No such file");
}
END_TEST

START_TEST(kernel_and_dir)
{
	g_autofree char *kernel = path_in("vmlinuz");
	g_autofree char *link = g_build_filename(root, "linked", NULL);
	g_autoptr(GError) error = NULL;

	ck_assert_int_eq(g_chmod(kernel, 0664), 0);
	assert_refused(ALK_ERROR_INVALID, "vmlinuz: mode 0664 is writable by group or others");
	ck_assert_int_eq(g_chmod(kernel, 0644), 0);
	write_file("initrd.img", "x", 0646);
	assert_refused(ALK_ERROR_INVALID, "initrd.img: mode 0646");
	g_unlink(kernel);
	write_file("initrd.img", "x", 0444);
	assert_refused(ALK_ERROR_INVALID, "vmlinuz");
	write_file("vmlinuz", "k", 0444);
	ck_assert_int_eq(g_chmod(image, 0777), 0);
	assert_refused(ALK_ERROR_INVALID, "not writable by group or others");
	ck_assert_int_eq(g_chmod(image, 0755), 0);
	ck_assert_ptr_null(alk_image_load_owned(root, "minimal", geteuid() + 1, &error));
	ck_assert_ptr_nonnull(strstr(error->message, "must be owned by uid"));
	g_clear_error(&error);
	ck_assert_int_eq(symlink(top, link), 0);
	ck_assert_ptr_null(alk_image_load_owned(root, "linked", geteuid(), &error));
	ck_assert_ptr_nonnull(strstr(error->message, "not a directory"));
}
END_TEST

START_TEST(scan)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *bad = g_build_filename(root, "bad", NULL);
	g_autofree char *hidden = g_build_filename(root, ".minimal.build.abc", NULL);
	g_autofree char *readme = g_build_filename(root, "README", NULL);
	g_autofree char *missing = g_build_filename(root, "missing", NULL);

	ck_assert_int_eq(g_mkdir(bad, 0755), 0);
	ck_assert_int_eq(g_mkdir(hidden, 0755), 0);
	ck_assert(g_file_set_contents(readme, "hi", -1, NULL));
	g_autoptr(GPtrArray) images = alk_image_scan_owned(root, geteuid(), &error);
	ck_assert_ptr_nonnull(images);
	ck_assert_int_eq(images->len, 3);
	const AlkImage *a = g_ptr_array_index(images, 0);
	const AlkImage *b = g_ptr_array_index(images, 1);
	const AlkImage *c = g_ptr_array_index(images, 2);
	ck_assert_str_eq(a->name, "README");
	ck_assert_ptr_nonnull(strstr(a->error, "image name"));
	ck_assert_str_eq(b->name, "bad");
	ck_assert_ptr_nonnull(strstr(b->error, "image 'bad': current: missing"));
	ck_assert_ptr_null(b->kernel);
	ck_assert_str_eq(c->name, "minimal");
	ck_assert_ptr_null(c->error);
	ck_assert_ptr_nonnull(c->rootfs);

	g_autoptr(GPtrArray) none = alk_image_scan_owned(missing, geteuid(), &error);
	ck_assert_ptr_nonnull(none);
	ck_assert_int_eq(none->len, 0);
	ck_assert_ptr_null(alk_image_scan_owned(readme, geteuid(), &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_IO));
	if (geteuid() == 0) {
		g_autoptr(GPtrArray) as_root = alk_image_scan(root, NULL);
		ck_assert_int_eq(as_root->len, 3);
	}
}
END_TEST

START_TEST(build_ids)
{
	ck_assert(alk_image_build_id_is_valid("20261202T031500Z-0123abcd"));
	const char *bad[] = {"",
	                     "20261202T031500Z-0123abc",
	                     "20261202T031500Z-0123abcde",
	                     "20261202T031500Z-0123ABCD",
	                     "20261202t031500Z-0123abcd",
	                     "2026120xT031500Z-0123abcd",
	                     "20261202T031500Z_0123abcd",
	                     "../../../../../../../etc00",
	                     NULL};
	for (guint i = 0; bad[i] != NULL; i++)
		ck_assert_msg(!alk_image_build_id_is_valid(bad[i]), "%s", bad[i]);
	ck_assert(!alk_image_build_id_is_valid(NULL));
}
END_TEST

/* The loader follows `current` once, by its exact text, and hands out the
 * build's own paths; nothing else under the image may be a symlink. */
static void relink(const char *target)
{
	g_autofree char *current = g_build_filename(top, "current", NULL);

	g_unlink(current);
	if (target != NULL)
		ck_assert_int_eq(symlink(target, current), 0);
}

START_TEST(layout_current)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *builds = g_build_filename(top, "builds", NULL);
	g_autofree char *moved = g_build_filename(root, "elsewhere", NULL);
	g_autofree char *current = g_build_filename(top, "current", NULL);

	relink(NULL);
	assert_refused(ALK_ERROR_INVALID, "current: missing");
	relink(image); /* absolute: not the exact text */
	assert_refused(ALK_ERROR_INVALID, "must point to builds/<build id>");
	relink("builds/" BUILD "/");
	assert_refused(ALK_ERROR_INVALID, "must point to builds/<build id>");
	relink("./builds/" BUILD);
	assert_refused(ALK_ERROR_INVALID, "must point to builds/<build id>");
	relink("builds/20261202T031500Z-ffffffff");
	assert_refused(ALK_ERROR_INVALID, "No such file");
	ck_assert(g_file_set_contents(current, "builds/" BUILD, -1, NULL));
	assert_refused(ALK_ERROR_INVALID, "current: not a symlink");
	relink("builds/" BUILD);
	/* builds itself a symlink to a copy elsewhere: refused */
	ck_assert_int_eq(g_rename(builds, moved), 0);
	ck_assert_int_eq(symlink(moved, builds), 0);
	assert_refused(ALK_ERROR_INVALID, "not a directory (symlinks are not followed)");
	g_unlink(builds);
	ck_assert_int_eq(g_rename(moved, builds), 0);
	/* the build's json must name that build */
	write_json("\"build_id\":\"" BUILD, "\"build_id\":\"20261202T031500Z-00000000");
	assert_refused(ALK_ERROR_INVALID, "field 'build_id' does not match");
	write_json(NULL, NULL);
	g_autoptr(AlkImage) img = load(&error);
	ck_assert_msg(img != NULL, "%s", error != NULL ? error->message : "");
	ck_assert_str_eq(img->build_id, BUILD);
	ck_assert(g_str_has_suffix(img->rootfs, "/builds/" BUILD "/rootfs.qcow2"));
	ck_assert_int_ge(img->rootfs_fd, 0);
}
END_TEST

START_TEST(json_source)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkImage) img = load(&error);

	ck_assert_msg(img != NULL, "%s", error != NULL ? error->message : "");
	ck_assert_str_eq(img->default_user, "agent");
	ck_assert_str_eq(img->source_kind, "debian");
	ck_assert_str_eq(img->source_suite, "bookworm");
	ck_assert_str_eq(img->source_packages[0], "python3");
	ck_assert_str_eq(img->exec_env[0], "A=1");
	ck_assert_str_eq(img->exec_cwd, "/srv");
	ck_assert_str_eq(img->exec_argv[0], "/bin/sh");
	ck_assert_ptr_null(img->exec_user);
	write_json("\"kind\":\"debian\"", "\"kind\":\"rpm\"");
	assert_refused(ALK_ERROR_INVALID, "'source.kind' must be");
	write_json("\"kind\":\"debian\",\"suite\":\"bookworm\",", "\"kind\":\"debian\",");
	assert_refused(ALK_ERROR_INVALID, "needs 'source.suite'");
	write_json("\"kind\":\"debian\",\"suite\":\"bookworm\",\"packages\":[\"python3\"]",
	           "\"kind\":\"oci\",\"reference\":\"x.tar\",\"digest\":\"sha256:12\"");
	assert_refused(ALK_ERROR_INVALID, "source: field 'digest'");
	write_json("\"kind\":\"debian\",\"suite\":\"bookworm\",\"packages\":[\"python3\"]",
	           "\"kind\":\"minimal\",\"x\":1");
	assert_refused(ALK_ERROR_INVALID, "source: unknown field 'x'");
	write_json("\"default_user\":\"agent\"", "\"default_user\":\"../root\"");
	assert_refused(ALK_ERROR_INVALID, "field 'default_user'");
	write_json("\"cwd\":\"/srv\"", "\"cwd\":7");
	assert_refused(ALK_ERROR_INVALID, "exec: field 'cwd'");
}
END_TEST

static Suite *image_suite(void)
{
	Suite *s = suite_create("image");
	TCase *tc = tcase_create("image");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, load_valid);
	tcase_add_test(tc, load_v2_and_no_stamp);
	tcase_add_test(tc, names);
	tcase_add_test(tc, json_paths);
	tcase_add_test(tc, json_fields);
	tcase_add_test(tc, json_file);
	tcase_add_test(tc, base_checks);
	tcase_add_test(tc, base_owner);
	tcase_add_test(tc, base_not_a_file);
	tcase_add_test(tc, kernel_and_dir);
	tcase_add_test(tc, scan);
	tcase_add_test(tc, build_ids);
	tcase_add_test(tc, layout_current);
	tcase_add_test(tc, json_source);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(image_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
