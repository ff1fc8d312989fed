/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-overlay.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <unistd.h>

#include "alk-error.h"

typedef struct {
	char *path;
} Overlay;

static void overlay_free(Overlay *o)
{
	g_free(o->path);
	g_free(o);
}

static void created(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autoptr(GTask) task = data;
	Overlay *o = g_task_get_task_data(task);
	g_autofree char *err = NULL;
	GError *error = NULL;

	if (!g_subprocess_communicate_utf8_finish(G_SUBPROCESS(src), res, NULL, &err, &error) ||
	    !g_subprocess_get_successful(G_SUBPROCESS(src))) {
		if (error == NULL)
			error =
			    g_error_new(ALK_ERROR, ALK_ERROR_IO, "creating overlay %s: %s", o->path,
			                err != NULL ? g_strstrip(err) : "qemu-img failed");
		g_unlink(o->path);
		g_task_return_error(task, error);
		return;
	}
	g_task_return_boolean(task, TRUE);
}

/* Claims the path first, so a leftover is an error rather than reused. */
static gboolean claim(const char *path, GError **error)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "creating overlay %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	close(fd);
	return TRUE;
}

void alk_overlay_create_async(const char *base, const char *path, guint64 disk_mib,
                              GCancellable *cancel, GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, cancel, cb, user_data);
	g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT "M", disk_mib);
	GError *error = NULL;
	GSubprocess *proc;
	Overlay *o = g_new0(Overlay, 1);

	o->path = g_strdup(path);
	g_task_set_task_data(task, o, (GDestroyNotify)overlay_free);
	if (!claim(path, &error)) {
		g_task_return_error(task, error);
		return;
	}
	/* -u: do not open the base (it is checked already, and may be shared) */
	proc = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
	                        &error, "qemu-img", "create", "-q", "-u", "-f", "qcow2", "-F",
	                        "qcow2", "-b", base, path, size, NULL);
	if (proc == NULL) {
		g_unlink(path);
		g_prefix_error(&error, "running qemu-img: ");
		g_task_return_error(task, error);
		return;
	}
	g_subprocess_communicate_utf8_async(proc, NULL, cancel, created, g_steal_pointer(&task));
	g_object_unref(proc);
}

gboolean alk_overlay_create_finish(GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}
