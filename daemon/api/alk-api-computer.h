/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The batch runner of POST /v1/sandboxes/{id}/computer, apart from any
 * HTTP request: REST, MCP and the models' tool endpoints share it.
 * Private to daemon/api. */
#pragma once

#include "alk-api-private.h"

/* A batch's limits */
#define ALK_API_COMPUTER_ACTIONS_MAX 100
#define ALK_API_COMPUTER_TEXT_MAX 4096     /* bytes of one type action */
#define ALK_API_COMPUTER_WAIT_MAX_MS 10000 /* one wait */
#define ALK_API_COMPUTER_SCROLL_MAX 50     /* wheel steps each way */

typedef struct AlkApiComputerRun AlkApiComputerRun;

/* result: the same JSON object POST /computer answers ({results, screen,
 * screenshot}; borrowed: ref it to keep it), or error set instead when the
 * batch failed or was refused (ALK_ERROR; its code maps to the HTTP status
 * as REST answers it). Called exactly once, always from the main loop
 * (never from within alk_api_computer_run), unless the run is cancelled
 * first. */
typedef void (*AlkApiComputerDone)(JsonObject *result, const GError *error, gpointer data);

/* Runs batch ({actions:[…], screenshot, scale_to}, as POST /computer takes
 * it; read at once, not kept) on the sandbox for actor (the audit line's
 * caller). The whole batch is checked against the real screen before
 * anything is injected; a batch refused that way (or an unknown sandbox)
 * ends with done's error and nothing sent. A batch that ran, or failed
 * part way, is one sandbox.computer audit line. The run must end (done
 * called, or cancelled) before the API is freed. */
AlkApiComputerRun *alk_api_computer_run(AlkApi *api, const char *sandbox_id, JsonObject *batch,
                                        const char *actor, AlkApiComputerDone done, gpointer data);
/* The same for a model's tool call: tool (say "anthropic.computer:left_click")
 * joins the audit line's arguments. */
AlkApiComputerRun *alk_api_computer_run_tool(AlkApi *api, const char *sandbox_id, JsonObject *batch,
                                             const char *actor, const char *tool,
                                             AlkApiComputerDone done, gpointer data);
/* Stops the run where it is (no further step starts; its audit line says
 * it was cancelled). done is never called after this. Calling it from
 * within done, or with NULL, does nothing. */
void alk_api_computer_run_cancel(AlkApiComputerRun *run);

/* JSON Schemas of a batch's "actions" (one object schema per action, from
 * the tables the runner reads them with) and "scale_to", for callers that
 * show them (the MCP computer tool's inputSchema). */
JsonNode *alk_api_computer_actions_schema(void);
JsonNode *alk_api_computer_scale_schema(void);
