/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-api.h"

#include <string.h>

AlkTestDaemon *alk_test_api_daemon;

/* Short enough for the slow-client tests, long enough for a loaded host. */
#define API_EXTRA "[api]\nrequest_timeout_s = 4\n"

void alk_test_api_setup(void)
{
	g_autoptr(GError) error = NULL;

	alk_test_api_daemon = alk_test_daemon_start(API_EXTRA, &error);
	if (alk_test_api_daemon == NULL)
		g_printerr("airlockd did not start: %s\n", error->message);
}

void alk_test_api_teardown(void)
{
	g_clear_pointer(&alk_test_api_daemon, alk_test_daemon_stop);
}

void alk_test_api_add(Suite *s, const char *name, const TTest *test, void (*setup)(void),
                      void (*teardown)(void))
{
	TCase *tc = tcase_create(name);

	tcase_add_unchecked_fixture(tc, setup != NULL ? setup : alk_test_api_setup,
	                            teardown != NULL ? teardown : alk_test_api_teardown);
	tcase_set_timeout(tc, 900);
	tcase_add_test(tc, test);
	suite_add_tcase(s, tc);
}

AlkTestDaemon *alk_test_api_d(void)
{
	ck_assert_msg(alk_test_api_daemon != NULL, "airlockd did not start (see above)");
	return alk_test_api_daemon;
}

AlkTestResponse *alk_test_api_call(const char *method, const char *path, const char *json)
{
	g_autoptr(GError) error = NULL;
	AlkTestResponse *r = alk_test_http_json(alk_test_api_d(), method, path, json, &error);

	ck_assert_msg(r != NULL, "%s %s: %s", method, path, error ? error->message : "?");
	return r;
}

JsonObject *alk_test_api_expect(const char *method, const char *path, const char *json,
                                guint status)
{
	g_autoptr(AlkTestResponse) r = alk_test_api_call(method, path, json);

	ck_assert_msg(r->status == status, "%s %s: %u, wanted %u: %.*s", method, path, r->status,
	              status, (int)MIN(r->body->len, 2000), (const char *)r->body->data);
	return alk_test_response_json(r);
}

void alk_test_api_assert_error(AlkTestResponse *r, guint status, const char *code)
{
	g_autoptr(JsonObject) obj = alk_test_response_json(r);
	JsonObject *err = obj != NULL && json_object_has_member(obj, "error")
	                      ? json_object_get_object_member(obj, "error")
	                      : NULL;

	ck_assert_msg(r->status == status, "status %u, wanted %u: %.*s", r->status, status,
	              (int)MIN(r->body->len, 500), (const char *)r->body->data);
	ck_assert_msg(err != NULL, "no error object: %.*s", (int)MIN(r->body->len, 500),
	              (const char *)r->body->data);
	ck_assert_str_eq(json_object_get_string_member(err, "code"), code);
	ck_assert(json_object_get_string_member(err, "message") != NULL);
}

char *alk_test_api_create(const char *json)
{
	g_autoptr(JsonObject) sb =
	    alk_test_api_expect("POST", "/v1/sandboxes?wait=ready", json ? json : "{}", 201);

	ck_assert_str_eq(json_object_get_string_member(sb, "state"), "ready");
	return g_strdup(json_object_get_string_member(sb, "id"));
}

char *alk_test_api_sh_body(const char *cmd, const char *stdin_text)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonGenerator) gen = json_generator_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "argv");
	json_builder_begin_array(b);
	json_builder_add_string_value(b, "/bin/sh");
	json_builder_add_string_value(b, "-c");
	json_builder_add_string_value(b, cmd);
	json_builder_end_array(b);
	if (stdin_text != NULL) {
		g_autofree char *b64 =
		    g_base64_encode((const guchar *)stdin_text, strlen(stdin_text));
		json_builder_set_member_name(b, "stdin_b64");
		json_builder_add_string_value(b, b64);
	}
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	json_generator_set_root(gen, root);
	return json_generator_to_data(gen, NULL);
}

JsonObject *alk_test_api_sh(const char *id, const char *cmd)
{
	g_autofree char *path = g_strdup_printf("/v1/sandboxes/%s/exec", id);
	g_autofree char *body = alk_test_api_sh_body(cmd, NULL);
	return alk_test_api_expect("POST", path, body, 200);
}
