/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Named volumes (alk-volume.h). Who holds a volume is never stored apart:
 * it is read from the sandboxes whose ALK_RES_VOLUMES is not NONE, whose
 * records carry their attachments, so a restarted daemon that adopts them
 * keeps the one-writer rule without a table of its own to get wrong. */
#include "alk-volume.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "alk-disk-base.h"
#include "alk-error.h"
#include "alk-json.h"
#include "alk-manager-private.h"
#include "alk-name.h"

#define META_MAX 4096

void alk_volume_info_free(AlkVolumeInfo *v)
{
	if (v == NULL)
		return;
	g_free(v->name);
	g_clear_pointer(&v->writers, g_ptr_array_unref);
	g_clear_pointer(&v->readers, g_ptr_array_unref);
	g_free(v);
}

static char *volumes_dir(AlkManager *m)
{
	return g_build_filename(m->config->state_dir, "volumes", NULL);
}

char *alk_manager_volume_path(AlkManager *m, const char *name)
{
	g_autofree char *dir = volumes_dir(m);
	g_autofree char *file = g_strconcat(name, ".qcow2", NULL);

	return g_build_filename(dir, file, NULL);
}

static char *meta_path(AlkManager *m, const char *name)
{
	g_autofree char *dir = volumes_dir(m);
	g_autofree char *file = g_strconcat(name, ".json", NULL);

	return g_build_filename(dir, file, NULL);
}

static gboolean check_name(const char *name, GError **error)
{
	if (alk_volume_name_is_valid(name))
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "a volume name is [a-z0-9_-]{1,%d}",
	            ALK_VOLUME_NAME_MAX);
	return FALSE;
}

/* ---- who holds what ---- */

static void add_holders(AlkManager *m, AlkVolumeInfo *v)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);

	v->writers = g_ptr_array_new_with_free_func(g_free);
	v->readers = g_ptr_array_new_with_free_func(g_free);
	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);

		if (ALK_SLOT(sb)->res[ALK_RES_VOLUMES] == ALK_HOLD_NONE)
			continue;
		for (guint j = 0; j < sb->nvolumes; j++)
			if (g_strcmp0(sb->volumes[j].name, v->name) == 0)
				g_ptr_array_add(sb->volumes[j].readonly ? v->readers : v->writers,
				                g_strdup(sb->id));
	}
}

/* ---- reading ---- */

typedef struct {
	char *name;
	guint64 size_mib;
	gint64 created_at;
} Meta;

#define M(f) G_STRUCT_OFFSET(Meta, f)
static const AlkJsonField meta_fields[] = {
    {"name", ALK_JSON_STRING, M(name), TRUE, 1, ALK_VOLUME_NAME_MAX, 0},
    {"size_mib", ALK_JSON_UINT, M(size_mib), TRUE, ALK_VOLUME_MIB_MIN, ALK_VOLUME_MIB_MAX, 0},
    {"created_at", ALK_JSON_INT, M(created_at), TRUE, 0, G_MAXINT64, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef M

static AlkVolumeInfo *load(AlkManager *m, const char *name, GError **error)
{
	g_autofree char *qcow2 = alk_manager_volume_path(m, name);
	g_autofree char *path = meta_path(m, name);
	g_autofree char *text = NULL;
	g_autoptr(JsonObject) obj = NULL;
	gsize len = 0;
	Meta meta = {0};
	AlkVolumeInfo *v;

	if (!g_file_test(qcow2, G_FILE_TEST_IS_REGULAR) ||
	    !g_file_get_contents(path, &text, &len, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no volume '%s'", name);
		return NULL;
	}
	obj = alk_json_parse_object(text, len, META_MAX, 2, error);
	if (obj == NULL || !alk_json_read_object(obj, meta_fields, &meta, error) ||
	    g_strcmp0(meta.name, name) != 0) {
		alk_json_fields_clear(meta_fields, &meta);
		g_clear_error(error);
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "volume '%s': %s is damaged", name,
		            path);
		return NULL;
	}
	v = g_new0(AlkVolumeInfo, 1);
	v->name = g_steal_pointer(&meta.name);
	v->size_mib = meta.size_mib;
	v->created_at = meta.created_at;
	add_holders(m, v);
	return v;
}

AlkVolumeInfo *alk_manager_volume_get(AlkManager *m, const char *name, GError **error)
{
	return check_name(name, error) ? load(m, name, error) : NULL;
}

static gint by_name(gconstpointer a, gconstpointer b)
{
	return g_strcmp0((*(AlkVolumeInfo *const *)a)->name, (*(AlkVolumeInfo *const *)b)->name);
}

GPtrArray *alk_manager_volumes_list(AlkManager *m, GError **error)
{
	g_autofree char *dir = volumes_dir(m);
	g_autoptr(GPtrArray) out =
	    g_ptr_array_new_with_free_func((GDestroyNotify)alk_volume_info_free);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *entry;

	while (d != NULL && (entry = g_dir_read_name(d)) != NULL) {
		g_autofree char *name = NULL;
		g_autoptr(GError) local = NULL;
		AlkVolumeInfo *v;

		if (!g_str_has_suffix(entry, ".qcow2"))
			continue;
		name = g_strndup(entry, strlen(entry) - strlen(".qcow2"));
		if (!alk_volume_name_is_valid(name))
			continue; /* a file that is not ours */
		if ((v = load(m, name, &local)) != NULL)
			g_ptr_array_add(out, v);
		else
			g_warning("volumes: %s", local->message);
	}
	g_ptr_array_sort(out, by_name);
	(void)error;
	return g_steal_pointer(&out);
}

/* ---- making ---- */

typedef struct {
	GHashTable *making; /* the manager's volumes_making, held: the job may outlive it */
	char *name;
	char *dir;
	char *bases;
	char *path;
	char *meta;
	guint64 size_mib;
	uid_t uid;
	gid_t gid;
} Job;

static void job_free(Job *j)
{
	g_hash_table_remove(j->making, j->name);
	g_hash_table_unref(j->making);
	g_free(j->name);
	g_free(j->dir);
	g_free(j->bases);
	g_free(j->path);
	g_free(j->meta);
	g_free(j);
}

static gboolean write_meta(const Job *j, GError **error)
{
	g_autofree char *text =
	    g_strdup_printf("{\"name\":\"%s\",\"size_mib\":%" G_GUINT64_FORMAT
	                    ",\"created_at\":%" G_GINT64_FORMAT "}\n",
	                    j->name, j->size_mib, g_get_real_time() / G_USEC_PER_SEC);

	return g_file_set_contents_full(j->meta, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
	                                error);
}

/* A standalone copy of the empty base: a volume outlives any base. */
static gboolean make(const Job *j, GError **error)
{
	g_autofree char *base = NULL;
	g_autofree char *tmp = g_strconcat(j->path, ".tmp", NULL);
	g_autofree char *err = NULL;
	const char *argv[] = {"qemu-img", "convert", "-q", "-O", "qcow2", NULL, tmp, NULL};
	gint status = 0;

	if (g_mkdir_with_parents(j->dir, 0755) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "mkdir %s: %s", j->dir,
		            g_strerror(errno));
		return FALSE;
	}
	if ((base = alk_disk_base_ensure(j->bases, j->size_mib, error)) == NULL)
		return FALSE;
	argv[5] = base;
	g_unlink(tmp);
	if (!g_spawn_sync(NULL, (char **)argv, NULL,
	                  G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL, &err,
	                  &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "qemu-img convert: %s",
		            err != NULL ? g_strstrip(err) : "failed");
		g_unlink(tmp);
		return FALSE;
	}
	/* QEMU opens it as its own user, relabelling being off */
	if (chown(tmp, j->uid, j->gid) < 0 || g_chmod(tmp, 0600) < 0 || !write_meta(j, error) ||
	    g_rename(tmp, j->path) < 0) {
		if (error != NULL && *error == NULL)
			g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "installing %s: %s", j->path,
			            g_strerror(errno));
		g_unlink(tmp);
		g_unlink(j->meta);
		return FALSE;
	}
	return TRUE;
}

static void make_thread(GTask *task, gpointer src, gpointer data, GCancellable *cancel)
{
	GError *error = NULL;

	if (make(data, &error))
		g_task_return_boolean(task, TRUE);
	else
		g_task_return_error(task, error);
}

static gboolean check_new(AlkManager *m, const char *name, guint64 size_mib, GError **error)
{
	g_autofree char *path = NULL;
	g_autoptr(GPtrArray) all = NULL;

	if (!check_name(name, error))
		return FALSE;
	if (size_mib < ALK_VOLUME_MIB_MIN || size_mib > ALK_VOLUME_MIB_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "size_mib %" G_GUINT64_FORMAT " is not %d..%d", size_mib,
		            ALK_VOLUME_MIB_MIN, ALK_VOLUME_MIB_MAX);
		return FALSE;
	}
	path = alk_manager_volume_path(m, name);
	if (g_hash_table_contains(m->volumes_making, name) ||
	    g_file_test(path, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "volume '%s' exists", name);
		return FALSE;
	}
	all = alk_manager_volumes_list(m, NULL);
	if (all->len + g_hash_table_size(m->volumes_making) >= ALK_VOLUMES_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT, "at most %d volumes",
		            ALK_VOLUMES_MAX);
		return FALSE;
	}
	return TRUE;
}

void alk_manager_volume_create_async(AlkManager *m, const char *name, guint64 size_mib,
                                     GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	GError *error = NULL;
	Job *j;

	g_task_set_source_tag(task, alk_manager_volume_create_async);
	if (m->volumes_making == NULL)
		m->volumes_making = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	if (!check_new(m, name, size_mib, &error)) {
		g_task_return_error(task, error);
		return;
	}
	j = g_new0(Job, 1);
	j->making = g_hash_table_ref(m->volumes_making);
	j->name = g_strdup(name);
	j->dir = volumes_dir(m);
	j->bases = alk_manager_disk_base_dir(m);
	j->path = alk_manager_volume_path(m, name);
	j->meta = meta_path(m, name);
	j->size_mib = size_mib;
	j->uid = m->qemu_uid;
	j->gid = m->qemu_gid;
	g_hash_table_add(m->volumes_making, g_strdup(name));
	g_task_set_task_data(task, j, (GDestroyNotify)job_free);
	g_task_run_in_thread(task, make_thread);
}

AlkVolumeInfo *alk_manager_volume_create_finish(AlkManager *m, GAsyncResult *res, GError **error)
{
	Job *j = g_task_get_task_data(G_TASK(res));

	if (!g_task_propagate_boolean(G_TASK(res), error))
		return NULL;
	return load(m, j->name, error);
}

gboolean alk_manager_volume_delete(AlkManager *m, const char *name, GError **error)
{
	g_autoptr(AlkVolumeInfo) v = alk_manager_volume_get(m, name, error);
	g_autofree char *path = NULL;
	g_autofree char *meta = NULL;

	if (v == NULL)
		return FALSE;
	if (v->writers->len + v->readers->len != 0) {
		g_set_error(
		    error, ALK_ERROR, ALK_ERROR_CONFLICT, "volume '%s' is attached to %s", name,
		    (const char *)g_ptr_array_index(v->writers->len ? v->writers : v->readers, 0));
		return FALSE;
	}
	path = alk_manager_volume_path(m, name);
	meta = meta_path(m, name);
	if (g_unlink(path) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "removing %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	g_unlink(meta);
	return TRUE;
}

/* ---- attaching ---- */

/* Every volume asked for exists, and none would break the rule: a writable
 * attachment only of a volume nobody holds, a read-only one only of a
 * volume nobody holds writable (QEMU's image locking would refuse the
 * reader anyway: the writer does not share writes, a reader does not let
 * others write). */
gboolean alk_manager_volumes_check(AlkManager *m, const AlkSandboxRequest *req, GError **error)
{
	for (guint i = 0; i < req->nvolumes; i++) {
		const AlkVolumeAttach *a = &req->volumes[i];
		g_autoptr(AlkVolumeInfo) v = alk_manager_volume_get(m, a->name, error);

		if (v == NULL)
			return FALSE;
		if (v->writers->len != 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
			            "volume '%s' is attached writable to sandbox %s", a->name,
			            (const char *)g_ptr_array_index(v->writers, 0));
			return FALSE;
		}
		if (!a->readonly && v->readers->len != 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
			            "volume '%s' is attached read-only to sandbox %s: a writable "
			            "attachment needs it free",
			            a->name, (const char *)g_ptr_array_index(v->readers, 0));
			return FALSE;
		}
	}
	return TRUE;
}
