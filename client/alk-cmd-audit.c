/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock audit verify [--head FILE | --no-head] [FILE]: checks the audit
 * log's hash chain locally with alk_audit_verify() (no daemon needed).
 * Exits 0 when intact, 1 on the first bad line or a recorded chain break. */
#include "alk-cmd.h"

#include <libsoup/soup.h>
#include <stdio.h>
#include <string.h>

#include "alk-audit-verify.h"
#include "alk-cli-table.h"
#include "alk-error.h"
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

static gboolean set_anchors(gpointer owner, const char *value, GError **error)
{
	AlkAuditCmd *c = owner;

	if (c->anchors != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (!g_str_has_prefix(value, "http://") && !g_str_has_prefix(value, "https://"))
		return alk_cli_usage_error(error, "etcd endpoints are http(s)://HOST:PORT[,...]");
	c->anchors = g_strdup(value);
	return TRUE;
}

static gboolean set_node(gpointer owner, const char *value, GError **error)
{
	AlkAuditCmd *c = owner;

	if (c->node != NULL)
		return alk_cli_usage_error(error, "given twice");
	if (!alk_audit_node_valid(value))
		return alk_cli_usage_error(error, "a node tag is two lowercase hex digits 01-ff");
	c->node = g_strdup(value);
	return TRUE;
}

static const AlkCliOption audit_options[] = {
    {"head", 0, TRUE, set_head}, {"no-head", 0, FALSE, set_no_head},
    {"key", 0, TRUE, set_key},   {"anchors", 0, TRUE, set_anchors},
    {"node", 0, TRUE, set_node}, {NULL, 0, FALSE, NULL},
};

void alk_audit_cmd_clear(AlkAuditCmd *c)
{
	g_clear_pointer(&c->log_path, g_free);
	g_clear_pointer(&c->head_path, g_free);
	g_clear_pointer(&c->key_path, g_free);
	g_clear_pointer(&c->anchors, g_free);
	g_clear_pointer(&c->node, g_free);
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
	if ((out->anchors == NULL) != (out->node == NULL))
		return alk_cli_usage_error(error, "--anchors and --node go together");
	return pick_paths(out, pos->len > 1 ? g_ptr_array_index(pos, 1) : NULL, error);
}

/* ---- anchors in etcd (docs/cluster.md) ---- */

#define ANCHOR_ANSWER_MAX (1024 * 1024)

typedef struct {
	gboolean checked;
	guint64 seq;
	char hash[65];
	char *time;
	gboolean ok;
	char *why;
} Anchor;

static void anchor_clear(Anchor *a)
{
	g_free(a->time);
	g_free(a->why);
}

/* POST body to one endpoint; the answer within ANCHOR_ANSWER_MAX */
static JsonObject *etcd_post(SoupSession *s, const char *base, const char *path, const char *body,
                             GError **error)
{
	g_autofree char *url = g_strconcat(base, path, NULL);
	g_autoptr(SoupMessage) msg = soup_message_new("POST", url);
	g_autoptr(GInputStream) in = NULL;
	g_autofree char *buf = NULL;
	g_autoptr(GBytes) bytes = g_bytes_new(body, strlen(body));
	gsize got = 0;

	if (msg == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "not a URL: %s", url);
		return NULL;
	}
	soup_message_set_request_body_from_bytes(msg, "application/json",
	                                         g_bytes_new_static(body, strlen(body)));
	in = soup_session_send(s, msg, NULL, error);
	if (in == NULL)
		return NULL;
	buf = g_malloc(ANCHOR_ANSWER_MAX + 1);
	if (!g_input_stream_read_all(in, buf, ANCHOR_ANSWER_MAX + 1, &got, NULL, error))
		return NULL;
	if (soup_message_get_status(msg) != 200 || got > ANCHOR_ANSWER_MAX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "%s answered HTTP %u (%zu bytes)",
		            url, soup_message_get_status(msg), got);
		return NULL;
	}
	return alk_json_parse_object(buf, got, ANCHOR_ANSWER_MAX, ALK_JSON_MAX_DEPTH, error);
}

static gboolean anchor_from(JsonObject *answer, Anchor *a, GError **error)
{
	JsonNode *kvs = json_object_get_member(answer, "kvs");
	JsonObject *kv;
	JsonNode *v, *seq, *hash, *time;
	g_autofree guchar *raw = NULL;
	gsize len = 0;
	g_autoptr(JsonObject) o = NULL;

	if (kvs == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND,
		            "etcd holds no anchor of this node");
		return FALSE;
	}
	if (!JSON_NODE_HOLDS_ARRAY(kvs) || json_array_get_length(json_node_get_array(kvs)) != 1 ||
	    !JSON_NODE_HOLDS_OBJECT(json_array_get_element(json_node_get_array(kvs), 0)))
		goto bad;
	kv = json_node_get_object(json_array_get_element(json_node_get_array(kvs), 0));
	v = json_object_get_member(kv, "value");
	if (v == NULL || !JSON_NODE_HOLDS_VALUE(v) ||
	    json_node_get_value_type(v) != G_TYPE_STRING || strlen(json_node_get_string(v)) > 4096)
		goto bad;
	raw = g_base64_decode(json_node_get_string(v), &len);
	o = alk_json_parse_object((const char *)raw, len, 4096, 4, NULL);
	if (o == NULL)
		goto bad;
	seq = json_object_get_member(o, "seq");
	hash = json_object_get_member(o, "hash");
	time = json_object_get_member(o, "time");
	if (seq == NULL || !JSON_NODE_HOLDS_VALUE(seq) ||
	    json_node_get_value_type(seq) != G_TYPE_INT64 || json_node_get_int(seq) < 0 ||
	    hash == NULL || !JSON_NODE_HOLDS_VALUE(hash) ||
	    json_node_get_value_type(hash) != G_TYPE_STRING ||
	    strlen(json_node_get_string(hash)) != 64 ||
	    strspn(json_node_get_string(hash), "0123456789abcdef") != 64)
		goto bad;
	a->seq = (guint64)json_node_get_int(seq);
	memcpy(a->hash, json_node_get_string(hash), 65);
	if (time != NULL && JSON_NODE_HOLDS_VALUE(time) &&
	    json_node_get_value_type(time) == G_TYPE_STRING)
		a->time = alk_cli_sanitize(json_node_get_string(time));
	return TRUE;
bad:
	g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "etcd's anchor is not {seq, hash}");
	return FALSE;
}

static gboolean fetch_anchor(const AlkAuditCmd *c, Anchor *a, GError **error)
{
	g_autoptr(SoupSession) s = soup_session_new_with_options("timeout", 10, NULL);
	g_auto(GStrv) urls = g_strsplit(c->anchors, ",", 16);
	g_autofree char *key = g_strconcat("/airlock/v1/audit/", c->node, NULL);
	g_autofree char *b64 = g_base64_encode((const guchar *)key, strlen(key));
	g_autofree char *body = g_strdup_printf("{\"key\":\"%s\"}", b64);
	g_autoptr(GError) last = NULL;

	for (guint i = 0; urls[i] != NULL; i++) {
		g_autoptr(JsonObject) answer = NULL;
		char *u = g_strstrip(urls[i]);
		gsize n = strlen(u);
		while (n > 0 && u[n - 1] == '/')
			u[--n] = '\0';
		g_clear_error(&last);
		answer = etcd_post(s, u, "/v3/kv/range", body, &last);
		if (answer != NULL)
			return anchor_from(answer, a, error);
	}
	g_propagate_prefixed_error(error, g_steal_pointer(&last), "no etcd endpoint answered: ");
	return FALSE;
}

/* Whether line a->seq of the log hashes to a->hash (the chain, verified
 * on its own, then vouches for every line before it). */
static gboolean check_anchor(const AlkAuditCmd *c, GBytes *key, const AlkAuditReport *r, Anchor *a,
                             GError **error)
{
	g_autoptr(GFile) f = g_file_new_for_path(c->log_path);
	g_autoptr(GFileInputStream) fin = NULL;
	g_autoptr(GDataInputStream) in = NULL;
	char *line;
	gsize len;

	a->checked = TRUE;
	if (a->seq == 0) {
		a->ok = TRUE;
		return TRUE;
	}
	if (a->seq > r->last_seq) {
		a->why = g_strdup_printf("the anchor is at line %" G_GUINT64_FORMAT
		                         ", the log ends at %" G_GUINT64_FORMAT ": lines were cut",
		                         a->seq, r->last_seq);
		return TRUE;
	}
	if ((fin = g_file_read(f, NULL, error)) == NULL)
		return FALSE;
	in = g_data_input_stream_new(G_INPUT_STREAM(fin));
	g_data_input_stream_set_newline_type(in, G_DATA_STREAM_NEWLINE_TYPE_LF);
	while ((line = g_data_input_stream_read_line(in, &len, NULL, error)) != NULL) {
		guint64 seq = 0;
		char digest[65];
		if (sscanf(line, "{\"seq\":%" G_GUINT64_FORMAT ",", &seq) == 1 && seq == a->seq) {
			alk_audit_digest_hex(key, line, len, digest);
			a->ok = strcmp(digest, a->hash) == 0;
			if (!a->ok)
				a->why = g_strdup_printf("line %" G_GUINT64_FORMAT
				                         " is not the one anchored: rewritten",
				                         seq);
			g_free(line);
			return TRUE;
		}
		g_free(line);
	}
	if (error != NULL && *error != NULL)
		return FALSE;
	a->why = g_strdup_printf("no line %" G_GUINT64_FORMAT " in the log", a->seq);
	return TRUE;
}

static gboolean intact(const AlkAuditReport *r)
{
	return r->problem == ALK_AUDIT_PROBLEM_NONE && r->chain_breaks == 0;
}

static char *anchor_text(const AlkAuditCmd *c, const Anchor *a)
{
	if (!a->checked)
		return g_strdup("");
	if (a->ok)
		return g_strdup_printf("OK: node %s's anchor (line %" G_GUINT64_FORMAT
		                       ", written %s) is in the chain\n",
		                       c->node, a->seq, a->time != NULL ? a->time : "?");
	return g_strdup_printf("BAD: node %s's anchor: %s\n", c->node, a->why);
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

static char *as_json(const AlkAuditCmd *c, const AlkAuditReport *r, const Anchor *a)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;
	gboolean bad = r->problem != ALK_AUDIT_PROBLEM_NONE;

	json_builder_begin_object(b);
	alk_json_add_bool(b, "ok", intact(r) && (!a->checked || a->ok));
	alk_json_add_string(b, "log", c->log_path);
	alk_json_add_string(b, "head", c->head_path);
	alk_json_add_int(b, "lines", (gint64)r->lines);
	alk_json_add_int(b, "last_seq", (gint64)r->last_seq);
	alk_json_add_string(b, "last_hash", r->last_hash);
	alk_json_add_int(b, "chain_breaks", (gint64)r->chain_breaks);
	alk_json_add_string(b, "problem", bad ? alk_audit_problem_to_string(r->problem) : NULL);
	alk_json_add_int(b, "bad_line", bad ? (gint64)r->bad_line : 0);
	alk_json_add_string(b, "detail", bad ? r->detail : NULL);
	if (a->checked) {
		json_builder_set_member_name(b, "anchor");
		json_builder_begin_object(b);
		alk_json_add_string(b, "node", c->node);
		alk_json_add_int(b, "seq", (gint64)a->seq);
		alk_json_add_string(b, "hash", a->hash);
		alk_json_add_string(b, "time", a->time);
		alk_json_add_bool(b, "ok", a->ok);
		alk_json_add_string(b, "problem", a->why);
		json_builder_end_object(b);
	}
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
	Anchor anchor = {0};

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
	if (cmd.anchors != NULL && intact(&report) &&
	    (!fetch_anchor(&cmd, &anchor, &error) ||
	     !check_anchor(&cmd, key, &report, &anchor, &error))) {
		g_prefix_error(&error, "cannot check node %s's anchor: ", cmd.node);
		anchor_clear(&anchor);
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	if (cli->json) {
		text = as_json(&cmd, &report, &anchor);
	} else {
		g_autofree char *chain = human(&cmd, &report);
		g_autofree char *more = anchor_text(&cmd, &anchor);
		text = g_strconcat(chain, more, NULL);
	}
	gboolean ok = intact(&report) && (!anchor.checked || anchor.ok);
	anchor_clear(&anchor);
	if (!alk_cli_print(text, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	return ok ? ALK_EXIT_OK : ALK_EXIT_FAILURE;
}
