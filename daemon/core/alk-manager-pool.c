/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The warm pool: per key of [daemon] pool (IMAGE/PROFILE:N), N sandboxes
 * booted to ready and never used, so that a create of that image and
 * profile with the profile's shape gets one at once. Members are ordinary
 * sandboxes with sb->pool set: they count against max_sandboxes, are
 * adopted after a restart from their record, and are hidden from the list
 * until handed out. Taking one clears sb->pool, so it is handed out once; a
 * marker file in its state dir says so at once, before its record in
 * libvirt is rewritten, so a daemon restarted in between never pools it
 * again. A member of an image build that is no longer the current one is
 * replaced. Networked creates are not served from the pool (a member has no
 * NIC). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-manager-private.h"

#define POOL_CHECK_S 30
#define POOL_BACKOFF_MAX_S 60
#define TAKEN_FILE "taken"

static char *key_text(const char *image, const char *profile)
{
	return g_strdup_printf("%s/%s", image, profile);
}

static const AlkPoolKey *key_named(AlkManager *m, const char *text)
{
	for (guint i = 0; text != NULL && i < m->config->pool->len; i++) {
		const AlkPoolKey *k = &g_array_index(m->config->pool, AlkPoolKey, i);
		g_autofree char *t = key_text(k->image, k->profile);
		if (strcmp(t, text) == 0)
			return k;
	}
	return NULL;
}

static gboolean taken_marked(AlkSandbox *sb)
{
	g_autofree char *path = g_build_filename(sb->state_dir, TAKEN_FILE, NULL);
	return g_file_test(path, G_FILE_TEST_EXISTS);
}

static void mark_taken(AlkSandbox *sb)
{
	g_autofree char *path = g_build_filename(sb->state_dir, TAKEN_FILE, NULL);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0)
		g_warning("sandbox %s: marking it handed out: %s", sb->id, g_strerror(errno));
	else
		close(fd);
}

static void record_saved(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree char *id = data;
	g_autoptr(GError) error = NULL;

	if (!alk_virt_ops_finish(res, &error))
		g_warning("sandbox %s: saving its record: %s", id, error->message);
}

static void save_record(AlkSlot *slot)
{
	g_autofree char *record = alk_sandbox_record_to_json(slot->sb);

	slot->m->virt_ops->set_record(slot->m->virt_ctx, slot->sb->domain, record, record_saved,
	                              g_strdup(slot->sb->id));
}

/* The member's shape is what the request resolves to: the pool serves
 * only what a cold create would have made. */
static gboolean same_shape(const AlkLimits *a, const AlkLimits *b)
{
	return a->cpus == b->cpus && a->memory_mib == b->memory_mib && a->disk_mib == b->disk_mib &&
	       a->cpu_quota_pct == b->cpu_quota_pct && a->io_bytes_sec == b->io_bytes_sec &&
	       a->io_iops == b->io_iops && a->network == b->network &&
	       a->root_readonly == b->root_readonly && a->tmpfs_mib == b->tmpfs_mib &&
	       a->workspace_mib == b->workspace_mib;
}

/* The current build of image, or NULL (no such image now: warned). */
static char *current_build(AlkManager *m, const char *image)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkImage) img = alk_image_load(m->config->image_dir, image, &error);

	if (img == NULL) {
		g_warning("warm pool: image %s: %s", image, error->message);
		return NULL;
	}
	return g_strdup(alk_image_build(img));
}

static void hand_out(AlkSlot *slot, const AlkSandboxRequest *req, const AlkLimits *limits)
{
	AlkSandbox *sb = slot->sb;

	mark_taken(sb);
	g_clear_pointer(&sb->pool, g_free);
	sb->warm = TRUE;
	sb->limits = *limits;
	sb->created_at = g_get_real_time() / G_USEC_PER_SEC;
	sb->deadline = sb->created_at + (gint64)limits->ttl_s;
	alk_slot_add_labels(sb, req->labels);
	alk_slot_arm_ttl(slot);
	save_record(slot);
	g_message("warm pool: sandbox %s handed out", sb->id);
	alk_manager_pool_kick(slot->m);
	alk_slot_notify(slot);
}

AlkSlot *alk_slot_pool_take(AlkManager *m, const AlkSandboxRequest *req, const AlkLimits *limits)
{
	const char *image = req->image != NULL ? req->image : m->config->default_image;
	g_autofree char *key = key_text(image, limits->profile);
	g_autofree char *build = NULL;
	g_autoptr(GPtrArray) all = NULL;

	/* a member's mounts are made at its boot */
	if (limits->network != ALK_NET_NONE || key_named(m, key) == NULL ||
	    (req->readonly_paths != NULL && req->readonly_paths[0] != NULL) || req->nvolumes != 0 ||
	    (build = current_build(m, image)) == NULL)
		return NULL;
	all = alk_manager_list(m); /* oldest first */
	for (guint i = 0; i < all->len; i++) {
		AlkSandbox *sb = g_ptr_array_index(all, i);

		if (sb->state != ALK_SANDBOX_READY || g_strcmp0(sb->pool, key) != 0)
			continue;
		if (g_strcmp0(sb->build, build) != 0) {
			alk_manager_pool_kick(m); /* replaces it */
			continue;
		}
		if (!same_shape(&sb->limits, limits))
			continue;
		hand_out(ALK_SLOT(sb), req, limits);
		return ALK_SLOT(sb);
	}
	return NULL;
}

gboolean alk_slot_pool_evict(AlkManager *m)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);

	/* the newest first: the oldest are the likeliest to be ready */
	for (guint i = all->len; i-- > 0;) {
		AlkSandbox *sb = g_ptr_array_index(all, i);

		if (sb->pool != NULL && alk_sandbox_is_live(sb) &&
		    sb->state != ALK_SANDBOX_STOPPING) {
			g_message("warm pool: sandbox %s makes room for a create", sb->id);
			alk_slot_end(ALK_SLOT(sb), "evicted from the warm pool to make room");
			return TRUE;
		}
	}
	return FALSE;
}

/* Members of key alive now (stopping ones no longer count). */
static guint members(AlkManager *m, const char *key)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);
	guint n = 0;

	for (guint i = 0; i < all->len; i++) {
		AlkSandbox *sb = g_ptr_array_index(all, i);
		n += g_strcmp0(sb->pool, key) == 0 && alk_sandbox_is_live(sb) &&
		     sb->state != ALK_SANDBOX_STOPPING;
	}
	return n;
}

/* Members of an older build of key's image, or of a key no longer
 * configured, end. */
static void replace_stale(AlkManager *m)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);
	g_autoptr(GHashTable) builds =
	    g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);

	for (guint i = 0; i < all->len; i++) {
		AlkSandbox *sb = g_ptr_array_index(all, i);
		const AlkPoolKey *k = key_named(m, sb->pool);
		const char *build;

		if (sb->pool == NULL || !alk_sandbox_is_live(sb) ||
		    sb->state == ALK_SANDBOX_STOPPING)
			continue;
		/* a restore template's maker of this daemon is no member */
		if (k == NULL && alk_slot_is_template_maker(ALK_SLOT(sb)))
			continue;
		if (k == NULL) {
			alk_slot_end(ALK_SLOT(sb), "its warm pool key is no longer configured");
			continue;
		}
		if (!g_hash_table_contains(builds, k->image))
			g_hash_table_insert(builds, g_strdup(k->image), current_build(m, k->image));
		build = g_hash_table_lookup(builds, k->image);
		if (build != NULL && g_strcmp0(build, sb->build) != 0) {
			g_message("warm pool: sandbox %s is of an older build of %s: replaced",
			          sb->id, k->image);
			alk_slot_end(ALK_SLOT(sb),
			             "its image was rebuilt: replaced in the warm pool");
		}
	}
}

static gboolean refill(gpointer data)
{
	AlkManager *m = data;

	m->pool_kick = 0;
	if (!m->virt_ops->is_connected(m->virt_ctx))
		return G_SOURCE_REMOVE; /* the next kick or check tries again */
	replace_stale(m);
	for (guint i = 0; i < m->config->pool->len; i++) {
		const AlkPoolKey *k = &g_array_index(m->config->pool, AlkPoolKey, i);
		g_autofree char *key = key_text(k->image, k->profile);
		AlkSandboxRequest req = {.image = (char *)k->image, .profile = (char *)k->profile};

		for (guint have = members(m, key); have < k->n; have++) {
			g_autoptr(GError) error = NULL;
			AlkLimits limits;

			/* members never take the room of a create */
			if (alk_manager_count_live(m) >= m->config->max_sandboxes)
				return G_SOURCE_REMOVE;
			if (!alk_request_resolve(m->config, &req, &limits, &error) ||
			    alk_slot_create(m, &req, &limits, key, &error) == NULL) {
				g_warning("warm pool: %s: %s", key, error->message);
				m->pool_failures++;
				alk_manager_pool_kick(m);
				break;
			}
		}
	}
	return G_SOURCE_REMOVE;
}

void alk_manager_pool_kick(AlkManager *m)
{
	guint delay_s;

	if (m->config->pool->len == 0 || m->pool_kick != 0)
		return;
	delay_s =
	    m->pool_failures == 0 ? 0 : MIN(POOL_BACKOFF_MAX_S, 1u << MIN(m->pool_failures, 6));
	m->pool_kick =
	    delay_s == 0 ? g_idle_add(refill, m) : g_timeout_add_seconds(delay_s, refill, m);
}

void alk_slot_pool_ended(AlkSlot *slot)
{
	AlkSandbox *sb = slot->sb;

	if (sb->pool != NULL && sb->state == ALK_SANDBOX_FAILED) {
		g_warning("warm pool: member %s failed: %.*s", sb->id,
		          (int)strcspn(sb->error != NULL ? sb->error->message : "?", "\n"),
		          sb->error != NULL ? sb->error->message : "?");
		if (g_strcmp0(sb->pool, ALK_TEMPLATE_MAKER) != 0)
			slot->m->pool_failures++;
		alk_slot_forget(slot); /* nobody asked for it: not kept listed */
	}
}

void alk_slot_pool_ready(AlkSlot *slot)
{
	if (slot->sb->pool != NULL)
		slot->m->pool_failures = 0;
}

static gboolean on_check(gpointer data)
{
	alk_manager_pool_kick(data);
	return G_SOURCE_CONTINUE;
}

void alk_manager_pool_start(AlkManager *m)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);

	/* adopted members handed out just before a restart are not members */
	for (guint i = 0; i < all->len; i++) {
		AlkSandbox *sb = g_ptr_array_index(all, i);

		if (sb->pool != NULL && taken_marked(sb)) {
			g_clear_pointer(&sb->pool, g_free);
			sb->warm = TRUE;
			if (ALK_SLOT(sb)->res[ALK_RES_DOMAIN] == ALK_HOLD_HELD)
				save_record(ALK_SLOT(sb));
		}
	}
	/* members of keys no longer configured go, whatever the pool is now */
	replace_stale(m);
	if (m->config->pool->len == 0)
		return;
	m->pool_timer = g_timeout_add_seconds(POOL_CHECK_S, on_check, m);
	alk_manager_pool_kick(m);
}

void alk_manager_pool_stop(AlkManager *m)
{
	g_clear_handle_id(&m->pool_timer, g_source_remove);
	g_clear_handle_id(&m->pool_kick, g_source_remove);
}

GArray *alk_manager_pool_status(AlkManager *m)
{
	GArray *out = g_array_new(FALSE, TRUE, sizeof(AlkPoolStatus));
	g_autoptr(GPtrArray) all = alk_manager_list(m);

	for (guint i = 0; i < m->config->pool->len; i++) {
		const AlkPoolKey *k = &g_array_index(m->config->pool, AlkPoolKey, i);
		g_autofree char *key = key_text(k->image, k->profile);
		AlkPoolStatus st = {.size = k->n};

		g_strlcpy(st.key, key, sizeof(st.key));
		for (guint j = 0; j < all->len; j++) {
			const AlkSandbox *sb = g_ptr_array_index(all, j);

			if (g_strcmp0(sb->pool, key) != 0 || !alk_sandbox_is_live(sb) ||
			    sb->state == ALK_SANDBOX_STOPPING)
				continue;
			if (sb->state == ALK_SANDBOX_READY)
				st.ready++;
			else
				st.starting++;
		}
		g_array_append_val(out, st);
	}
	return out;
}
