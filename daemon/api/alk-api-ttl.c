/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/ttl {ttl_s}: a new deadline, counted from now. */
#include "alk-api-private.h"
#include "alk-json.h"

typedef struct {
	guint64 ttl_s;
} AlkTtlBody;

static const AlkJsonField ttl_fields[] = {
    {"ttl_s", ALK_JSON_UINT, G_STRUCT_OFFSET(AlkTtlBody, ttl_s), TRUE, 1, G_MAXINT64, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};

/* What changed: the new deadline. */
static void audit_ttl(AlkApiReq *req, guint64 ttl_s, const AlkSandbox *sb)
{
	g_autoptr(JsonBuilder) a = json_builder_new();
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = NULL;
	g_autofree char *expires = alk_api_json_time(sb->deadline);

	json_builder_begin_object(a);
	alk_json_add_int(a, "ttl_s", (gint64)ttl_s);
	json_builder_end_object(a);
	json_builder_begin_object(r);
	alk_json_add_string(r, "expires_at", expires);
	json_builder_end_object(r);
	args = json_builder_get_root(a);
	result = json_builder_get_root(r);
	alk_api_audit(req->api, req->caller, "sandbox.ttl", sb->id, args, result);
}

void alk_api_ttl_post(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_api_req_json(req, &error);
	g_autoptr(JsonNode) node = NULL;
	AlkTtlBody body = {0};
	const AlkSandbox *sb;

	if (obj == NULL || !alk_json_read_object(obj, ttl_fields, &body, &error) ||
	    !alk_manager_set_ttl(req->api->manager, req->id, body.ttl_s, &error) ||
	    (sb = alk_api_req_sandbox(req, &error)) == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	audit_ttl(req, body.ttl_s, sb);
	node = alk_api_json_sandbox_node(sb, NULL);
	alk_api_reply_json(req, SOUP_STATUS_OK, node);
}
