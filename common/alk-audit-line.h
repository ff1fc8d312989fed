/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log: one JSON object per line, appended, each line carrying the
 * SHA-256 of the line before it. The hash and seq of the last line are also
 * kept in a separate head file, so that lines cut off the end are noticed.
 *
 * A line holds, in this order: seq (from 1), time (RFC 3339, UTC, with
 * microseconds), caller ("uid:0", "token:NAME"), action ("sandbox.exec"),
 * sandbox (id or null), args (object), result (object) and prev (hex SHA-256
 * of the previous line's bytes without its newline; 64 zeros on line 1).
 * A node of a cluster adds, between sandbox and args, node (its two hex
 * digit tag) and, for a request a proxy gave an id, request_id (see
 * alk_audit_request_id_valid); both are optional, in that order.
 *
 * What the audit writer (daemon/api/alk-audit.c) and the verifier
 * (alk-audit-verify.c) share: the line format, its parser, the head file and
 * the hash. */
#pragma once

#include <json-glib/json-glib.h>

#define ALK_AUDIT_LOG_PATH "/var/lib/airlock/audit.jsonl"
#define ALK_AUDIT_HEAD_PATH "/var/lib/airlock/audit.head"

/* Longest line, without its newline. Writers never exceed it (oversize args
 * are replaced, see alk_audit_append); verify stops at a longer one. */
#define ALK_AUDIT_MAX_LINE (1024 * 1024)

/* The line the writer appends when the head file and the log disagree */
#define ALK_AUDIT_ACTION_CHAIN_BREAK "audit.chain-break"

#define ALK_AUDIT_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define ALK_AUDIT_MAX_CALLER 256
#define ALK_AUDIT_MAX_SANDBOX 64

typedef struct {
	guint64 seq;
	char hash[65];
	gboolean keyed; /* the chain is HMAC-SHA256 under a secret key */
} AlkAuditHead;

/* Keyed chaining: each prev (and the head's hash) is HMAC-SHA256 of the line
 * under a secret key instead of its plain SHA-256, so a chain can only be
 * rewritten, or checked, by whoever can read the key. The head file then
 * says so: "SEQ HASH hmac-sha256". */
#define ALK_AUDIT_KEY_MIN 32
#define ALK_AUDIT_KEY_MAX 4096
/* A key file: a regular file (no link), owned by root (or by the caller),
 * readable by its owner only, ALK_AUDIT_KEY_MIN..MAX bytes. Errors: NOT_FOUND,
 * INVALID (says which rule), IO. */
GBytes *alk_audit_key_load(const char *path, GError **error);

typedef struct {
	guint64 seq;
	char prev[65];
	gboolean chain_break; /* action is audit.chain-break */
} AlkAuditLineInfo;

/* out: 64 lowercase hex digits and a NUL */
void alk_audit_hash_hex(const char *data, gsize len, char out[65]);
/* The chain's digest of a line: its SHA-256 (key NULL) or its HMAC-SHA256
 * under key. */
void alk_audit_digest_hex(GBytes *key, const char *data, gsize len, char out[65]);
/* The head file's text for seq and hash (and the keyed mark). */
char *alk_audit_head_format(guint64 seq, const char *hash, gboolean keyed);

/* The line for these fields, without its newline; see alk_audit_append for
 * the rules. time is the RFC 3339 text to record. */
GString *alk_audit_line_format(guint64 seq, const char *time, const char *caller,
                               const char *action, const char *sandbox, JsonNode *args,
                               JsonNode *result, const char *prev, GError **error);
/* The same with node and request_id (NULL: left out). */
GString *alk_audit_line_format_full(guint64 seq, const char *time, const char *caller,
                                    const char *action, const char *sandbox, const char *node,
                                    const char *request_id, JsonNode *args, JsonNode *result,
                                    const char *prev, GError **error);

#define ALK_AUDIT_MAX_REQUEST_ID 64
/* A request id a line may carry: 1..ALK_AUDIT_MAX_REQUEST_ID bytes of
 * [A-Za-z0-9._:-] (HAProxy's uuid() is 36 of them). */
gboolean alk_audit_request_id_valid(const char *id);
/* A node tag: two lowercase hex digits, not 00. */
gboolean alk_audit_node_valid(const char *node);

/* Checks that line (len bytes, no newline) is an audit line in the format
 * above and returns its seq and prev. ALK_ERROR_INVALID says why not. */
gboolean alk_audit_line_parse(const char *line, gsize len, AlkAuditLineInfo *info, GError **error);

/* The head file holds "SEQ HASH\n". ALK_ERROR_NOT_FOUND when it does not
 * exist, ALK_ERROR_INVALID when it is not in that form, ALK_ERROR_IO else. */
gboolean alk_audit_head_read(const char *path, AlkAuditHead *head, GError **error);
