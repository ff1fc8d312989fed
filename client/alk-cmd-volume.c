/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock volume create NAME --size MIB | volume ls | volume rm NAME:
 * named volumes (/v1/volumes), which sandboxes attach at create
 * (create --volume NAME:PATH[:rw]). */
#include "alk-cmd.h"

#include "alk-cli-table.h"
#include "alk-json.h"
#include "alk-name.h"

#define ALK_CLI_VOLUME_MIB_MAX (1024 * 1024)

static gboolean set_size(gpointer owner, const char *value, GError **error)
{
	AlkVolumeCmd *c = owner;

	if (c->size_mib != 0)
		return alk_cli_usage_error(error, "given twice");
	return alk_cli_parse_uint("size (MiB)", value, 1, ALK_CLI_VOLUME_MIB_MAX, &c->size_mib,
	                          error);
}

static const AlkCliOption volume_options[] = {
    {"size", 0, TRUE, set_size},
    {NULL, 0, FALSE, NULL},
};

gboolean alk_cmd_volume_parse(int argc, char **argv, AlkVolumeCmd *c, GError **error)
{
	const AlkCliOptionGroup groups[] = {{volume_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};
	guint n;

	if (!alk_cli_parse(groups, c, 2, argc, argv, &args, error))
		return FALSE;
	c->json = args.json;
	n = args.positional->len;
	if (n == 0 || args.command != NULL || args.extra != NULL)
		return alk_cli_usage_error(error, "expected create NAME --size MIB, ls or rm NAME");
	c->action = g_ptr_array_index(args.positional, 0);
	if (g_strcmp0(c->action, "ls") == 0) {
		if (n != 1 || c->size_mib != 0)
			return alk_cli_usage_error(error, "ls takes nothing more");
		return TRUE;
	}
	if (g_strcmp0(c->action, "create") != 0 && g_strcmp0(c->action, "rm") != 0)
		return alk_cli_usage_error(error, "unknown action (create, ls, rm)");
	if (n != 2)
		return alk_cli_usage_error(error, "%s needs the volume's NAME", c->action);
	c->name = g_ptr_array_index(args.positional, 1);
	if (!alk_volume_name_is_valid(c->name))
		return alk_cli_usage_error(error, "a volume name is [a-z0-9_-]{1,%d}",
		                           ALK_VOLUME_NAME_MAX);
	if (g_strcmp0(c->action, "create") == 0 && c->size_mib == 0)
		return alk_cli_usage_error(error, "create needs --size MIB");
	if (g_strcmp0(c->action, "rm") == 0 && c->size_mib != 0)
		return alk_cli_usage_error(error, "rm takes no --size");
	return TRUE;
}

static char *holders(JsonObject *v)
{
	g_autoptr(GString) s = g_string_new(NULL);
	static const char *const keys[] = {"writable_by", "readonly_by"};

	for (guint k = 0; k < G_N_ELEMENTS(keys); k++) {
		JsonArray *a = alk_cli_json_array(v, keys[k]);
		for (guint i = 0; a != NULL && i < json_array_get_length(a); i++) {
			const char *id = json_array_get_string_element(a, i);
			g_string_append_printf(s, "%s%s%s", s->len ? "," : "",
			                       id != NULL && alk_sandbox_id_valid(id) ? id : "?",
			                       k == 0 ? "(rw)" : "(ro)");
		}
	}
	return s->len ? g_string_free(g_steal_pointer(&s), FALSE) : g_strdup("-");
}

static char *format(JsonObject *doc)
{
	static const char *const headers[] = {"NAME", "SIZE", "CREATED", "ATTACHED", NULL};
	g_autoptr(AlkCliTable) t = alk_cli_table_new(headers);
	JsonArray *all = alk_cli_json_array(doc, "volumes");

	for (guint i = 0; all != NULL && i < json_array_get_length(all); i++) {
		JsonObject *v = json_array_get_object_element(all, i);
		const char *name = v ? alk_cli_json_string(v, "name") : NULL;
		const char *created = v ? alk_cli_json_string(v, "created_at") : NULL;
		gint64 mib = 0;
		g_autofree char *size = NULL;
		g_autofree char *by = NULL;

		if (v == NULL || name == NULL || !alk_volume_name_is_valid(name))
			continue;
		alk_cli_json_int(v, "size_mib", &mib);
		size = g_strdup_printf("%" G_GINT64_FORMAT " MiB", mib);
		by = holders(v);
		const char *row[] = {name, size, created != NULL ? created : "-", by, NULL};
		alk_cli_table_add(t, row);
	}
	return alk_cli_table_to_string(t);
}

static int run_create(AlkCli *cli, const AlkVolumeCmd *c)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *body = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) answer = NULL;
	g_autofree char *line = NULL;

	json_builder_begin_object(b);
	alk_json_add_string(b, "name", c->name);
	alk_json_add_int(b, "size_mib", (gint64)c->size_mib);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	body = alk_json_to_string(root);
	answer = alk_cli_call(cli, "POST", "/v1/volumes", body, &error);
	if (answer == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json)
		return alk_cli_print_json(answer, &error) ? 0 : alk_cli_fail(cli, error, 1);
	line = g_strdup_printf("volume %s: %" G_GUINT64_FORMAT " MiB\n", c->name, c->size_mib);
	return alk_cli_print(line, &error) ? 0 : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}

static int run_rm(AlkCli *cli, const AlkVolumeCmd *c)
{
	g_autofree char *path = g_strconcat("/v1/volumes/", c->name, NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) answer = alk_cli_call(cli, "DELETE", path, NULL, &error);
	g_autofree char *line = NULL;

	if (answer == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json)
		return alk_cli_print_json(answer, &error) ? 0 : alk_cli_fail(cli, error, 1);
	line = g_strdup_printf("volume %s removed\n", c->name);
	return alk_cli_print(line, &error) ? 0 : alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
}

int alk_cmd_volume(AlkCli *cli, int argc, char **argv)
{
	g_autoptr(GError) error = NULL;
	AlkVolumeCmd c = {0};

	if (!alk_cmd_volume_parse(argc, argv, &c, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= c.json;
	if (g_strcmp0(c.action, "create") == 0)
		return run_create(cli, &c);
	if (g_strcmp0(c.action, "rm") == 0)
		return run_rm(cli, &c);
	return alk_cli_show(cli, "/v1/volumes", format);
}
