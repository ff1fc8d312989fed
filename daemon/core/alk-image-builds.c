/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-image-builds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-image.h"

static void fd_cleanup(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
#define AUTO_FD __attribute__((cleanup(fd_cleanup))) int

/* TRUE if some process has a file under dir open (the targets of
 * /proc/PID/fd/N are absolute, resolved paths). */
gboolean alk_image_builds_dir_in_use(const char *dir)
{
	g_autoptr(GDir) proc = g_dir_open("/proc", 0, NULL);
	g_autofree char *prefix = g_strconcat(dir, "/", NULL);
	const char *pid;

	while (proc != NULL && (pid = g_dir_read_name(proc)) != NULL) {
		if (!g_ascii_isdigit(pid[0]))
			continue;
		g_autofree char *fds = g_build_filename("/proc", pid, "fd", NULL);
		g_autoptr(GDir) d = g_dir_open(fds, 0, NULL);
		const char *fd;
		while (d != NULL && (fd = g_dir_read_name(d)) != NULL) {
			g_autofree char *link = g_build_filename(fds, fd, NULL);
			g_autofree char *target = g_file_read_link(link, NULL);
			if (target != NULL && g_str_has_prefix(target, prefix))
				return TRUE;
		}
	}
	return FALSE;
}

/* A build directory holds plain files only (airlock-image writes nothing else). */
static void remove_build(int bfd, const char *name)
{
	AUTO_FD fd = openat(bfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d;
	struct dirent *e;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL)
		return;
	fd = -1; /* the DIR owns it now */
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(dirfd(d), e->d_name, 0) < 0)
			g_warning("images: removing %s/%s: %s", name, e->d_name, g_strerror(errno));
	}
	closedir(d);
	if (unlinkat(bfd, name, AT_REMOVEDIR) < 0)
		g_warning("images: removing build %s: %s", name, g_strerror(errno));
}

/* Under the image's .gc.lock (the loader's shared lock keeps a build it is
 * resolving): old builds nobody holds are renamed to .gone-ID, then deleted. */
static guint sweep_image(const char *image_dir, const char *name)
{
	g_autofree char *top = g_build_filename(image_dir, name, NULL);
	g_autofree char *builds = g_build_filename(top, "builds", NULL);
	AUTO_FD tfd = open(top, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	AUTO_FD bfd = -1;
	AUTO_FD lock = -1;
	g_autoptr(GPtrArray) gone = g_ptr_array_new_with_free_func(g_free);
	char current[128] = "";
	ssize_t n;

	if (tfd < 0)
		return 0;
	bfd = openat(tfd, "builds", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	lock = openat(tfd, ".gc.lock", O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (bfd < 0 || lock < 0 || flock(lock, LOCK_EX | LOCK_NB) < 0)
		return 0;
	n = readlinkat(tfd, "current", current, sizeof current - 1);
	if (n < 0)
		return 0; /* no current build: leave everything to the builder */
	current[n] = '\0';
	if (!g_str_has_prefix(current, "builds/"))
		return 0;
	g_autoptr(GDir) d = g_dir_open(builds, 0, NULL);
	const char *id;
	while (d != NULL && (id = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = g_build_filename(builds, id, NULL);
		g_autofree char *tmp = g_strconcat(".gone-", id, NULL);
		if (!alk_image_build_id_is_valid(id) ||
		    strcmp(current + strlen("builds/"), id) == 0 ||
		    alk_image_builds_dir_in_use(path))
			continue;
		if (renameat(bfd, id, bfd, tmp) == 0)
			g_ptr_array_add(gone, g_steal_pointer(&tmp));
	}
	flock(lock, LOCK_UN);
	for (guint i = 0; i < gone->len; i++) {
		const char *tmp = g_ptr_array_index(gone, i);
		g_message("images: removing unused build %s/%s", name, tmp + strlen(".gone-"));
		remove_build(bfd, tmp);
	}
	return gone->len;
}

gboolean alk_image_builds_sweep(const char *image_dir, guint *removed, GError **error)
{
	g_autoptr(GError) local = NULL;
	/* /proc's fd links name resolved paths: compare with the resolved dir */
	g_autofree char *real = realpath(image_dir, NULL);
	g_autoptr(GDir) d = g_dir_open(real != NULL ? real : image_dir, 0, &local);
	const char *name;
	guint total = 0;

	if (d == NULL && g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
		*removed = 0;
		return TRUE;
	}
	if (d == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "sweeping images: %s", local->message);
		return FALSE;
	}
	while ((name = g_dir_read_name(d)) != NULL) {
		if (alk_image_name_is_valid(name))
			total += sweep_image(real, name);
	}
	*removed = total;
	return TRUE;
}

/* ---- on a worker thread, one pass at a time --------------------------------------------- */

static GMutex sweep_lock;
static gboolean sweep_running;
static gboolean sweep_again;

static void sweep_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	const char *image_dir = data;

	for (;;) {
		g_autoptr(GError) error = NULL;
		guint removed = 0;
		if (!alk_image_builds_sweep(image_dir, &removed, &error))
			g_warning("%s", error->message);
		g_mutex_lock(&sweep_lock);
		if (!sweep_again) {
			sweep_running = FALSE;
			g_mutex_unlock(&sweep_lock);
			break;
		}
		sweep_again = FALSE;
		g_mutex_unlock(&sweep_lock);
	}
	g_task_return_boolean(task, TRUE);
}

void alk_image_builds_sweep_async(const char *image_dir)
{
	g_autoptr(GTask) task = NULL;

	g_mutex_lock(&sweep_lock);
	if (sweep_running) {
		sweep_again = TRUE;
		g_mutex_unlock(&sweep_lock);
		return;
	}
	sweep_running = TRUE;
	g_mutex_unlock(&sweep_lock);
	task = g_task_new(NULL, NULL, NULL, NULL);
	g_task_set_task_data(task, g_strdup(image_dir), g_free);
	g_task_run_in_thread(task, sweep_thread);
}
