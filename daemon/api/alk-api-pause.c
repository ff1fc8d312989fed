/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/pause and /resume: a sandbox's vCPUs stop and
 * start again; a call of alk-api-call.c (held, audited even if the client
 * left). */
#include "alk-api-private.h"
#include "alk-json.h"

/* result: the state it is in now, or why not */
static void audit_state(AlkApiCall *call, const char *action, const AlkSandbox *sb,
                        const GError *error)
{
	g_autoptr(JsonBuilder) r = json_builder_new();
	g_autoptr(JsonNode) result = NULL;

	json_builder_begin_object(r);
	if (error != NULL)
		alk_json_add_string(r, "error", error->message);
	else
		alk_json_add_string(r, "state", alk_sandbox_state_name(sb->state));
	alk_json_add_int(r, "elapsed_ms", alk_api_call_elapsed_ms(call));
	json_builder_end_object(r);
	result = json_builder_get_root(r);
	alk_api_call_audit(call, action, NULL, result);
}

static void audit_pause(AlkApiCall *call, const AlkSandbox *sb, const GError *error)
{
	audit_state(call, "sandbox.pause", sb, error);
}

static void audit_resume(AlkApiCall *call, const AlkSandbox *sb, const GError *error)
{
	audit_state(call, "sandbox.resume", sb, error);
}

static const AlkApiCallClass pause_call = {.finish = alk_manager_pause_finish,
                                           .audit = audit_pause};
static const AlkApiCallClass resume_call = {.finish = alk_manager_pause_finish,
                                            .audit = audit_resume};

static void pause_or_resume(AlkApiReq *req, gboolean pause)
{
	g_autoptr(GError) error = NULL;
	AlkApiCall *call;

	if (alk_api_req_sandbox(req, &error) == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	call = alk_api_call_new(req, pause ? &pause_call : &resume_call, NULL, NULL);
	alk_manager_pause_async(req->api->manager, alk_api_call_id(call), pause, alk_api_call_done,
	                        call);
}

void alk_api_pause_post(AlkApiReq *req)
{
	pause_or_resume(req, TRUE);
}

void alk_api_resume_post(AlkApiReq *req)
{
	pause_or_resume(req, FALSE);
}
