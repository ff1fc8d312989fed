/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* alk_audit_verify against edited, deleted, reordered, truncated, malformed,
 * oversize and huge logs, and bad head files. */
#include <check.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-audit-line.h"
#include "alk-audit.h"
#include "alk-error.h"
#include "alk-json.h"
#include "alk-test-audit.h"

#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif

static glong rss_bound_kib(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return G_MAXLONG;
#elif __has_include(<valgrind/valgrind.h>)
	return RUNNING_ON_VALGRIND ? G_MAXLONG : 16 * 1024;
#else
	return 16 * 1024;
#endif
}

static glong maxrss_kib(void)
{
	struct rusage ru;
	ck_assert_int_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

static void write_big_log(guint n)
{
	g_autoptr(JsonNode) args = alk_test_big_object(900);
	g_autoptr(GString) out = g_string_new(NULL);
	char prev[65];
	FILE *f = fopen(alk_test_log, "w");
	g_autofree char *head = NULL;

	ck_assert_ptr_nonnull(f);
	memcpy(prev, ALK_AUDIT_ZERO_HASH, 65);
	for (guint i = 1; i <= n; i++) {
		g_autoptr(GString) line =
		    alk_audit_line_format(i, "2026-01-01T00:00:00.000000Z", "uid:0", "sandbox.exec",
		                          NULL, args, NULL, prev, NULL);
		ck_assert_ptr_nonnull(line);
		alk_audit_hash_hex(line->str, line->len, prev);
		ck_assert_int_eq(fprintf(f, "%s\n", line->str), (int)line->len + 1);
	}
	ck_assert_int_eq(fclose(f), 0);
	head = g_strdup_printf("%u %s\n", n, prev);
	ck_assert(g_file_set_contents(alk_test_head, head, -1, NULL));
}

START_TEST(test_verify_edited)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree char *edited = NULL;

	alk_test_make_log(5);
	lines = alk_test_read_lines();
	edited = g_strdup(lines->pdata[2]);
	memcpy(strstr(edited, "uname"), "UNAME", 5);
	alk_test_replace_line(lines, 2, edited);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_EDITED, 3);
}
END_TEST

START_TEST(test_verify_edited_first_and_seq)
{
	g_autoptr(GPtrArray) orig = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GString) first = NULL;
	g_autoptr(GString) second = NULL;

	alk_test_make_log(3);
	orig = alk_test_read_lines();
	lines = alk_test_read_lines();
	first = g_string_new(orig->pdata[0]);
	g_string_replace(first, "\"i\":0", "\"i\":1", 1);
	alk_test_replace_line(lines, 0, first->str);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_EDITED, 1);
	/* a changed seq, with the chain otherwise intact, is that line's edit */
	second = g_string_new(orig->pdata[1]);
	g_string_replace(second, "\"seq\":2", "\"seq\":7", 1);
	alk_test_replace_line(lines, 0, orig->pdata[0]);
	alk_test_replace_line(lines, 1, second->str);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_EDITED, 2);
}
END_TEST

START_TEST(test_verify_edited_last)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GString) s = NULL;

	alk_test_make_log(4);
	lines = alk_test_read_lines();
	s = g_string_new(lines->pdata[3]);
	g_string_replace(s, "\"exit_code\":0", "\"exit_code\":1", 1);
	alk_test_replace_line(lines, 3, s->str);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_EDITED, 4);
	/* without the head, nothing vouches for the last line */
	ck_assert_int_eq(alk_test_verify(NULL).problem, ALK_AUDIT_PROBLEM_NONE);
}
END_TEST

START_TEST(test_verify_deleted)
{
	g_autoptr(GPtrArray) lines = NULL;

	alk_test_make_log(5);
	lines = alk_test_read_lines();
	g_ptr_array_remove_index(lines, 2);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_DELETED, 3);
	g_ptr_array_remove_index(lines, 0);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_DELETED, 1);
}
END_TEST

START_TEST(test_verify_reordered)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GPtrArray) repeated = NULL;
	gpointer tmp;

	alk_test_make_log(5);
	lines = alk_test_read_lines();
	repeated = alk_test_read_lines();
	tmp = lines->pdata[2];
	lines->pdata[2] = lines->pdata[3];
	lines->pdata[3] = tmp;
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_REORDERED, 3);
	/* a line repeated is seq going back */
	g_ptr_array_add(repeated, g_strdup(repeated->pdata[1]));
	alk_test_write_lines(repeated);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_REORDERED, 6);
}
END_TEST

START_TEST(test_verify_truncated)
{
	g_autoptr(GPtrArray) lines = NULL;

	alk_test_make_log(5);
	lines = alk_test_read_lines();
	g_ptr_array_set_size(lines, 3);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_TRUNCATED, 4);
	ck_assert_int_eq(alk_test_verify(NULL).problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert(g_file_set_contents(alk_test_log, "", 0, NULL));
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_TRUNCATED, 1);
}
END_TEST

/* valid line 1 of alk_test_make_log(3), then garbage in place of line 2 */
static void assert_malformed_line2(const char *garbage, gssize len)
{
	g_autoptr(GPtrArray) lines = alk_test_read_lines();
	g_autoptr(GString) out = g_string_new(NULL);

	g_string_append_printf(out, "%s\n", (char *)lines->pdata[0]);
	g_string_append_len(out, garbage, len < 0 ? (gssize)strlen(garbage) : len);
	g_string_append_printf(out, "\n%s\n", (char *)lines->pdata[2]);
	ck_assert(g_file_set_contents(alk_test_log, out->str, out->len, NULL));
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_MALFORMED, 2);
}

START_TEST(test_verify_malformed)
{
	static const char *const garbage[] = {
	    "",
	    "not json",
	    "{}",
	    "[1,2]",
	    "null",
	    "{\"seq\":2}",
	    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\"} trailing",
	    "{\"seq\":\"2\",\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "{\"time\":\"2026-01-01T00:00:00.000000Z\",\"seq\":2,\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "{\"seq\":2,\"time\":\"yesterday\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":5,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":[],\"result\":{},\"prev\":\"%s\"}",
	    "{\"seq\":2,\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\",\"x\":1}",
	    "{\"seq\":99999999999999999999,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":"
	    "\"x\",\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"ABC\"}",
	    "{\"seq\":2,\"time\":\"2026-01-01T00:00:00.000000Z\",\"caller\":\"x\\u0000\","
	    "\"action\":\"a\",\"sandbox\":null,\"args\":{},\"result\":{},\"prev\":\"%s\"}",
	    "\xff\xfe\x00garbage",
	};
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree char *h1 = NULL;
	g_autofree char *deep = g_strnfill(500000, '[');
	const char nul_line[] = "{\"seq\":2\0}";

	alk_test_make_log(3);
	lines = alk_test_read_lines();
	h1 = alk_test_hash_of(lines->pdata[0]);
	for (guint i = 0; i < G_N_ELEMENTS(garbage); i++) {
		g_autoptr(GString) s = g_string_new(garbage[i]);
		g_string_replace(s, "%s", h1, 0);
		assert_malformed_line2(s->str, -1);
	}
	assert_malformed_line2(deep, -1);
	assert_malformed_line2(nul_line, sizeof(nul_line) - 1);
}
END_TEST

START_TEST(test_verify_no_final_newline)
{
	g_autofree char *data = NULL;
	gsize len;

	alk_test_make_log(2);
	ck_assert(g_file_get_contents(alk_test_log, &data, &len, NULL));
	ck_assert(g_file_set_contents(alk_test_log, data, len - 1, NULL));
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_MALFORMED, 2);
}
END_TEST

START_TEST(test_verify_too_long)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree char *huge = g_strnfill(ALK_AUDIT_MAX_LINE + 1, 'a');
	int fd;
	glong before;

	alk_test_make_log(3);
	lines = alk_test_read_lines();
	alk_test_replace_line(lines, 1, huge);
	alk_test_write_lines(lines);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_TOO_LONG, 2);
	g_clear_pointer(&huge, g_free);
	/* 256 MiB without a newline (sparse): found with a bounded buffer */
	fd = open(alk_test_log, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 256 * 1024 * 1024), 0);
	close(fd);
	before = maxrss_kib();
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_TOO_LONG, 1);
	ck_assert_int_lt(maxrss_kib() - before, rss_bound_kib());
}
END_TEST

START_TEST(test_verify_streams)
{
	glong before;
	AlkAuditReport r;

	write_big_log(50000); /* ~50 MiB */
	before = maxrss_kib();
	r = alk_test_verify(alk_test_head);
	ck_assert_int_eq(r.problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_eq(r.lines, 50000);
	ck_assert_int_lt(maxrss_kib() - before, rss_bound_kib());
}
END_TEST

START_TEST(test_head_garbage)
{
	static const char *const heads[] = {"garbage",
	                                    "",
	                                    "5",
	                                    "-1 " ALK_AUDIT_ZERO_HASH "\n",
	                                    "2 " ALK_AUDIT_ZERO_HASH,
	                                    "2  " ALK_AUDIT_ZERO_HASH "\n",
	                                    "2 XYZ\n"};
	g_autofree char *huge = g_strnfill(1024 * 1024, '7');

	alk_test_make_log(2);
	for (guint i = 0; i < G_N_ELEMENTS(heads); i++) {
		ck_assert(g_file_set_contents(alk_test_head, heads[i], -1, NULL));
		alk_test_assert_problem(ALK_AUDIT_PROBLEM_HEAD_MISMATCH, 2);
	}
	ck_assert(g_file_set_contents(alk_test_head, huge, -1, NULL));
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_HEAD_MISMATCH, 2);
	ck_assert(g_file_set_contents(alk_test_head, "2 0\0" ALK_AUDIT_ZERO_HASH "\n", 68, NULL));
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_HEAD_MISMATCH, 2);
	alk_test_assert_chain_break("malformed", 3);
}
END_TEST

START_TEST(test_verify_empty_and_missing)
{
	g_autoptr(GError) error = NULL;
	AlkAuditReport r;

	ck_assert(!alk_audit_verify(alk_test_log, alk_test_head, &r, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_NOT_FOUND));
	ck_assert(g_file_set_contents(alk_test_log, "", 0, NULL));
	r = alk_test_verify(alk_test_head);
	ck_assert_int_eq(r.problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_eq(r.lines, 0);
	ck_assert_str_eq(r.last_hash, ALK_AUDIT_ZERO_HASH);
	alk_test_make_log(1);
	g_remove(alk_test_head);
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_HEAD_MISMATCH, 1);
}
END_TEST

/* A node's lines: node and request_id, optional, in that order, of their
 * charsets; anything else is not a line. */
START_TEST(test_node_fields)
{
	const char *t = "2026-01-01T00:00:00.000000Z";
	g_autoptr(GString) both = alk_audit_line_format_full(
	    1, t, "token:ci", "api.request", NULL, "07", "6f1c2d3e-aaaa-4bbb-8ccc-0123456789ab",
	    NULL, NULL, ALK_AUDIT_ZERO_HASH, NULL);
	g_autoptr(GString) node =
	    alk_audit_line_format_full(1, t, "token:ci", "api.request", NULL, "07", NULL, NULL,
	                               NULL, ALK_AUDIT_ZERO_HASH, NULL);
	g_autoptr(GError) error = NULL;
	AlkAuditLineInfo info;
	const char *bad_ids[] = {"", "a b", "x\n", "\"q\"", "ü", NULL};
	const char *bad_lines[] = {
	    /* out of order */
	    "{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"caller\":\"c\",\"action\":\"a\","
	    "\"sandbox\":null,\"request_id\":\"r\",\"node\":\"07\",\"args\":{},\"result\":{},"
	    "\"prev\":\"" ALK_AUDIT_ZERO_HASH "\"}",
	    /* not a tag */
	    "{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"caller\":\"c\",\"action\":\"a\","
	    "\"sandbox\":null,\"node\":\"00\",\"args\":{},\"result\":{},"
	    "\"prev\":\"" ALK_AUDIT_ZERO_HASH "\"}",
	    /* not an id */
	    "{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"caller\":\"c\",\"action\":\"a\","
	    "\"sandbox\":null,\"request_id\":\"a b\",\"args\":{},\"result\":{},"
	    "\"prev\":\"" ALK_AUDIT_ZERO_HASH "\"}",
	    /* twice */
	    "{\"seq\":1,\"time\":\"2026-01-01T00:00:00Z\",\"caller\":\"c\",\"action\":\"a\","
	    "\"sandbox\":null,\"node\":\"07\",\"node\":\"07\",\"args\":{},\"result\":{},"
	    "\"prev\":\"" ALK_AUDIT_ZERO_HASH "\"}",
	    NULL,
	};

	ck_assert_ptr_nonnull(both);
	ck_assert_ptr_nonnull(
	    strstr(both->str, "\"sandbox\":null,\"node\":\"07\",\"request_id\":"));
	ck_assert_msg(alk_audit_line_parse(both->str, both->len, &info, &error), "%s",
	              error ? error->message : "");
	ck_assert_ptr_nonnull(node);
	ck_assert(alk_audit_line_parse(node->str, node->len, &info, NULL));
	for (guint i = 0; bad_ids[i] != NULL; i++) {
		ck_assert(!alk_audit_request_id_valid(bad_ids[i]));
		ck_assert_ptr_null(alk_audit_line_format_full(
		    1, t, "c", "a", NULL, "07", bad_ids[i], NULL, NULL, ALK_AUDIT_ZERO_HASH, NULL));
	}
	g_autofree char *long_id = g_strnfill(ALK_AUDIT_MAX_REQUEST_ID + 1, 'a');
	ck_assert(!alk_audit_request_id_valid(long_id));
	for (guint i = 0; bad_lines[i] != NULL; i++)
		ck_assert_msg(
		    !alk_audit_line_parse(bad_lines[i], strlen(bad_lines[i]), &info, NULL),
		    "bad line %u taken", i);
}
END_TEST

START_TEST(test_problem_strings)
{
	for (int p = ALK_AUDIT_PROBLEM_NONE; p <= ALK_AUDIT_PROBLEM_HEAD_MISMATCH; p++)
		ck_assert_str_ne(alk_audit_problem_to_string(p), "unknown");
	ck_assert_str_eq(alk_audit_problem_to_string(99), "unknown");
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit-verify");
	TCase *tc = tcase_create("verify");

	tcase_add_checked_fixture(tc, alk_test_audit_setup, alk_test_audit_teardown);
	/* the streaming tests write and read tens of MiB, slow under valgrind */
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_verify_edited);
	tcase_add_test(tc, test_verify_edited_first_and_seq);
	tcase_add_test(tc, test_verify_edited_last);
	tcase_add_test(tc, test_verify_deleted);
	tcase_add_test(tc, test_verify_reordered);
	tcase_add_test(tc, test_verify_truncated);
	tcase_add_test(tc, test_verify_malformed);
	tcase_add_test(tc, test_verify_no_final_newline);
	tcase_add_test(tc, test_verify_too_long);
	tcase_add_test(tc, test_verify_streams);
	tcase_add_test(tc, test_head_garbage);
	tcase_add_test(tc, test_verify_empty_and_missing);
	tcase_add_test(tc, test_problem_strings);
	tcase_add_test(tc, test_node_fields);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(audit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
