/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /v1/volumes: named volumes (daemon/core/alk-volume.c). Listing is read
 * scope; making and removing them is the operator's (admin), as images are. */
#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"
#include "alk-volume.h"

static void add_ids(JsonBuilder *b, const char *key, GPtrArray *ids)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; i < ids->len; i++)
		json_builder_add_string_value(b, g_ptr_array_index(ids, i));
	json_builder_end_array(b);
}

static void add_volume(JsonBuilder *b, const AlkVolumeInfo *v)
{
	g_autofree char *created = alk_api_json_time(v->created_at);

	json_builder_begin_object(b);
	alk_json_add_string(b, "name", v->name);
	alk_json_add_int(b, "size_mib", (gint64)v->size_mib);
	alk_json_add_string(b, "created_at", created);
	add_ids(b, "writable_by", v->writers);
	add_ids(b, "readonly_by", v->readers);
	json_builder_end_object(b);
}

static JsonNode *volume_node(const AlkVolumeInfo *v)
{
	g_autoptr(JsonBuilder) b = json_builder_new();

	add_volume(b, v);
	return json_builder_get_root(b);
}

void alk_api_volumes_list(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) all = alk_manager_volumes_list(req->api->manager, &error);
	g_autoptr(JsonBuilder) b = json_builder_new();

	if (all == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "volumes");
	json_builder_begin_array(b);
	for (guint i = 0; i < all->len; i++)
		add_volume(b, g_ptr_array_index(all, i));
	json_builder_end_array(b);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}

void alk_api_volumes_get(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkVolumeInfo) v = alk_manager_volume_get(req->api->manager, req->id, &error);
	g_autoptr(JsonNode) node = NULL;

	if (v == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	node = volume_node(v);
	alk_api_reply_json(req, SOUP_STATUS_OK, node);
}

typedef struct {
	char *name;
	guint64 size_mib;
} CreateBody;

static const AlkJsonField create_fields[] = {
    {"name", ALK_JSON_STRING, G_STRUCT_OFFSET(CreateBody, name), TRUE, 1, 64, 0},
    {"size_mib", ALK_JSON_UINT, G_STRUCT_OFFSET(CreateBody, size_mib), TRUE, 0, G_MAXINT64, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};

/* The request is held while a worker makes the disk; if the client left,
 * the volume is made all the same and audited. */
typedef struct {
	AlkApi *api;
	AlkApiReq *req; /* NULL once the client left */
	char *caller;
} CreateCall;

static void call_abort(AlkApiReq *req, gpointer data)
{
	CreateCall *c = data;

	c->req = NULL;
	if (!req->aborted) {
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
		alk_api_reply_error(req, error);
	}
}

static const AlkApiReqHooks create_hooks = {.abort = call_abort};

static void created(GObject *src, GAsyncResult *res, gpointer data)
{
	CreateCall *c = data;
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkVolumeInfo) v = alk_manager_volume_create_finish(c->api->manager, res, &error);
	g_autoptr(JsonNode) node = v != NULL ? volume_node(v) : NULL;

	if (v != NULL)
		alk_api_audit(c->api, c->caller, "volume.create", NULL, NULL, node);
	if (c->req != NULL) {
		AlkApiReq *req = c->req;

		alk_api_req_detach(req);
		if (v != NULL)
			alk_api_reply_json(req, SOUP_STATUS_CREATED, node);
		else
			alk_api_reply_error(req, error);
	}
	g_free(c->caller);
	g_free(c);
}

void alk_api_volumes_create(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_api_req_json(req, &error);
	CreateBody body = {NULL, 0};
	CreateCall *c;

	if (obj == NULL || !alk_json_read_object(obj, create_fields, &body, &error)) {
		alk_json_fields_clear(create_fields, &body);
		alk_api_reply_error(req, error);
		return;
	}
	c = g_new0(CreateCall, 1);
	c->api = req->api;
	c->req = req;
	c->caller = g_strdup(req->caller);
	alk_api_req_hold(req);
	alk_api_req_attach(req, c, NULL, &create_hooks);
	alk_manager_volume_create_async(req->api->manager, body.name, body.size_mib, created, c);
	alk_json_fields_clear(create_fields, &body);
}

void alk_api_volumes_delete(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkVolumeInfo) v = alk_manager_volume_get(req->api->manager, req->id, &error);
	g_autoptr(JsonNode) node = v != NULL ? volume_node(v) : NULL;

	if (v == NULL || !alk_manager_volume_delete(req->api->manager, req->id, &error)) {
		alk_api_reply_error(req, error);
		return;
	}
	alk_api_audit(req->api, req->caller, "volume.delete", NULL, NULL, node);
	alk_api_reply_json(req, SOUP_STATUS_OK, node);
}
