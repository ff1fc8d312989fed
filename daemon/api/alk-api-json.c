/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Sandboxes, limits and exec results as the JSON of the REST contract,
 * built with json-glib's builder and written by alk_json_to_string(). */
#include <string.h>

#include "alk-api-private.h"
#include "alk-json.h"

char *alk_api_json_time(gint64 unix_s)
{
	g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc(unix_s);
	return t != NULL ? g_date_time_format(t, "%Y-%m-%dT%H:%M:%SZ") : NULL;
}

static void add_time(JsonBuilder *b, const char *key, gint64 unix_s)
{
	g_autofree char *text = alk_api_json_time(unix_s);
	alk_json_add_string(b, key, text);
}

static void add_limits(JsonBuilder *b, const AlkLimits *l)
{
	json_builder_set_member_name(b, "limits");
	json_builder_begin_object(b);
	alk_limits_add_json(b, l);
	json_builder_end_object(b);
}

static void add_count(JsonBuilder *b, const char *key, guint64 n)
{
	alk_json_add_int(b, key, (gint64)MIN(n, (guint64)G_MAXINT64));
}

/* The same members in every mode, so clients need not branch on it:
 * mode none has no allowlist, no address and null counters. */
void alk_api_json_add_network(JsonBuilder *b, const AlkSandbox *sb)
{
	const AlkSandboxNet *net = &sb->net;

	json_builder_set_member_name(b, "network");
	json_builder_begin_object(b);
	alk_json_add_string(b, "mode", alk_net_mode_to_string(sb->limits.network));
	alk_json_add_strv(b, "allow", (const char *const *)net->allow);
	alk_json_add_string(b, "address", net->address);
	json_builder_set_member_name(b, "counters");
	if (sb->limits.network == ALK_NET_NONE) {
		json_builder_add_null_value(b);
	} else {
		json_builder_begin_object(b);
		add_count(b, "allowed_packets", net->allowed);
		add_count(b, "denied_packets", net->denied);
		add_count(b, "dns_queries", net->dns_queries);
		add_count(b, "dns_refused", net->dns_refused);
		json_builder_end_object(b);
	}
	json_builder_end_object(b);
}

static void add_ms(JsonBuilder *b, const char *key, gint64 ms)
{
	json_builder_set_member_name(b, key);
	if (ms < 0)
		json_builder_add_null_value(b);
	else
		json_builder_add_int_value(b, ms);
}

/* Where a cold boot's time went (null: adopted, still booting, or handed
 * out warm: its create did not boot it) */
static void add_boot(JsonBuilder *b, const AlkSandbox *sb)
{
	AlkBootPhases p;

	json_builder_set_member_name(b, "boot");
	if (sb->warm || !alk_sandbox_boot_phases(&sb->boot, &p)) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	add_ms(b, "total_ms", p.total);
	add_ms(b, "prepare_ms", p.prepare);
	add_ms(b, "libvirt_ms", p.libvirt);
	add_ms(b, "attach_ms", p.attach);
	add_ms(b, "guest_ms", p.guest);
	add_ms(b, "firmware_ms", p.firmware);
	add_ms(b, "kernel_ms", p.kernel);
	add_ms(b, "initramfs_ms", p.initramfs);
	add_ms(b, "grow_ms", p.grow);
	add_ms(b, "switch_root_ms", p.switch_root);
	add_ms(b, "agent_ms", p.agent);
	add_ms(b, "handshake_ms", p.handshake);
	json_builder_end_object(b);
}

void alk_api_json_sandbox(JsonBuilder *b, const AlkSandbox *sb, const char *state)
{
	json_builder_begin_object(b);
	alk_json_add_string(b, "id", sb->id);
	alk_json_add_string(b, "state", state != NULL ? state : alk_sandbox_state_name(sb->state));
	alk_json_add_string(b, "image", sb->image);
	alk_json_add_string(b, "profile", sb->profile);
	add_time(b, "created_at", sb->created_at);
	add_time(b, "expires_at", sb->deadline);
	alk_json_add_map(b, "labels", sb->labels);
	add_limits(b, &sb->limits);
	alk_api_json_add_network(b, sb);
	json_builder_set_member_name(b, "display");
	if (sb->limits.display_width == 0) {
		json_builder_add_null_value(b);
	} else {
		json_builder_begin_object(b);
		alk_json_add_int(b, "width", sb->limits.display_width);
		alk_json_add_int(b, "height", sb->limits.display_height);
		json_builder_end_object(b);
	}
	alk_json_add_bool(b, "adopted", sb->adopted);
	alk_json_add_bool(b, "warm", sb->warm);
	add_boot(b, sb);
	alk_json_add_int(b, "execs_running", sb->execs);
	/* ready and its agent answers its pings */
	json_builder_set_member_name(b, "healthy");
	if (sb->state == ALK_SANDBOX_READY)
		json_builder_add_boolean_value(b, sb->missed_pings == 0);
	else
		json_builder_add_null_value(b);
	alk_json_add_string(b, "error", sb->error != NULL ? sb->error->message : NULL);
	alk_json_add_string(b, "end_reason", sb->end_reason);
	json_builder_end_object(b);
}

JsonNode *alk_api_json_sandbox_node(const AlkSandbox *sb, const char *state)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	alk_api_json_sandbox(b, sb, state);
	return json_builder_get_root(b);
}

void alk_api_json_add_output(JsonBuilder *b, const char *key, const guint8 *data, gsize len)
{
	if (len == 0) {
		alk_json_add_string(b, key, "");
	} else if (alk_api_output_is_text(data, len)) {
		g_autofree char *text = g_strndup((const char *)data, len);
		alk_json_add_string(b, key, text);
	} else {
		g_autofree char *name = g_strconcat(key, "_b64", NULL);
		g_autofree char *b64 = g_base64_encode(data, len);
		alk_json_add_string(b, name, b64);
	}
}

/* exit_code and signal: the one that applies is a number, the other null. */
void alk_api_json_add_exit(JsonBuilder *b, const AlkTaskResult *result, gboolean full)
{
	const AlkMsgExit *exit = result->exit;

	json_builder_set_member_name(b, "exit_code");
	if (exit->signo == 0)
		json_builder_add_int_value(b, exit->exit_code);
	else
		json_builder_add_null_value(b);
	json_builder_set_member_name(b, "signal");
	if (exit->signo != 0)
		json_builder_add_int_value(b, exit->signo);
	else
		json_builder_add_null_value(b);
	alk_json_add_bool(b, "timed_out", exit->timed_out);
	if (full) {
		alk_json_add_bool(b, "truncated", result->truncated);
		alk_json_add_int(b, "duration_ms", (gint64)exit->duration_ms);
	}
}

void alk_api_json_add_error(JsonBuilder *b, const GError *error)
{
	json_builder_set_member_name(b, "error");
	json_builder_begin_object(b);
	alk_json_add_string(b, "code", alk_api_error_code(error));
	alk_json_add_string(b, "message", error != NULL ? error->message : "internal error");
	json_builder_end_object(b);
}
