/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/health: the daemon, libvirt and the virtualisation type. It
 * answers from the first moment: "starting" while reconcile or the KVM
 * probe still runs (creates then wait for the virtualisation type). */
#include "alk-api-private.h"
#include "alk-json.h"

/* The warm pool's keys, how full each is. */
static void add_pool(JsonBuilder *b, AlkManager *m)
{
	g_autoptr(GArray) pool = alk_manager_pool_status(m);

	json_builder_set_member_name(b, "pool");
	json_builder_begin_array(b);
	for (guint i = 0; i < pool->len; i++) {
		const AlkPoolStatus *st = &g_array_index(pool, AlkPoolStatus, i);

		json_builder_begin_object(b);
		alk_json_add_string(b, "key", st->key);
		alk_json_add_int(b, "size", st->size);
		alk_json_add_int(b, "ready", st->ready);
		alk_json_add_int(b, "starting", st->starting);
		json_builder_end_object(b);
	}
	json_builder_end_array(b);
}

void alk_api_health_get(AlkApiReq *req)
{
	AlkApi *api = req->api;
	gboolean up = alk_manager_libvirt_up(api->manager);
	const char *startup = alk_manager_startup(api->manager);
	gboolean done = g_strcmp0(startup, "done") == 0;
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	alk_json_add_string(b, "status", !up ? "degraded" : done ? "ok" : "starting");
	alk_json_add_string(b, "startup", startup);
	alk_json_add_string(b, "version", ALK_VERSION);
	alk_json_add_string(b, "libvirt", up ? "up" : "down");
	alk_json_add_string(b, "virt_type", alk_manager_virt_type(api->manager));
	alk_json_add_string(b, "kvm_probe",
	                    alk_kvm_probe_state_name(alk_manager_kvm_probe(api->manager)));
	alk_json_add_int(b, "sandboxes", alk_manager_count_live(api->manager));
	alk_json_add_int(b, "max_sandboxes", api->config->max_sandboxes);
	add_pool(b, api->manager);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}
