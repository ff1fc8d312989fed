/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/sandboxes/{id}/console: the tail of the serial console log. */
#include <string.h>

#include "alk-api-private.h"

#define CONSOLE_TAIL (256 * 1024)

void alk_api_console_get(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	char *text = alk_manager_console(req->api->manager, req->id, CONSOLE_TAIL, &error);

	if (text == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	alk_api_reply_text(req, SOUP_STATUS_OK, "text/plain; charset=utf-8", text, strlen(text));
}
