/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Anthropic computer tool (computer_20250124, computer_20251124) over
 * the batch runner of alk-api-computer.c. */
#include "alk-api-computer.h"
#include "alk-api-tools.h"
#include "alk-error.h"

struct AlkApiToolCall {
	AlkApiToolDone done;
	gpointer data;
	guint idle;
	gboolean ending;
};

static gboolean not_yet(gpointer data)
{
	AlkApiToolCall *call = data;
	g_autoptr(JsonArray) content = json_array_new();
	JsonObject *text = json_object_new();

	call->idle = 0;
	json_object_set_string_member(text, "type", "text");
	json_object_set_string_member(text, "text", "the computer tool is not yet implemented");
	json_array_add_object_element(content, text);
	call->ending = TRUE;
	call->done(content, TRUE, call->data);
	g_free(call);
	return G_SOURCE_REMOVE;
}

AlkApiToolCall *alk_api_tool_anthropic_computer(AlkApi *api, const char *sandbox_id,
                                                JsonObject *input, const char *actor,
                                                AlkApiToolDone done, gpointer data)
{
	AlkApiToolCall *call = g_new0(AlkApiToolCall, 1);

	(void)api;
	(void)sandbox_id;
	(void)input;
	(void)actor;
	call->done = done;
	call->data = data;
	call->idle = g_idle_add(not_yet, call);
	return call;
}

void alk_api_tool_call_cancel(AlkApiToolCall *call)
{
	if (call == NULL || call->ending)
		return;
	g_clear_handle_id(&call->idle, g_source_remove);
	g_free(call);
}

JsonObject *alk_api_tool_anthropic_computer_definition(AlkApi *api, const char *sandbox_id,
                                                       const char *version, GError **error)
{
	(void)api;
	(void)sandbox_id;
	(void)version;
	g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
	            "the computer tool's definition is not yet implemented");
	return NULL;
}
