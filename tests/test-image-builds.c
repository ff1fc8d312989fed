/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Old builds go when no process holds them open; the current one and the
 * ones in use stay (daemon/core/alk-image-builds.c). */
#include <check.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "alk-image-builds.h"

#define OLD "20261202T010000Z-00000001"
#define HELD "20261202T020000Z-00000002"
#define CUR "20261202T030000Z-00000003"

static char *root;

static char *path(const char *a, const char *b)
{
	return g_build_filename(root, "img", a, b, NULL);
}

static void add_build(const char *id)
{
	g_autofree char *dir = path("builds", id);
	g_autofree char *file = g_build_filename(dir, "rootfs.qcow2", NULL);

	ck_assert_int_eq(g_mkdir_with_parents(dir, 0755), 0);
	ck_assert(g_file_set_contents(file, "base", -1, NULL));
}

static gboolean exists(const char *id)
{
	g_autofree char *dir = path("builds", id);

	return g_file_test(dir, G_FILE_TEST_EXISTS);
}

static guint sweep(void)
{
	g_autoptr(GError) error = NULL;
	guint removed = 99;

	ck_assert_msg(alk_image_builds_sweep(root, &removed, &error), "%s",
	              error != NULL ? error->message : "");
	return removed;
}

static void setup(void)
{
	g_autofree char *current = NULL;
	g_autofree char *lock = NULL;

	root = g_dir_make_tmp("alk-builds-XXXXXX", NULL);
	ck_assert_ptr_nonnull(root);
	add_build(OLD);
	add_build(HELD);
	add_build(CUR);
	current = path("current", NULL);
	ck_assert_int_eq(symlink("builds/" CUR, current), 0);
	lock = path(".gc.lock", NULL);
	ck_assert(g_file_set_contents(lock, "", -1, NULL));
}

static void teardown(void)
{
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", root);

	ck_assert(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
	g_clear_pointer(&root, g_free);
}

START_TEST(unused_old_builds_go)
{
	g_autofree char *held = g_build_filename(root, "img", "builds", HELD, "rootfs.qcow2", NULL);
	int fd = open(held, O_RDONLY);

	ck_assert_int_ge(fd, 0);
	ck_assert_uint_eq(sweep(), 1);
	ck_assert(!exists(OLD));
	ck_assert(exists(HELD)); /* this process holds its base, as QEMU would */
	ck_assert(exists(CUR));
	ck_assert_uint_eq(sweep(), 0);
	close(fd);
	ck_assert_uint_eq(sweep(), 1);
	ck_assert(!exists(HELD));
	ck_assert(exists(CUR));
}
END_TEST

START_TEST(locked_or_odd_images_are_left)
{
	g_autofree char *lock = path(".gc.lock", NULL);
	g_autofree char *current = path("current", NULL);
	g_autofree char *odd = path("builds", "not-a-build-id");
	int fd = open(lock, O_RDONLY);

	/* a builder (or another sweep) holds the lock: nothing is touched */
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(flock(fd, LOCK_EX), 0);
	ck_assert_uint_eq(sweep(), 0);
	close(fd);
	/* no current build: the builder decides, not us */
	g_unlink(current);
	ck_assert_uint_eq(sweep(), 0);
	ck_assert(exists(OLD) && exists(HELD) && exists(CUR));
	/* names that are not build ids are not ours to remove */
	ck_assert_int_eq(symlink("builds/" CUR, current), 0);
	ck_assert_int_eq(g_mkdir(odd, 0755), 0);
	ck_assert_uint_eq(sweep(), 2);
	ck_assert(g_file_test(odd, G_FILE_TEST_IS_DIR));
	/* a missing image dir is nothing to do */
	g_autofree char *missing = g_build_filename(root, "none", NULL);
	guint removed = 7;
	ck_assert(alk_image_builds_sweep(missing, &removed, NULL));
	ck_assert_uint_eq(removed, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("image-builds");
	TCase *tc = tcase_create("sweep");
	SRunner *runner;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, unused_old_builds_go);
	tcase_add_test(tc, locked_or_odd_images_are_left);
	suite_add_tcase(s, tc);
	runner = srunner_create(s);
	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
