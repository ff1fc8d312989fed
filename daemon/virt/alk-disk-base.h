/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Empty ext4 filesystems as read-only qcow2 bases, one per size, made
 * once with mkfs.ext4 (e2fsprogs) and kept: a sandbox's workspace disk is
 * an overlay on one, so it starts formatted and costs nothing until the
 * guest writes. */
#pragma once

#include <gio/gio.h>

/* dir/ext4-<mib>M.qcow2, root-owned 0444; made first if it is not there
 * (in a worker thread; creates of one size at once make it once). The
 * result is the base's path. Errors: IO, naming the step that failed. */
void alk_disk_base_ensure_async(const char *dir, guint64 mib, GCancellable *cancel,
                                GAsyncReadyCallback cb, gpointer user_data);
char *alk_disk_base_ensure_finish(GAsyncResult *res, GError **error);

/* Where that base is: dir/ext4-<mib>M.qcow2. */
char *alk_disk_base_path(const char *dir, guint64 mib);

/* The same, blocking: for a caller already on a worker. */
char *alk_disk_base_ensure(const char *dir, guint64 mib, GError **error);
