/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-disk-base.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "alk-error.h"

/* One base at a time: two creates asking for one size make it once. */
static GMutex base_lock;

static gboolean run(const char *what, const char *const *argv, GError **error)
{
	g_autofree char *err = NULL;
	gint status = 0;

	if (!g_spawn_sync(NULL, (char **)argv, NULL,
	                  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
	                  &status, error)) {
		g_prefix_error(error, "%s: ", what);
		return FALSE;
	}
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s: %s", what,
		            err != NULL && *err != '\0' ? g_strstrip(err) : "failed");
		return FALSE;
	}
	return TRUE;
}

/* raw -> ext4 -> qcow2 beside the final name, then renamed into place, so a
 * base is either whole or not there. Lazy init is off: the guest's kernel
 * would otherwise zero the inode tables into each overlay. */
static gboolean make_base(const char *dir, guint64 mib, const char *path, GError **error)
{
	g_autofree char *raw = g_strdup_printf("%s.%d.raw", path, (int)getpid());
	g_autofree char *tmp = g_strdup_printf("%s.%d.tmp", path, (int)getpid());
	g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT "M", mib);
	const char *mkraw[] = {"qemu-img", "create", "-q", "-f", "raw", raw, size, NULL};
	const char *mkfs[] = {"mkfs.ext4",
	                      "-q",
	                      "-F",
	                      "-m",
	                      "0",
	                      "-E",
	                      "lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0",
	                      raw,
	                      NULL};
	const char *convert[] = {"qemu-img", "convert", "-q", "-f", "raw",
	                         "-O",       "qcow2",   raw,  tmp,  NULL};
	gboolean ok;

	if (g_mkdir_with_parents(dir, 0755) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "mkdir %s: %s", dir, g_strerror(errno));
		return FALSE;
	}
	ok = run("qemu-img create", mkraw, error) && run("mkfs.ext4", mkfs, error) &&
	     run("qemu-img convert", convert, error);
	g_unlink(raw);
	if (ok && (g_chmod(tmp, 0444) < 0 || g_rename(tmp, path) < 0)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "installing %s: %s", path,
		            g_strerror(errno));
		ok = FALSE;
	}
	if (!ok)
		g_unlink(tmp);
	return ok;
}

char *alk_disk_base_path(const char *dir, guint64 mib)
{
	g_autofree char *name = g_strdup_printf("ext4-%" G_GUINT64_FORMAT "M.qcow2", mib);

	return g_build_filename(dir, name, NULL);
}

char *alk_disk_base_ensure(const char *dir, guint64 mib, GError **error)
{
	g_autofree char *path = alk_disk_base_path(dir, mib);
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&base_lock);

	if (g_file_test(path, G_FILE_TEST_IS_REGULAR))
		return g_steal_pointer(&path);
	if (!make_base(dir, mib, path, error)) {
		g_prefix_error(error, "making the empty %" G_GUINT64_FORMAT " MiB disk: ", mib);
		return NULL;
	}
	return g_steal_pointer(&path);
}

typedef struct {
	char *dir;
	guint64 mib;
} BaseJob;

static void base_job_free(BaseJob *j)
{
	g_free(j->dir);
	g_free(j);
}

static void ensure_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	BaseJob *j = data;
	GError *error = NULL;
	char *path = alk_disk_base_ensure(j->dir, j->mib, &error);

	if (path == NULL)
		g_task_return_error(task, error);
	else
		g_task_return_pointer(task, path, g_free);
}

void alk_disk_base_ensure_async(const char *dir, guint64 mib, GCancellable *cancel,
                                GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancel, cb, user_data);
	BaseJob *j = g_new0(BaseJob, 1);

	j->dir = g_strdup(dir);
	j->mib = mib;
	g_task_set_task_data(task, j, (GDestroyNotify)base_job_free);
	g_task_run_in_thread(task, ensure_thread);
}

char *alk_disk_base_ensure_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_pointer(G_TASK(res), error);
}
