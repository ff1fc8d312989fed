/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the audit tests: a scratch directory per test holding the log
 * and its head, and helpers to write, read back and tamper with lines. */
#pragma once

#include <check.h>
#include <glib.h>

#include "alk-audit-verify.h"
#include "alk-audit.h"

extern char *alk_test_dir;
extern char *alk_test_log;
extern char *alk_test_head;

/* checked fixture: a fresh directory, removed again */
void alk_test_audit_setup(void);
void alk_test_audit_teardown(void);

JsonNode *alk_test_json(const char *text);
/* a JSON object {"env": "aaa..."} with a string of bytes bytes */
JsonNode *alk_test_big_object(gsize bytes);
AlkAudit *alk_test_open_log(void);
void alk_test_append_n(AlkAudit *audit, guint n);
/* a fresh log of n lines, closed again */
void alk_test_make_log(guint n);
GPtrArray *alk_test_read_lines(void);
void alk_test_write_lines(GPtrArray *lines);
void alk_test_replace_line(GPtrArray *lines, guint index, const char *text);
AlkAuditReport alk_test_verify(const char *head);
void alk_test_assert_problem(AlkAuditProblem problem, guint64 line);
char *alk_test_hash_of(const char *line);
/* TRUE when line ends with "prev":"<hash of before>"} */
gboolean alk_test_chains_to(const char *line, const char *before);
/* Opens the log and checks that the chain broke (the reason contains
 * reason_part) with the chain-break line at seq, then that verify counts it
 * and finds nothing else. */
void alk_test_assert_chain_break(const char *reason_part, guint64 seq);
