/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PUT /v1/sandboxes/{id}/network {allow:[…]}: replaces a sandbox's
 * allowlist. The manager applies it asynchronously (nftables, resolver), a
 * call of alk-api-call.c: held meanwhile, audited even if the client left. */
#include "alk-allow.h" /* ALK_ALLOW_MAX, ALK_ALLOW_ENTRY_MAX: the one definition of each */
#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

typedef struct {
	char **allow;
} AlkNetworkBody;

static const AlkJsonField network_fields[] = {
    {"allow", ALK_JSON_STRING_ARRAY, G_STRUCT_OFFSET(AlkNetworkBody, allow), TRUE, 0, ALK_ALLOW_MAX,
     ALK_ALLOW_ENTRY_MAX},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};

/* args: what was asked (the call's data); result: the allowlist now in
 * effect, or why not. */
static void audit_network(AlkApiCall *call, const AlkSandbox *sb, const GError *error)
{
	g_autoptr(JsonBuilder) a = json_builder_new();
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = NULL;

	json_builder_begin_object(a);
	alk_json_add_strv(a, "allow", alk_api_call_data(call));
	json_builder_end_object(a);
	json_builder_begin_object(r);
	if (error != NULL) {
		alk_json_add_string(r, "error", error->message);
	} else {
		alk_json_add_strv(r, "allow", (const char *const *)sb->net.allow);
		alk_json_add_int(r, "generation", sb->net.generation);
	}
	alk_json_add_int(r, "elapsed_ms", alk_api_call_elapsed_ms(call));
	json_builder_end_object(r);
	args = json_builder_get_root(a);
	result = json_builder_get_root(r);
	alk_api_call_audit(call, "sandbox.network", args, result);
}

static const AlkApiCallClass network_call = {
    .finish = alk_manager_set_network_finish,
    .audit = audit_network,
};

void alk_api_network_put(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_api_req_json(req, &error);
	AlkNetworkBody body = {NULL};
	AlkApiCall *call;

	if (obj == NULL || !alk_json_read_object(obj, network_fields, &body, &error) ||
	    alk_api_req_sandbox(req, &error) == NULL) {
		alk_json_fields_clear(network_fields, &body);
		alk_api_reply_error(req, error);
		return;
	}
	call = alk_api_call_new(req, &network_call, g_steal_pointer(&body.allow),
	                        (GDestroyNotify)g_strfreev);
	alk_manager_set_network_async(req->api->manager, alk_api_call_id(call),
	                              alk_api_call_data(call), alk_api_call_done, call);
}
