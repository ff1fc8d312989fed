/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Old image builds (alk-image.h's layout) go once nothing uses them: a build
 * other than the one `current` names is removed when no process has any of
 * its files open. QEMU holds its sandbox's base for as long as it runs, and
 * an AlkImage holds it from loading until the domain runs, so "open by some
 * process" is exactly "in use", across daemon restarts too. airlock-image
 * does the same after each build (gc_image). */
#pragma once

#include <glib.h>

/* TRUE if some process has a file under dir open. */
gboolean alk_image_builds_dir_in_use(const char *dir);

/* One pass over every image under image_dir; returns how many builds went.
 * Images being built or swept elsewhere (their .gc.lock held) are skipped.
 * Errors: IO (listing image_dir). */
gboolean alk_image_builds_sweep(const char *image_dir, guint *removed, GError **error);

/* alk_image_builds_sweep() on a worker thread; what it removes or fails on is
 * logged. Calls while a pass runs fold into one more pass after it. */
void alk_image_builds_sweep_async(const char *image_dir);
