/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/profiles: each tier's defaults and ceilings. */
#include "alk-api-private.h"
#include "alk-json.h"

static void add_network_modes(JsonBuilder *b, guint modes)
{
	json_builder_set_member_name(b, "network_modes");
	json_builder_begin_array(b);
	for (AlkNetMode m = ALK_NET_NONE; m <= ALK_NET_ALLOWLIST; m++) {
		if (modes & ALK_NET_FLAG(m))
			json_builder_add_string_value(b, alk_net_mode_to_string(m));
	}
	json_builder_end_array(b);
}

static void add_profile(JsonBuilder *b, const AlkProfile *p)
{
	json_builder_begin_object(b);
	alk_json_add_string(b, "name", p->name);
	alk_json_add_int(b, "cpus", p->cpus);
	alk_json_add_int(b, "max_cpus", p->max_cpus);
	alk_json_add_int(b, "memory_mib", (gint64)p->memory_mib);
	alk_json_add_int(b, "max_memory_mib", (gint64)p->max_memory_mib);
	alk_json_add_int(b, "disk_mib", (gint64)p->disk_mib);
	alk_json_add_int(b, "max_disk_mib", (gint64)p->max_disk_mib);
	alk_json_add_int(b, "ttl_s", (gint64)p->ttl_s);
	alk_json_add_int(b, "max_ttl_s", (gint64)p->max_ttl_s);
	alk_json_add_int(b, "exec_timeout_s", (gint64)p->exec_timeout_s);
	alk_json_add_int(b, "max_exec_timeout_s", (gint64)p->max_exec_timeout_s);
	alk_json_add_int(b, "cpu_quota_pct", p->cpu_quota_pct);
	alk_json_add_int(b, "io_bytes_sec", (gint64)p->io_bytes_sec);
	alk_json_add_int(b, "io_iops", (gint64)p->io_iops);
	alk_json_add_int(b, "output_cap_bytes", (gint64)p->output_cap_bytes);
	alk_json_add_int(b, "max_execs", p->max_execs);
	add_network_modes(b, p->network_modes);
	alk_json_add_bool(b, "display", p->display);
	alk_json_add_int(b, "max_display_width", p->max_display_width);
	alk_json_add_int(b, "max_display_height", p->max_display_height);
	alk_json_add_string(b, "root", p->root_readonly ? "readonly" : "writable");
	alk_json_add_int(b, "workspace_mib", (gint64)p->workspace_mib);
	alk_json_add_int(b, "max_workspace_mib", (gint64)p->max_workspace_mib);
	alk_json_add_int(b, "tmpfs_mib", p->tmpfs_mib);
	alk_json_add_string(b, "volumes", alk_volumes_mode_to_string(p->volumes));
	json_builder_end_object(b);
}

void alk_api_profiles_get(AlkApiReq *req)
{
	const AlkConfig *c = req->api->config;
	g_autoptr(JsonBuilder) b = json_builder_new();

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "profiles");
	json_builder_begin_array(b);
	for (guint i = 0; i < c->profiles->len; i++)
		add_profile(b, g_ptr_array_index(c->profiles, i));
	json_builder_end_array(b);
	alk_json_add_string(b, "default", c->default_profile);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}
