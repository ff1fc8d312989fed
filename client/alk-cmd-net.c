/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock net ID --allow ENTRY [--allow ENTRY]… | --none
 * PUT /v1/sandboxes/ID/network: the whole allowlist is replaced; prints
 * the list now in effect, in the daemon's canonical form. */
#include "alk-cmd.h"

#include "alk-allow.h"
#include "alk-cli-table.h"
#include "alk-json.h"

G_STATIC_ASSERT(ALK_CLI_ALLOW_MAX == ALK_ALLOW_MAX);

#define O(owner) ((AlkNetCmd *)(owner))

static gboolean set_allow(gpointer owner, const char *value, GError **error)
{
	AlkNetCmd *c = owner;

	if (!alk_cli_check_allow(value, error))
		return FALSE;
	if (c->allow->len >= ALK_CLI_ALLOW_MAX)
		return alk_cli_usage_error(error, "at most %d entries", ALK_CLI_ALLOW_MAX);
	g_ptr_array_add(c->allow, g_strdup(value));
	return TRUE;
}

static gboolean set_none(gpointer owner, const char *value, GError **error)
{
	O(owner)->none = TRUE;
	return TRUE;
}

static const AlkCliOption net_options[] = {
    {"allow", 0, TRUE, set_allow},
    {"none", 0, FALSE, set_none},
    {NULL, 0, FALSE, NULL},
};

void alk_net_cmd_clear(AlkNetCmd *c)
{
	g_clear_pointer(&c->allow, g_ptr_array_unref);
	c->id = NULL;
	c->none = FALSE;
	c->json = FALSE;
}

gboolean alk_cmd_net_parse(int argc, char **argv, AlkNetCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {{net_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	out->allow = g_ptr_array_new_with_free_func(g_free);
	if (!alk_cli_parse(groups, out, 1, argc, argv, &args, error))
		return FALSE;
	out->json = args.json;
	if (args.extra != NULL || args.command != NULL) {
		g_autofree char *shown = alk_cli_shown(args.extra != NULL ? args.extra[0] : "--");
		return alk_cli_usage_error(error, "unexpected argument '%s'", shown);
	}
	if (args.positional->len < 1)
		return alk_cli_usage_error(error, "missing the sandbox ID");
	out->id = g_ptr_array_index(args.positional, 0);
	if (!alk_cli_check_id(out->id, error))
		return FALSE;
	if (out->none && out->allow->len > 0)
		return alk_cli_usage_error(error, "--none and --allow exclude each other");
	if (!out->none && out->allow->len == 0)
		return alk_cli_usage_error(
		    error, "give the new allowlist: --allow ENTRY (repeatable), or --none");
	return TRUE;
}

char *alk_net_body(const AlkNetCmd *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree const char **allow = g_new0(const char *, c->allow->len + 1);

	for (guint i = 0; i < c->allow->len; i++)
		allow[i] = g_ptr_array_index(c->allow, i);
	json_builder_begin_object(b);
	alk_json_add_strv(b, "allow", allow);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

char *alk_net_describe(JsonObject *sandbox)
{
	JsonObject *net = alk_cli_json_object(sandbox, "network");
	JsonArray *allow = net != NULL ? alk_cli_json_array(net, "allow") : NULL;
	const char *id = alk_cli_json_string(sandbox, "id");
	g_autofree char *shown_id = alk_cli_sanitize(id != NULL ? id : "?");
	guint n = allow != NULL ? json_array_get_length(allow) : 0;
	GString *out = g_string_new(NULL);

	if (n == 0) {
		g_string_append_printf(out, "sandbox %s allows nothing\n", shown_id);
		return g_string_free(out, FALSE);
	}
	g_string_append_printf(out, "sandbox %s allows:\n", shown_id);
	for (guint i = 0; i < n; i++) {
		JsonNode *item = json_array_get_element(allow, i);
		const char *entry =
		    JSON_NODE_HOLDS_VALUE(item) && json_node_get_value_type(item) == G_TYPE_STRING
		        ? json_node_get_string(item)
		        : "?";
		g_autofree char *shown = alk_cli_sanitize(entry);
		g_string_append_printf(out, "  %s\n", shown);
	}
	return g_string_free(out, FALSE);
}

static char *describe(JsonObject *sandbox, gpointer data)
{
	return alk_net_describe(sandbox);
}

int alk_cmd_net(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkNetCmd) cmd = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *path = NULL;
	g_autofree char *body = NULL;

	if (!alk_cmd_net_parse(argc, argv, &cmd, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= cmd.json;
	path = g_strdup_printf("/v1/sandboxes/%s/network", cmd.id);
	body = alk_net_body(&cmd);
	return alk_cli_change(cli, "PUT", path, body, describe, NULL);
}
