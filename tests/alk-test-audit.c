/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-audit.h"

#include <glib/gstdio.h>
#include <string.h>

#include "alk-audit-line.h"

char *alk_test_dir;
char *alk_test_log;
char *alk_test_head;

void alk_test_audit_setup(void)
{
	alk_test_dir = g_dir_make_tmp("test-audit-XXXXXX", NULL);
	ck_assert_ptr_nonnull(alk_test_dir);
	alk_test_log = g_build_filename(alk_test_dir, "audit.jsonl", NULL);
	alk_test_head = g_build_filename(alk_test_dir, "audit.head", NULL);
}

void alk_test_audit_teardown(void)
{
	g_autoptr(GDir) d = g_dir_open(alk_test_dir, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		g_autofree char *path = g_build_filename(alk_test_dir, name, NULL);
		g_remove(path);
	}
	g_rmdir(alk_test_dir);
	g_clear_pointer(&alk_test_dir, g_free);
	g_clear_pointer(&alk_test_log, g_free);
	g_clear_pointer(&alk_test_head, g_free);
}

JsonNode *alk_test_json(const char *text)
{
	JsonNode *node = json_from_string(text, NULL);
	ck_assert_ptr_nonnull(node);
	return node;
}

AlkAudit *alk_test_open_log(void)
{
	g_autoptr(GError) error = NULL;
	AlkAudit *audit = alk_audit_open(alk_test_log, alk_test_head, FALSE, &error);
	ck_assert_msg(audit != NULL, "%s", error != NULL ? error->message : "");
	return audit;
}

void alk_test_append_n(AlkAudit *audit, guint n)
{
	for (guint i = 0; i < n; i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonNode) args = alk_test_json("{\"argv\":[\"uname\",\"-a\"],\"i\":0}");
		g_autoptr(JsonNode) result = alk_test_json("{\"exit_code\":0,\"duration_ms\":12}");
		ck_assert_msg(alk_audit_append(audit, "uid:0", "sandbox.exec", "0123456789ab", args,
		                               result, &error),
		              "%s", error != NULL ? error->message : "");
	}
}

/* a fresh log of n lines, closed again */
void alk_test_make_log(guint n)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	alk_test_append_n(audit, n);
}

GPtrArray *alk_test_read_lines(void)
{
	g_autofree char *data = NULL;
	gsize len = 0;
	g_auto(GStrv) parts = NULL;
	GPtrArray *lines = g_ptr_array_new_with_free_func(g_free);

	ck_assert(g_file_get_contents(alk_test_log, &data, &len, NULL));
	ck_assert(len > 0 && data[len - 1] == '\n');
	data[len - 1] = '\0';
	parts = g_strsplit(data, "\n", -1);
	for (guint i = 0; parts[i] != NULL; i++)
		g_ptr_array_add(lines, g_strdup(parts[i]));
	return lines;
}

void alk_test_write_lines(GPtrArray *lines)
{
	g_autoptr(GString) out = g_string_new(NULL);

	for (guint i = 0; i < lines->len; i++)
		g_string_append_printf(out, "%s\n", (char *)g_ptr_array_index(lines, i));
	ck_assert(g_file_set_contents(alk_test_log, out->str, out->len, NULL));
}

void alk_test_replace_line(GPtrArray *lines, guint index, const char *text)
{
	g_free(lines->pdata[index]);
	lines->pdata[index] = g_strdup(text);
}

AlkAuditReport alk_test_verify(const char *head)
{
	g_autoptr(GError) error = NULL;
	AlkAuditReport report;

	ck_assert_msg(alk_audit_verify(alk_test_log, head, &report, &error), "%s",
	              error != NULL ? error->message : "");
	return report;
}

void alk_test_assert_problem(AlkAuditProblem problem, guint64 line)
{
	AlkAuditReport r = alk_test_verify(alk_test_head);
	ck_assert_msg(r.problem == problem && r.bad_line == line,
	              "want %s at %" G_GUINT64_FORMAT ", got %s at %" G_GUINT64_FORMAT ": %s",
	              alk_audit_problem_to_string(problem), line,
	              alk_audit_problem_to_string(r.problem), r.bad_line, r.detail);
}

char *alk_test_hash_of(const char *line)
{
	char hex[65];
	alk_audit_hash_hex(line, strlen(line), hex);
	return g_strdup(hex);
}

/* TRUE when line ends with "prev":"<hash of before>"} */
gboolean alk_test_chains_to(const char *line, const char *before)
{
	g_autofree char *h = alk_test_hash_of(before);
	g_autofree char *tail = g_strdup_printf(",\"prev\":\"%s\"}", h);
	return g_str_has_suffix(line, tail);
}

JsonNode *alk_test_big_object(gsize bytes)
{
	g_autofree char *big = g_malloc(bytes + 1);
	g_autoptr(JsonObject) obj = json_object_new();
	JsonNode *node = json_node_new(JSON_NODE_OBJECT);

	memset(big, 'a', bytes);
	big[bytes] = '\0';
	json_object_set_string_member(obj, "env", big);
	json_node_set_object(node, obj);
	return node;
}

void alk_test_assert_chain_break(const char *reason_part, guint64 seq)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(GPtrArray) lines = NULL;
	const char *last;
	AlkAuditReport r;

	ck_assert_ptr_nonnull(alk_audit_get_chain_break(audit));
	ck_assert_msg(strstr(alk_audit_get_chain_break(audit), reason_part) != NULL, "%s",
	              alk_audit_get_chain_break(audit));
	ck_assert_uint_eq(alk_audit_get_seq(audit), seq);
	alk_test_append_n(audit, 1);
	lines = alk_test_read_lines();
	last = lines->pdata[lines->len - 2];
	ck_assert_ptr_nonnull(strstr(last, "\"action\":\"audit.chain-break\""));
	r = alk_test_verify(alk_test_head);
	ck_assert_int_eq(r.chain_breaks, 1);
	ck_assert_uint_eq(r.first_chain_break, lines->len - 1);
	ck_assert_msg(r.problem == ALK_AUDIT_PROBLEM_NONE, "%s", r.detail);
}
