/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's filesystem layout: its workspace disk (an overlay on an
 * empty ext4 base, made with the root's overlay, in its state dir, so it
 * is part of its files resource and goes with them), and FS_CONFIG, which
 * the agent applies before the sandbox is ready. */
#include <errno.h>
#include <unistd.h>

#include "alk-disk-base.h"
#include "alk-error.h"
#include "alk-manager-private.h"
#include "alk-overlay.h"

char *alk_manager_disk_base_dir(AlkManager *m)
{
	return g_build_filename(m->config->state_dir, "disk-bases", NULL);
}

gboolean alk_slot_fs_wanted(AlkSlot *slot)
{
	const AlkSandbox *sb = slot->sb;

	return sb->limits.root_readonly || sb->limits.workspace_mib != 0 || sb->nvolumes != 0 ||
	       (sb->readonly_paths != NULL && sb->readonly_paths[0] != NULL);
}

static void workspace_made(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	gboolean ok = alk_overlay_create_finish(res, &error);
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (slot == NULL || alk_slot_settled(slot, ALK_RES_FILES, TRUE)) {
		g_clear_error(&error);
		return;
	}
	if (ok && chown(slot->sb->workspace, ref->m->qemu_uid, ref->m->qemu_gid) < 0)
		error = g_error_new(ALK_ERROR, ALK_ERROR_IO, "chown %s: %s", slot->sb->workspace,
		                    g_strerror(errno));
	if (error != NULL)
		g_prefix_error(&error, "the workspace disk: ");
	ref->next(slot, error);
}

static void base_ready(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	g_autofree char *base = alk_disk_base_ensure_finish(res, &error);
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (slot == NULL) {
		g_clear_error(&error);
		return;
	}
	if (base == NULL || slot->end != ALK_END_NONE) {
		/* the root's overlay is there either way */
		if (!alk_slot_settled(slot, ALK_RES_FILES, TRUE))
			ref->next(slot, error);
		else
			g_clear_error(&error);
		return;
	}
	/* still making the files: the overlay's answer settles them */
	alk_overlay_create_async(base, slot->sb->workspace, slot->sb->limits.workspace_mib,
	                         slot->cancel, workspace_made, alk_slot_ref(slot, ref->next));
}

void alk_slot_fs_prepare(AlkSlot *slot, AlkSlotNext next)
{
	g_autofree char *dir = alk_manager_disk_base_dir(slot->m);

	if (slot->sb->workspace == NULL) {
		next(slot, NULL);
		return;
	}
	slot->res[ALK_RES_FILES] = ALK_HOLD_MAKING;
	alk_disk_base_ensure_async(dir, slot->sb->limits.workspace_mib, slot->cancel, base_ready,
	                           alk_slot_ref(slot, next));
}

char *alk_slot_fs_workspace_base(AlkSlot *slot)
{
	g_autofree char *dir = NULL;

	if (slot->sb->workspace == NULL)
		return NULL;
	dir = alk_manager_disk_base_dir(slot->m);
	return alk_disk_base_path(dir, slot->sb->limits.workspace_mib);
}

static void configured(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	GError *error = NULL;
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (slot == NULL || slot->channel == NULL)
		return;
	if (!alk_channel_fs_config_finish(slot->channel, res, &error))
		g_prefix_error(&error, "setting up the guest's filesystems: ");
	ref->next(slot, error);
}

void alk_slot_fs_configure(AlkSlot *slot, AlkSlotNext next)
{
	const AlkSandbox *sb = slot->sb;
	AlkMsgFsConfig cfg = {
	    .root_readonly = sb->limits.root_readonly,
	    .tmpfs_mib = sb->limits.root_readonly ? sb->limits.tmpfs_mib : 0,
	    .workspace = sb->limits.workspace_mib != 0,
	    .owner = sb->default_user,
	};

	for (guint i = 0;
	     sb->readonly_paths != NULL && sb->readonly_paths[i] != NULL && i < ALK_FS_RO_PATHS_MAX;
	     i++)
		cfg.readonly_paths[cfg.nreadonly_paths++] = sb->readonly_paths[i];
	for (guint i = 0; i < sb->nvolumes && i < ALK_FS_VOLUMES_MAX; i++) {
		cfg.volumes[cfg.nvolumes++] = sb->volumes[i].path;
		if (sb->volumes[i].readonly)
			cfg.volumes_readonly |= 1u << i;
	}
	alk_channel_fs_config_async(slot->channel, &cfg, NULL, configured,
	                            alk_slot_ref(slot, next));
}
