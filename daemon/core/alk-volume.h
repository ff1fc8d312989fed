/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Named volumes: operator-made ext4 disks under STATE_DIR/volumes (a
 * standalone qcow2 and a small JSON beside it), attached to sandboxes at
 * create. One writable attachment at a time, or any number of read-only
 * ones; never deleted with a sandbox. */
#pragma once

#include <gio/gio.h>

#include "alk-manager.h"

#define ALK_VOLUME_MIB_MIN 16
#define ALK_VOLUME_MIB_MAX (1024 * 1024) /* 1 TiB of virtual size */
#define ALK_VOLUMES_MAX 256              /* volumes one daemon keeps */

typedef struct {
	char *name;
	guint64 size_mib;
	gint64 created_at;  /* seconds since the epoch */
	GPtrArray *writers; /* ids of the sandboxes holding it writable (0 or 1) */
	GPtrArray *readers; /* ids of those holding it read-only */
} AlkVolumeInfo;

void alk_volume_info_free(AlkVolumeInfo *v);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkVolumeInfo, alk_volume_info_free)

/* Every volume, by name. Errors: IO. */
GPtrArray *alk_manager_volumes_list(AlkManager *m, GError **error);
/* Errors: INVALID (the name), NOT_FOUND. */
AlkVolumeInfo *alk_manager_volume_get(AlkManager *m, const char *name, GError **error);
/* Makes an empty ext4 volume of size_mib (on a worker). Errors: INVALID
 * (name, size), CONFLICT (it exists or is being made), LIMIT
 * (ALK_VOLUMES_MAX), IO. */
void alk_manager_volume_create_async(AlkManager *m, const char *name, guint64 size_mib,
                                     GAsyncReadyCallback cb, gpointer user_data);
AlkVolumeInfo *alk_manager_volume_create_finish(AlkManager *m, GAsyncResult *res, GError **error);
/* Errors: INVALID, NOT_FOUND, CONFLICT (attached, or being made), IO. */
gboolean alk_manager_volume_delete(AlkManager *m, const char *name, GError **error);
