/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The MCP server's pure parts against hostile input: the JSON-RPC
 * envelope (batches, a wrong jsonrpc, ids huge, null or fractional,
 * unknown members, bad params), version negotiation, sessions (random,
 * bound to their caller, bounded in number), and the tools' arguments
 * read through the field tables their inputSchemas are made of. */
#include <check.h>
#include <string.h>

#include "alk-api-mcp.h"
#include "alk-error.h"

/* The code alk_mcp_parse() refuses text with (0: accepted). */
static int parse_code(const char *text)
{
	g_auto(AlkMcpMsg) msg = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) id = NULL;

	if (alk_mcp_parse(text, strlen(text), 4096, &msg, &id, &error))
		return 0;
	ck_assert(error->domain == ALK_MCP_ERROR);
	return error->code;
}

START_TEST(envelope)
{
	static const struct {
		const char *text;
		int code;
	} cases[] = {
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}", 0},
	    {"{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"ping\",\"params\":{}}", 0},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", 0},
	    {"{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}", 0}, /* a response to us */
	    {"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]", ALK_MCP_INVALID_REQUEST},
	    {"[]", ALK_MCP_INVALID_REQUEST},
	    {"\"ping\"", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":2,\"id\":1,\"method\":\"ping\"}", ALK_MCP_INVALID_REQUEST},
	    {"{\"id\":1,\"method\":\"ping\"}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":3}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"method\":\"x\",\"result\":{}}", ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"extra\":1}",
	     ALK_MCP_INVALID_REQUEST},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":[1]}",
	     ALK_MCP_INVALID_PARAMS},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":\"x\"}",
	     ALK_MCP_INVALID_PARAMS},
	    /* integers beyond 64 bits, duplicate keys, trailing data, depth: the strict scanner */
	    {"{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":\"ping\"}",
	     ALK_MCP_PARSE_ERROR},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"id\":2,\"method\":\"ping\"}", ALK_MCP_PARSE_ERROR},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"} x", ALK_MCP_PARSE_ERROR},
	    {"", ALK_MCP_PARSE_ERROR},
	    {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\\u0000\"}", ALK_MCP_PARSE_ERROR},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++)
		ck_assert_msg(parse_code(cases[i].text) == cases[i].code, "%s: %d, wanted %d",
		              cases[i].text, parse_code(cases[i].text), cases[i].code);
}
END_TEST

START_TEST(hostile_sizes)
{
	g_autoptr(GString) s = g_string_new("{\"jsonrpc\":\"2.0\",\"id\":\"");
	g_autoptr(GString) deep = g_string_new(NULL);

	/* a 257-byte id is refused; one of 256 is fine */
	for (guint i = 0; i < 256; i++)
		g_string_append_c(s, 'i');
	g_string_append(s, "\",\"method\":\"ping\"}");
	ck_assert_int_eq(parse_code(s->str), 0);
	g_string_insert_c(s, 30, 'i');
	ck_assert_int_eq(parse_code(s->str), ALK_MCP_INVALID_REQUEST);
	/* over the size limit, or nested 100000 deep: a parse error, no crash */
	for (guint i = 0; i < 100000; i++)
		g_string_append_c(deep, '[');
	ck_assert_int_eq(parse_code(deep->str), ALK_MCP_PARSE_ERROR);
	g_string_truncate(deep, 0);
	g_string_append(deep,
	                "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":\"");
	for (guint i = 0; i < 5000; i++)
		g_string_append_c(deep, 'x');
	g_string_append(deep, "\"}}");
	ck_assert_int_eq(parse_code(deep->str), ALK_MCP_PARSE_ERROR);
}
END_TEST

START_TEST(id_echoed_on_error)
{
	const char *text = "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\",\"params\":[]}";
	g_auto(AlkMcpMsg) msg = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) id = NULL;
	g_autoptr(JsonNode) answer = NULL;
	g_autofree char *json = NULL;

	ck_assert(!alk_mcp_parse(text, strlen(text), 4096, &msg, &id, &error));
	ck_assert_str_eq(json_node_get_string(id), "abc");
	answer = alk_mcp_error(id, error->code, error->message, NULL);
	json = alk_json_to_string(answer);
	ck_assert_str_eq(json, "{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"error\":{\"code\":-32602,"
	                       "\"message\":\"params: must be an object\"}}");
}
END_TEST

START_TEST(negotiation)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonNode) data = NULL;
	g_autofree char *json = NULL;

	ck_assert_str_eq(alk_mcp_negotiate("2025-06-18", &data, NULL), "2025-06-18");
	ck_assert_str_eq(alk_mcp_negotiate("2025-03-26", &data, NULL), "2025-03-26");
	/* another revision: answered with the latest, the client decides */
	ck_assert_str_eq(alk_mcp_negotiate("2025-11-25", &data, NULL), "2025-06-18");
	ck_assert_str_eq(alk_mcp_negotiate("2024-11-05", &data, NULL), "2025-06-18");
	ck_assert(alk_mcp_negotiate("1.0.0", &data, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_MCP_ERROR, ALK_MCP_INVALID_PARAMS));
	json = alk_json_to_string(data);
	ck_assert_str_eq(json,
	                 "{\"supported\":[\"2025-06-18\",\"2025-03-26\"],\"requested\":\"1.0.0\"}");
	ck_assert(alk_mcp_version_supported("2025-03-26"));
	ck_assert(!alk_mcp_version_supported("2024-11-05"));
	ck_assert(!alk_mcp_version_supported(NULL));
}
END_TEST

START_TEST(sessions)
{
	AlkMcpSessions *s = alk_mcp_sessions_new(3);
	AlkMcpSession *a = alk_mcp_sessions_add(s, "token:ci", "host", "1", "2025-06-18");
	g_autofree char *first = g_strdup(a->id);

	ck_assert_int_eq(strlen(first), 32);
	ck_assert(alk_mcp_sessions_find(s, first, "token:ci") == a);
	/* another caller cannot use it */
	ck_assert(alk_mcp_sessions_find(s, first, "token:ro") == NULL);
	ck_assert(alk_mcp_sessions_find(s, "0123", "token:ci") == NULL);
	ck_assert(alk_mcp_sessions_find(s, NULL, "token:ci") == NULL);
	/* ids differ; beyond the limit the longest unused goes */
	for (guint i = 0; i < 3; i++) {
		AlkMcpSession *b = alk_mcp_sessions_add(s, "uid:0", "h", "1", "2025-06-18");
		ck_assert_str_ne(b->id, first);
	}
	ck_assert_int_eq(alk_mcp_sessions_count(s), 3);
	ck_assert(alk_mcp_sessions_find(s, first, "token:ci") == NULL);
	ck_assert(!alk_mcp_sessions_remove(s, first, "token:ci"));
	alk_mcp_sessions_free(s);
}
END_TEST

/* One caller making sessions without end pushes out only its own. */
START_TEST(sessions_per_caller)
{
	AlkMcpSessions *s = alk_mcp_sessions_new(256);
	AlkMcpSession *other = alk_mcp_sessions_add(s, "token:ci", "host", "1", "2025-06-18");
	g_autofree char *kept = g_strdup(other->id);

	for (guint i = 0; i < 1000; i++)
		alk_mcp_sessions_add(s, "token:ro", "flood", "1", "2025-06-18");
	ck_assert_uint_eq(alk_mcp_sessions_count(s), 1 + ALK_MCP_SESSIONS_PER_CALLER);
	ck_assert(alk_mcp_sessions_find(s, kept, "token:ci") != NULL);
	alk_mcp_sessions_free(s);
}
END_TEST

/* Whether the tool's arguments are accepted. */
static gboolean args_ok(const char *tool_name, const char *json)
{
	const AlkMcpTool *tool = alk_mcp_tool_find(tool_name);
	g_autoptr(JsonObject) o = alk_json_parse_object(json, strlen(json), 65536, 32, NULL);
	g_autoptr(GError) error = NULL;
	gpointer args;

	ck_assert(tool != NULL && o != NULL);
	args = alk_mcp_tool_args(tool, o, &error);
	alk_mcp_tool_args_free(tool, args);
	return args != NULL;
}

START_TEST(tool_arguments)
{
	const char *id = "\"sandbox\":\"0123456789ab\"";
	g_autofree char *argv = g_strdup_printf("{%s,\"argv\":[\"ls\"]}", id);
	g_autofree char *cmd = g_strdup_printf("{%s,\"command\":\"ls | wc\",\"timeout_s\":5}", id);
	g_autofree char *both = g_strdup_printf("{%s,\"argv\":[\"ls\"],\"command\":\"ls\"}", id);
	g_autofree char *neither = g_strdup_printf("{%s}", id);
	g_autofree char *extra = g_strdup_printf("{%s,\"argv\":[\"ls\"],\"shell\":\"bash\"}", id);
	g_autofree char *user = g_strdup_printf("{%s,\"argv\":[\"ls\"],\"user\":\"root\"}", id);
	g_autofree char *timeout = g_strdup_printf("{%s,\"argv\":[\"ls\"],\"timeout_s\":0}", id);
	g_autofree char *typed = g_strdup_printf("{%s,\"argv\":\"ls\"}", id);
	g_autofree char *rel = g_strdup_printf("{%s,\"path\":\"etc/passwd\"}", id);
	g_autofree char *dots = g_strdup_printf("{%s,\"path\":\"/tmp/../etc\"}", id);
	g_autofree char *abs = g_strdup_printf("{%s,\"path\":\"/etc/hostname\"}", id);
	g_autofree char *w2 =
	    g_strdup_printf("{%s,\"path\":\"/a\",\"content\":\"\",\"content_b64\":\"\"}", id);
	g_autofree char *mode =
	    g_strdup_printf("{%s,\"path\":\"/a\",\"content\":\"x\",\"mode\":99999}", id);

	ck_assert(args_ok("exec", argv));
	ck_assert(args_ok("exec", cmd));
	ck_assert(!args_ok("exec", both));
	ck_assert(!args_ok("exec", neither));
	ck_assert(!args_ok("exec", extra));
	ck_assert(args_ok("exec", user)); /* who it runs as: the profile decides */
	ck_assert(!args_ok("exec", timeout));
	ck_assert(!args_ok("exec", typed));
	ck_assert(!args_ok("exec", "{\"sandbox\":\"short\",\"argv\":[\"ls\"]}"));
	ck_assert(!args_ok("exec", "{\"argv\":[\"ls\"]}"));
	ck_assert(args_ok("file_read", abs));
	ck_assert(!args_ok("file_read", rel));
	ck_assert(!args_ok("file_read", dots));
	ck_assert(!args_ok("file_write", w2));
	ck_assert(!args_ok("file_write", mode));
	ck_assert(args_ok("sandbox_create", "{}"));
	ck_assert(args_ok("sandbox_create", "{\"display\":{\"width\":800,\"height\":600}}"));
	ck_assert(!args_ok("sandbox_create", "{\"display\":[800,600]}"));
	ck_assert(args_ok("screenshot", "{\"sandbox\":\"0123456789ab\",\"width\":640}"));
	ck_assert(!args_ok("screenshot", "{\"sandbox\":\"0123456789ab\",\"width\":0}"));
	ck_assert(!args_ok("screenshot", "{\"sandbox\":\"0123456789ab\",\"width\":9999}"));
	/* the table checks the batch's shape; the runner every action */
	ck_assert(args_ok("computer", "{\"sandbox\":\"0123456789ab\",\"actions\":[{}]}"));
	ck_assert(!args_ok("computer", "{\"sandbox\":\"0123456789ab\",\"actions\":{}}"));
	ck_assert(!args_ok("computer", "{\"sandbox\":\"0123456789ab\",\"screenshot\":1}"));
	ck_assert(!args_ok("computer", "{\"sandbox\":\"0123456789ab\",\"bogus\":1}"));
	ck_assert(args_ok("sandbox_create", "{\"network\":\"allowlist\",\"allow\":[\"a.b:443\"]}"));
	ck_assert(!args_ok("sandbox_create", "{\"network\":\"bridged\"}"));
	ck_assert(!args_ok("sandbox_create", "{\"allow\":[\"a.b\"]}"));
	ck_assert(!args_ok("sandbox_create", "{\"ttl_s\":-1}"));
	ck_assert(args_ok("sandbox_create", "{\"workspace_mib\":0,\"root\":\"readonly\"}"));
	ck_assert(!args_ok("sandbox_create", "{\"workspace_mib\":-1}"));
	ck_assert(args_ok("sandbox_create", "{\"volumes\":[{\"name\":\"v\",\"path\":\"/v\"}]}"));
	ck_assert(!args_ok("sandbox_create", "{\"volumes\":[\"v:/v\"]}"));
	ck_assert(!args_ok("sandbox_create", "{\"volumes\":{\"name\":\"v\"}}"));
	ck_assert(!args_ok("sandbox_create", "{\"volumes\":[{},{},{},{},{},{},{},{},{}]}"));
	ck_assert(!args_ok("sandbox_list", "{\"all\":true}"));
	ck_assert(alk_mcp_tool_find("no_such_tool") == NULL);
}
END_TEST

/* Every tool's inputSchema is strict and says what its table enforces. */
START_TEST(schemas)
{
	g_autoptr(JsonNode) list = alk_mcp_tools_list();
	JsonArray *tools = json_object_get_array_member(json_node_get_object(list), "tools");
	const AlkMcpTool *exec = alk_mcp_tool_find("exec");
	g_autoptr(JsonNode) schema = alk_mcp_tool_schema(exec);
	g_autofree char *text = alk_json_to_string(schema);

	ck_assert_int_eq(json_array_get_length(tools), 12);
	for (guint i = 0; i < json_array_get_length(tools); i++) {
		JsonObject *t = json_array_get_object_element(tools, i);
		JsonObject *s = json_object_get_object_member(t, "inputSchema");
		ck_assert_str_eq(json_object_get_string_member(s, "type"), "object");
		ck_assert(!json_object_get_boolean_member(s, "additionalProperties"));
		ck_assert(json_object_has_member(t, "description"));
	}
	ck_assert(strstr(text, "\"required\":[\"sandbox\"]") != NULL);
	ck_assert(strstr(text, "\"timeout_s\":{\"type\":\"integer\"") != NULL);
	ck_assert(strstr(text, "\"maximum\":604800") != NULL);
	ck_assert(strstr(text, "\"minLength\":12,\"maxLength\":12") != NULL);
	ck_assert(strstr(text, "\"maxItems\":256") != NULL);

	/* the computer tool's actions: one strict object schema per action */
	g_autoptr(JsonNode) cs = alk_mcp_tool_schema(alk_mcp_tool_find("computer"));
	JsonObject *props = json_object_get_object_member(json_node_get_object(cs), "properties");
	JsonObject *actions = json_object_get_object_member(props, "actions");
	JsonArray *one_of =
	    json_object_get_array_member(json_object_get_object_member(actions, "items"), "oneOf");
	g_autofree char *ctext = alk_json_to_string(cs);

	ck_assert_str_eq(json_object_get_string_member(actions, "type"), "array");
	ck_assert_int_eq(json_array_get_length(one_of), 13);
	for (guint i = 0; i < json_array_get_length(one_of); i++) {
		JsonObject *a = json_array_get_object_element(one_of, i);
		ck_assert(!json_object_get_boolean_member(a, "additionalProperties"));
		ck_assert(json_object_has_member(
		    json_object_get_object_member(json_object_get_object_member(a, "properties"),
		                                  "action"),
		    "const"));
	}
	ck_assert(strstr(ctext, "{\"const\":\"type\"},\"text\":{\"type\":\"string\","
	                        "\"minLength\":1,\"maxLength\":4096}") != NULL);
	ck_assert(strstr(ctext, "\"required\":[\"action\",\"path\"]") != NULL);
	ck_assert(strstr(ctext, "\"scale_to\":{\"type\":\"object\"") != NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("mcp");
	TCase *tc = tcase_create("mcp");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, envelope);
	tcase_add_test(tc, hostile_sizes);
	tcase_add_test(tc, id_echoed_on_error);
	tcase_add_test(tc, negotiation);
	tcase_add_test(tc, sessions);
	tcase_add_test(tc, sessions_per_caller);
	tcase_add_test(tc, tool_arguments);
	tcase_add_test(tc, schemas);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
