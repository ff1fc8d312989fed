/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The models' tool calls, forwarded unchanged: the shared contract of the
 * tool endpoints (POST .../tools/anthropic, MCP, ...) and the Anthropic
 * computer tool (alk-api-tools-computer.c). Private to daemon/api. */
#pragma once

#include "alk-api-private.h"

/* content: a JSON array of Anthropic tool_result content blocks
 * ({"type":"text","text":...} and {"type":"image","source":{"type":"base64",
 * "media_type":"image/png","data":...}}), borrowed: ref it to keep it.
 * Called exactly once, from the main loop (never from within the call that
 * started it), unless cancelled first. */
typedef void (*AlkApiToolDone)(JsonArray *content, gboolean is_error, gpointer data);
typedef struct AlkApiToolCall AlkApiToolCall;

/* The computer tool's input (a tool_use block's "input": {action, …} of
 * computer_20250124 or computer_20251124) on the sandbox for actor. */
AlkApiToolCall *alk_api_tool_anthropic_computer(AlkApi *api, const char *sandbox_id,
                                                JsonObject *input, const char *actor,
                                                AlkApiToolDone done, gpointer data);
/* done is never called after this; NULL or from within done: nothing. */
void alk_api_tool_call_cancel(AlkApiToolCall *call);

/* The "computer" entry of GET .../tools/anthropic/definitions; version
 * "computer_20250124" or "computer_20251124". Errors: ALK_ERROR_INVALID
 * (another version), the sandbox's lookup's, and a sandbox without a
 * display. */
JsonObject *alk_api_tool_anthropic_computer_definition(AlkApi *api, const char *sandbox_id,
                                                       const char *version, GError **error);

/* ---- shared by the tool endpoints (alk-api-tools-computer.c) ---- */
/* {"type":"text","text":text} and {"type":"image","source":{"type":"base64",
 * "media_type":"image/png","data":png_b64}} */
JsonObject *alk_api_tool_text(const char *text);
JsonObject *alk_api_tool_image(const char *png_b64);

/* The model's space of a screen of width x height (pure): fitted within
 * 1024x768 or 1280x800, whichever aspect ratio is nearer, keeping its own
 * ratio and never scaled up; 0x0 stays 0x0. */
void alk_api_tool_computer_space(guint width, guint height, guint *w, guint *h);
/* The runner's batch ({actions, screenshot, scale_to}) of a computer tool
 * input in a space_w x space_h space (pure): *verb the input's action.
 * Errors: ALK_ERROR_INVALID naming what is wrong. */
JsonObject *alk_api_tool_anthropic_batch(JsonObject *input, guint space_w, guint space_h,
                                         const char **verb, GError **error);

/* The tool_result content of a runner's result for an input of action
 * verb (pure): the cursor as "X=…,Y=…", the zoom's picture, or the
 * screenshot taken after the action. */
JsonArray *alk_api_tool_anthropic_content(const char *verb, JsonObject *result);

/* ---- OpenAI (alk-api-tools-openai.c) ---- */
/* An OpenAI key name (ENTER, CTRL, ARROWLEFT, ESC, CMD, "A", ...; any case)
 * as a key name of alk-input's (a single character in buf, lowercased);
 * NULL for no key. */
const char *alk_api_tool_openai_key(const char *name, char buf[2]);
/* The runner's batch of a computer_call item (pure), in a space_w x
 * space_h space (0: the real screen): *call_id, the caller's
 * *acknowledged_safety_checks (NULL: none) and the audit's *label. Errors:
 * ALK_ERROR_INVALID, ALK_ERROR_CONFLICT (a pending safety check the
 * caller did not acknowledge). */
JsonObject *alk_api_tool_openai_batch(JsonObject *item, guint space_w, guint space_h,
                                      char **call_id, JsonArray **acknowledged, char **label,
                                      GError **error);
