/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/sandboxes/{id}/screen?width=&height=: the sandbox's screen as
 * PNG, taken by the hypervisor (nothing in the guest cooperates), scaled
 * when asked; the real screen's size in X-Airlock-Screen-Width/Height. */
#include "alk-api-private.h"
#include "alk-error.h"

typedef struct {
	AlkApiReq *req; /* NULL once the request went */
} ScreenGet;

static void on_abort(AlkApiReq *req, gpointer data)
{
	ScreenGet *op = data;
	g_autoptr(GError) error = NULL;

	alk_api_req_detach(req);
	op->req = NULL;
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	alk_api_reply_error(req, error);
}

static const AlkApiReqHooks screen_hooks = {.abort = on_abort};

void alk_api_screen_reply(AlkApiReq *req, const AlkScreenshot *shot)
{
	SoupMessageHeaders *h =
	    req->done ? NULL : soup_server_message_get_response_headers(req->msg);
	gsize len = 0;
	const void *data = g_bytes_get_data(shot->png, &len);

	if (h != NULL) {
		g_autofree char *w = g_strdup_printf("%u", shot->screen_width);
		g_autofree char *hh = g_strdup_printf("%u", shot->screen_height);
		soup_message_headers_replace(h, "X-Airlock-Screen-Width", w);
		soup_message_headers_replace(h, "X-Airlock-Screen-Height", hh);
		soup_message_headers_replace(h, "Cache-Control", "no-store");
	}
	alk_api_reply_text(req, SOUP_STATUS_OK, "image/png", g_memdup2(data, len), len);
}

static void taken(GObject *src, GAsyncResult *res, gpointer data)
{
	ScreenGet *op = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkScreenshot) shot = alk_manager_screenshot_finish(NULL, res, &error);

	if (op->req != NULL) {
		AlkApiReq *req = op->req;
		alk_api_req_detach(req);
		if (shot == NULL)
			alk_api_reply_error(req, error);
		else
			alk_api_screen_reply(req, shot);
	}
	g_free(op);
}

/* A query's side: absent or empty 0, else 1..ALK_SCREEN_MAX_SIDE */
gboolean alk_api_screen_side(const char *text, const char *what, guint *out, GError **error)
{
	guint64 v = 0;

	if (text == NULL || text[0] == '\0') {
		*out = 0;
		return TRUE;
	}
	if (!g_ascii_string_to_unsigned(text, 10, 1, ALK_SCREEN_MAX_SIDE, &v, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s must be 1..%d", what,
		            ALK_SCREEN_MAX_SIDE);
		return FALSE;
	}
	*out = (guint)v;
	return TRUE;
}

void alk_api_screen_get(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	AlkScreenshotArea area = {0};
	ScreenGet *op;

	if (!alk_api_screen_side(alk_api_query(req, "width"), "width", &area.width, &error) ||
	    !alk_api_screen_side(alk_api_query(req, "height"), "height", &area.height, &error) ||
	    alk_api_req_sandbox(req, &error) == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	op = g_new0(ScreenGet, 1);
	op->req = req;
	alk_api_req_hold(req);
	alk_api_req_attach(req, op, NULL, &screen_hooks);
	alk_manager_screenshot_async(req->api->manager, req->id, &area, taken, op);
}
