/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock audit verify [--head FILE | --no-head] [FILE]: checks the audit
 * log's hash chain locally with alk_audit_verify() (no daemon needed).
 * Exits 0 when intact, 1 on the first bad line or a recorded chain break. */
#include "alk-cmd.h"

#include <string.h>

#include "alk-audit-verify.h"
#include "alk-cli-table.h"
#include "alk-json.h"

static gboolean set_head(gpointer owner, const char *value, GError **error)
{
	AlkAuditCmd *c = owner;

	if (c->head_path != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (value[0] == '\0')
		return alk_cli_usage_error(error, "an empty path");
	c->head_path = g_strdup(value);
	return TRUE;
}

static gboolean set_no_head(gpointer owner, const char *value, GError **error)
{
	((AlkAuditCmd *)owner)->no_head = TRUE;
	return TRUE;
}

static gboolean set_key(gpointer owner, const char *value, GError **error)
{
	AlkAuditCmd *c = owner;

	if (c->key_path != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (value[0] == '\0')
		return alk_cli_usage_error(error, "an empty path");
	c->key_path = g_strdup(value);
	return TRUE;
}

static const AlkCliOption audit_options[] = {
    {"head", 0, TRUE, set_head},
    {"no-head", 0, FALSE, set_no_head},
    {"key", 0, TRUE, set_key},
    {NULL, 0, FALSE, NULL},
};

void alk_audit_cmd_clear(AlkAuditCmd *c)
{
	g_clear_pointer(&c->log_path, g_free);
	g_clear_pointer(&c->head_path, g_free);
	g_clear_pointer(&c->key_path, g_free);
	c->head_derived = c->no_head = c->json = FALSE;
}

/* audit.jsonl -> audit.head, anything else -> FILE.head */
static char *head_for(const char *log)
{
	if (g_str_has_suffix(log, ".jsonl"))
		return g_strdup_printf("%.*s.head", (int)(strlen(log) - strlen(".jsonl")), log);
	return g_strconcat(log, ".head", NULL);
}

static gboolean pick_paths(AlkAuditCmd *out, const char *file, GError **error)
{
	if (out->no_head && out->head_path != NULL)
		return alk_cli_usage_error(error, "--head and --no-head exclude each other");
	if (file != NULL && file[0] == '\0')
		return alk_cli_usage_error(error, "an empty path");
	out->log_path = g_strdup(file != NULL ? file : ALK_AUDIT_LOG_PATH);
	if (out->no_head || out->head_path != NULL)
		return TRUE;
	out->head_path = file != NULL ? head_for(file) : g_strdup(ALK_AUDIT_HEAD_PATH);
	out->head_derived = file != NULL;
	return TRUE;
}

gboolean alk_cmd_audit_parse(int argc, char **argv, AlkAuditCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {{audit_options, 0}, {NULL, 0}};
	g_auto(AlkCliArgs) args = {0};
	GPtrArray *pos = NULL;

	if (!alk_cli_parse(groups, out, 2, argc, argv, &args, error))
		return FALSE;
	pos = args.positional;
	if (pos->len == 0 || strcmp(g_ptr_array_index(pos, 0), "verify") != 0)
		return alk_cli_usage_error(error,
		                           "usage: airlock audit verify [--key FILE] [FILE]");
	if (args.extra != NULL || args.command != NULL)
		return alk_cli_usage_error(error, "audit verify takes at most one FILE");
	out->json = args.json;
	return pick_paths(out, pos->len > 1 ? g_ptr_array_index(pos, 1) : NULL, error);
}

static gboolean intact(const AlkAuditReport *r)
{
	return r->problem == ALK_AUDIT_PROBLEM_NONE && r->chain_breaks == 0;
}

static char *human(const AlkAuditCmd *c, const AlkAuditReport *r)
{
	g_autofree char *detail = alk_cli_sanitize(r->detail);
	const char *head = c->head_path != NULL ? "head checked" : "head not checked";

	if (r->problem != ALK_AUDIT_PROBLEM_NONE)
		return g_strdup_printf("BAD: line %" G_GUINT64_FORMAT ": %s: %s\n", r->bad_line,
		                       alk_audit_problem_to_string(r->problem), detail);
	if (r->chain_breaks > 0)
		return g_strdup_printf("BAD: %" G_GUINT64_FORMAT " chain break(s) recorded by "
		                       "airlockd, the first at line %" G_GUINT64_FORMAT
		                       ": the log was changed while no daemon ran\n",
		                       r->chain_breaks, r->first_chain_break);
	return g_strdup_printf("OK: %" G_GUINT64_FORMAT
	                       " lines, chain intact (last seq %" G_GUINT64_FORMAT ", %s)\n",
	                       r->lines, r->last_seq, head);
}

static char *as_json(const AlkAuditCmd *c, const AlkAuditReport *r)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	gboolean bad = r->problem != ALK_AUDIT_PROBLEM_NONE;

	json_builder_begin_object(b);
	alk_json_add_bool(b, "ok", intact(r));
	alk_json_add_string(b, "log", c->log_path);
	alk_json_add_string(b, "head", c->head_path);
	alk_json_add_int(b, "lines", (gint64)r->lines);
	alk_json_add_int(b, "last_seq", (gint64)r->last_seq);
	alk_json_add_string(b, "last_hash", r->last_hash);
	alk_json_add_int(b, "chain_breaks", (gint64)r->chain_breaks);
	alk_json_add_string(b, "problem", bad ? alk_audit_problem_to_string(r->problem) : NULL);
	alk_json_add_int(b, "bad_line", bad ? (gint64)r->bad_line : 0);
	alk_json_add_string(b, "detail", bad ? r->detail : NULL);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	g_autofree char *text = alk_json_to_string(root);
	return g_strconcat(text, "\n", NULL);
}

int alk_cmd_audit(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkAuditCmd) cmd = {0};
	g_autoptr(GError) error = NULL;
	g_autofree char *text = NULL;
	g_autoptr(GBytes) key = NULL;
	AlkAuditReport report;

	memset(&report, 0, sizeof report);
	if (!alk_cmd_audit_parse(argc, argv, &cmd, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= cmd.json;
	if (cmd.head_derived && !g_file_test(cmd.head_path, G_FILE_TEST_EXISTS)) {
		g_printerr("airlock: no %s: lines cut off the end cannot be detected\n",
		           cmd.head_path);
		g_clear_pointer(&cmd.head_path, g_free);
	}
	if (cmd.key_path != NULL && (key = alk_audit_key_load(cmd.key_path, &error)) == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (!alk_audit_verify_keyed(cmd.log_path, cmd.head_path, key, &report, &error)) {
		g_prefix_error(&error, "cannot verify %s: ", cmd.log_path);
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	text = cli->json ? as_json(&cmd, &report) : human(&cmd, &report);
	if (!alk_cli_print(text, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	return intact(&report) ? ALK_EXIT_OK : ALK_EXIT_FAILURE;
}
