/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verifying an audit log (alk-audit-line.h) and its head file: used by
 * the daemon's tests and by `airlock audit verify`, which needs no daemon. */
#pragma once

#include <glib.h>

#include "alk-audit-line.h"

typedef enum {
	ALK_AUDIT_PROBLEM_NONE,
	ALK_AUDIT_PROBLEM_EDITED,        /* a line's bytes changed */
	ALK_AUDIT_PROBLEM_DELETED,       /* a seq gap in the middle */
	ALK_AUDIT_PROBLEM_REORDERED,     /* seq goes backwards */
	ALK_AUDIT_PROBLEM_TRUNCATED,     /* the head is ahead of the log's end */
	ALK_AUDIT_PROBLEM_MALFORMED,     /* not an audit line (JSON, fields, newline) */
	ALK_AUDIT_PROBLEM_TOO_LONG,      /* over ALK_AUDIT_MAX_LINE */
	ALK_AUDIT_PROBLEM_HEAD_MISMATCH, /* head missing, unreadable or behind */
} AlkAuditProblem;

typedef struct {
	guint64 lines;             /* lines that passed */
	guint64 last_seq;          /* of the last line that passed */
	char last_hash[65];        /* its hash, 64 zeros when none passed */
	guint64 chain_breaks;      /* audit.chain-break lines among them */
	guint64 first_chain_break; /* line number of the first, 0 if none */
	AlkAuditProblem problem;   /* the first hard problem; verify stops there */
	guint64 bad_line;          /* 1-based line number of that problem */
	char detail[256];          /* what was found there, for people */
} AlkAuditReport;

/* Reads the log line by line with bounded memory and checks the chain, then
 * (if head_path is not NULL) the head. Returns FALSE only when the log
 * cannot be read (ALK_ERROR_NOT_FOUND, ALK_ERROR_IO); otherwise fills
 * report. The log is intact when report->problem is NONE and
 * report->chain_breaks is 0. A head one line behind the log gets a second
 * (a live writer updates it right after the line); if it stays behind, the
 * last line is not vouched for: HEAD_MISMATCH. */
gboolean alk_audit_verify(const char *log_path, const char *head_path, AlkAuditReport *report,
                          GError **error);
/* The same for a keyed chain (alk-audit-line.h); key NULL: plain. A keyed
 * log checked without its key, or a plain one with a key, is HEAD_MISMATCH. */
gboolean alk_audit_verify_keyed(const char *log_path, const char *head_path, GBytes *key,
                                AlkAuditReport *report, GError **error);

const char *alk_audit_problem_to_string(AlkAuditProblem problem);
