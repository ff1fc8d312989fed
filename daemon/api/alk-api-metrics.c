/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /metrics: the Prometheus text exposition. */
#include <string.h>

#include "alk-api-private.h"

void alk_api_metrics_get(AlkApiReq *req)
{
	AlkApi *api = req->api;
	char *text;

	if (api->metrics == NULL) {
		text = g_strdup("");
	} else {
		alk_metrics_set(api->metrics, ALK_METRIC_LIBVIRT_UP, NULL,
		                alk_manager_libvirt_up(api->manager), NULL);
		text = alk_metrics_render(api->metrics);
	}
	alk_api_reply_text(req, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", text,
	                   strlen(text));
}
