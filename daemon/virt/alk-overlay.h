/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's root disk: a qcow2 overlay on the image's read-only base,
 * with the backing format stated (never probed) and a virtual size that
 * caps what the guest can ever write. */
#pragma once

#include <gio/gio.h>

/* Creates path (which must not exist). On failure nothing is left at
 * path. Runs qemu-img without blocking the main loop. */
void alk_overlay_create_async(const char *base, const char *path, guint64 disk_mib,
                              GCancellable *cancel, GAsyncReadyCallback cb, gpointer user_data);
gboolean alk_overlay_create_finish(GAsyncResult *res, GError **error);
