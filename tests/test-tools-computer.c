/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The models' computer tools' pure parts: the model's space of a screen,
 * and a tool input's batch for the runner (what is sent, what is refused). */
#include <check.h>
#include <string.h>

#include "alk-api-tools.h"
#include "alk-error.h"
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
	/* oversize text */
	g_autoptr(GString) big = g_string_new("{\"action\":\"type\",\"text\":\"");
	for (guint i = 0; i < 4097; i++)
		g_string_append_c(big, 'a');
	g_string_append(big, "\"}");
	g_autoptr(GError) error = NULL;
	ck_assert(batch_of(big->str, &error) == NULL);
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
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
