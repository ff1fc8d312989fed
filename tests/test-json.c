/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <check.h>
#include <glib.h>
#include <math.h>
#include <string.h>

#include "alk-error.h"
#include "alk-json.h"

#define MAX_LEN (1024 * 1024)
#define MAX_DEPTH 32

static JsonNode *parse_len(const char *s, gsize len, GError **error)
{
	return alk_json_parse(s, len, MAX_LEN, MAX_DEPTH, error);
}

static JsonNode *parse(const char *s, GError **error)
{
	return parse_len(s, strlen(s), error);
}

/* Asserts that s is refused with ALK_ERROR_INVALID and a message containing want. */
static void assert_refused_len(const char *s, gsize len, const char *want)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = parse_len(s, len, &error);

	ck_assert_msg(node == NULL, "accepted: %.80s", s);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
}

static void assert_refused(const char *s, const char *want)
{
	assert_refused_len(s, strlen(s), want);
}

static void assert_accepted(const char *s)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node = parse(s, &error);

	ck_assert_msg(node != NULL, "refused %s: %s", s, error != NULL ? error->message : "");
}

/* ---- parsing -------------------------------------------------------------------------------- */

START_TEST(parse_valid)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) node =
	    parse(" {\"a\": [1, -2, 3.5e1, true, false, null, \"x\\n\\u00e9\\ud83d\\ude00\"],"
	          " \"b\": {}, \"c\": []}\r\n",
	          &error);

	ck_assert_ptr_nonnull(node);
	JsonArray *a = json_object_get_array_member(json_node_get_object(node), "a");
	ck_assert_int_eq(json_array_get_length(a), 7);
	ck_assert_int_eq(json_array_get_int_element(a, 1), -2);
	ck_assert_str_eq(json_array_get_string_element(a, 6), "x\n\xc3\xa9\xf0\x9f\x98\x80");
	assert_accepted("1");
	assert_accepted("\"s\"");
	assert_accepted("null");
	assert_accepted("-0.0e-0");
}
END_TEST

START_TEST(parse_oversize)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *big = g_strnfill(100, ' ');

	big[0] = '1';
	ck_assert_ptr_null(alk_json_parse(big, 100, 99, MAX_DEPTH, &error));
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_ptr_nonnull(strstr(error->message, "exceeds the limit"));
	g_autoptr(JsonNode) ok = alk_json_parse(big, 100, 100, MAX_DEPTH, NULL);
	ck_assert_ptr_nonnull(ok);
}
END_TEST

static char *nested(const char *open, const char *inner, const char *close, guint n)
{
	GString *s = g_string_new(NULL);

	for (guint i = 0; i < n; i++)
		g_string_append(s, open);
	g_string_append(s, inner);
	for (guint i = 0; i < n; i++)
		g_string_append(s, close);
	return g_string_free(s, FALSE);
}

START_TEST(parse_deep)
{
	g_autofree char *arrays = nested("[", "", "]", 100000);
	g_autofree char *objects = nested("{\"a\":", "1", "}", 100000);
	g_autofree char *unclosed = g_strnfill(100000, '[');
	g_autofree char *at_max = nested("[", "1", "]", MAX_DEPTH);
	g_autofree char *over = nested("[", "1", "]", MAX_DEPTH + 1);

	assert_refused(arrays, "nested too deeply");
	assert_refused(objects, "nested too deeply");
	assert_refused(unclosed, "nested too deeply");
	assert_accepted(at_max);
	assert_refused(over, "nested too deeply");
	ck_assert_ptr_null(alk_json_parse("[]", 2, MAX_LEN, 0, NULL));
}
END_TEST

START_TEST(parse_brackets_in_strings)
{
	g_autofree char *many = g_strnfill(50000, '[');
	g_autofree char *doc = g_strdup_printf("[\"%s{{{\\\"]]]\"]", many);
	g_autoptr(JsonNode) node = alk_json_parse(doc, strlen(doc), MAX_LEN, 1, NULL);

	ck_assert_ptr_nonnull(node);
}
END_TEST

START_TEST(parse_duplicate_keys)
{
	assert_refused("{\"a\":1,\"a\":2}", "byte 7: duplicate key 'a'");
	assert_refused("{\"a\":1,\"\\u0061\":2}", "duplicate key 'a'");
	assert_refused("{\"x\":{\"k\":1,\"b\":2,\"k\":3}}", "duplicate key 'k'");
	assert_refused("[{\"a\":1},{\"b\":1,\"b\":1}]", "duplicate key 'b'");
	assert_accepted("{\"a\":{\"a\":{\"a\":1}},\"b\":[{\"a\":1},{\"a\":2}]}");
	assert_accepted("{\"a\":1,\"A\":2,\"a \":3}");
	g_autofree char *long_key = g_strnfill(100, 'k');
	g_autofree char *dup_long = g_strdup_printf("{\"%s\":1,\"%s\":2}", long_key, long_key);
	g_autofree char *shown = g_strnfill(64, 'k');
	g_autofree char *want = g_strdup_printf("duplicate key '%s'", shown);
	assert_refused(dup_long, want);
}
END_TEST

START_TEST(parse_nul_and_encoding)
{
	assert_refused("\"a\\u0000b\"", "\\u0000");
	assert_refused("{\"k\\u0000\":1}", "\\u0000");
	assert_refused_len("\"a\0b\"", 5, "NUL");
	assert_refused("\"\xff\"", "UTF-8");
	assert_refused("\"\xc0\xaf\"", "UTF-8");
	assert_refused("\"\\ud800\"", "surrogate");
	assert_refused("\"\\udc00\"", "surrogate");
	assert_refused("\"\\ud800\\u0041\"", "surrogate");
	assert_refused("\"\\u12\"", "\\u escape");
	assert_refused("\"\\x41\"", "invalid escape");
	assert_refused("\"a\tb\"", "control character");
	assert_refused("\"abc", "unterminated");
	assert_refused("\xef\xbb\xbf{}", "expected a value");
}
END_TEST

START_TEST(parse_numbers)
{
	g_autoptr(JsonNode) max = parse("9223372036854775807", NULL);
	g_autoptr(JsonNode) min = parse("-9223372036854775808", NULL);

	ck_assert(json_node_get_int(max) == G_MAXINT64);
	ck_assert(json_node_get_int(min) == G_MININT64);
	assert_refused("9223372036854775808", "64-bit range");
	assert_refused("-9223372036854775809", "64-bit range");
	assert_refused("18446744073709551616", "64-bit range");
	assert_refused("[1, 99999999999999999999999999999999]", "64-bit range");
	assert_refused("1e400", "out of range");
	assert_refused("-1e400", "out of range");
	assert_accepted("1e-400");
	assert_accepted("1.5E+3");
}
END_TEST

/* json-glib 1.6 accepts all of these; the pre-scan must not. */
START_TEST(parse_laxness)
{
	static const char *const bad[] = {
	    "",     "   ",  "/*c*/1", "// c\n1",    "'a'",      "0x10",      "01",
	    ".5",   "1.",   "1e",     "+1",         "-",        "NaN",       "Infinity",
	    "{}{}", "[1]]", "[1,]",   "{\"a\":1,}", "{a:1}",    "[1 2]",     "{\"a\" 1}",
	    "tru",  "nul",  "[,1]",   "{,}",        "{\"a\":}", "[\"a\":1]", "{1:2}",
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++)
		assert_refused(bad[i], "JSON");
}
END_TEST

START_TEST(parse_object_root)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = alk_json_parse_object("{\"a\":1}", 7, 100, 4, NULL);

	ck_assert_ptr_nonnull(obj);
	ck_assert_ptr_null(alk_json_parse_object("[1]", 3, 100, 4, &error));
	ck_assert_ptr_nonnull(strstr(error->message, "must be an object"));
}
END_TEST

/* Mutates valid documents at random: nothing may crash, whatever the pre-scan
 * accepts json-glib must parse, and our output must re-parse to itself. */
START_TEST(parse_mutations)
{
	static const char seed[] =
	    "{\"image\":\"minimal\",\"cpus\":2,\"network\":{\"mode\":\"none\",\"allow\":[\"a:1\","
	    "\"b\"]},\"x\":[1.5e3,-0,true,false,null,\"\\u00e9\\n\\\"\"]}";
	static const char alphabet[] = "{}[],:\"\\0123456789.eE+-tfnrlu ax\x01\x7f";
	GRand *rand = g_rand_new_with_seed(4242);

	for (guint round = 0; round < 20000; round++) {
		g_autofree char *doc = g_strdup(seed);
		gsize len = strlen(doc);
		for (guint m = 0; m < 1 + round % 4; m++)
			doc[g_rand_int_range(rand, 0, (gint32)len)] =
			    alphabet[g_rand_int_range(rand, 0, sizeof alphabet - 1)];
		g_autoptr(GError) error = NULL;
		gboolean valid = alk_json_validate(doc, len, MAX_LEN, MAX_DEPTH, NULL);
		g_autoptr(JsonNode) node = parse_len(doc, len, &error);
		ck_assert_msg(valid == (node != NULL), "json-glib disagrees on %s: %s", doc,
		              error != NULL ? error->message : "");
		if (node == NULL)
			continue;
		g_autofree char *out = alk_json_to_string(node);
		g_autoptr(JsonNode) again = parse(out, NULL);
		ck_assert_ptr_nonnull(again);
		g_autofree char *out2 = alk_json_to_string(again);
		ck_assert_str_eq(out, out2);
	}
	g_rand_free(rand);
}
END_TEST

/* ---- field tables --------------------------------------------------------------------------- */

typedef struct {
	char *name;
	gint64 delta;
	guint64 count;
	gboolean flag;
	char **tags;
	GHashTable *labels;
	JsonObject *extra;
} Thing;

#define T(member) G_STRUCT_OFFSET(Thing, member)
static const AlkJsonField thing_fields[] = {
    {"name", ALK_JSON_STRING, T(name), TRUE, 1, 8, 0},
    {"delta", ALK_JSON_INT, T(delta), FALSE, -10, 10, 0},
    {"count", ALK_JSON_UINT, T(count), FALSE, 1, 64, 0},
    {"flag", ALK_JSON_BOOL, T(flag), FALSE, 0, 0, 0},
    {"tags", ALK_JSON_STRING_ARRAY, T(tags), FALSE, 0, 3, 4},
    {"labels", ALK_JSON_STRING_MAP, T(labels), FALSE, 0, 2, 5},
    {"extra", ALK_JSON_OBJECT, T(extra), FALSE, 0, 0, 0},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef T

static gboolean read_thing(const char *text, Thing *out, GError **error)
{
	g_autoptr(JsonObject) obj = alk_json_parse_object(text, strlen(text), MAX_LEN, 8, NULL);

	ck_assert_msg(obj != NULL, "test input is not JSON: %s", text);
	return alk_json_read_object(obj, thing_fields, out, error);
}

/* Asserts text is refused, names field in the message, and leaves out alone. */
static void assert_field_error(const char *text, const char *field, const char *want)
{
	g_autoptr(GError) error = NULL;
	Thing t = {.delta = 77, .count = 88, .flag = TRUE};
	g_autofree char *quoted = g_strdup_printf("'%s'", field);

	ck_assert_msg(!read_thing(text, &t, &error), "accepted %s", text);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	ck_assert_msg(strstr(error->message, quoted) != NULL, "'%s' does not name %s",
	              error->message, field);
	ck_assert_msg(strstr(error->message, want) != NULL, "'%s' lacks '%s'", error->message,
	              want);
	ck_assert(t.name == NULL && t.tags == NULL && t.labels == NULL && t.extra == NULL);
	ck_assert(t.delta == 77 && t.count == 88 && t.flag);
}

START_TEST(fields_valid)
{
	g_autoptr(GError) error = NULL;
	Thing t = {.delta = 5};
	const char *text =
	    "{\"name\":\"héllo\",\"count\":64,\"flag\":true,\"tags\":[\"a\",\"bcde\"],"
	    "\"labels\":{\"k\":\"v\",\"k2\":\"\"},\"extra\":{\"z\":[]}}";
	g_autoptr(JsonObject) obj = alk_json_parse_object(text, strlen(text), MAX_LEN, 8, NULL);

	ck_assert(alk_json_read_object(obj, thing_fields, &t, &error));
	ck_assert_str_eq(t.name, "héllo");
	ck_assert_int_eq(t.delta, 5);
	ck_assert_int_eq(t.count, 64);
	ck_assert(t.flag);
	ck_assert_int_eq(g_strv_length(t.tags), 2);
	ck_assert_str_eq(t.tags[1], "bcde");
	ck_assert_int_eq(g_hash_table_size(t.labels), 2);
	ck_assert_str_eq(g_hash_table_lookup(t.labels, "k"), "v");
	ck_assert(json_object_has_member(t.extra, "z"));
	alk_json_fields_clear(thing_fields, &t);
	ck_assert_ptr_null(t.name);
	ck_assert_ptr_null(t.extra);
	ck_assert_int_eq(t.count, 0);
}
END_TEST

START_TEST(fields_null_and_missing)
{
	Thing t = {.count = 9};

	ck_assert(read_thing("{\"name\":\"a\",\"tags\":null}", &t, NULL));
	ck_assert_int_eq(t.count, 9);
	ck_assert_ptr_null(t.tags);
	alk_json_fields_clear(thing_fields, &t);
	/* a null integer is not an absent one */
	assert_field_error("{\"name\":\"a\",\"count\":null}", "count", "must be an integer");
	assert_field_error("{}", "name", "missing");
	assert_field_error("{\"name\":null}", "name", "missing");
}
END_TEST

START_TEST(fields_unknown)
{
	assert_field_error("{\"name\":\"a\",\"nmae\":1}", "nmae", "unknown field");
	assert_field_error("{\"nmae\":1}", "nmae", "unknown field");
}
END_TEST

START_TEST(fields_types)
{
	assert_field_error("{\"name\":\"a\",\"count\":1.0}", "count", "must be an integer");
	assert_field_error("{\"name\":\"a\",\"count\":1e1}", "count", "must be an integer");
	assert_field_error("{\"name\":\"a\",\"count\":\"5\"}", "count", "not a string");
	assert_field_error("{\"name\":\"a\",\"count\":true}", "count", "not a boolean");
	assert_field_error("{\"name\":\"a\",\"delta\":[1]}", "delta", "not an array");
	assert_field_error("{\"name\":5}", "name", "must be a string");
	assert_field_error("{\"name\":{}}", "name", "not an object");
	assert_field_error("{\"name\":\"a\",\"flag\":1}", "flag", "must be a boolean");
	assert_field_error("{\"name\":\"a\",\"flag\":\"true\"}", "flag", "must be a boolean");
	assert_field_error("{\"name\":\"a\",\"tags\":\"a\"}", "tags", "array of strings");
	assert_field_error("{\"name\":\"a\",\"tags\":[1]}", "tags", "item 0 must be a string");
	assert_field_error("{\"name\":\"a\",\"tags\":[\"a\",null]}", "tags", "item 1");
	assert_field_error("{\"name\":\"a\",\"labels\":[]}", "labels", "object of strings");
	assert_field_error("{\"name\":\"a\",\"labels\":{\"k\":1}}", "labels", "value of 'k'");
	assert_field_error("{\"name\":\"a\",\"extra\":[]}", "extra", "must be an object");
}
END_TEST

START_TEST(fields_ranges)
{
	assert_field_error("{\"name\":\"a\",\"count\":0}", "count", "allowed 1..64");
	assert_field_error("{\"name\":\"a\",\"count\":65}", "count", "is 65");
	assert_field_error("{\"name\":\"a\",\"count\":-1}", "count", "is -1");
	assert_field_error("{\"name\":\"a\",\"count\":9223372036854775807}", "count", "1..64");
	assert_field_error("{\"name\":\"a\",\"delta\":-11}", "delta", "-10..10");
	assert_field_error("{\"name\":\"\"}", "name", "0 bytes");
	assert_field_error("{\"name\":\"123456789\"}", "name", "9 bytes");
	assert_field_error("{\"name\":\"a\",\"tags\":[\"a\",\"b\",\"c\",\"d\"]}", "tags",
	                   "4 items");
	assert_field_error("{\"name\":\"a\",\"tags\":[\"abcde\"]}", "tags", "item 0 has 5");
	assert_field_error("{\"name\":\"a\",\"labels\":{\"a\":\"\",\"b\":\"\",\"c\":\"\"}}",
	                   "labels", "3 entries");
	assert_field_error("{\"name\":\"a\",\"labels\":{\"toolong\":\"\"}}", "labels",
	                   "key 'toolong'");
	assert_field_error("{\"name\":\"a\",\"labels\":{\"k\":\"toolong\"}}", "labels",
	                   "value of 'k' has 7");
}
END_TEST

START_TEST(fields_replace_previous)
{
	Thing t = {.name = g_strdup("old"), .tags = g_strsplit("x,y", ",", -1)};

	ck_assert(read_thing("{\"name\":\"new\",\"tags\":[]}", &t, NULL));
	ck_assert_str_eq(t.name, "new");
	ck_assert_int_eq(g_strv_length(t.tags), 0);
	alk_json_fields_clear(thing_fields, &t);
}
END_TEST

/* ---- output --------------------------------------------------------------------------------- */

START_TEST(output_escapes)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GError) error = NULL;

	json_builder_begin_object(b);
	alk_json_add_string(b, "s", "a\x01\x1f\x7f\"\\\n\t/\xff end");
	alk_json_add_string(b, "n", NULL);
	alk_json_add_int(b, "i", G_MININT64);
	alk_json_add_bool(b, "b", TRUE);
	json_builder_set_member_name(b, "d");
	json_builder_add_double_value(b, INFINITY);
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autofree char *out = alk_json_to_string(root);

	ck_assert_str_eq(out, "{\"s\":\"a\\u0001\\u001f\x7f\\\"\\\\\\n\\t/\xef\xbf\xbd end\","
	                      "\"n\":null,\"i\":-9223372036854775808,\"b\":true,\"d\":null}");
	g_autoptr(JsonNode) again = parse(out, &error);
	ck_assert_ptr_nonnull(again);
}
END_TEST

START_TEST(output_collections)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(GHashTable) map = g_hash_table_new(g_str_hash, g_str_equal);
	const char *const strv[] = {"x", "y", NULL};

	g_hash_table_insert(map, "zeta", "1");
	g_hash_table_insert(map, "alpha", "2");
	g_hash_table_insert(map, "mid", "3");
	json_builder_begin_object(b);
	alk_json_add_strv(b, "v", strv);
	alk_json_add_strv(b, "empty", NULL);
	alk_json_add_map(b, "m", map);
	alk_json_add_map(b, "none", NULL);
	json_builder_end_object(b);
	g_autoptr(JsonNode) root = json_builder_get_root(b);
	g_autofree char *out = alk_json_to_string(root);

	ck_assert_str_eq(out, "{\"v\":[\"x\",\"y\"],\"empty\":[],"
	                      "\"m\":{\"alpha\":\"2\",\"mid\":\"3\",\"zeta\":\"1\"},\"none\":{}}");
}
END_TEST

/* ALK_JSON_ARRAY: any items (the caller checks them), a count in range */
START_TEST(fields_array)
{
	static const AlkJsonField fields[] = {
	    {"items", ALK_JSON_ARRAY, 0, TRUE, 1, 2, 0},
	    {NULL, 0, 0, FALSE, 0, 0, 0},
	};
	static const char *const bad[] = {
	    "{\"items\":{}}",      "{\"items\":\"x\"}", "{\"items\":[]}",
	    "{\"items\":[1,2,3]}", "{\"items\":null}",  "{}",
	};
	const char *text = "{\"items\":[{\"a\":1},[2]]}";
	g_autoptr(JsonObject) obj = alk_json_parse_object(text, strlen(text), MAX_LEN, 8, NULL);
	JsonArray *items = NULL;

	ck_assert(alk_json_read_object(obj, fields, &items, NULL));
	ck_assert(items == json_object_get_array_member(obj, "items"));
	alk_json_fields_clear(fields, &items);
	ck_assert(items == NULL);
	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autoptr(JsonObject) o =
		    alk_json_parse_object(bad[i], strlen(bad[i]), MAX_LEN, 8, NULL);
		ck_assert_msg(!alk_json_read_object(o, fields, &items, &error), "%s", bad[i]);
		ck_assert(strstr(error->message, "'items'") != NULL);
		ck_assert(items == NULL);
	}
}
END_TEST

static Suite *json_suite(void)
{
	Suite *s = suite_create("json");
	TCase *parse_case = tcase_create("parse");
	TCase *fields_case = tcase_create("fields");
	TCase *output_case = tcase_create("output");

	tcase_set_timeout(parse_case, 60);
	tcase_add_test(parse_case, parse_valid);
	tcase_add_test(parse_case, parse_oversize);
	tcase_add_test(parse_case, parse_deep);
	tcase_add_test(parse_case, parse_brackets_in_strings);
	tcase_add_test(parse_case, parse_duplicate_keys);
	tcase_add_test(parse_case, parse_nul_and_encoding);
	tcase_add_test(parse_case, parse_numbers);
	tcase_add_test(parse_case, parse_laxness);
	tcase_add_test(parse_case, parse_object_root);
	tcase_add_test(parse_case, parse_mutations);
	suite_add_tcase(s, parse_case);
	tcase_add_test(fields_case, fields_valid);
	tcase_add_test(fields_case, fields_null_and_missing);
	tcase_add_test(fields_case, fields_unknown);
	tcase_add_test(fields_case, fields_types);
	tcase_add_test(fields_case, fields_ranges);
	tcase_add_test(fields_case, fields_replace_previous);
	tcase_add_test(fields_case, fields_array);
	suite_add_tcase(s, fields_case);
	tcase_add_test(output_case, output_escapes);
	tcase_add_test(output_case, output_collections);
	suite_add_tcase(s, output_case);
	return s;
}

int main(void)
{
	SRunner *runner = srunner_create(json_suite());
	int failed;

	srunner_run_all(runner, CK_NORMAL);
	failed = srunner_ntests_failed(runner);
	srunner_free(runner);
	return failed == 0 ? 0 : 1;
}
