/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PUT /v1/sandboxes/{id}/network {allow:[…]}: replaces a sandbox's
 * allowlist. The manager applies it asynchronously (nftables, resolver);
 * the request is held meanwhile. A change under way cannot be cancelled,
 * so its context outlives a client that leaves: it is audited all the same. */
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

struct _AlkApiNetwork {
	AlkApi *api;     /* NULL once the API is gone */
	AlkApiReq *req;  /* NULL once the request is over (client gone, stopping) */
	char *id;        /* the request's, kept for the audit */
	char *caller;    /* idem */
	char **allow;    /* as asked */
	gint64 start_us; /* for the audit */
};

static void network_free(AlkApiNetwork *ctx)
{
	g_free(ctx->id);
	g_free(ctx->caller);
	g_strfreev(ctx->allow);
	g_free(ctx);
}

/* args: what was asked; result: the allowlist now in effect, or why not. */
static void audit_network(AlkApiNetwork *ctx, const AlkSandbox *sb, const GError *error)
{
	g_autoptr(JsonBuilder) a = json_builder_new();
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) args = NULL;
	g_autoptr(JsonNode) result = NULL;

	json_builder_begin_object(a);
	alk_json_add_strv(a, "allow", (const char *const *)ctx->allow);
	json_builder_end_object(a);
	json_builder_begin_object(r);
	if (error != NULL) {
		alk_json_add_string(r, "error", error->message);
	} else {
		alk_json_add_strv(r, "allow", (const char *const *)sb->net.allow);
		alk_json_add_int(r, "generation", sb->net.generation);
	}
	alk_json_add_int(r, "elapsed_ms", (g_get_monotonic_time() - ctx->start_us) / 1000);
	json_builder_end_object(r);
	args = json_builder_get_root(a);
	result = json_builder_get_root(r);
	alk_api_audit(ctx->api, ctx->caller, "sandbox.network", ctx->id, args, result);
}

static void on_set(GObject *source, GAsyncResult *res, gpointer data)
{
	AlkApiNetwork *ctx = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	const AlkSandbox *sb = NULL;

	if (ctx->api == NULL) {
		network_free(ctx);
		return;
	}
	ctx->api->networks = g_list_remove(ctx->api->networks, ctx);
	if (alk_manager_set_network_finish(ctx->api->manager, res, &error))
		sb = alk_manager_lookup(ctx->api->manager, ctx->id, &error);
	audit_network(ctx, sb, error);
	if (ctx->req != NULL) {
		alk_api_req_detach(ctx->req);
		if (sb == NULL)
			alk_api_reply_error(ctx->req, error);
		else {
			node = alk_api_json_sandbox_node(sb, NULL);
			alk_api_reply_json(ctx->req, SOUP_STATUS_OK, node);
		}
	}
	network_free(ctx);
}

/* The client left or the daemon stops before the manager is done: the
 * change goes on (and is audited), nobody is answered. */
static void on_abort(AlkApiReq *req, gpointer data)
{
	AlkApiNetwork *ctx = data;
	g_autoptr(GError) error = NULL;

	alk_api_req_detach(req);
	ctx->req = NULL;
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	alk_api_reply_error(req, error);
}

/* ctx outlives the request: on_set frees it. */
static const AlkApiReqHooks network_hooks = {.abort = on_abort};

void alk_api_network_put(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_api_req_json(req, &error);
	AlkNetworkBody body = {NULL};
	AlkApiNetwork *ctx;

	if (obj == NULL || !alk_json_read_object(obj, network_fields, &body, &error) ||
	    alk_api_req_sandbox(req, &error) == NULL) {
		alk_json_fields_clear(network_fields, &body);
		alk_api_reply_error(req, error);
		return;
	}
	ctx = g_new0(AlkApiNetwork, 1);
	ctx->api = req->api;
	ctx->req = req;
	ctx->id = g_strdup(req->id);
	ctx->caller = g_strdup(req->caller != NULL ? req->caller : req->conn->peer);
	ctx->allow = g_steal_pointer(&body.allow);
	ctx->start_us = g_get_monotonic_time();
	req->api->networks = g_list_prepend(req->api->networks, ctx);
	/* held first: the answer may come at once */
	alk_api_req_hold(req);
	alk_api_req_attach(req, ctx, NULL, &network_hooks);
	alk_manager_set_network_async(req->api->manager, ctx->id, (const char *const *)ctx->allow,
	                              on_set, ctx);
}

/* Changes still in the manager's hands complete without touching api. */
static void forget_all(AlkApi *api)
{
	for (GList *l = api->networks; l != NULL; l = l->next) {
		AlkApiNetwork *ctx = l->data;
		ctx->api = NULL;
		ctx->req = NULL;
	}
	g_clear_pointer(&api->networks, g_list_free);
}

const AlkApiResource alk_api_network_resource = {
    .name = "network",
    .api_free = forget_all,
};
