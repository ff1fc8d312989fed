/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's screen as a client gets it: the PNG the hypervisor gave,
 * scaled with GdkPixbuf when asked, with the real screen's size. No I/O. */
#pragma once

#include <glib.h>

/* The largest picture a client may ask for, either way */
#define ALK_SCREEN_MAX_SIDE 4096

typedef struct {
	GBytes *png;
	guint width, height;               /* of png */
	guint screen_width, screen_height; /* the real screen's */
} AlkScreenshot;

void alk_screenshot_free(AlkScreenshot *shot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkScreenshot, alk_screenshot_free)

/* Decodes png and, when width or height is not 0, scales it to that size
 * (one of them 0: that side follows the aspect ratio); an optional region
 * (rw != 0) of the real screen is cut out first. ALK_ERROR_INVALID for a
 * size or region out of bounds, ALK_ERROR_FAILED for a picture that does
 * not decode. */
AlkScreenshot *alk_screenshot_from_png(GBytes *png, guint width, guint height, guint rx, guint ry,
                                       guint rw, guint rh, GError **error);
