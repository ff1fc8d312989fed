/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log writer: appends lines in the format of alk-audit-line.h
 * (common/, shared with the verifier and the CLI) and keeps the head file. */
#pragma once

#include <json-glib/json-glib.h>

#include "alk-audit-line.h"

typedef struct _AlkAudit AlkAudit;

/* Opens (creating, mode 0600) the log for appending and takes an exclusive
 * lock on it: one writer at a time. Continues the chain from the log's last
 * line. If the head file does not vouch for that line (the log was edited,
 * cut or appended to while no writer ran, or a writer stopped between a
 * line and its head), nothing is rewritten: an "audit.chain-break" line
 * recording both sides is appended, and alk_audit_get_chain_break()
 * then describes it.
 *
 * The head is rewritten in place after each line. sync: lines and head
 * are made durable by group commit (below): fdatasync of the log, then of
 * the head, once for every line written meanwhile. Without sync (tests) nothing is synced. The
 * thread-default main context at open is where syncs are scheduled and waiters called. */
AlkAudit *alk_audit_open(const char *log_path, const char *head_path, gboolean sync,
                         GError **error);
/* The same with keyed chaining (alk-audit-line.h) when key is not NULL. A log
 * whose head says the other mode is refused (INVALID): one chain, one mode. */
AlkAudit *alk_audit_open_keyed(const char *log_path, const char *head_path, gboolean sync,
                               GBytes *key, GError **error);

/* NULL when the chain continued cleanly at open, else why it broke. */
const char *alk_audit_get_chain_break(const AlkAudit *self);

/* seq of the last line written, 0 for an empty log */
guint64 alk_audit_get_seq(const AlkAudit *self);

/* The chain's head: seq of the last line (returned) and its hash (64 hex,
 * zeros for an empty log), read together: what an anchor records. */
guint64 alk_audit_get_head(AlkAudit *self, char hash[65]);

/* Appends one line with one write(2) and updates the head; with sync, a
 * sync covering it is scheduled: nothing here waits for the disk. caller (at most
 * 256 bytes) and action ([a-z0-9._-], 1..64) are required; sandbox may be
 * NULL (at most 64 bytes); args and result must be objects or NULL ({}).
 * Strings are escaped and invalid UTF-8 replaced; args nested deeper than
 * ALK_JSON_MAX_DEPTH are refused. If the line would exceed
 * ALK_AUDIT_MAX_LINE, args (then result) are replaced by
 * {"omitted":"oversize","bytes":N} so the action is still recorded.
 * When writing the line fails it is cut off again; when only the head
 * update fails the line stays (FALSE is returned all the same). The line's
 * seq is alk_audit_get_seq() right after. */
gboolean alk_audit_append(AlkAudit *self, const char *caller, const char *action,
                          const char *sandbox, JsonNode *args, JsonNode *result, GError **error);

/* The same for a request: request_id (NULL: none) must be what
 * alk_audit_request_id_valid() takes. */
gboolean alk_audit_append_request(AlkAudit *self, const char *caller, const char *action,
                                  const char *sandbox, const char *request_id, JsonNode *args,
                                  JsonNode *result, GError **error);

/* Every line from now on carries node (NULL or "": none). */
void alk_audit_set_node(AlkAudit *self, const char *node);

/* ---- group commit ----
 *
 * A sync covers every line written before it starts; lines written while
 * it runs wait for the next, scheduled as it ends. Nothing waits for a sync
 * unless it asks: */

/* error is NULL once line seq (and every line before it) is on disk. A
 * failed sync fails every waiter, then and afterwards, with one clear
 * error (ALK_ERROR_IO): on Linux a retried fdatasync may not rewrite what
 * the failed one lost, so nothing after it counts as durable again. */
typedef void (*AlkAuditDurableFunc)(const GError *error, gpointer data);

/* Calls func once seq is durable or will never be: at once (before this
 * returns) if that is known already, else in the open's main context after
 * the sync that covers seq. Waiters still waiting at alk_audit_free() are
 * never called. */
void alk_audit_when_durable(AlkAudit *self, guint64 seq, AlkAuditDurableFunc func, gpointer data);
/* TRUE when line seq is on disk (always without sync). */
gboolean alk_audit_is_durable(AlkAudit *self, guint64 seq);
/* Syncs every line written so far now, in the calling thread, and runs the
 * waiters it satisfies. FALSE: a sync failed (now or earlier). */
gboolean alk_audit_flush(AlkAudit *self, GError **error);

/* The log's sync (fdatasync by default; NULL restores it), run in a worker
 * thread or by alk_audit_flush(): for tests that count or fail syncs. */
typedef gboolean (*AlkAuditSyncFunc)(int fd, gpointer data, GError **error);
void alk_audit_set_sync_func(AlkAudit *self, AlkAuditSyncFunc func, gpointer data);

/* Syncs what is not yet durable (a failure is logged), waits for a sync
 * running in a thread, closes. */
void alk_audit_free(AlkAudit *self);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkAudit, alk_audit_free)

/* ---- a budget for lines nobody vouches for ----
 *
 * Requests refused before their caller was known cost an audit line (and
 * its syncs) each. A throttle admits at most burst of them per window_s
 * per key (the peer); the rest are only counted, and
 * alk_audit_throttle_expire() hands out the counts once their window has
 * passed, for one summary line each. At most max_keys keys are tracked;
 * beyond them all others share the key "*". No I/O, no clock: now_us is
 * the caller's monotonic time. */
typedef struct _AlkAuditThrottle AlkAuditThrottle;

typedef struct {
	char *key;
	guint64 suppressed; /* lines not written in the window */
	gint64 since_us;    /* when the window began */
} AlkAuditSuppressed;

AlkAuditThrottle *alk_audit_throttle_new(guint burst, guint window_s, guint max_keys);
void alk_audit_throttle_free(AlkAuditThrottle *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkAuditThrottle, alk_audit_throttle_free)
/* TRUE: write the line; FALSE: it is counted as suppressed. */
gboolean alk_audit_throttle_admit(AlkAuditThrottle *t, const char *key, gint64 now_us);
/* The keys whose window has ended with lines suppressed (AlkAuditSuppressed *,
 * owned by the array), forgetting them and every key idle for a window. */
GPtrArray *alk_audit_throttle_expire(AlkAuditThrottle *t, gint64 now_us);
/* Lines suppressed and not yet handed out. */
guint64 alk_audit_throttle_pending(const AlkAuditThrottle *t);
