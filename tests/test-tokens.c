/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The API tokens file: parsing hostile files, file safety checks, the
 * constant-time lookup, scopes and token generation. */
#include <check.h>
#include <glib.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-tokens.h"

static char *sha_hex(const char *s)
{
	return g_compute_checksum_for_string(G_CHECKSUM_SHA256, s, -1);
}

static AlkTokens *parse(const char *text, GError **error)
{
	return alk_tokens_parse(text, strlen(text), error);
}

static void assert_rejected_at(const char *text, const char *line_tag)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTokens) tokens = parse(text, &error);

	ck_assert_msg(tokens == NULL, "accepted: %s", text);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, line_tag) != NULL, "'%s' lacks '%s'", error->message,
	              line_tag);
}

START_TEST(test_parse_valid)
{
	g_autofree char *ha = sha_hex("token-a");
	g_autofree char *hb = sha_hex("token-b");
	g_autofree char *hc = sha_hex("token-c");
	g_autofree char *hb_upper = g_ascii_strup(hb, -1);
	g_autofree char *text =
	    g_strdup_printf("# airlock tokens\n\n   \t\n  # indented comment\nci read %s\n"
	                    "\tdeploy.bot-1_x \t write   %s\r\nroot admin %s",
	                    ha, hb_upper, hc);
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTokens) tokens = parse(text, &error);
	const AlkToken *t = NULL;

	ck_assert_msg(tokens != NULL, "%s", error != NULL ? error->message : "");
	ck_assert_uint_eq(alk_tokens_get_size(tokens), 3);
	ck_assert(alk_tokens_check(tokens, "token-a", &t));
	ck_assert_str_eq(t->name, "ci");
	ck_assert_int_eq(t->scope, ALK_SCOPE_READ);
	ck_assert(alk_tokens_check(tokens, "token-b", &t));
	ck_assert_str_eq(t->name, "deploy.bot-1_x");
	ck_assert_int_eq(t->scope, ALK_SCOPE_WRITE);
	ck_assert(alk_tokens_check(tokens, "token-c", &t));
	ck_assert_str_eq(t->name, "root");
	ck_assert_int_eq(t->scope, ALK_SCOPE_ADMIN);
}
END_TEST

START_TEST(test_parse_empty)
{
	g_autoptr(AlkTokens) empty = alk_tokens_parse("", 0, NULL);
	g_autoptr(AlkTokens) comments = parse("# none yet\n\n", NULL);
	const AlkToken *t = NULL;

	ck_assert_ptr_nonnull(empty);
	ck_assert_ptr_nonnull(comments);
	ck_assert_uint_eq(alk_tokens_get_size(empty), 0);
	ck_assert(!alk_tokens_check(empty, "anything", &t));
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(test_parse_rejects)
{
	g_autofree char *h = sha_hex("x");
	g_autofree char *h2 = sha_hex("y");
	g_autofree char *name65 = g_strnfill(65, 'n');
	g_autofree char *name64 = g_strnfill(64, 'n');
	g_autofree char *pad = g_strnfill(1000, ' ');
	/* {H}, {H2}: hashes; {N65}: a 65-character name; {PAD}: 1000 blanks */
	static const struct {
		const char *text;
		const char *tag;
	} cases[] = {
	    {"# ok\nbad/name read {H}\n", "line 2"},
	    {"bad\xc3\xa9 read {H}\n", "line 1"},
	    {"{N65} read {H}\n", "line 1"},
	    {"a Read {H}\n", "line 1"},
	    {"a root {H}\n", "line 1"},
	    {"a read\n", "line 1"},
	    {"a\n", "line 1"},
	    {"a read {H} extra\n", "line 1"},
	    {"a read {H} #comment\n", "line 1"},
	    {"a read 0123\n", "line 1"},
	    {"a read {H}ff\n", "line 1"},
	    {"a read g{H63}\n", "line 1"},
	    {"a read {H63}\n", "line 1"},
	    {"a read {H}\n\n\nb write {H}\n", "line 4"},
	    {"a read {H}\na write {H2}\n", "line 2"},
	    {"a read {H}\n{PAD}{H2}\n", "line 2"},
	};
	g_autofree char *h63 = g_strndup(h, 63);

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GString) text = g_string_new(cases[i].text);
		g_string_replace(text, "{H63}", h63, 0);
		g_string_replace(text, "{H2}", h2, 0);
		g_string_replace(text, "{H}", h, 0);
		g_string_replace(text, "{N65}", name65, 0);
		g_string_replace(text, "{PAD}", pad, 0);
		assert_rejected_at(text->str, cases[i].tag);
	}
	{
		g_autofree char *ok = g_strdup_printf("%s admin %s\n", name64, h);
		g_autoptr(AlkTokens) tokens = parse(ok, NULL);
		ck_assert_ptr_nonnull(tokens);
	}
}
END_TEST

START_TEST(test_parse_limits)
{
	g_autofree char *h = sha_hex("x");
	g_autofree char *comment = g_strnfill(1025, '#');
	g_autofree char *big = g_malloc0(ALK_TOKENS_MAX_FILE + 2);
	const char nul[] = "a read \0 x\n";
	g_autoptr(GError) error = NULL;
	AlkTokens *tokens;

	/* even a comment may not be over 1 KiB */
	assert_rejected_at(comment, "line 1");
	comment[1024] = '\0';
	tokens = parse(comment, NULL);
	ck_assert_ptr_nonnull(tokens);
	alk_tokens_free(tokens);
	tokens = alk_tokens_parse(nul, sizeof(nul) - 1, &error);
	ck_assert_ptr_null(tokens);
	ck_assert_ptr_nonnull(strstr(error->message, "NUL"));
	g_clear_error(&error);
	memset(big, '\n', ALK_TOKENS_MAX_FILE + 1);
	tokens = alk_tokens_parse(big, ALK_TOKENS_MAX_FILE + 1, &error);
	ck_assert_ptr_null(tokens);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	tokens = alk_tokens_parse(big, ALK_TOKENS_MAX_FILE, NULL);
	ck_assert_ptr_nonnull(tokens);
	alk_tokens_free(tokens);
	alk_tokens_free(NULL);
}
END_TEST

START_TEST(test_check_mismatches)
{
	g_autofree char *h = sha_hex("alk_secret");
	g_autofree char *text = g_strdup_printf("ci write %s\n", h);
	g_autoptr(AlkTokens) tokens = parse(text, NULL);
	const char *wrong[] = {
	    "", "alk_secreT", "alk_secre", "alk_secrett", " alk_secret", "alk_secret\n", h};
	const AlkToken *t = NULL;

	ck_assert_ptr_nonnull(tokens);
	for (guint i = 0; i < G_N_ELEMENTS(wrong); i++)
		ck_assert_msg(!alk_tokens_check(tokens, wrong[i], &t), "accepted '%s'", wrong[i]);
	ck_assert(!alk_tokens_check(tokens, NULL, &t));
	ck_assert(!alk_tokens_check(NULL, "alk_secret", &t));
	ck_assert_ptr_null(t);
	ck_assert(alk_tokens_check(tokens, "alk_secret", NULL));
}
END_TEST

/* the last entry of many is found, and so is the first */
START_TEST(test_check_many)
{
	g_autoptr(GString) text = g_string_new(NULL);
	g_autoptr(AlkTokens) tokens = NULL;
	const AlkToken *t = NULL;

	for (guint i = 0; i < 1000; i++) {
		g_autofree char *secret = g_strdup_printf("secret-%u", i);
		g_autofree char *h = sha_hex(secret);
		g_string_append_printf(text, "t%u read %s\n", i, h);
	}
	tokens = parse(text->str, NULL);
	ck_assert_ptr_nonnull(tokens);
	ck_assert(alk_tokens_check(tokens, "secret-999", &t));
	ck_assert_str_eq(t->name, "t999");
	ck_assert(alk_tokens_check(tokens, "secret-0", &t));
	ck_assert_str_eq(t->name, "t0");
	ck_assert(alk_tokens_check(tokens, "secret-500", &t));
	ck_assert_str_eq(t->name, "t500");
	ck_assert(!alk_tokens_check(tokens, "secret-1000", NULL));
}
END_TEST

START_TEST(test_scopes)
{
	AlkScope s = 0;

	ck_assert(alk_scope_allows(ALK_SCOPE_ADMIN, ALK_SCOPE_READ));
	ck_assert(alk_scope_allows(ALK_SCOPE_ADMIN, ALK_SCOPE_WRITE));
	ck_assert(alk_scope_allows(ALK_SCOPE_ADMIN, ALK_SCOPE_ADMIN));
	ck_assert(alk_scope_allows(ALK_SCOPE_WRITE, ALK_SCOPE_READ));
	ck_assert(alk_scope_allows(ALK_SCOPE_WRITE, ALK_SCOPE_WRITE));
	ck_assert(!alk_scope_allows(ALK_SCOPE_WRITE, ALK_SCOPE_ADMIN));
	ck_assert(alk_scope_allows(ALK_SCOPE_READ, ALK_SCOPE_READ));
	ck_assert(!alk_scope_allows(ALK_SCOPE_READ, ALK_SCOPE_WRITE));
	ck_assert(!alk_scope_allows(ALK_SCOPE_READ, ALK_SCOPE_ADMIN));
	ck_assert(!alk_scope_allows(0, ALK_SCOPE_READ));
	ck_assert(!alk_scope_allows(99, ALK_SCOPE_READ));
	ck_assert(alk_scope_from_string("write", &s));
	ck_assert_int_eq(s, ALK_SCOPE_WRITE);
	ck_assert(!alk_scope_from_string("WRITE", &s));
	ck_assert(!alk_scope_from_string("", &s));
	ck_assert(!alk_scope_from_string(NULL, &s));
	ck_assert_int_eq(s, ALK_SCOPE_WRITE);
	ck_assert_str_eq(alk_scope_to_string(ALK_SCOPE_ADMIN), "admin");
	ck_assert_ptr_null(alk_scope_to_string(0));
	ck_assert_ptr_null(alk_scope_to_string(4));
}
END_TEST

START_TEST(test_generate)
{
	g_autofree char *tok1 = NULL;
	g_autofree char *line1 = NULL;
	g_autofree char *tok2 = NULL;
	g_autofree char *line2 = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(GString) file = g_string_new(NULL);
	g_autoptr(AlkTokens) tokens = NULL;
	const AlkToken *t = NULL;

	ck_assert(alk_tokens_generate("ci", ALK_SCOPE_WRITE, &tok1, &line1, &error));
	ck_assert(alk_tokens_generate("ops", ALK_SCOPE_ADMIN, &tok2, &line2, &error));
	ck_assert(g_regex_match_simple("^alk_[A-Za-z0-9_-]{43}$", tok1, 0, 0));
	ck_assert_str_ne(tok1, tok2);
	ck_assert(g_regex_match_simple("^ci write [0-9a-f]{64}\n$", line1, 0, 0));
	g_string_append_printf(file, "%s%s", line1, line2);
	tokens = parse(file->str, &error);
	ck_assert_ptr_nonnull(tokens);
	ck_assert(alk_tokens_check(tokens, tok1, &t));
	ck_assert_str_eq(t->name, "ci");
	ck_assert(alk_tokens_check(tokens, tok2, &t));
	ck_assert_int_eq(t->scope, ALK_SCOPE_ADMIN);
	/* the line never holds the token itself */
	ck_assert_ptr_null(strstr(line1, tok1 + 4));
}
END_TEST

START_TEST(test_generate_rejects)
{
	char *tok = NULL;
	char *line = NULL;
	g_autoptr(GError) error = NULL;

	ck_assert(!alk_tokens_generate("bad name", ALK_SCOPE_READ, &tok, &line, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert(!alk_tokens_generate("ok", 0, &tok, &line, NULL));
	ck_assert(!alk_tokens_generate(NULL, ALK_SCOPE_READ, &tok, &line, NULL));
	ck_assert_ptr_null(tok);
	ck_assert_ptr_null(line);
}
END_TEST

static char *dir;
static char *path;

static void setup(void)
{
	dir = g_dir_make_tmp("test-tokens-XXXXXX", NULL);
	ck_assert_ptr_nonnull(dir);
	path = g_build_filename(dir, "tokens", NULL);
}

static void teardown(void)
{
	g_autofree char *target = g_build_filename(dir, "target", NULL);

	g_remove(path);
	g_remove(target);
	g_rmdir(dir);
	g_clear_pointer(&dir, g_free);
	g_clear_pointer(&path, g_free);
}

static void write_file(const char *text, mode_t mode)
{
	ck_assert(g_file_set_contents(path, text, -1, NULL));
	ck_assert_int_eq(chmod(path, mode), 0);
}

static void assert_load_fails(uid_t owner, AlkError code)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTokens) tokens = alk_tokens_load(path, owner, &error);

	ck_assert_ptr_null(tokens);
	ck_assert_msg(g_error_matches(error, ALK_ERROR, code), "%s",
	              error != NULL ? error->message : "");
}

START_TEST(test_load)
{
	g_autofree char *h = sha_hex("s");
	g_autofree char *text = g_strdup_printf("ci read %s\n", h);
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkTokens) tokens = NULL;

	write_file(text, 0600);
	tokens = alk_tokens_load(path, getuid(), &error);
	ck_assert_msg(tokens != NULL, "%s", error != NULL ? error->message : "");
	ck_assert(alk_tokens_check(tokens, "s", NULL));
	write_file(text, 0400);
	g_clear_pointer(&tokens, alk_tokens_free);
	tokens = alk_tokens_load(path, getuid(), NULL);
	ck_assert_ptr_nonnull(tokens);
}
END_TEST

START_TEST(test_load_unsafe)
{
	g_autofree char *h = sha_hex("s");
	g_autofree char *text = g_strdup_printf("ci read %s\n", h);
	g_autofree char *bad = g_strdup_printf("ci read %s\nci read %s\n", h, h);
	g_autofree char *target = g_build_filename(dir, "target", NULL);
	int fd;

	assert_load_fails(getuid(), ALK_ERROR_NOT_FOUND);
	write_file(text, 0640);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
	write_file(text, 0604);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
	write_file(text, 0620);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
	write_file(text, 0600);
	assert_load_fails(getuid() + 1, ALK_ERROR_INVALID);
	write_file(bad, 0600);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
	/* a sparse 2 MiB file is refused on its size, not read */
	fd = open(path, O_WRONLY | O_TRUNC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 2 * 1024 * 1024), 0);
	close(fd);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
	g_remove(path);
	ck_assert(g_file_set_contents(target, text, -1, NULL));
	ck_assert_int_eq(chmod(target, 0600), 0);
	ck_assert_int_eq(symlink(target, path), 0);
	assert_load_fails(getuid(), ALK_ERROR_IO);
	g_remove(path);
	ck_assert_int_eq(g_mkdir(path, 0700), 0);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
	g_rmdir(path);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	assert_load_fails(getuid(), ALK_ERROR_INVALID);
}
END_TEST

static Suite *tokens_suite(void)
{
	Suite *s = suite_create("tokens");
	TCase *tp = tcase_create("parse");
	TCase *tf = tcase_create("file");

	tcase_add_test(tp, test_parse_valid);
	tcase_add_test(tp, test_parse_empty);
	tcase_add_test(tp, test_parse_rejects);
	tcase_add_test(tp, test_parse_limits);
	tcase_add_test(tp, test_check_mismatches);
	tcase_add_test(tp, test_check_many);
	tcase_add_test(tp, test_scopes);
	tcase_add_test(tp, test_generate);
	tcase_add_test(tp, test_generate_rejects);
	tcase_set_timeout(tp, 30);
	tcase_add_checked_fixture(tf, setup, teardown);
	tcase_add_test(tf, test_load);
	tcase_add_test(tf, test_load_unsafe);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, tf);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(tokens_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
