/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* POST /v1/sandboxes/{id}/tools/anthropic: Anthropic tool_use blocks run
 * one after the other (alk-api-tools-anthropic.c), each by its tool: bash
 * (alk-api-tool-bash.c), the text editor under both its names
 * (alk-api-tool-editor.c) and computer (alk-api-tools.h). A tool gets an
 * AlkToolCall and ends it exactly once with alk_tool_call_done(); what the
 * tool could not do is a result with is_error, never an HTTP error. */
#pragma once

#include "alk-api-private.h"
#include "alk-json.h"

/* What the tools keep per sandbox: its bash shell, the editor's undo
 * history. Made when first used; swept once its sandbox is gone. */
typedef struct _AlkToolShell AlkToolShell;
typedef struct _AlkToolHistory AlkToolHistory;
typedef struct {
	char *sandbox;
	AlkToolShell *shell;     /* alk-api-tool-bash.c's; NULL: none runs */
	AlkToolHistory *history; /* alk-api-tool-editor.c's; NULL: empty */
} AlkToolState;

typedef struct _AlkToolCall AlkToolCall;
struct _AlkToolCall {
	AlkApi *api;
	const char *sandbox; /* the request's {id} */
	const char *caller;  /* the request's, for audit lines of its own */
	const char *name;    /* the block's tool name */
	JsonObject *input;   /* the block's input, borrowed for the call */
	JsonBuilder *audit;  /* inside an object: the tool adds what it was asked */
	GPtrArray *content;  /* JsonNode *: the result's content blocks */
	gboolean is_error;
	gboolean ended;
	/* the tool's, while it works: cancel stops it without alk_tool_call_done */
	void (*cancel)(gpointer op);
	gpointer op;
	/* the batch's */
	void (*finished)(AlkToolCall *call, gpointer data);
	gpointer finished_data;
};

/* The sandbox's tool state (made if absent). */
AlkToolState *alk_tool_state(AlkApi *api, const char *sandbox);
extern const AlkApiResource alk_api_tools_resource;

/* The tool works asynchronously; cancel(op) runs if the request goes first. */
void alk_tool_call_hold(AlkToolCall *call, void (*cancel)(gpointer op), gpointer op);
/* Adds a text content block. */
void alk_tool_call_text(AlkToolCall *call, const char *text);
/* Ends the call: is_error, with the content added so far. */
void alk_tool_call_done(AlkToolCall *call, gboolean is_error);
/* A text block and the end, is_error true. */
void alk_tool_call_fail(AlkToolCall *call, const char *format, ...) G_GNUC_PRINTF(2, 3);
/* Reads the input through fields into out (zeroed); FALSE: the call was
 * failed with the reason. */
gboolean alk_tool_call_input(AlkToolCall *call, const AlkJsonField *fields, gpointer out);
/* Audit members: text capped (alk_api_audit_add_field), or a content's
 * length and the first 16 hex digits of its SHA-256 only. */
void alk_tool_call_audit_text(AlkToolCall *call, const char *key, const char *value);
void alk_tool_call_audit_secret(AlkToolCall *call, const char *key, const char *data, gsize len);

/* Output as text: invalid UTF-8 repaired (U+FFFD); len 0 gives "". */
char *alk_tool_text(const guint8 *data, gsize len);

/* The tools. */
void alk_tool_bash_run(AlkToolCall *call);
void alk_tool_editor_run(AlkToolCall *call, gboolean undo);
void alk_tool_bash_free(AlkToolShell *shell);
void alk_tool_history_free(AlkToolHistory *history);

/* Numbers documented in docs/guide.md (the tools section). */
#define ALK_TOOL_BLOCKS_MAX 64                /* tool_use blocks in one request */
#define ALK_TOOL_COMMAND_MAX (64 * 1024)      /* bytes of one bash command */
#define ALK_TOOL_OUTPUT_MAX (256 * 1024)      /* of one command's output kept (head) */
#define ALK_TOOL_FILE_MAX (4 * 1024 * 1024)   /* a file the editor reads or writes */
#define ALK_TOOL_UNDO_MAX 32                  /* undo entries per sandbox */
#define ALK_TOOL_UNDO_BYTES (8 * 1024 * 1024) /* and their bytes */
#define ALK_TOOL_PATH_MAX 4096
