/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log writer: line format, hostile args and fields, the chain
 * across restarts and chain breaks, one writer, failed writes, group
 * commit (one sync for many lines, waiters after their sync, a failed
 * sync failing every waiter). */
#include <check.h>
#include <fcntl.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-audit-line.h"
#include "alk-audit.h"
#include "alk-error.h"
#include "alk-json.h"
#include "alk-test-audit.h"

START_TEST(test_line_format)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree char *head = NULL;
	g_autofree char *h2 = NULL;
	g_autofree char *want_head = NULL;
	struct stat st;

	ck_assert_ptr_null(alk_audit_get_chain_break(audit));
	alk_test_append_n(audit, 2);
	ck_assert_uint_eq(alk_audit_get_seq(audit), 2);
	lines = alk_test_read_lines();
	ck_assert_uint_eq(lines->len, 2);
	ck_assert(g_regex_match_simple(
	    "^\\{\"seq\":1,\"time\":\"\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{6}Z\","
	    "\"caller\":\"uid:0\",\"action\":\"sandbox.exec\",\"sandbox\":\"0123456789ab\","
	    "\"args\":\\{\"argv\":\\[\"uname\",\"-a\"\\],\"i\":0\\},"
	    "\"result\":\\{\"exit_code\":0,\"duration_ms\":12\\},\"prev\":\"0{64}\"\\}$",
	    lines->pdata[0], 0, 0));
	h2 = alk_test_hash_of(lines->pdata[1]);
	ck_assert(alk_test_chains_to(lines->pdata[1], lines->pdata[0]));
	ck_assert(g_str_has_prefix(lines->pdata[1], "{\"seq\":2,"));
	ck_assert(g_file_get_contents(alk_test_head, &head, NULL, NULL));
	want_head = g_strdup_printf("2 %s\n", h2);
	ck_assert_str_eq(head, want_head);
	ck_assert_int_eq(stat(alk_test_log, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(stat(alk_test_head, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
}
END_TEST

START_TEST(test_null_sandbox_and_objects)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(GPtrArray) lines = NULL;

	ck_assert(alk_audit_append(audit, "token:ci", "sandbox.list", NULL, NULL, NULL, NULL));
	lines = alk_test_read_lines();
	ck_assert_ptr_nonnull(strstr(lines->pdata[0], "\"caller\":\"token:ci\",\"action\":"
	                                              "\"sandbox.list\",\"sandbox\":null,"
	                                              "\"args\":{},\"result\":{},\"prev\""));
}
END_TEST

START_TEST(test_reopen_continues)
{
	g_autoptr(AlkAudit) audit = NULL;
	g_autoptr(GPtrArray) lines = NULL;
	AlkAuditReport r;

	alk_test_make_log(3);
	audit = alk_test_open_log();
	ck_assert_ptr_null(alk_audit_get_chain_break(audit));
	ck_assert_uint_eq(alk_audit_get_seq(audit), 3);
	alk_test_append_n(audit, 1);
	lines = alk_test_read_lines();
	ck_assert_uint_eq(lines->len, 4);
	ck_assert(g_str_has_prefix(lines->pdata[3], "{\"seq\":4,"));
	ck_assert(alk_test_chains_to(lines->pdata[3], lines->pdata[2]));
	r = alk_test_verify(alk_test_head);
	ck_assert_int_eq(r.problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_eq(r.lines, 4);
	ck_assert_uint_eq(r.last_seq, 4);
	ck_assert_uint_eq(r.chain_breaks, 0);
}
END_TEST

START_TEST(test_hostile_strings)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(JsonNode) args = json_node_new(JSON_NODE_OBJECT);
	g_autoptr(JsonObject) obj = json_object_new();
	g_autoptr(GPtrArray) lines = NULL;
	char controls[40];

	for (int i = 1; i < 0x20; i++)
		controls[i - 1] = (char)i;
	controls[31] = 0x7f;
	controls[32] = '\0';
	json_object_set_string_member(obj, "controls", controls);
	json_object_set_string_member(obj, "quotes", "\"\\\"\\\\ '{}[],:");
	json_object_set_string_member(obj, "bad\xff\xfekey", "bad \xc3\x28 value \xed\xa0\x80");
	json_object_set_string_member(obj, "separators",
	                              "a\xe2\x80\xa8"
	                              "b\xe2\x80\xa9");
	json_object_set_double_member(obj, "nan", NAN);
	json_object_set_double_member(obj, "inf", -INFINITY);
	json_object_set_int_member(obj, "big", G_MININT64);
	json_node_set_object(args, obj);
	ck_assert(alk_audit_append(audit, "uid:0\n{\"seq\":99}\xff", "file.put", "id\"\n", args,
	                           NULL, NULL));
	lines = alk_test_read_lines();
	ck_assert_uint_eq(lines->len, 1);
	for (const char *p = lines->pdata[0]; *p != '\0'; p++)
		ck_assert_int_ge((guchar)*p, 0x20);
	ck_assert(alk_json_validate(lines->pdata[0], strlen(lines->pdata[0]), ALK_AUDIT_MAX_LINE,
	                            64, NULL));
	ck_assert_ptr_nonnull(strstr(lines->pdata[0], "\"nan\":null,\"inf\":null"));
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
}
END_TEST

START_TEST(test_oversize_replaced)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(JsonNode) args = alk_test_big_object(2 * ALK_AUDIT_MAX_LINE);
	g_autoptr(JsonNode) result = alk_test_big_object(ALK_AUDIT_MAX_LINE);
	g_autoptr(GPtrArray) lines = NULL;

	ck_assert(alk_audit_append(audit, "uid:0", "sandbox.exec", NULL, args, NULL, NULL));
	ck_assert(alk_audit_append(audit, "uid:0", "sandbox.exec", NULL, args, result, NULL));
	lines = alk_test_read_lines();
	ck_assert_uint_eq(lines->len, 2);
	ck_assert_ptr_nonnull(
	    strstr(lines->pdata[0], "\"args\":{\"omitted\":\"oversize\",\"bytes\":2097162}"));
	ck_assert_ptr_nonnull(
	    strstr(lines->pdata[1], "\"result\":{\"omitted\":\"oversize\",\"bytes\":1048586}"));
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
}
END_TEST

static void assert_refused(const char *caller, const char *action, const char *sandbox,
                           const char *args, const char *result)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(JsonNode) a = args != NULL ? alk_test_json(args) : NULL;
	g_autoptr(JsonNode) r = result != NULL ? alk_test_json(result) : NULL;
	g_autoptr(GError) error = NULL;
	struct stat st;

	ck_assert(!alk_audit_append(audit, caller, action, sandbox, a, r, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_uint_eq(alk_audit_get_seq(audit), 0);
	ck_assert_int_eq(stat(alk_test_log, &st), 0);
	ck_assert_int_eq(st.st_size, 0);
}

START_TEST(test_bad_fields_refused)
{
	g_autofree char *long_caller = g_strnfill(257, 'c');
	g_autofree char *long_action = g_strnfill(65, 'a');
	g_autofree char *long_sandbox = g_strnfill(65, 'f');
	g_autoptr(GString) deep = g_string_new("{\"a\":");

	for (int i = 0; i < 40; i++)
		g_string_append_c(deep, '[');
	for (int i = 0; i < 40; i++)
		g_string_append_c(deep, ']');
	g_string_append_c(deep, '}');
	assert_refused(NULL, "sandbox.exec", NULL, NULL, NULL);
	assert_refused("", "sandbox.exec", NULL, NULL, NULL);
	assert_refused(long_caller, "sandbox.exec", NULL, NULL, NULL);
	assert_refused("uid:0", NULL, NULL, NULL, NULL);
	assert_refused("uid:0", "", NULL, NULL, NULL);
	assert_refused("uid:0", "Sandbox.Exec", NULL, NULL, NULL);
	assert_refused("uid:0", "sandbox exec", NULL, NULL, NULL);
	assert_refused("uid:0", "a\",\"x\":\"", NULL, NULL, NULL);
	assert_refused("uid:0", long_action, NULL, NULL, NULL);
	assert_refused("uid:0", "sandbox.exec", long_sandbox, NULL, NULL);
	assert_refused("uid:0", "sandbox.exec", NULL, "[1,2]", NULL);
	assert_refused("uid:0", "sandbox.exec", NULL, NULL, "\"ok\"");
	assert_refused("uid:0", "sandbox.exec", NULL, deep->str, NULL);
}
END_TEST

START_TEST(test_chain_break_truncated)
{
	g_autoptr(GPtrArray) lines = NULL;

	alk_test_make_log(5);
	lines = alk_test_read_lines();
	g_ptr_array_set_size(lines, 3);
	alk_test_write_lines(lines);
	alk_test_assert_chain_break("head says seq 5", 4);
	g_ptr_array_unref(lines);
	lines = alk_test_read_lines();
	ck_assert_ptr_nonnull(strstr(lines->pdata[3], "\"head_seq\":5"));
	ck_assert_ptr_nonnull(strstr(lines->pdata[3], "\"log_seq\":3"));
	ck_assert_ptr_nonnull(strstr(lines->pdata[3], "\"caller\":\"airlockd\""));
}
END_TEST

START_TEST(test_chain_break_edited_last)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autoptr(GString) s = NULL;

	alk_test_make_log(5);
	lines = alk_test_read_lines();
	s = g_string_new(lines->pdata[4]);
	g_string_replace(s, "uname", "UNAME", 1);
	alk_test_replace_line(lines, 4, s->str);
	alk_test_write_lines(lines);
	alk_test_assert_chain_break("another hash", 6);
}
END_TEST

START_TEST(test_chain_break_head_missing)
{
	alk_test_make_log(2);
	g_remove(alk_test_head);
	alk_test_assert_chain_break("missing", 3);
}
END_TEST

START_TEST(test_chain_break_log_emptied)
{
	g_autoptr(GPtrArray) lines = NULL;

	alk_test_make_log(4);
	g_remove(alk_test_log);
	alk_test_assert_chain_break("log is empty", 1);
	lines = alk_test_read_lines();
	ck_assert(g_str_has_prefix(lines->pdata[0], "{\"seq\":1,"));
	ck_assert_ptr_nonnull(strstr(lines->pdata[0], "\"head_seq\":4"));
	ck_assert_ptr_nonnull(strstr(lines->pdata[0], "\"log_seq\":null"));
}
END_TEST

/* A line the head does not vouch for (appended after the writer's last,
 * or a writer that stopped between the line and the head): verify refuses
 * it, and the next writer records it as a chain break. */
START_TEST(test_head_lag)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree char *h2 = NULL;
	g_autofree char *head = NULL;

	alk_test_make_log(3);
	lines = alk_test_read_lines();
	h2 = alk_test_hash_of(lines->pdata[1]);
	head = g_strdup_printf("2 %s\n", h2);
	ck_assert(g_file_set_contents(alk_test_head, head, -1, NULL));
	alk_test_assert_problem(ALK_AUDIT_PROBLEM_HEAD_MISMATCH, 3);
	alk_test_assert_chain_break("not in the head", 4);
}
END_TEST

/* ---- keyed chaining ---- */

static GBytes *test_key(void)
{
	return g_bytes_new_static("0123456789abcdef0123456789abcdef", 32);
}

static void make_keyed_log(GBytes *key, guint n)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkAudit) audit =
	    alk_audit_open_keyed(alk_test_log, alk_test_head, FALSE, key, &error);

	ck_assert_msg(audit != NULL, "%s", error ? error->message : "");
	alk_test_append_n(audit, n);
}

static AlkAuditReport verify_keyed(GBytes *key)
{
	AlkAuditReport r;
	g_autoptr(GError) error = NULL;
	ck_assert(alk_audit_verify_keyed(alk_test_log, alk_test_head, key, &r, &error));
	return r;
}

START_TEST(test_keyed_chain)
{
	g_autoptr(GBytes) key = test_key();
	g_autoptr(GBytes) other = g_bytes_new_static("another key of thirty-two bytes!", 32);
	g_autofree char *head = NULL;
	g_autoptr(GError) error = NULL;

	make_keyed_log(key, 4);
	ck_assert(g_file_get_contents(alk_test_head, &head, NULL, NULL));
	ck_assert_msg(g_str_has_suffix(head, " hmac-sha256\n"), "%s", head);
	ck_assert_int_eq(verify_keyed(key).problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_eq(verify_keyed(key).lines, 4);
	/* without its key, or with another, it does not verify */
	ck_assert_int_eq(verify_keyed(NULL).problem, ALK_AUDIT_PROBLEM_EDITED);
	ck_assert_int_eq(verify_keyed(other).problem, ALK_AUDIT_PROBLEM_EDITED);
	/* reopened with the key it goes on; without it the writer refuses */
	make_keyed_log(key, 1);
	ck_assert_uint_eq(verify_keyed(key).lines, 5);
	ck_assert_ptr_null(alk_audit_open(alk_test_log, alk_test_head, FALSE, &error));
	ck_assert_msg(strstr(error->message, "is keyed") != NULL, "%s", error->message);
	/* a chain rewritten end to end without the key: plain SHA-256 links,
	 * and a head that claims the keyed mode */
	g_remove(alk_test_log);
	g_remove(alk_test_head);
	alk_test_make_log(5);
	ck_assert_int_eq(verify_keyed(key).problem, ALK_AUDIT_PROBLEM_EDITED);
	g_clear_pointer(&head, g_free);
	ck_assert(g_file_get_contents(alk_test_head, &head, NULL, NULL));
	head[strlen(head) - 1] = '\0';
	g_autofree char *forged = g_strconcat(head, " hmac-sha256\n", NULL);
	ck_assert(g_file_set_contents(alk_test_head, forged, -1, NULL));
	ck_assert_int_eq(verify_keyed(key).problem, ALK_AUDIT_PROBLEM_EDITED);
}
END_TEST

START_TEST(test_key_file_rules)
{
	g_autofree char *path = g_build_filename(alk_test_dir, "key", NULL);
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) key = NULL;

	ck_assert(g_file_set_contents(path, "short", -1, NULL));
	chmod(path, 0600);
	ck_assert_ptr_null(alk_audit_key_load(path, &error));
	ck_assert_msg(strstr(error->message, "32 to 4096") != NULL, "%s", error->message);
	g_clear_error(&error);
	ck_assert(g_file_set_contents(path, "0123456789abcdef0123456789abcdef", -1, NULL));
	chmod(path, 0644);
	ck_assert_ptr_null(alk_audit_key_load(path, &error));
	ck_assert_msg(strstr(error->message, "chmod 600") != NULL, "%s", error->message);
	g_clear_error(&error);
	chmod(path, 0600);
	key = alk_audit_key_load(path, &error);
	ck_assert_msg(key != NULL, "%s", error ? error->message : "");
	ck_assert_uint_eq(g_bytes_get_size(key), 32);
}
END_TEST

START_TEST(test_torn_last_line)
{
	FILE *f;
	AlkAuditReport r;

	alk_test_make_log(3);
	f = fopen(alk_test_log, "a");
	ck_assert_ptr_nonnull(f);
	fputs("{\"seq\":4,\"ti", f);
	fclose(f);
	{
		g_autoptr(AlkAudit) audit = alk_test_open_log();
		ck_assert_ptr_nonnull(strstr(alk_audit_get_chain_break(audit), "incomplete"));
		alk_test_append_n(audit, 1);
	}
	r = alk_test_verify(alk_test_head);
	ck_assert_int_eq(r.problem, ALK_AUDIT_PROBLEM_MALFORMED);
	ck_assert_uint_eq(r.bad_line, 4);
	ck_assert_uint_eq(r.lines, 3);
}
END_TEST

START_TEST(test_one_writer)
{
	g_autoptr(AlkAudit) first = alk_test_open_log();
	g_autoptr(GError) error = NULL;
	AlkAudit *second = alk_audit_open(alk_test_log, alk_test_head, FALSE, &error);

	ck_assert_ptr_null(second);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
}
END_TEST

START_TEST(test_open_refuses_odd_files)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *target = g_build_filename(alk_test_dir, "target", NULL);
	AlkAudit *audit;

	ck_assert(g_file_set_contents(target, "", 0, NULL));
	ck_assert_int_eq(symlink(target, alk_test_log), 0);
	audit = alk_audit_open(alk_test_log, alk_test_head, FALSE, &error);
	ck_assert_ptr_null(audit);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_IO));
	g_clear_error(&error);
	g_remove(alk_test_log);
	ck_assert_int_eq(g_mkdir(alk_test_log, 0700), 0);
	audit = alk_audit_open(alk_test_log, alk_test_head, FALSE, &error);
	ck_assert_ptr_null(audit);
	ck_assert_ptr_nonnull(error);
	g_rmdir(alk_test_log);
	alk_audit_free(NULL);
}
END_TEST

START_TEST(test_short_write_rolled_back)
{
	g_autoptr(AlkAudit) audit = alk_test_open_log();
	g_autoptr(GError) error = NULL;
	struct rlimit old, lim;
	struct stat st;
	void (*old_handler)(int);
	int set, restored;
	gboolean ok;

	alk_test_append_n(audit, 2);
	ck_assert_int_eq(stat(alk_test_log, &st), 0);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 10;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	/* no check calls while the limit is on: they write to check's own file */
	set = setrlimit(RLIMIT_FSIZE, &lim);
	ok = alk_audit_append(audit, "uid:0", "sandbox.exec", NULL, NULL, NULL, &error);
	restored = setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, old_handler);
	ck_assert_int_eq(set, 0);
	ck_assert_int_eq(restored, 0);
	ck_assert(!ok);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_IO));
	ck_assert_uint_eq(alk_audit_get_seq(audit), 2);
	alk_test_append_n(audit, 1);
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_eq(alk_test_verify(alk_test_head).lines, 3);
}
END_TEST

START_TEST(test_sync_on)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkAudit) audit = alk_audit_open(alk_test_log, alk_test_head, TRUE, &error);

	ck_assert_ptr_nonnull(audit);
	alk_test_append_n(audit, 3);
	ck_assert(alk_audit_flush(audit, &error));
	ck_assert(alk_audit_is_durable(audit, 3));
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
	ck_assert_uint_eq(alk_test_verify(alk_test_head).lines, 3);
}
END_TEST

/* The head is rewritten in place (a rename frees blocks: a discard wait per
 * line on some mounts); a shorter text (seq 12 -> 1) leaves no old bytes. */
START_TEST(test_head_in_place)
{
	g_autoptr(GPtrArray) lines = NULL;
	g_autofree char *head = NULL;
	g_autofree char *want = NULL;
	g_autofree char *last = NULL;
	struct stat before, after;

	alk_test_make_log(12);
	ck_assert_int_eq(stat(alk_test_head, &before), 0);
	{
		g_autoptr(AlkAudit) audit = alk_test_open_log();
		alk_test_append_n(audit, 3);
	}
	ck_assert_int_eq(stat(alk_test_head, &after), 0);
	ck_assert_uint_eq(before.st_ino, after.st_ino);
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
	g_remove(alk_test_log);
	alk_test_assert_chain_break("log is empty", 1);
	lines = alk_test_read_lines();
	ck_assert_uint_lt(lines->len, 10);
	last = alk_test_hash_of(lines->pdata[lines->len - 1]);
	want = g_strdup_printf("%u %s\n", lines->len, last);
	ck_assert(g_file_get_contents(alk_test_head, &head, NULL, NULL));
	ck_assert_str_eq(head, want);
}
END_TEST

/* ---- group commit ---- */

/* A sync the test sees and steers: counts, may hold until released, may
 * fail. Runs in the writer's worker thread. */
typedef struct {
	GMutex lock;
	GCond cond;
	guint entered;  /* syncs begun */
	guint returned; /* syncs ended */
	gboolean hold;  /* a sync waits until this is FALSE */
	gboolean fail;
} SyncProbe;

static gboolean probe_sync(int fd, gpointer data, GError **error)
{
	SyncProbe *p = data;
	gboolean fail;

	g_mutex_lock(&p->lock);
	p->entered++;
	g_cond_broadcast(&p->cond);
	while (p->hold)
		g_cond_wait(&p->cond, &p->lock);
	fail = p->fail;
	g_mutex_unlock(&p->lock);
	if (!fail && fdatasync(fd) != 0)
		fail = TRUE;
	if (fail)
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "audit: cannot sync log: EIO (test)");
	g_mutex_lock(&p->lock);
	p->returned++;
	g_cond_broadcast(&p->cond);
	g_mutex_unlock(&p->lock);
	return !fail;
}

static guint probe_get(SyncProbe *p, const guint *field)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&p->lock);
	return *field;
}

static void probe_release(SyncProbe *p)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&p->lock);
	p->hold = FALSE;
	g_cond_broadcast(&p->cond);
}

typedef struct {
	SyncProbe *probe;
	guint calls;
	guint syncs_returned; /* when called */
	GError *error;
} Waited;

static void on_waited(const GError *error, gpointer data)
{
	Waited *w = data;

	w->calls++;
	w->syncs_returned = probe_get(w->probe, &w->probe->returned);
	if (error != NULL && w->error == NULL)
		w->error = g_error_copy(error);
}

/* Iterates the default context until *field (read under p's lock when p
 * is given) reaches want, or a deadline. */
static void spin_until(SyncProbe *p, const guint *field, guint want)
{
	gint64 deadline = g_get_monotonic_time() + 20 * G_USEC_PER_SEC;
	guint now;

	while ((now = p != NULL ? probe_get(p, field) : *field) < want &&
	       g_get_monotonic_time() < deadline) {
		if (!g_main_context_iteration(NULL, FALSE))
			g_usleep(1000);
	}
	ck_assert_uint_ge(now, want);
}

static AlkAudit *open_synced(SyncProbe *p)
{
	g_autoptr(GError) error = NULL;
	AlkAudit *audit = alk_audit_open(alk_test_log, alk_test_head, TRUE, &error);

	ck_assert_msg(audit != NULL, "%s", error != NULL ? error->message : "");
	g_mutex_init(&p->lock);
	g_cond_init(&p->cond);
	alk_audit_set_sync_func(audit, probe_sync, p);
	return audit;
}

START_TEST(test_group_one_sync)
{
	SyncProbe p = {0};
	AlkAudit *audit = open_synced(&p);
	Waited w = {.probe = &p};
	g_autofree char *head = NULL;
	g_autofree char *want = NULL;
	g_autoptr(GPtrArray) lines = NULL;

	alk_test_append_n(audit, 20);
	/* appending syncs nothing: a reader's line costs no disk wait */
	ck_assert_uint_eq(probe_get(&p, &p.entered), 0);
	ck_assert(!alk_audit_is_durable(audit, 20));
	alk_audit_when_durable(audit, 20, on_waited, &w);
	ck_assert_uint_eq(w.calls, 0);
	spin_until(NULL, &w.calls, 1);
	ck_assert_ptr_null(w.error);
	ck_assert_uint_eq(probe_get(&p, &p.entered), 1);
	ck_assert(alk_audit_is_durable(audit, 20));
	/* the head names line 20 (written with the line, synced with it) */
	lines = alk_test_read_lines();
	ck_assert_uint_eq(lines->len, 20);
	want = alk_test_hash_of(lines->pdata[19]);
	ck_assert(g_file_get_contents(alk_test_head, &head, NULL, NULL));
	ck_assert_msg(g_str_has_prefix(head, "20 ") && strstr(head, want) != NULL, "%s", head);
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
	/* a line already durable: the waiter runs at once */
	alk_audit_when_durable(audit, 5, on_waited, &w);
	ck_assert_uint_eq(w.calls, 2);
	alk_audit_free(audit);
	ck_assert_uint_eq(probe_get(&p, &p.entered), 1);
}
END_TEST

START_TEST(test_group_waiter_after_its_sync)
{
	SyncProbe p = {.hold = TRUE};
	AlkAudit *audit = open_synced(&p);
	Waited first = {.probe = &p}, second = {.probe = &p};
	gint64 deadline;

	alk_test_append_n(audit, 1);
	alk_audit_when_durable(audit, 1, on_waited, &first);
	/* the sync of line 1 starts and is held */
	spin_until(&p, &p.entered, 1);
	/* line 2 is written while it runs: not covered by it */
	alk_test_append_n(audit, 1);
	alk_audit_when_durable(audit, 2, on_waited, &second);
	deadline = g_get_monotonic_time() + G_USEC_PER_SEC / 5;
	while (g_get_monotonic_time() < deadline)
		g_main_context_iteration(NULL, FALSE);
	ck_assert_uint_eq(first.calls, 0);
	ck_assert(!alk_audit_is_durable(audit, 1));
	probe_release(&p);
	spin_until(NULL, &first.calls, 1);
	ck_assert_uint_eq(first.syncs_returned, 1);
	ck_assert_ptr_null(first.error);
	/* the second waiter needed a second sync */
	spin_until(NULL, &second.calls, 1);
	ck_assert_uint_eq(second.syncs_returned, 2);
	ck_assert_uint_eq(probe_get(&p, &p.entered), 2);
	ck_assert_ptr_null(second.error);
	alk_audit_free(audit);
	ck_assert_int_eq(alk_test_verify(alk_test_head).problem, ALK_AUDIT_PROBLEM_NONE);
}
END_TEST

START_TEST(test_group_failed_sync_fails_all)
{
	SyncProbe p = {.fail = TRUE};
	AlkAudit *audit = open_synced(&p);
	Waited w[3] = {{.probe = &p}, {.probe = &p}, {.probe = &p}};
	Waited late = {.probe = &p};
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < 3; i++) {
		alk_test_append_n(audit, 1);
		alk_audit_when_durable(audit, i + 1, on_waited, &w[i]);
	}
	spin_until(NULL, &w[2].calls, 1);
	for (guint i = 0; i < 3; i++) {
		ck_assert_uint_eq(w[i].calls, 1);
		ck_assert(g_error_matches(w[i].error, ALK_ERROR, ALK_ERROR_IO));
		ck_assert_msg(strstr(w[i].error->message, "a sync failed") != NULL &&
		                  strstr(w[i].error->message, "EIO (test)") != NULL,
		              "%s", w[i].error->message);
		g_clear_error(&w[i].error);
	}
	/* and stays failed: a retried fdatasync proves nothing */
	g_mutex_lock(&p.lock);
	p.fail = FALSE;
	g_mutex_unlock(&p.lock);
	alk_test_append_n(audit, 1);
	alk_audit_when_durable(audit, 4, on_waited, &late);
	ck_assert_uint_eq(late.calls, 1);
	ck_assert(g_error_matches(late.error, ALK_ERROR, ALK_ERROR_IO));
	g_clear_error(&late.error);
	ck_assert(!alk_audit_is_durable(audit, 1));
	ck_assert(!alk_audit_flush(audit, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_IO));
	ck_assert_uint_eq(probe_get(&p, &p.entered), 1);
	alk_audit_free(audit);
}
END_TEST

static Suite *audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *tc = tcase_create("writer");

	tcase_add_checked_fixture(tc, alk_test_audit_setup, alk_test_audit_teardown);
	/* the streaming tests write and read tens of MiB, slow under valgrind */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_line_format);
	tcase_add_test(tc, test_null_sandbox_and_objects);
	tcase_add_test(tc, test_reopen_continues);
	tcase_add_test(tc, test_hostile_strings);
	tcase_add_test(tc, test_oversize_replaced);
	tcase_add_test(tc, test_bad_fields_refused);
	tcase_add_test(tc, test_chain_break_truncated);
	tcase_add_test(tc, test_chain_break_edited_last);
	tcase_add_test(tc, test_chain_break_head_missing);
	tcase_add_test(tc, test_chain_break_log_emptied);
	tcase_add_test(tc, test_head_lag);
	tcase_add_test(tc, test_keyed_chain);
	tcase_add_test(tc, test_key_file_rules);
	tcase_add_test(tc, test_torn_last_line);
	tcase_add_test(tc, test_one_writer);
	tcase_add_test(tc, test_open_refuses_odd_files);
	tcase_add_test(tc, test_short_write_rolled_back);
	tcase_add_test(tc, test_sync_on);
	tcase_add_test(tc, test_head_in_place);
	suite_add_tcase(s, tc);

	tc = tcase_create("group commit");
	tcase_add_checked_fixture(tc, alk_test_audit_setup, alk_test_audit_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_group_one_sync);
	tcase_add_test(tc, test_group_waiter_after_its_sync);
	tcase_add_test(tc, test_group_failed_sync_fails_all);
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
