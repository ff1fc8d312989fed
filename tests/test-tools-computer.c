/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The models' computer tools' pure parts: the model's space of a screen,
 * and a tool input's batch for the runner (what is sent, what is refused). */
#include <check.h>
#include <string.h>

#include "alk-api-tools.h"
#include "alk-error.h"
#include "alk-input.h"
#include "alk-json.h"

START_TEST(space)
{
	static const guint cases[][4] = {
	    {1024, 768, 1024, 768},  {1280, 800, 1280, 800},  {2048, 1536, 1024, 768},
	    {2560, 1600, 1280, 800}, {1920, 1080, 1280, 720}, {1280, 1024, 960, 768},
	    {720, 400, 720, 400}, /* smaller: never scaled up */
	    {800, 600, 800, 600},    {1440, 900, 1280, 800},  {1366, 768, 1280, 720},
	    {4096, 16, 1280, 5},     {16, 4096, 3, 768},      {0, 0, 0, 0},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		guint w = 7, h = 7;
		alk_api_tool_computer_space(cases[i][0], cases[i][1], &w, &h);
		ck_assert_msg(w == cases[i][2] && h == cases[i][3], "%ux%u -> %ux%u, not %ux%u",
		              cases[i][0], cases[i][1], w, h, cases[i][2], cases[i][3]);
	}
}
END_TEST

static char *batch_of(const char *input, GError **error)
{
	g_autoptr(JsonObject) in = alk_json_parse_object(input, strlen(input), 65536, 8, NULL);
	g_autoptr(JsonObject) batch = NULL;
	g_autoptr(JsonNode) node = NULL;
	const char *verb = NULL;

	ck_assert_msg(in != NULL, "not JSON: %s", input);
	batch = alk_api_tool_anthropic_batch(in, 1024, 768, &verb, error);
	if (batch == NULL)
		return NULL;
	node = json_node_init_object(json_node_alloc(), batch);
	return alk_json_to_string(node);
}

#define SCALE "\"scale_to\":{\"width\":1024,\"height\":768}"

START_TEST(anthropic_batches)
{
	static const char *const cases[][2] = {
	    {"{\"action\":\"screenshot\"}", "{\"actions\":[],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"left_click\",\"coordinate\":[10,20]}",
	     "{\"actions\":[{\"action\":\"click\",\"x\":10,\"y\":20}],\"screenshot\":true," SCALE
	     "}"},
	    {"{\"action\":\"left_click\",\"coordinate\":[10,20],\"text\":\"ctrl+shift\"}",
	     "{\"actions\":[{\"action\":\"click\",\"x\":10,\"y\":20,\"hold\":[\"ctrl\",\"shift\"]}]"
	     ","
	     "\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"triple_click\"}",
	     "{\"actions\":[{\"action\":\"click\",\"count\":3}],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"right_click\",\"coordinate\":[1,2]}",
	     "{\"actions\":[{\"action\":\"click\",\"x\":1,\"y\":2,\"button\":\"right\"}],"
	     "\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"left_click_drag\",\"start_coordinate\":[1,2],\"coordinate\":[3,4]}",
	     "{\"actions\":[{\"action\":\"drag\",\"path\":[[1,2],[3,4]]}],\"screenshot\":"
	     "true," SCALE "}"},
	    {"{\"action\":\"scroll\",\"coordinate\":[5,6],\"scroll_direction\":\"up\","
	     "\"scroll_amount\":3,\"text\":\"shift\"}",
	     "{\"actions\":[{\"action\":\"scroll\",\"x\":5,\"y\":6,\"dy\":-3,\"hold\":[\"shift\"]}]"
	     ","
	     "\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"scroll\",\"scroll_direction\":\"right\",\"scroll_amount\":2}",
	     "{\"actions\":[{\"action\":\"scroll\",\"dx\":2}],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"key\",\"text\":\"ctrl+s\"}",
	     "{\"actions\":[{\"action\":\"key\",\"keys\":\"ctrl+s\"}],\"screenshot\":true," SCALE
	     "}"},
	    {"{\"action\":\"hold_key\",\"text\":\"shift\",\"duration\":12.5}",
	     "{\"actions\":[{\"action\":\"key_down\",\"keys\":\"shift\"},{\"action\":\"wait\","
	     "\"ms\":10000},{\"action\":\"wait\",\"ms\":2500},{\"action\":\"key_up\",\"keys\":"
	     "\"shift\"}],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"wait\",\"duration\":1}",
	     "{\"actions\":[{\"action\":\"wait\",\"ms\":1000}],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"type\",\"text\":\"hi\"}",
	     "{\"actions\":[{\"action\":\"type\",\"text\":\"hi\"}],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"cursor_position\"}",
	     "{\"actions\":[{\"action\":\"cursor_position\"}],\"screenshot\":false," SCALE "}"},
	    {"{\"action\":\"left_mouse_down\"}",
	     "{\"actions\":[{\"action\":\"button_down\"}],\"screenshot\":true," SCALE "}"},
	    {"{\"action\":\"zoom\",\"region\":[10,20,110,70]}",
	     "{\"actions\":[{\"action\":\"screenshot\",\"region\":{\"x\":10,\"y\":20,\"width\":100,"
	     "\"height\":50}}],\"screenshot\":false," SCALE "}"},
	};
	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *got = batch_of(cases[i][0], &error);
		ck_assert_msg(got != NULL, "%s: %s", cases[i][0], error->message);
		ck_assert_msg(strcmp(got, cases[i][1]) == 0, "%s:\n%s\nnot\n%s", cases[i][0], got,
		              cases[i][1]);
	}
}
END_TEST

START_TEST(anthropic_refusals)
{
	static const char *const bad[] = {
	    "{}",
	    "{\"action\":\"fly\"}",
	    "{\"action\":7}",
	    "{\"action\":\"mouse_move\"}",
	    "{\"action\":\"mouse_move\",\"coordinate\":[1]}",
	    "{\"action\":\"mouse_move\",\"coordinate\":[1,\"2\"]}",
	    "{\"action\":\"mouse_move\",\"coordinate\":[1,2.5]}",
	    "{\"action\":\"mouse_move\",\"coordinate\":{\"x\":1}}",
	    "{\"action\":\"screenshot\",\"coordinate\":[1,2]}",
	    "{\"action\":\"key\"}",
	    "{\"action\":\"key\",\"text\":\"\"}",
	    "{\"action\":\"type\",\"text\":5}",
	    "{\"action\":\"mouse_move\",\"coordinate\":[1,2],\"text\":\"a\"}",
	    "{\"action\":\"left_click_drag\",\"coordinate\":[1,2]}",
	    "{\"action\":\"left_click\",\"start_coordinate\":[1,2]}",
	    "{\"action\":\"scroll\",\"scroll_direction\":\"up\"}",
	    "{\"action\":\"scroll\",\"scroll_direction\":\"sideways\",\"scroll_amount\":1}",
	    "{\"action\":\"scroll\",\"scroll_direction\":\"up\",\"scroll_amount\":51}",
	    "{\"action\":\"scroll\",\"scroll_direction\":\"up\",\"scroll_amount\":0}",
	    "{\"action\":\"left_click\",\"scroll_amount\":1}",
	    "{\"action\":\"wait\"}",
	    "{\"action\":\"wait\",\"duration\":-1}",
	    "{\"action\":\"wait\",\"duration\":101}",
	    "{\"action\":\"wait\",\"duration\":\"1\"}",
	    "{\"action\":\"key\",\"text\":\"a\",\"duration\":1}",
	    "{\"action\":\"zoom\"}",
	    "{\"action\":\"zoom\",\"region\":[10,10,5,20]}",
	    "{\"action\":\"zoom\",\"region\":[1,2,3]}",
	    "{\"action\":\"screenshot\",\"region\":[1,2,3,4]}",
	    "{\"action\":\"screenshot\",\"bogus\":1}",
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *got = batch_of(bad[i], &error);
		ck_assert_msg(got == NULL, "accepted %s as %s", bad[i], got);
		ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID));
	}
	g_autoptr(GError) none = NULL;
	ck_assert(alk_api_tool_anthropic_batch(NULL, 1024, 768, NULL, &none) == NULL);
	ck_assert(g_error_matches(none, ALK_ERROR, ALK_ERROR_INVALID));
	/* oversize text */
	g_autoptr(GString) big = g_string_new("{\"action\":\"type\",\"text\":\"");
	for (guint i = 0; i < 4097; i++)
		g_string_append_c(big, 'a');
	g_string_append(big, "\"}");
	g_autoptr(GError) error = NULL;
	ck_assert(batch_of(big->str, &error) == NULL);
}
END_TEST

static char *content_of(const char *verb, const char *result)
{
	g_autoptr(JsonObject) r = alk_json_parse_object(result, strlen(result), 65536, 8, NULL);
	g_autoptr(JsonArray) content = alk_api_tool_anthropic_content(verb, r);
	g_autoptr(JsonNode) node = json_node_init_array(json_node_alloc(), content);

	return alk_json_to_string(node);
}

/* what a model gets back: a screenshot, the zoom, or the cursor */
START_TEST(anthropic_content)
{
	g_autofree char *shot = content_of(
	    "left_click", "{\"results\":[{\"action\":\"click\",\"ok\":true}],\"screen\":{"
	                  "\"width\":720,\"height\":400},\"screenshot\":{\"width\":1024,"
	                  "\"height\":768,\"png_b64\":\"UE5H\"}}");
	g_autofree char *zoom = content_of(
	    "zoom", "{\"results\":[{\"action\":\"screenshot\",\"ok\":true,\"screenshot\":{"
	            "\"width\":70,\"height\":26,\"png_b64\":\"Wk9PTQ==\"}}],\"screen\":{\"width\":"
	            "720,\"height\":400},\"screenshot\":null}");
	g_autofree char *cursor =
	    content_of("cursor_position",
	               "{\"results\":[{\"action\":\"cursor_position\",\"ok\":true,\"x\":10,"
	               "\"y\":20}],\"screen\":{\"width\":720,\"height\":400},\"screenshot\":null}");
	g_autofree char *unknown = content_of(
	    "cursor_position",
	    "{\"results\":[{\"action\":\"cursor_position\",\"ok\":true,\"x\":null,"
	    "\"y\":null}],\"screen\":{\"width\":720,\"height\":400},\"screenshot\":null}");

	ck_assert_str_eq(shot,
	                 "[{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":"
	                 "\"image/png\",\"data\":\"UE5H\"}}]");
	ck_assert(strstr(zoom, "\"data\":\"Wk9PTQ==\"") != NULL);
	ck_assert_str_eq(cursor, "[{\"type\":\"text\",\"text\":\"X=10,Y=20\"}]");
	ck_assert(strstr(unknown, "not known") != NULL);
}
END_TEST

static char *openai_of(const char *item, guint w, guint h, GError **error)
{
	g_autoptr(JsonObject) in = alk_json_parse_object(item, strlen(item), 65536, 8, NULL);
	g_autoptr(JsonObject) batch = NULL;
	g_autoptr(JsonNode) node = NULL;
	g_autoptr(JsonArray) acked = NULL;
	g_autofree char *call_id = NULL;
	g_autofree char *label = NULL;

	ck_assert_msg(in != NULL, "not JSON: %s", item);
	batch = alk_api_tool_openai_batch(in, w, h, &call_id, &acked, &label, error);
	if (batch == NULL)
		return NULL;
	ck_assert_str_eq(call_id, "c1");
	ck_assert(g_str_has_prefix(label, "openai.computer_call:"));
	node = json_node_init_object(json_node_alloc(), batch);
	return alk_json_to_string(node);
}

#define CALL(a) "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"action\":" a "}"
#define SHOT "\"screenshot\":true"

START_TEST(openai_keys)
{
	static const char *const cases[][2] = {
	    {"ENTER", "ENTER"},
	    {"enter", "enter"},
	    {"CTRL", "CTRL"},
	    {"ARROWLEFT", "ARROWLEFT"},
	    {"ESC", "ESC"},
	    {"CMD", "CMD"},
	    {"A", "a"},
	    {"/", "/"},
	    {"+", "+"},
	    {"SPACE", "SPACE"},
	    {"PRINTSCREEN", "Print"},
	    {"F5", "F5"},
	};
	char buf[2];

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		const char *k = alk_api_tool_openai_key(cases[i][0], buf);
		ck_assert_msg(k != NULL && strcmp(k, cases[i][1]) == 0, "%s: %s", cases[i][0],
		              k != NULL ? k : "NULL");
		const char *keys[ALK_INPUT_CHORD_MAX];
		guint n = 0;
		ck_assert_msg(alk_input_chord(k, keys, &n, NULL), "%s", k);
	}
	ck_assert(alk_api_tool_openai_key("NOKEY", buf) == NULL);
	ck_assert(alk_api_tool_openai_key("ctrl+a", buf) == NULL);
	ck_assert(alk_api_tool_openai_key("", buf) == NULL);
}
END_TEST

START_TEST(openai_batches)
{
	static const char *const cases[][2] = {
	    {CALL("{\"type\":\"click\",\"button\":\"wheel\",\"x\":1,\"y\":2}"),
	     "{\"actions\":[{\"x\":1,\"y\":2,\"action\":\"click\",\"button\":\"middle\"}]," SHOT
	     "}"},
	    {CALL("{\"type\":\"double_click\",\"x\":1,\"y\":2}"),
	     "{\"actions\":[{\"x\":1,\"y\":2,\"action\":\"click\",\"button\":\"left\","
	     "\"count\":2}]," SHOT "}"},
	    {CALL("{\"type\":\"keypress\",\"keys\":[\"CTRL\",\"A\"]}"),
	     "{\"actions\":[{\"action\":\"key\",\"keys\":\"CTRL+a\"}]," SHOT "}"},
	    {CALL("{\"type\":\"scroll\",\"x\":5,\"y\":6,\"scroll_x\":0,\"scroll_y\":250}"),
	     "{\"actions\":[{\"x\":5,\"y\":6,\"action\":\"scroll\",\"dy\":3}]," SHOT "}"},
	    {CALL("{\"type\":\"scroll\",\"x\":5,\"y\":6,\"scroll_x\":-1,\"scroll_y\":0}"),
	     "{\"actions\":[{\"x\":5,\"y\":6,\"action\":\"scroll\",\"dx\":-1}]," SHOT "}"},
	    {CALL("{\"type\":\"drag\",\"path\":[{\"x\":1,\"y\":2},{\"x\":3,\"y\":4}]}"),
	     "{\"actions\":[{\"action\":\"drag\",\"path\":[[1,2],[3,4]]}]," SHOT "}"},
	    {CALL("{\"type\":\"move\",\"x\":1,\"y\":2,\"keys\":[\"SHIFT\"]}"),
	     "{\"actions\":[{\"x\":1,\"y\":2,\"hold\":[\"SHIFT\"],\"action\":\"move\"}]," SHOT "}"},
	    {CALL("{\"type\":\"keypress\",\"keys\":[\"CTRL\",\"+\"]}"),
	     "{\"actions\":[{\"action\":\"key\",\"keys\":\"CTRL++\"}]," SHOT "}"},
	    {CALL("{\"type\":\"type\",\"text\":\"hi\"}"),
	     "{\"actions\":[{\"action\":\"type\",\"text\":\"hi\"}]," SHOT "}"},
	    {CALL("{\"type\":\"wait\"}"),
	     "{\"actions\":[{\"action\":\"wait\",\"ms\":1000}]," SHOT "}"},
	    {CALL("{\"type\":\"screenshot\"}"), "{\"actions\":[]," SHOT "}"},
	};

	for (guint i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *got = openai_of(cases[i][0], 0, 0, &error);
		ck_assert_msg(got != NULL, "%s: %s", cases[i][0], error->message);
		ck_assert_msg(strcmp(got, cases[i][1]) == 0, "%s:\n%s\nnot\n%s", cases[i][0], got,
		              cases[i][1]);
	}
	/* a list, in a declared space */
	g_autoptr(GError) error = NULL;
	g_autofree char *list = openai_of(
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"actions\":[{\"type\":\"move\","
	    "\"x\":1,\"y\":2},{\"type\":\"screenshot\"}]}",
	    1024, 768, &error);
	ck_assert_str_eq(list, "{\"actions\":[{\"x\":1,\"y\":2,\"action\":\"move\"}]," SHOT
	                       ",\"scale_to\":{\"width\":1024,\"height\":768}}");
}
END_TEST

START_TEST(openai_refusals)
{
	static const char *const bad[] = {
	    "{\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"}}",
	    "{\"type\":\"message\",\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"}}",
	    "{\"type\":\"computer_call\",\"action\":{\"type\":\"screenshot\"}}",
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\"}",
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"},"
	    "\"actions\":[]}",
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"},"
	    "\"bogus\":1}",
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"actions\":[7]}",
	    CALL("[]"),
	    CALL("{}"),
	    CALL("{\"type\":\"fly\"}"),
	    CALL("{\"type\":\"click\",\"x\":1}"),
	    CALL("{\"type\":\"click\",\"x\":1,\"y\":\"2\"}"),
	    CALL("{\"type\":\"click\",\"x\":1,\"y\":2,\"button\":\"thumb\"}"),
	    CALL("{\"type\":\"click\",\"x\":1,\"y\":2,\"text\":\"a\"}"),
	    CALL("{\"type\":\"keypress\"}"),
	    CALL("{\"type\":\"keypress\",\"keys\":[]}"),
	    CALL("{\"type\":\"keypress\",\"keys\":[\"NOKEY\"]}"),
	    CALL("{\"type\":\"keypress\",\"keys\":[3]}"),
	    CALL("{\"type\":\"keypress\",\"keys\":\"ENTER\"}"),
	    CALL("{\"type\":\"keypress\",\"keys\":[\"+\",\"CTRL\"]}"),
	    CALL("{\"type\":\"type\"}"),
	    CALL("{\"type\":\"type\",\"text\":\"\"}"),
	    CALL("{\"type\":\"scroll\",\"x\":1,\"y\":2,\"scroll_y\":999999}"),
	    CALL("{\"type\":\"drag\",\"path\":[{\"x\":1,\"y\":2}]}"),
	    CALL("{\"type\":\"drag\",\"path\":[{\"x\":1,\"y\":2},[3,4]]}"),
	    CALL("{\"type\":\"drag\",\"path\":[{\"x\":1,\"y\":2},{\"x\":1,\"y\":2,\"z\":3}]}"),
	    CALL("{\"type\":\"wait\",\"ms\":999999}"),
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"},"
	    "\"pending_safety_checks\":[{\"code\":\"x\"}]}",
	};

	for (guint i = 0; i < G_N_ELEMENTS(bad); i++) {
		g_autoptr(GError) error = NULL;
		g_autofree char *got = openai_of(bad[i], 0, 0, &error);
		ck_assert_msg(got == NULL, "accepted %s as %s", bad[i], got);
		ck_assert_msg(g_error_matches(error, ALK_ERROR, ALK_ERROR_INVALID), "%s: %s",
		              bad[i], error->message);
	}
}
END_TEST

/* pending checks run only when the caller acknowledged each; only what
 * it acknowledged comes back */
START_TEST(openai_safety_checks)
{
	const char *pending =
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"},"
	    "\"pending_safety_checks\":[{\"id\":\"sc1\",\"code\":\"malicious_instructions\","
	    "\"message\":\"m\"}]}";
	const char *acked =
	    "{\"type\":\"computer_call\",\"call_id\":\"c1\",\"action\":{\"type\":\"screenshot\"},"
	    "\"pending_safety_checks\":[{\"id\":\"sc1\",\"code\":\"malicious_instructions\","
	    "\"message\":\"m\"}],\"acknowledged_safety_checks\":[{\"id\":\"sc1\"}]}";
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) in = alk_json_parse_object(acked, strlen(acked), 65536, 8, NULL);
	g_autoptr(JsonObject) batch = NULL;
	g_autoptr(JsonArray) back = NULL;
	g_autofree char *call_id = NULL;
	g_autofree char *label = NULL;

	ck_assert(openai_of(pending, 0, 0, &error) == NULL);
	ck_assert(g_error_matches(error, ALK_ERROR, ALK_ERROR_CONFLICT));
	ck_assert(strstr(error->message, "sc1") != NULL);
	batch = alk_api_tool_openai_batch(in, 0, 0, &call_id, &back, &label, NULL);
	ck_assert(batch != NULL);
	ck_assert_int_eq(json_array_get_length(back), 1);
	ck_assert_str_eq(
	    json_object_get_string_member(json_array_get_object_element(back, 0), "id"), "sc1");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tools-computer");
	TCase *tc = tcase_create("tools-computer");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, space);
	tcase_add_test(tc, anthropic_batches);
	tcase_add_test(tc, anthropic_refusals);
	tcase_add_test(tc, anthropic_content);
	tcase_add_test(tc, openai_keys);
	tcase_add_test(tc, openai_batches);
	tcase_add_test(tc, openai_refusals);
	tcase_add_test(tc, openai_safety_checks);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
