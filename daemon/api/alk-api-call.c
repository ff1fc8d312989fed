/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A change the manager makes asynchronously on a sandbox for a request: an
 * allowlist, a pause, a resume. The request is held meanwhile. A change
 * under way cannot be cancelled, so its context outlives a client that
 * leaves (it is audited all the same) and the API itself (it completes
 * without touching it). */
#include "alk-api-private.h"
#include "alk-error.h"

struct _AlkApiCall {
	AlkApi *api;    /* NULL once the API is gone */
	AlkApiReq *req; /* NULL once nobody waits for the answer */
	char *id;       /* the request's, kept for the audit */
	char *caller;   /* idem */
	gint64 start_us;
	const AlkApiCallClass *klass;
	gpointer data;
	GDestroyNotify data_free;
};

static void call_free(AlkApiCall *call)
{
	if (call->data_free != NULL)
		call->data_free(call->data);
	g_free(call->id);
	g_free(call->caller);
	g_free(call);
}

const char *alk_api_call_id(const AlkApiCall *call)
{
	return call->id;
}

gpointer alk_api_call_data(const AlkApiCall *call)
{
	return call->data;
}

void alk_api_call_audit(AlkApiCall *call, const char *action, JsonNode *args, JsonNode *result)
{
	alk_api_audit(call->api, call->caller, action, call->id, args, result);
}

gint64 alk_api_call_elapsed_ms(const AlkApiCall *call)
{
	return (g_get_monotonic_time() - call->start_us) / 1000;
}

void alk_api_call_done(GObject *source, GAsyncResult *res, gpointer data)
{
	AlkApiCall *call = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = NULL;
	const AlkSandbox *sb = NULL;

	if (call->api == NULL) {
		call_free(call);
		return;
	}
	call->api->calls = g_list_remove(call->api->calls, call);
	if (call->klass->finish(call->api->manager, res, &error))
		sb = alk_manager_lookup(call->api->manager, call->id, &error);
	call->klass->audit(call, sb, error);
	if (call->req != NULL) {
		alk_api_req_detach(call->req);
		if (call->klass->reply != NULL) {
			call->klass->reply(call->req, sb, error, call->data);
		} else if (sb == NULL) {
			alk_api_reply_error(call->req, error);
		} else {
			node = alk_api_json_sandbox_node(sb, NULL);
			alk_api_reply_json(call->req, SOUP_STATUS_OK, node);
		}
	}
	call_free(call);
}

/* The client left or the daemon stops before the manager is done: the
 * change goes on (and is audited), nobody is answered. */
static void on_abort(AlkApiReq *req, gpointer data)
{
	AlkApiCall *call = data;
	g_autoptr(GError) error = NULL;

	alk_api_req_detach(req);
	call->req = NULL;
	if (req->aborted) {
		alk_api_req_release(req);
		return;
	}
	error = g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
	if (call->klass->reply != NULL)
		call->klass->reply(req, NULL, error, call->data);
	else
		alk_api_reply_error(req, error);
}

/* the call outlives the request: alk_api_call_done() frees it */
static const AlkApiReqHooks call_hooks = {.abort = on_abort};

AlkApiCall *alk_api_call_new(AlkApiReq *req, const AlkApiCallClass *klass, gpointer data,
                             GDestroyNotify data_free)
{
	AlkApiCall *call = g_new0(AlkApiCall, 1);

	call->api = req->api;
	call->req = req;
	call->id = g_strdup(req->id);
	call->caller = g_strdup(req->caller != NULL ? req->caller : req->conn->peer);
	call->start_us = g_get_monotonic_time();
	call->klass = klass;
	call->data = data;
	call->data_free = data_free;
	req->api->calls = g_list_prepend(req->api->calls, call);
	/* held first: the answer may come at once */
	alk_api_req_hold(req);
	alk_api_req_attach(req, call, NULL, &call_hooks);
	return call;
}

/* Calls still in the manager's hands complete without touching api. */
static void forget_all(AlkApi *api)
{
	for (GList *l = api->calls; l != NULL; l = l->next) {
		AlkApiCall *call = l->data;
		call->api = NULL;
		call->req = NULL;
	}
	g_clear_pointer(&api->calls, g_list_free);
}

const AlkApiResource alk_api_call_resource = {
    .name = "manager calls",
    .api_free = forget_all,
};
