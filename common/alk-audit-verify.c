/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Verifies an audit log's chain, streaming: memory stays bounded by one
 * maximal line whatever the log's size. */
#include "alk-audit-verify.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "alk-audit-line.h"
#include "alk-error.h"

#define READ_CHUNK (64 * 1024)

typedef enum {
	LINE_OK,
	LINE_END,
	LINE_TOO_LONG,
	LINE_IO_ERROR,
} LineStatus;

/* Hands out lines from a fixed buffer; a line that does not fit is
 * reported as too long instead of growing the buffer. */
typedef struct {
	int fd;
	char *buf;
	gsize cap;
	gsize start; /* first byte not yet handed out */
	gsize end;   /* end of the bytes read */
	gboolean eof;
} LineReader;

typedef struct {
	const char *data;
	gsize len;
	gboolean newline; /* FALSE for a last line without one */
} Line;

typedef struct {
	AlkAuditReport *report;
	GBytes *key;        /* keyed chaining, or NULL */
	char last_prev[65]; /* prev field of the last good line */
} VerifyState;

/* A live writer updates the head right after each line: a head one line
 * behind gets this long to catch up before it counts against the log. */
#define HEAD_CATCH_UP_MS 1000
#define HEAD_RETRY_MS 50

static void reader_init(LineReader *r, int fd)
{
	r->fd = fd;
	r->cap = ALK_AUDIT_MAX_LINE + 1 + READ_CHUNK;
	r->buf = g_malloc(r->cap);
	r->start = r->end = 0;
	r->eof = FALSE;
}

static void reader_clear(LineReader *r)
{
	g_free(r->buf);
	if (r->fd >= 0)
		close(r->fd);
}

static LineStatus reader_fill(LineReader *r)
{
	ssize_t n;

	if (r->start > 0) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return LINE_IO_ERROR;
	if (n == 0)
		r->eof = TRUE;
	r->end += (gsize)n;
	return LINE_OK;
}

static LineStatus reader_next(LineReader *r, Line *line)
{
	for (;;) {
		gsize avail = r->end - r->start;
		const char *nl = memchr(r->buf + r->start, '\n', avail);
		if (nl != NULL || (r->eof && avail > 0)) {
			line->data = r->buf + r->start;
			line->len = nl != NULL ? (gsize)(nl - line->data) : avail;
			line->newline = nl != NULL;
			r->start += line->len + (nl != NULL ? 1 : 0);
			return line->len > ALK_AUDIT_MAX_LINE ? LINE_TOO_LONG : LINE_OK;
		}
		if (r->eof)
			return LINE_END;
		if (avail > ALK_AUDIT_MAX_LINE)
			return LINE_TOO_LONG;
		if (reader_fill(r) != LINE_OK)
			return LINE_IO_ERROR;
	}
}

static void G_GNUC_PRINTF(4, 5)
    set_problem(AlkAuditReport *report, AlkAuditProblem problem, guint64 line, const char *fmt, ...)
{
	va_list ap;

	report->problem = problem;
	report->bad_line = line;
	va_start(ap, fmt);
	g_vsnprintf(report->detail, sizeof(report->detail), fmt, ap);
	va_end(ap);
}

/* A seq ahead of the expected one: lines were deleted here, unless the next
 * line goes back, which makes it a reordering. */
static void classify_gap(VerifyState *st, LineReader *r, guint64 n, guint64 seq)
{
	AlkAuditReport *report = st->report;
	AlkAuditLineInfo next;
	Line line;

	if (reader_next(r, &line) == LINE_OK &&
	    alk_audit_line_parse(line.data, line.len, &next, NULL) && next.seq < seq) {
		set_problem(report, ALK_AUDIT_PROBLEM_REORDERED, n,
		            "line %" G_GUINT64_FORMAT " has seq %" G_GUINT64_FORMAT
		            " and the next one goes back to %" G_GUINT64_FORMAT,
		            n, seq, next.seq);
		return;
	}
	set_problem(report, ALK_AUDIT_PROBLEM_DELETED, n,
	            "seq jumps from %" G_GUINT64_FORMAT " to %" G_GUINT64_FORMAT
	            ": %" G_GUINT64_FORMAT " line(s) missing before line %" G_GUINT64_FORMAT,
	            report->last_seq, seq, seq - report->last_seq - 1, n);
}

/* Checks line n's seq and prev against the line before; FALSE on a problem */
static gboolean check_link(VerifyState *st, LineReader *r, guint64 n, const AlkAuditLineInfo *info)
{
	AlkAuditReport *report = st->report;
	guint64 expected = report->last_seq + 1;
	gboolean prev_ok = strcmp(info->prev, report->last_hash) == 0;

	if (info->seq == expected && prev_ok)
		return TRUE;
	if (info->seq == expected) {
		guint64 bad = n > 1 ? n - 1 : 1;
		set_problem(report, ALK_AUDIT_PROBLEM_EDITED, bad,
		            "line %" G_GUINT64_FORMAT "'s prev does not match the hash of the "
		            "line before it: line %" G_GUINT64_FORMAT " was changed",
		            n, bad);
	} else if (prev_ok) {
		/* its predecessor is right, so this line's own seq was changed */
		set_problem(report, ALK_AUDIT_PROBLEM_EDITED, n,
		            "line %" G_GUINT64_FORMAT " has seq %" G_GUINT64_FORMAT
		            ", expected %" G_GUINT64_FORMAT,
		            n, info->seq, expected);
	} else if (info->seq > expected) {
		classify_gap(st, r, n, info->seq);
	} else {
		set_problem(report, ALK_AUDIT_PROBLEM_REORDERED, n,
		            "line %" G_GUINT64_FORMAT " has seq %" G_GUINT64_FORMAT
		            " after seq %" G_GUINT64_FORMAT,
		            n, info->seq, report->last_seq);
	}
	return FALSE;
}

/* FALSE when the line is bad (report filled) */
static gboolean check_line(VerifyState *st, LineReader *r, guint64 n, const Line *line)
{
	AlkAuditReport *report = st->report;
	g_autoptr(GError) error = NULL;
	AlkAuditLineInfo info;

	if (!line->newline) {
		set_problem(report, ALK_AUDIT_PROBLEM_MALFORMED, n,
		            "line %" G_GUINT64_FORMAT " is incomplete (no newline)", n);
		return FALSE;
	}
	if (!alk_audit_line_parse(line->data, line->len, &info, &error)) {
		set_problem(report, ALK_AUDIT_PROBLEM_MALFORMED, n,
		            "line %" G_GUINT64_FORMAT ": %s", n, error->message);
		return FALSE;
	}
	if (!check_link(st, r, n, &info))
		return FALSE;
	if (info.chain_break && report->chain_breaks++ == 0)
		report->first_chain_break = n;
	report->lines = n;
	report->last_seq = info.seq;
	alk_audit_digest_hex(st->key, line->data, line->len, report->last_hash);
	memcpy(st->last_prev, info.prev, sizeof(st->last_prev));
	return TRUE;
}

/* FALSE only on a read error */
static gboolean check_lines(VerifyState *st, LineReader *r, GError **error)
{
	AlkAuditReport *report = st->report;
	Line line;

	for (guint64 n = 1;; n++) {
		switch (reader_next(r, &line)) {
		case LINE_END:
			return TRUE;
		case LINE_IO_ERROR:
			g_set_error(error, ALK_ERROR, ALK_ERROR_IO,
			            "audit: cannot read the log: %s", g_strerror(errno));
			return FALSE;
		case LINE_TOO_LONG:
			set_problem(report, ALK_AUDIT_PROBLEM_TOO_LONG, n,
			            "line %" G_GUINT64_FORMAT " is longer than %d bytes", n,
			            ALK_AUDIT_MAX_LINE);
			return TRUE;
		case LINE_OK:
			if (!check_line(st, r, n, &line))
				return TRUE;
		}
	}
}

/* A head one line behind, vouching for the line before the last: a live
 * writer between its two writes, or a line someone else appended. */
static gboolean head_lags(VerifyState *st, const AlkAuditHead *head)
{
	AlkAuditReport *report = st->report;
	return report->lines > 0 && head->seq + 1 == report->last_seq &&
	       strcmp(head->hash, st->last_prev) == 0;
}

static void compare_head(VerifyState *st, const AlkAuditHead *head)
{
	AlkAuditReport *report = st->report;

	if (head->keyed != (st->key != NULL)) {
		set_problem(report, ALK_AUDIT_PROBLEM_HEAD_MISMATCH, report->lines,
		            head->keyed ? "the log is keyed (HMAC-SHA256): verify it with its key"
		                        : "the log is not keyed, but a key was given");
		return;
	}
	if (head->seq == report->last_seq && strcmp(head->hash, report->last_hash) == 0)
		return;
	if (head_lags(st, head))
		set_problem(report, ALK_AUDIT_PROBLEM_HEAD_MISMATCH, report->lines,
		            "the log's last line (seq %" G_GUINT64_FORMAT ") is not vouched for by "
		            "the head: it was appended by something other than the writer, or the "
		            "writer stopped between the line and the head",
		            report->last_seq);
	else if (head->seq > report->last_seq)
		set_problem(report, ALK_AUDIT_PROBLEM_TRUNCATED, report->lines + 1,
		            "the log ends at seq %" G_GUINT64_FORMAT " but the head says seq "
		            "%" G_GUINT64_FORMAT ": lines were cut off the end",
		            report->last_seq, head->seq);
	else if (head->seq == report->last_seq)
		set_problem(report, ALK_AUDIT_PROBLEM_EDITED, report->lines,
		            "the last line's hash differs from the head's: it was changed");
	else
		set_problem(report, ALK_AUDIT_PROBLEM_HEAD_MISMATCH, report->lines,
		            "the head says seq %" G_GUINT64_FORMAT " but the log ends at seq "
		            "%" G_GUINT64_FORMAT,
		            head->seq, report->last_seq);
}

/* The head, given a live writer's moment to vouch for its last line. */
static gboolean read_head(VerifyState *st, const char *head_path, AlkAuditHead *head,
                          GError **error)
{
	for (guint waited = 0;; waited += HEAD_RETRY_MS) {
		if (!alk_audit_head_read(head_path, head, error))
			return FALSE;
		if (!head_lags(st, head) || waited >= HEAD_CATCH_UP_MS)
			return TRUE;
		g_usleep(HEAD_RETRY_MS * 1000);
	}
}

/* FALSE only when the head cannot be read for a reason other than being
 * absent or malformed (both are findings, not errors) */
static gboolean check_head(VerifyState *st, const char *head_path, GError **error)
{
	AlkAuditReport *report = st->report;
	g_autoptr(GError) head_error = NULL;
	AlkAuditHead head;

	if (read_head(st, head_path, &head, &head_error)) {
		compare_head(st, &head);
		return TRUE;
	}
	if (g_error_matches(head_error, ALK_ERROR, ALK_ERROR_NOT_FOUND)) {
		if (report->lines > 0)
			set_problem(report, ALK_AUDIT_PROBLEM_HEAD_MISMATCH, report->lines,
			            "the head file is missing");
		return TRUE;
	}
	if (g_error_matches(head_error, ALK_ERROR, ALK_ERROR_INVALID)) {
		set_problem(report, ALK_AUDIT_PROBLEM_HEAD_MISMATCH, report->lines,
		            "the head file is malformed");
		return TRUE;
	}
	g_propagate_error(error, g_steal_pointer(&head_error));
	return FALSE;
}

gboolean alk_audit_verify(const char *log_path, const char *head_path, AlkAuditReport *report,
                          GError **error)
{
	return alk_audit_verify_keyed(log_path, head_path, NULL, report, error);
}

gboolean alk_audit_verify_keyed(const char *log_path, const char *head_path, GBytes *key,
                                AlkAuditReport *report, GError **error)
{
	AlkAuditReport result = {0};
	VerifyState st = {.report = &result, .key = key};
	LineReader r;
	gboolean ok;
	int fd = open(log_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0) {
		int saved = errno;
		g_set_error(error, ALK_ERROR, saved == ENOENT ? ALK_ERROR_NOT_FOUND : ALK_ERROR_IO,
		            "audit: cannot open %s: %s", log_path, g_strerror(saved));
		return FALSE;
	}
	memcpy(result.last_hash, ALK_AUDIT_ZERO_HASH, 65);
	reader_init(&r, fd);
	ok = check_lines(&st, &r, error);
	reader_clear(&r);
	if (!ok)
		return FALSE;
	if (result.problem == ALK_AUDIT_PROBLEM_NONE && head_path != NULL &&
	    !check_head(&st, head_path, error))
		return FALSE;
	*report = result;
	return TRUE;
}

const char *alk_audit_problem_to_string(AlkAuditProblem problem)
{
	static const char *const names[] = {
	    [ALK_AUDIT_PROBLEM_NONE] = "intact",
	    [ALK_AUDIT_PROBLEM_EDITED] = "edited line",
	    [ALK_AUDIT_PROBLEM_DELETED] = "deleted line",
	    [ALK_AUDIT_PROBLEM_REORDERED] = "reordered lines",
	    [ALK_AUDIT_PROBLEM_TRUNCATED] = "truncated at the end",
	    [ALK_AUDIT_PROBLEM_MALFORMED] = "malformed line",
	    [ALK_AUDIT_PROBLEM_TOO_LONG] = "line too long",
	    [ALK_AUDIT_PROBLEM_HEAD_MISMATCH] = "head does not match",
	};

	if ((guint)problem >= G_N_ELEMENTS(names))
		return "unknown";
	return names[problem];
}
