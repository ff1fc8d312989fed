/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot once, restore many ([daemon] restore = true): per image build and
 * shape a template sandbox boots to ready once; its memory is saved
 * (libvirt's save, through the virt table) and its overlay frozen, read-only,
 * as a layer under every clone's own overlay. A create of that shape is then
 * a new overlay on the frozen layer and a restore of the saved memory under
 * the clone's own name and paths (daemon/virt/alk-restore.h), followed by
 * RENEW: the agent reseeds the guest's random pool with the daemon's entropy,
 * sets the clock and greets with a new nonce; a networked clone then gets
 * NET_CONFIG as after a cold boot.
 *
 * The shape that must match (restore_key()): image build, virtualisation
 * type, vCPUs, memory, disk size (the guest grew its root filesystem to it
 * while the template booted), display mode, and whether there is a NIC (the
 * guest's devices are in the saved memory). CPU quota, I/O limits, the
 * memory hard limit, the TTL and the allowlist are the host's and may
 * differ.
 *
 * A template is a resource of each clone (ALK_RES_TEMPLATE): a clone holds
 * it from its create until its own files are gone, and a template whose
 * build is no longer current (or that failed) is deleted when its last clone
 * lets go. The template's maker is an ordinary sandbox, hidden from the list
 * as a warm pool member is (sb->pool = ALK_TEMPLATE_MAKER), without a TTL.
 * While a template holds its image build, an open descriptor on the build's
 * base keeps the image builds sweep away from it (alk-image-builds.c: open
 * means in use). Templates live under state_dir/templates and are deleted
 * at start-up unless a clone adopted from before the restart still uses
 * one. */
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-image-builds.h"
#include "alk-manager-private.h"

#define TEMPLATES_DIR "templates"
#define SAVE_FILE "memory.save"
#define FROZEN_FILE "frozen.qcow2"
/* a shape whose template failed is tried again after this long */
#define RETRY_AFTER_S 300
#define RENEW_ENTROPY 64

typedef enum {
	TPL_MAKING, /* its maker boots */
	TPL_SAVING, /* its maker's memory is being saved */
	TPL_READY,
	TPL_FAILED, /* not used until RETRY_AFTER_S passed */
} TplState;

struct AlkTemplate {
	AlkManager *m;
	char *key;
	char *image; /* its image's name and build */
	char *build;
	char *dir;
	char *save_path;
	char *frozen;
	char *maker; /* the maker's sandbox id while MAKING or SAVING */
	TplState state;
	gint64 failed_at;
	guint clones;   /* slots holding it (ALK_RES_TEMPLATE) */
	gboolean stale; /* no longer handed out: deleted when no clone holds it */
	int build_fd;   /* on the image build's base: the sweep keeps the build */
	char mac[18];   /* its NIC's, "" without one */
};

static char *restore_key(AlkManager *m, const AlkImage *image, const AlkLimits *l)
{
	return g_strdup_printf(
	    "%s@%s/%s/c%u/m%" G_GUINT64_FORMAT "/d%" G_GUINT64_FORMAT "/%ux%u/%s", image->name,
	    alk_image_build(image), m->virt_type, l->cpus, l->memory_mib, l->disk_mib,
	    l->display_width, l->display_height, l->network == ALK_NET_NONE ? "none" : "nic");
}

static char *templates_root(AlkManager *m)
{
	return g_build_filename(m->config->state_dir, TEMPLATES_DIR, NULL);
}

static void rm_dir_files(const char *dir)
{
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = g_build_filename(dir, name, NULL);
		if (unlink(path) < 0)
			g_warning("restore: removing %s: %s", path, g_strerror(errno));
	}
	if (g_rmdir(dir) < 0 && errno != ENOENT)
		g_warning("restore: removing %s: %s", dir, g_strerror(errno));
}

static void template_free(gpointer data)
{
	AlkTemplate *t = data;

	if (t->build_fd >= 0)
		close(t->build_fd);
	g_free(t->key);
	g_free(t->image);
	g_free(t->build);
	g_free(t->dir);
	g_free(t->save_path);
	g_free(t->frozen);
	g_free(t->maker);
	g_free(t);
}

/* Forgotten and deleted when no clone holds it, else when the last one
 * lets go. */
static void template_drop(AlkTemplate *t)
{
	AlkManager *m = t->m;

	t->stale = TRUE;
	if (t->clones > 0 || t->state == TPL_MAKING || t->state == TPL_SAVING)
		return;
	rm_dir_files(t->dir);
	if (g_hash_table_lookup(m->templates, t->key) == t)
		g_hash_table_steal(m->templates, t->key);
	template_free(t);
	alk_image_builds_sweep_async(m->config->image_dir);
}

static void template_failed(AlkTemplate *t, const GError *error)
{
	g_warning("restore: template %s: %s: creates of its shape boot cold", t->key,
	          error->message);
	t->state = TPL_FAILED;
	t->failed_at = g_get_monotonic_time();
	g_clear_pointer(&t->maker, g_free);
	unlink(t->save_path);
	unlink(t->frozen);
}

static AlkTemplate *template_new(AlkManager *m, const char *key, const AlkImage *image)
{
	AlkTemplate *t = g_new0(AlkTemplate, 1);
	g_autofree char *root = templates_root(m);
	g_autofree char *name = g_compute_checksum_for_string(G_CHECKSUM_SHA256, key, -1);

	name[16] = '\0';
	t->m = m;
	t->key = g_strdup(key);
	t->image = g_strdup(image->name);
	t->build = g_strdup(alk_image_build(image));
	t->dir = g_build_filename(root, name, NULL);
	t->save_path = g_build_filename(t->dir, SAVE_FILE, NULL);
	t->frozen = g_build_filename(t->dir, FROZEN_FILE, NULL);
	t->build_fd = open(image->rootfs, O_RDONLY | O_CLOEXEC);
	return t;
}

/* Boots the template's maker: a sandbox of the shape, hidden, no TTL. */
static void template_make(AlkManager *m, AlkTemplate *t, const AlkImage *image,
                          const AlkLimits *limits)
{
	g_autoptr(GError) error = NULL;
	AlkSandboxRequest req = {.image = image->name};
	AlkLimits l = *limits;
	AlkSlot *slot;

	rm_dir_files(t->dir);
	if (g_mkdir_with_parents(t->dir, 0711) < 0) {
		error = g_error_new(ALK_ERROR, ALK_ERROR_IO, "creating %s: %s", t->dir,
		                    g_strerror(errno));
		template_failed(t, error);
		return;
	}
	l.ttl_s = 0;
	/* a NIC, nothing beyond it: the guest's device is what clones need,
	 * whatever their mode (their NET_CONFIG and rules are their own) */
	if (l.network != ALK_NET_NONE)
		l.network = ALK_NET_ISOLATED;
	slot = alk_slot_create(m, &req, &l, ALK_TEMPLATE_MAKER, &error);
	if (slot == NULL) {
		template_failed(t, error);
		return;
	}
	t->state = TPL_MAKING;
	t->maker = g_strdup(slot->sb->id);
	g_message("restore: booting template %s (sandbox %s)", t->key, slot->sb->id);
}

/* The image was rebuilt: its templates of older builds are handed out no
 * more, and go when their last clone does. */
static void drop_older_builds(AlkManager *m, const AlkImage *image)
{
	g_autoptr(GPtrArray) old = g_ptr_array_new();
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, m->templates);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		AlkTemplate *t = v;
		if (strcmp(t->image, image->name) == 0 &&
		    strcmp(t->build, alk_image_build(image)) != 0)
			g_ptr_array_add(old, t);
	}
	for (guint i = 0; i < old->len; i++) {
		AlkTemplate *t = g_ptr_array_index(old, i);
		g_message("restore: template %s is of an older build of %s: replaced", t->key,
		          t->image);
		g_hash_table_steal(m->templates, t->key);
		template_drop(t);
	}
}

AlkTemplate *alk_slot_template_pick(AlkManager *m, const AlkImage *image, const AlkLimits *limits)
{
	g_autofree char *key = NULL;
	AlkTemplate *t;

	if (!m->config->restore || m->virt_type == NULL || !m->virt_ops->is_connected(m->virt_ctx))
		return NULL;
	drop_older_builds(m, image);
	key = restore_key(m, image, limits);
	t = g_hash_table_lookup(m->templates, key);
	if (t != NULL && t->state == TPL_READY)
		return t;
	if (t != NULL && (t->state != TPL_FAILED ||
	                  g_get_monotonic_time() - t->failed_at < RETRY_AFTER_S * G_USEC_PER_SEC))
		return NULL;
	if (t == NULL) {
		t = template_new(m, key, image);
		g_hash_table_insert(m->templates, t->key, t);
	}
	/* the maker counts against max_sandboxes like any sandbox */
	if (alk_manager_count_live(m) < m->config->max_sandboxes)
		template_make(m, t, image, limits);
	return NULL;
}

void alk_slot_template_hold(AlkSlot *slot, AlkTemplate *t)
{
	t->clones++;
	slot->tpl = t;
	slot->res[ALK_RES_TEMPLATE] = ALK_HOLD_HELD;
	slot->renew = ALK_RENEW_NEEDED;
}

void alk_slot_template_release(AlkSlot *slot)
{
	AlkTemplate *t = slot->tpl;

	slot->tpl = NULL;
	slot->res[ALK_RES_TEMPLATE] = ALK_HOLD_NONE;
	if (t == NULL)
		return;
	t->clones--;
	if (t->stale)
		template_drop(t);
}

const char *alk_template_frozen(const AlkTemplate *t)
{
	return t->frozen;
}

const char *alk_template_save_path(const AlkTemplate *t)
{
	return t->save_path;
}

const char *alk_template_mac(const AlkTemplate *t)
{
	return t->mac;
}

/* A restore failed: its shape boots cold from now on, until a new template. */
void alk_slot_template_broken(AlkSlot *slot, const GError *error)
{
	AlkTemplate *t = slot->tpl;

	if (t == NULL)
		return;
	g_warning("restore: sandbox %s: %s: booting it cold", slot->sb->id, error->message);
	if (!t->stale) {
		t->failed_at = g_get_monotonic_time();
		t->state = TPL_FAILED;
		t->stale = TRUE;
		if (g_hash_table_lookup(t->m->templates, t->key) == t)
			g_hash_table_steal(t->m->templates, t->key);
	}
	alk_slot_template_release(slot);
}

/* ---- the maker ---- */

static AlkTemplate *template_of_maker(AlkManager *m, const char *id)
{
	GHashTableIter it;
	gpointer v;

	g_hash_table_iter_init(&it, m->templates);
	while (g_hash_table_iter_next(&it, NULL, &v)) {
		AlkTemplate *t = v;
		if (g_strcmp0(t->maker, id) == 0)
			return t;
	}
	return NULL;
}

gboolean alk_slot_is_template_maker(AlkSlot *slot)
{
	return g_strcmp0(slot->sb->pool, ALK_TEMPLATE_MAKER) == 0 &&
	       template_of_maker(slot->m, slot->sb->id) != NULL;
}

gboolean alk_slot_template_saving(AlkSlot *slot)
{
	AlkTemplate *t = template_of_maker(slot->m, slot->sb->id);

	return t != NULL && t->state == TPL_SAVING;
}

/* The maker's overlay becomes the frozen layer: root's and read-only, so
 * that no QEMU (whose user owned it as an overlay) can write it again. */
static gboolean freeze(AlkTemplate *t, AlkSandbox *sb, GError **error)
{
	if (rename(sb->overlay, t->frozen) != 0 || chown(t->frozen, 0, 0) != 0 ||
	    chmod(t->frozen, 0444) != 0 || chown(t->save_path, 0, 0) != 0 ||
	    chmod(t->save_path, 0400) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "freezing the template's layer: %s",
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static void saved(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	g_autoptr(GError) error = NULL;
	gboolean ok = alk_virt_ops_finish(res, &error);
	AlkTemplate *t = template_of_maker(ref->m, ref->id);
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (t != NULL && ok && slot != NULL && freeze(t, slot->sb, &error)) {
		t->state = TPL_READY;
		g_clear_pointer(&t->maker, g_free);
		g_message("restore: template %s ready", t->key);
		if (t->stale)
			template_drop(t);
	} else if (t != NULL) {
		if (error == NULL)
			error = g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "its maker went away");
		template_failed(t, error);
		if (t->stale)
			template_drop(t);
	}
	if (slot == NULL)
		return;
	/* the domain is gone once saved, or may be there still */
	if (alk_slot_settled(slot, ALK_RES_DOMAIN, !ok))
		return;
	if (ok)
		alk_slot_end(slot, "its memory became a restore template");
	else
		alk_slot_fail(slot, g_steal_pointer(&error));
}

/* The maker is ready: the agent is left alone (no host connected, as a
 * clone's agent will find itself), then its memory is saved. */
void alk_slot_template_maker_ready(AlkSlot *slot)
{
	AlkTemplate *t = template_of_maker(slot->m, slot->sb->id);
	const AlkMsgHello *hello = slot->channel ? alk_channel_get_hello(slot->channel) : NULL;
	AlkManager *m = slot->m;

	if (t == NULL)
		return;
	if (hello == NULL || (hello->caps & ALK_CAP_RENEW) == 0) {
		g_autoptr(GError) error = g_error_new(
		    ALK_ERROR, ALK_ERROR_GUEST,
		    "the guest agent cannot renew its identity (no RENEW): rebuild the image");
		template_failed(t, error);
		alk_slot_end(slot, "its agent cannot be a restore template");
		return;
	}
	t->state = TPL_SAVING;
	g_strlcpy(t->mac, alk_slot_net_mac(slot) ?: "", sizeof(t->mac));
	alk_slot_stop_pings(slot);
	g_clear_pointer(&slot->channel, alk_channel_free);
	slot->res[ALK_RES_DOMAIN] = ALK_HOLD_MAKING;
	m->virt_ops->save(m->virt_ctx, slot->sb->domain, t->save_path, saved,
	                  alk_slot_ref(slot, NULL));
}

/* A maker that ended before its template was saved. */
void alk_slot_template_maker_ended(AlkSlot *slot)
{
	AlkTemplate *t = template_of_maker(slot->m, slot->sb->id);
	g_autoptr(GError) error = NULL;

	if (t == NULL || t->state == TPL_READY)
		return;
	error = slot->sb->error != NULL ? g_error_copy(slot->sb->error)
	                                : g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "%s",
	                                              slot->sb->end_reason ?: "it ended");
	template_failed(t, error);
	if (t->stale)
		template_drop(t);
}

/* ---- renewing a clone ---- */

static void renewed(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	AlkSlot *slot = alk_slot_ref_get(ref);
	gboolean ok = alk_channel_renew_finish(res, &error);

	if (slot == NULL || slot->sb->state != ALK_SANDBOX_BOOTING) {
		g_clear_error(&error);
		return;
	}
	if (!ok) {
		alk_slot_fail(slot, error);
		return;
	}
	slot->renew = ALK_RENEW_ACKED;
	alk_slot_renew_step(slot);
}

/* TRUE while the clone's renewal is not complete (the caller waits): the
 * agent's answer to RENEW and then its fresh HELLO, seen as the channel
 * ready again under a nonce other than the template's. */
gboolean alk_slot_renew_step(AlkSlot *slot)
{
	const AlkMsgHello *hello = alk_channel_get_hello(slot->channel);
	gboolean ready = alk_channel_get_state(slot->channel) == ALK_CHANNEL_READY;
	guint8 entropy[RENEW_ENTROPY];
	gint64 now = g_get_real_time();

	switch (slot->renew) {
	case ALK_RENEW_NONE:
	case ALK_RENEW_DONE:
		return FALSE;
	case ALK_RENEW_NEEDED:
		if (!ready)
			return TRUE;
		/* an agent saved while it believed a host connected does not greet
		 * a new one: the SYNC it answered made the channel ready */
		slot->renew_greeted = hello != NULL;
		if (hello != NULL)
			memcpy(slot->renew_nonce, hello->nonce, sizeof(slot->renew_nonce));
		if (getrandom(entropy, sizeof(entropy), 0) != (ssize_t)sizeof(entropy)) {
			alk_slot_fail(slot, g_error_new(ALK_ERROR, ALK_ERROR_IO,
			                                "no entropy for the clone: %s",
			                                g_strerror(errno)));
			return TRUE;
		}
		AlkMsgRenew msg = {
		    .entropy = {entropy, sizeof(entropy)},
		    .realtime_s = (guint64)(now / G_USEC_PER_SEC),
		    .realtime_ns = (guint32)(now % G_USEC_PER_SEC) * 1000,
		};
		slot->renew = ALK_RENEW_SENT;
		alk_channel_renew_async(slot->channel, &msg, renewed, alk_slot_ref(slot, NULL));
		memset(entropy, 0, sizeof(entropy));
		return TRUE;
	case ALK_RENEW_SENT:
		return TRUE;
	case ALK_RENEW_ACKED:
		/* after a HELLO, the fresh one is an agent restart to the channel:
		 * LOST, then READY under the new nonce; wait for it, so that no
		 * request fails in between. Without one, the fresh HELLO is the
		 * channel's first, and the OK proves the renewal. */
		if (slot->renew_greeted &&
		    (!ready || hello == NULL ||
		     memcmp(hello->nonce, slot->renew_nonce, sizeof(slot->renew_nonce)) == 0))
			return TRUE;
		slot->renew = ALK_RENEW_DONE;
		alk_slot_booted(slot);
		return TRUE;
	}
	return FALSE;
}

/* ---- start-up ---- */

void alk_manager_restore_start(AlkManager *m)
{
	g_autofree char *root = templates_root(m);
	g_autoptr(GDir) d = g_dir_open(root, 0, NULL);
	const char *name;

	m->templates = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, template_free);
	/* a template of before the restart is not known by its key any more:
	 * only clones adopted since may still need its frozen layer */
	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *dir = g_build_filename(root, name, NULL);
		if (alk_image_builds_dir_in_use(dir)) {
			g_message("restore: template %s kept: an adopted sandbox uses it", name);
			continue;
		}
		rm_dir_files(dir);
	}
}

void alk_manager_restore_stop(AlkManager *m)
{
	g_clear_pointer(&m->templates, g_hash_table_destroy);
}
