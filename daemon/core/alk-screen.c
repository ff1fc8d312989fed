/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-screen.h"

#include <gdk-pixbuf/gdk-pixbuf.h>

#include "alk-error.h"

void alk_screenshot_free(AlkScreenshot *shot)
{
	if (shot == NULL)
		return;
	g_bytes_unref(shot->png);
	g_free(shot);
}

static GdkPixbuf *decode(GBytes *png, GError **error)
{
	g_autoptr(GdkPixbufLoader) loader = gdk_pixbuf_loader_new_with_type("png", error);
	GdkPixbuf *pix;

	if (loader == NULL || !gdk_pixbuf_loader_write_bytes(loader, png, error) ||
	    !gdk_pixbuf_loader_close(loader, error)) {
		if (error != NULL && *error != NULL) {
			g_autofree char *msg = g_strdup((*error)->message);
			g_clear_error(error);
			g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED, "screenshot: %s", msg);
		}
		return NULL;
	}
	pix = gdk_pixbuf_loader_get_pixbuf(loader);
	return pix != NULL ? g_object_ref(pix) : NULL;
}

/* The size to scale to: as asked, a missing side by the aspect ratio */
static gboolean target_size(guint w, guint h, guint *tw, guint *th, GError **error)
{
	guint64 ow = *tw;
	guint64 oh = *th;

	if (w > ALK_SCREEN_MAX_SIDE || h > ALK_SCREEN_MAX_SIDE) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "a screenshot of at most %dx%d pixels", ALK_SCREEN_MAX_SIDE,
		            ALK_SCREEN_MAX_SIDE);
		return FALSE;
	}
	if (w == 0 && h == 0)
		return TRUE;
	*tw = w != 0 ? w : (guint)MAX(1, (ow * h + oh / 2) / oh);
	*th = h != 0 ? h : (guint)MAX(1, (oh * w + ow / 2) / ow);
	if (*tw > ALK_SCREEN_MAX_SIDE || *th > ALK_SCREEN_MAX_SIDE) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "a screenshot of at most %dx%d pixels", ALK_SCREEN_MAX_SIDE,
		            ALK_SCREEN_MAX_SIDE);
		return FALSE;
	}
	return TRUE;
}

static GdkPixbuf *cut(GdkPixbuf *pix, guint x, guint y, guint w, guint h, GError **error)
{
	guint sw = (guint)gdk_pixbuf_get_width(pix);
	guint sh = (guint)gdk_pixbuf_get_height(pix);

	if (w == 0)
		return g_object_ref(pix);
	if (h == 0 || x >= sw || y >= sh || w > sw - x || h > sh - y) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "region %ux%u at %u,%u is not within the %ux%u screen", w, h, x, y, sw,
		            sh);
		return NULL;
	}
	return gdk_pixbuf_new_subpixbuf(pix, (int)x, (int)y, (int)w, (int)h);
}

AlkScreenshot *alk_screenshot_from_png(GBytes *png, guint width, guint height, guint rx, guint ry,
                                       guint rw, guint rh, GError **error)
{
	g_autoptr(GdkPixbuf) pix = decode(png, error);
	g_autoptr(GdkPixbuf) part = NULL;
	g_autoptr(GdkPixbuf) scaled = NULL;
	g_autoptr(AlkScreenshot) shot = g_new0(AlkScreenshot, 1);
	gchar *buf = NULL;
	gsize len = 0;
	guint tw, th;

	if (pix == NULL || (part = cut(pix, rx, ry, rw, rh, error)) == NULL)
		return NULL;
	shot->screen_width = (guint)gdk_pixbuf_get_width(pix);
	shot->screen_height = (guint)gdk_pixbuf_get_height(pix);
	tw = (guint)gdk_pixbuf_get_width(part);
	th = (guint)gdk_pixbuf_get_height(part);
	if (!target_size(width, height, &tw, &th, error))
		return NULL;
	if (part == pix && tw == shot->screen_width && th == shot->screen_height) {
		shot->png = g_bytes_ref(png); /* as the hypervisor gave it */
	} else {
		scaled = gdk_pixbuf_scale_simple(part, (int)tw, (int)th, GDK_INTERP_BILINEAR);
		if (scaled == NULL || !gdk_pixbuf_save_to_buffer(scaled, &buf, &len, "png", error,
		                                                 "compression", "1", NULL)) {
			g_clear_error(error);
			g_set_error(error, ALK_ERROR, ALK_ERROR_FAILED,
			            "screenshot: scaling failed");
			return NULL;
		}
		shot->png = g_bytes_new_take(buf, len);
	}
	shot->width = tw;
	shot->height = th;
	return g_steal_pointer(&shot);
}
