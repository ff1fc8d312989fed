/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Creating a sandbox: overlay, network, domain (paused while its tap
 * moves), then the agent channel. A clone of a restore template
 * (alk-manager-restore.c) has its overlay on the template's frozen layer
 * and its domain restored from the template's memory; if that fails it
 * boots cold, with a new overlay on the base. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "alk-domain-xml.h"
#include "alk-error.h"
#include "alk-manager-private.h"
#include "alk-overlay.h"

static char *render_xml(AlkSlot *slot, GError **error)
{
	AlkSandbox *sb = slot->sb;
	AlkManager *m = slot->m;
	g_autofree char *record = alk_sandbox_record_to_json(sb);
	g_autofree char *workspace_base = alk_slot_fs_workspace_base(slot);
	g_auto(GStrv) volumes = g_new0(char *, ALK_VOLUMES_PER_SANDBOX + 1);
	AlkDomainSpec spec = {
	    .name = sb->domain,
	    .virt_type = m->virt_type,
	    .vcpus = sb->limits.cpus,
	    .memory_mib = sb->limits.memory_mib,
	    .hard_limit_mib = m->memtune ? sb->limits.hard_limit_mib : 0,
	    .cpu_quota_pct = sb->limits.cpu_quota_pct,
	    .io_bytes_sec = sb->limits.io_bytes_sec,
	    .io_iops = sb->limits.io_iops,
	    .kernel = slot->image->kernel,
	    .initrd = slot->image->initrd,
	    .cmdline = slot->image->cmdline,
	    .overlay = sb->overlay,
	    .base = slot->image->rootfs,
	    .frozen = slot->tpl != NULL ? alk_template_frozen(slot->tpl) : NULL,
	    .console_log = sb->console_log,
	    .agent_socket = sb->agent_socket,
	    .record = record,
	    .qemu_uid = m->qemu_uid,
	    .qemu_gid = m->qemu_gid,
	    .tap = alk_slot_net_tap(slot),
	    .mac = alk_slot_net_mac(slot),
	    .display_width = sb->limits.display_width,
	    .display_height = sb->limits.display_height,
	    .workspace = sb->workspace,
	    .workspace_base = workspace_base,
	    .nvolumes = sb->nvolumes,
	};

	G_STATIC_ASSERT(ALK_VOLUMES_PER_SANDBOX <= ALK_DOMAIN_VOLUMES_MAX);
	for (guint i = 0; i < sb->nvolumes; i++) {
		volumes[i] = alk_manager_volume_path(m, sb->volumes[i].name);
		spec.volumes[i] = volumes[i];
		spec.volume_readonly[i] = sb->volumes[i].readonly;
	}
	return alk_domain_xml_render(m->config->template_dir, &spec, error);
}

/* The guest runs (error NULL), or it could not be started; its domain
 * exists either way. */
static void domain_running(AlkSlot *slot, GError *error)
{
	if (alk_slot_settled(slot, ALK_RES_DOMAIN, TRUE)) {
		/* it ended while starting: its end went on from here */
		g_clear_error(&error);
		return;
	}
	g_clear_pointer(&slot->image, alk_image_free);
	if (error != NULL) {
		alk_slot_fail(slot, error);
		return;
	}
	alk_slot_set_state(slot, ALK_SANDBOX_BOOTING);
	slot->sb->boot.running_us = g_get_monotonic_time();
	alk_slot_open_channel(slot, g_get_monotonic_time() +
	                                (gint64)slot->m->config->boot_timeout_s * G_USEC_PER_SEC);
}

static void overlay_done(GObject *src, GAsyncResult *res, gpointer data);

/* A restore failed: the sandbox boots cold, on a new overlay on the base. */
static void boot_cold(AlkSlot *slot, GError *error)
{
	alk_slot_template_broken(slot, error);
	g_error_free(error);
	slot->renew = ALK_RENEW_NONE;
	if (alk_slot_settled(slot, ALK_RES_DOMAIN, FALSE))
		return;
	unlink(slot->sb->overlay);
	slot->res[ALK_RES_FILES] = ALK_HOLD_MAKING;
	alk_overlay_create_async(slot->image->rootfs, slot->sb->overlay, slot->sb->limits.disk_mib,
	                         slot->cancel, overlay_done, alk_slot_ref(slot, NULL));
}

static void domain_started(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_virt_ops_finish(res, &error);
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (slot == NULL) {
		/* the manager let go of it (detach): it is adopted or swept later */
		g_clear_error(&error);
		return;
	}
	if (!ok && slot->tpl != NULL && slot->end == ALK_END_NONE &&
	    !g_error_matches(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE)) {
		boot_cold(slot, error);
		return;
	}
	if (!ok) {
		if (!alk_slot_settled(slot, ALK_RES_DOMAIN, FALSE))
			alk_slot_fail(slot, g_steal_pointer(&error));
		g_clear_error(&error);
		return;
	}
	slot->sb->boot.domain_us = g_get_monotonic_time();
	if (slot->net != NULL && slot->end == ALK_END_NONE)
		alk_slot_net_attach(slot, domain_running); /* still being made */
	else
		domain_running(slot, NULL);
}

/* Relabelling is off (see the template): the overlay is QEMU's because the
 * daemon says so. */
static gboolean give_to_qemu(AlkManager *m, const char *path, GError **error)
{
	if (chown(path, m->qemu_uid, m->qemu_gid) == 0)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "chown %s: %s", path, g_strerror(errno));
	return FALSE;
}

/* The overlay (and the network, if any) is there: the domain starts, paused
 * when its tap must move first. */
static void start_domain(AlkSlot *slot, GError *error)
{
	g_autofree char *xml = NULL;

	if (slot->end != ALK_END_NONE) {
		g_clear_error(&error);
		alk_slot_step(slot);
		return;
	}
	/* virt_type=auto: the KVM probe still decides */
	if (error == NULL && alk_slot_await_virt_type(slot, start_domain))
		return;
	if (error == NULL && slot->tpl != NULL && slot->net != NULL)
		alk_slot_net_use_mac(slot, alk_template_mac(slot->tpl));
	if (error == NULL)
		xml = render_xml(slot, &error);
	if (xml == NULL) {
		alk_slot_fail(slot, error);
		return;
	}
	slot->res[ALK_RES_DOMAIN] = ALK_HOLD_MAKING;
	slot->sb->boot.domain_call_us = g_get_monotonic_time();
	if (slot->tpl != NULL) {
		g_autofree char *fifo = g_build_filename(slot->sb->state_dir, "restore.fifo", NULL);
		slot->m->virt_ops->restore(slot->m->virt_ctx, alk_template_save_path(slot->tpl),
		                           xml, fifo, slot->net != NULL, domain_started,
		                           alk_slot_ref(slot, NULL));
		return;
	}
	slot->m->virt_ops->create(slot->m->virt_ctx, xml, slot->net != NULL, domain_started,
	                          alk_slot_ref(slot, NULL));
}

/* The root's overlay and the workspace's, if any, are there. */
static void disks_made(AlkSlot *slot, GError *error)
{
	if (error != NULL) {
		alk_slot_fail(slot, error);
		return;
	}
	if (alk_slot_net_wanted(slot))
		alk_slot_net_prepare(slot, start_domain);
	else
		start_domain(slot, NULL);
}

static void overlay_done(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_overlay_create_finish(res, &error);
	AlkSlot *slot = alk_slot_ref_get(ref);

	/* the files exist, with or without an overlay */
	if (slot == NULL || alk_slot_settled(slot, ALK_RES_FILES, TRUE)) {
		g_clear_error(&error);
		return;
	}
	if (!ok || !give_to_qemu(ref->m, slot->sb->overlay, &error)) {
		alk_slot_fail(slot, error);
		return;
	}
	alk_slot_fs_prepare(slot, disks_made);
}

static gboolean check_capacity(AlkManager *m, GError **error)
{
	if (!m->virt_ops->is_connected(m->virt_ctx)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		            "libvirt unavailable: reconnecting");
		return FALSE;
	}
	/* warm pool members make room for a create that needs it */
	if (alk_manager_count_live(m) >= m->config->max_sandboxes && !alk_slot_pool_evict(m)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_FULL,
		            "at capacity: %u sandboxes running (max_sandboxes)",
		            m->config->max_sandboxes);
		return FALSE;
	}
	return TRUE;
}

void alk_slot_add_labels(AlkSandbox *sb, GHashTable *labels)
{
	GHashTableIter it;
	gpointer k, v;

	if (labels == NULL)
		return;
	g_hash_table_iter_init(&it, labels);
	while (g_hash_table_iter_next(&it, &k, &v))
		g_hash_table_insert(sb->labels, g_strdup(k), g_strdup(v));
}

static AlkSandbox *sandbox_for(AlkManager *m, const AlkSandboxRequest *req, const AlkLimits *limits,
                               const AlkImage *image)
{
	char id[ALK_SANDBOX_ID_LEN + 1];
	AlkSandbox *sb;

	do {
		alk_sandbox_new_id(id);
		/* in a cluster the first byte names the node (its tag) */
		if (m->config->cluster.node[0] != '\0')
			memcpy(id, m->config->cluster.node, 2);
	} while (alk_slot_lookup(m, id) != NULL);
	sb = alk_sandbox_new(id, m->config->state_dir, m->config->run_dir);
	sb->instance = g_strdup(m->config->state_dir);
	sb->image = g_strdup(image->name);
	sb->profile = g_strdup(limits->profile);
	sb->limits = *limits;
	sb->created_at = g_get_real_time() / G_USEC_PER_SEC;
	sb->boot.start_us = g_get_monotonic_time();
	sb->deadline = sb->created_at + (gint64)limits->ttl_s;
	sb->build = g_strdup(alk_image_build(image));
	/* an OCI image's User when it is a name or numbers, else none */
	sb->default_user = g_strdup(
	    image->default_user != NULL ? image->default_user
	    : image->exec_user != NULL && alk_proto_user_valid(image->exec_user) ? image->exec_user
	                                                                         : NULL);
	sb->net.allow = g_strdupv(req->allow);
	if (req->readonly_paths != NULL && req->readonly_paths[0] != NULL)
		sb->readonly_paths = g_strdupv(req->readonly_paths);
	if (limits->workspace_mib != 0)
		sb->workspace = g_build_filename(sb->state_dir, "workspace.qcow2", NULL);
	memcpy(sb->volumes, req->volumes, sizeof sb->volumes);
	sb->nvolumes = req->nvolumes;
	alk_slot_add_labels(sb, req->labels);
	return sb;
}

AlkSlot *alk_slot_create(AlkManager *m, const AlkSandboxRequest *req, const AlkLimits *limits,
                         const char *pool, GError **error)
{
	g_autoptr(AlkImage) image = NULL;
	GError *local = NULL;
	AlkTemplate *tpl = NULL;
	AlkSlot *slot;

	image = alk_image_load(m->config->image_dir,
	                       req->image != NULL ? req->image : m->config->default_image, error);
	if (image == NULL)
		return NULL;
	if (limits->disk_mib < image->rootfs_virtual_mib) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "disk_mib %" G_GUINT64_FORMAT " is smaller than image %s's root "
		            "filesystem (%" G_GUINT64_FORMAT " MiB)",
		            limits->disk_mib, image->name, image->rootfs_virtual_mib);
		return NULL;
	}
	slot = alk_slot_add(m, sandbox_for(m, req, limits, image));
	/* claimed at once: a second create in the same turn sees it */
	if (slot->sb->nvolumes != 0)
		slot->res[ALK_RES_VOLUMES] = ALK_HOLD_HELD;
	if (pool != NULL) {
		/* its TTL starts when it is handed out */
		slot->sb->pool = g_strdup(pool);
		slot->sb->deadline = G_MAXINT32;
	}
	if (!alk_slot_prepare_dirs(slot, &local)) {
		/* a conflict means the files are someone else's: keep them */
		if (!g_error_matches(local, ALK_ERROR, ALK_ERROR_CONFLICT))
			alk_slot_remove_files(m, slot->sb->id);
		alk_slot_forget(slot);
		g_propagate_error(error, local);
		return NULL;
	}
	alk_slot_exec_defaults_take(slot, image);
	/* a template's maker never restores from one; a guest with a layout
	 * of its own (read-only root, workspace, volumes: disks and mounts)
	 * boots cold */
	if (g_strcmp0(pool, ALK_TEMPLATE_MAKER) != 0 && !alk_slot_fs_wanted(slot) &&
	    (tpl = alk_slot_template_pick(m, image, limits)) != NULL)
		alk_slot_template_hold(slot, tpl);
	slot->image = g_steal_pointer(&image);
	slot->cancel = g_cancellable_new();
	slot->res[ALK_RES_FILES] = ALK_HOLD_MAKING; /* the overlay in them */
	alk_overlay_create_async(tpl != NULL ? alk_template_frozen(tpl) : slot->image->rootfs,
	                         slot->sb->overlay, limits->disk_mib, slot->cancel, overlay_done,
	                         alk_slot_ref(slot, NULL));
	alk_slot_notify(slot);
	return slot;
}

const AlkSandbox *alk_manager_create(AlkManager *m, const AlkSandboxRequest *req, GError **error)
{
	AlkLimits limits;
	AlkSlot *slot;

	if (!alk_request_resolve(m->config, req, &limits, error) ||
	    !alk_manager_volumes_check(m, req, error))
		return NULL;
	/* a warm one, if the pool has one of this shape */
	if ((slot = alk_slot_pool_take(m, req, &limits)) != NULL)
		return slot->sb;
	if (!check_capacity(m, error) ||
	    (limits.network == ALK_NET_ALLOWLIST &&
	     !alk_manager_net_check(m, (const char *const *)req->allow, error)))
		return NULL;
	slot = alk_slot_create(m, req, &limits, NULL, error);
	return slot != NULL ? slot->sb : NULL;
}
