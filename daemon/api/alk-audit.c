/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The audit log writer. */
#include "alk-audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-audit-line.h"
#include "alk-error.h"

typedef struct {
	guint64 seq;
	AlkAuditDurableFunc func;
	gpointer data;
} Waiter;

struct _AlkAudit {
	gint ref;           /* the owner's, and one per scheduled or running sync */
	GMutex lock;        /* everything below but what commit_lock guards */
	GMutex commit_lock; /* one sync at a time: the head follows the log */
	GCond commit_done;  /* a sync's disk work ended */
	int fd;
	int dir_fd;  /* the head's directory, fsynced once the head is made */
	int head_fd; /* opened at the first head written */
	gsize head_len;
	gboolean head_new; /* opened (maybe created) and its directory not synced */
	char *head_path;
	gboolean sync;
	GBytes *key;       /* keyed chaining (HMAC-SHA256), or NULL */
	guint64 seq;       /* of the last line, 0 when the log is empty */
	char hash[65];     /* of the last line, zeros when the log is empty */
	char *chain_break; /* why the chain broke at open, NULL if it did not */
	char *node;        /* every line's node, or NULL */
	/* group commit (sync only) */
	GMainContext *context; /* where syncs are scheduled and waiters called */
	gboolean scheduled;    /* a sync is scheduled or running */
	gboolean busy;         /* a sync's disk work runs in a thread */
	gboolean closed;       /* alk_audit_free() ran: schedule nothing more */
	guint64 durable;       /* every line up to this seq is on disk */
	GError *sync_error;    /* a sync failed: nothing after durable ever is */
	GQueue waiters;        /* Waiter *, in the order of their seq */
	AlkAuditSyncFunc sync_func;
	gpointer sync_data;
};

/* The log's last line, as found at open */
typedef struct {
	gboolean present; /* the log is not empty */
	gboolean torn;    /* its last byte is not a newline */
	gboolean parsed;  /* the last line is a valid audit line */
	AlkAuditLineInfo info;
	char hash[65];
} AuditTail;

static gboolean set_io_error(GError **error, const char *what, const char *path)
{
	int saved = errno;
	g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "audit: %s %s: %s", what, path,
	            g_strerror(saved));
	return FALSE;
}

static gboolean read_all_at(int fd, char *buf, gsize len, off_t offset)
{
	while (len > 0) {
		ssize_t n = pread(fd, buf, len, offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		buf += n;
		len -= (gsize)n;
		offset += n;
	}
	return TRUE;
}

/* Reads at most one maximal line from the end of the log: memory stays
 * bounded whatever the log's size. */
static gboolean read_tail(int fd, GBytes *key, off_t size, AuditTail *tail, GError **error)
{
	gsize n = (gsize)MIN((off_t)ALK_AUDIT_MAX_LINE + 2, size);
	g_autofree char *buf = NULL;
	gsize end;
	const char *nl;
	gsize start;

	memset(tail, 0, sizeof(*tail));
	if (size == 0)
		return TRUE;
	buf = g_malloc(n);
	if (!read_all_at(fd, buf, n, size - (off_t)n)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "audit: cannot read the log's end");
		return FALSE;
	}
	tail->present = TRUE;
	tail->torn = buf[n - 1] != '\n';
	end = tail->torn ? n : n - 1;
	nl = memrchr(buf, '\n', end);
	start = nl != NULL ? (gsize)(nl - buf) + 1 : 0;
	alk_audit_digest_hex(key, buf + start, end - start, tail->hash);
	/* a line with no newline before it in the window is either the first
	 * line or longer than any line a writer makes */
	if (nl == NULL && (off_t)n < size)
		return TRUE;
	tail->parsed =
	    !tail->torn && alk_audit_line_parse(buf + start, end - start, &tail->info, NULL);
	return TRUE;
}

/* The head names the last line written. It is rewritten in place (one
 * pwrite(2) at offset 0), not replaced by a rename: replacing frees the old
 * file's blocks, and on a filesystem mounted with discard that waits for
 * the device on every line. The head's text only grows with seq; a shorter
 * one (a log emptied and restarted) is cut to its length after. It is made
 * durable by the group commit (sync_head), not here. */
static gboolean write_head(AlkAudit *self, guint64 seq, const char *hash, GError **error)
{
	g_autofree char *text = alk_audit_head_format(seq, hash, self->key != NULL);
	gsize len = strlen(text);
	struct stat st;

	if (self->head_fd < 0) {
		self->head_fd = open(self->head_path,
		                     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
		if (self->head_fd < 0)
			return set_io_error(error, "cannot open", self->head_path);
		if (fstat(self->head_fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "audit: %s is not a regular file", self->head_path);
			close(self->head_fd);
			self->head_fd = -1;
			return FALSE;
		}
		self->head_len = (gsize)st.st_size;
		self->head_new = TRUE; /* its directory entry may be new */
	}
	if (pwrite(self->head_fd, text, len, 0) != (gssize)len ||
	    (self->head_len > len && ftruncate(self->head_fd, (off_t)len) != 0))
		return set_io_error(error, "cannot write", self->head_path);
	self->head_len = len;
	return TRUE;
}

/* The head's bytes (and, once, its directory entry) to disk. */
static gboolean sync_head(AlkAudit *self, GError **error)
{
	int fd;
	gboolean dir;

	g_mutex_lock(&self->lock);
	fd = self->head_fd;
	dir = self->head_new;
	self->head_new = FALSE;
	g_mutex_unlock(&self->lock);
	if (fd < 0)
		return TRUE;
	if (fdatasync(fd) != 0)
		return set_io_error(error, "cannot sync", self->head_path);
	if (dir && fsync(self->dir_fd) != 0)
		return set_io_error(error, "cannot sync the directory of", self->head_path);
	return TRUE;
}

/* One write(2) per line, so a reader or a crash sees whole lines. A failed
 * or short write is cut off again, leaving the log as it was. */
static gboolean write_line(AlkAudit *self, const GString *line, GError **error)
{
	struct stat st;
	ssize_t n;

	if (fstat(self->fd, &st) != 0)
		return set_io_error(error, "cannot stat", "log");
	do
		n = write(self->fd, line->str, line->len);
	while (n < 0 && errno == EINTR);
	if (n != (gssize)line->len) {
		int saved = n < 0 ? errno : ENOSPC;
		if (n > 0 && ftruncate(self->fd, st.st_size) != 0)
			saved = errno;
		errno = saved;
		return set_io_error(error, "cannot append to", "log");
	}
	return TRUE;
}

/* ---- group commit ----
 *
 * A line is written at once (one write(2)) and so is the head naming it
 * (one pwrite(2): no disk wait). Making them durable is a sync scheduled
 * in the owner's main context and run in a thread: fdatasync of the log,
 * then fdatasync of the head (and, once, fsync of its directory). Every line written
 * before a sync starts is covered by it; lines written meanwhile wait for
 * the next one, which is scheduled when it ends. The head on disk may name
 * a line written during the sync; with ext4's ordered data that line
 * reaches the disk no later than the head; elsewhere a crash can leave a
 * head ahead of the log, which the next open records as a chain break. */

static void audit_unref(AlkAudit *self);

static gboolean default_sync(int fd, gpointer data, GError **error)
{
	if (fdatasync(fd) == 0)
		return TRUE;
	return set_io_error(error, "cannot sync", "log");
}

/* The disk work of one sync, up to line seq whose hash is hash. */
static gboolean commit(AlkAudit *self, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->commit_lock);

	if (!self->sync_func(self->fd, self->sync_data, error))
		return FALSE;
	return sync_head(self, error);
}

/* Under lock: the waiters the state allows to run now, in order. */
static GSList *take_ready(AlkAudit *self)
{
	GSList *ready = NULL;

	while (!g_queue_is_empty(&self->waiters)) {
		Waiter *w = g_queue_peek_head(&self->waiters);
		if (self->sync_error == NULL && w->seq > self->durable)
			break;
		ready = g_slist_prepend(ready, g_queue_pop_head(&self->waiters));
	}
	return g_slist_reverse(ready);
}

/* Not under lock. */
static void run_ready(AlkAudit *self, GSList *ready, const GError *error)
{
	for (GSList *l = ready; l != NULL; l = l->next) {
		Waiter *w = l->data;
		w->func(error, w->data);
	}
	g_slist_free_full(ready, g_free);
}

/* Under lock: after a sync, its error (or NULL) recorded. */
static void settle(AlkAudit *self, guint64 seq, const GError *error)
{
	if (error == NULL)
		self->durable = MAX(self->durable, seq);
	else if (self->sync_error == NULL)
		self->sync_error =
		    g_error_new(ALK_ERROR, ALK_ERROR_IO,
		                "audit log: a sync failed, lines after seq %" G_GUINT64_FORMAT
		                " are not known to be on disk (restart airlockd): %s",
		                self->durable, error->message);
}

typedef struct {
	AlkAudit *self;
	guint64 seq;
} SyncTarget;

static void sync_thread(GTask *task, gpointer source, gpointer data, GCancellable *cancellable)
{
	SyncTarget *t = data;
	AlkAudit *self = t->self;
	GError *error = NULL;
	gboolean ok = commit(self, &error);

	g_mutex_lock(&self->lock);
	self->busy = FALSE;
	g_cond_broadcast(&self->commit_done);
	g_mutex_unlock(&self->lock);
	if (ok)
		g_task_return_boolean(task, TRUE);
	else
		g_task_return_error(task, error);
}

static void schedule_sync(AlkAudit *self);

static void on_synced(GObject *source, GAsyncResult *res, gpointer data)
{
	AlkAudit *self = data;
	SyncTarget *t = g_task_get_task_data(G_TASK(res));
	g_autoptr(GError) error = NULL;
	GSList *ready;

	g_task_propagate_boolean(G_TASK(res), &error);
	g_mutex_lock(&self->lock);
	self->scheduled = FALSE;
	settle(self, t->seq, error);
	ready = take_ready(self);
	if (self->seq > self->durable)
		schedule_sync(self);
	g_mutex_unlock(&self->lock);
	run_ready(self, ready, self->sync_error);
	audit_unref(self);
}

static gboolean on_sync_due(gpointer data)
{
	AlkAudit *self = data;
	g_autoptr(GTask) task = NULL;
	SyncTarget *t;

	g_mutex_lock(&self->lock);
	if (self->closed || self->sync_error != NULL || self->seq <= self->durable) {
		self->scheduled = FALSE;
		g_mutex_unlock(&self->lock);
		audit_unref(self);
		return G_SOURCE_REMOVE;
	}
	t = g_new0(SyncTarget, 1);
	t->self = self;
	t->seq = self->seq;
	self->busy = TRUE;
	g_mutex_unlock(&self->lock);
	/* the scheduled reference goes to the task */
	task = g_task_new(NULL, NULL, on_synced, self);
	g_task_set_task_data(task, t, g_free);
	g_task_run_in_thread(task, sync_thread);
	return G_SOURCE_REMOVE;
}

/* Under lock: a sync for the lines written so far, unless one is due. */
static void schedule_sync(AlkAudit *self)
{
	GSource *src;

	if (self->scheduled || self->closed || self->sync_error != NULL)
		return;
	self->scheduled = TRUE;
	g_atomic_int_inc(&self->ref);
	src = g_idle_source_new();
	g_source_set_priority(src, G_PRIORITY_DEFAULT);
	g_source_set_callback(src, on_sync_due, self, NULL);
	g_source_set_static_name(src, "alk-audit-sync");
	g_source_attach(src, self->context);
	g_source_unref(src);
}

void alk_audit_when_durable(AlkAudit *self, guint64 seq, AlkAuditDurableFunc func, gpointer data)
{
	Waiter *w = g_new0(Waiter, 1);
	GSList *ready;

	w->seq = seq;
	w->func = func;
	w->data = data;
	g_mutex_lock(&self->lock);
	g_queue_push_tail(&self->waiters, w);
	ready = take_ready(self);
	g_mutex_unlock(&self->lock);
	run_ready(self, ready, self->sync_error);
}

gboolean alk_audit_is_durable(AlkAudit *self, guint64 seq)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	return self->sync_error == NULL && seq <= self->durable;
}

gboolean alk_audit_flush(AlkAudit *self, GError **error)
{
	g_autoptr(GError) local = NULL;
	SyncTarget t;
	GSList *ready;

	g_mutex_lock(&self->lock);
	t.seq = self->seq;
	if (self->sync_error == NULL && t.seq > self->durable) {
		g_mutex_unlock(&self->lock);
		commit(self, &local);
		g_mutex_lock(&self->lock);
		settle(self, t.seq, local);
	}
	ready = take_ready(self);
	g_mutex_unlock(&self->lock);
	run_ready(self, ready, self->sync_error);
	if (self->sync_error != NULL) {
		g_propagate_error(error, g_error_copy(self->sync_error));
		return FALSE;
	}
	return TRUE;
}

void alk_audit_set_sync_func(AlkAudit *self, AlkAuditSyncFunc func, gpointer data)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->commit_lock);
	self->sync_func = func != NULL ? func : default_sync;
	self->sync_data = data;
}

/* ---- appending ---- */

static gboolean append_locked(AlkAudit *self, const char *caller, const char *action,
                              const char *sandbox, const char *request_id, JsonNode *args,
                              JsonNode *result, GError **error)
{
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *time = g_date_time_format(now, "%Y-%m-%dT%H:%M:%S.%fZ");
	g_autoptr(GString) line = NULL;
	char hash[65];

	line = alk_audit_line_format_full(self->seq + 1, time, caller, action, sandbox, self->node,
	                                  request_id, args, result, self->hash, error);
	if (line == NULL)
		return FALSE;
	alk_audit_digest_hex(self->key, line->str, line->len, hash);
	g_string_append_c(line, '\n');
	if (!write_line(self, line, error))
		return FALSE;
	self->seq++;
	memcpy(self->hash, hash, sizeof(hash));
	if (!self->sync)
		self->durable = self->seq;
	else
		schedule_sync(self);
	return write_head(self, self->seq, self->hash, error);
}

gboolean alk_audit_append(AlkAudit *self, const char *caller, const char *action,
                          const char *sandbox, JsonNode *args, JsonNode *result, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	return append_locked(self, caller, action, sandbox, NULL, args, result, error);
}

gboolean alk_audit_append_request(AlkAudit *self, const char *caller, const char *action,
                                  const char *sandbox, const char *request_id, JsonNode *args,
                                  JsonNode *result, GError **error)
{
	g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&self->lock);
	return append_locked(self, caller, action, sandbox, request_id, args, result, error);
}

void alk_audit_set_node(AlkAudit *self, const char *node)
{
	g_mutex_lock(&self->lock);
	g_free(self->node);
	self->node = node != NULL && node[0] != '\0' ? g_strdup(node) : NULL;
	g_mutex_unlock(&self->lock);
}

static void add_hash_member(JsonBuilder *b, const char *name, gboolean known, const char *hash)
{
	json_builder_set_member_name(b, name);
	if (known)
		json_builder_add_string_value(b, hash);
	else
		json_builder_add_null_value(b);
}

static void add_seq_member(JsonBuilder *b, const char *name, gboolean known, guint64 seq)
{
	json_builder_set_member_name(b, name);
	if (known)
		json_builder_add_int_value(b, (gint64)seq);
	else
		json_builder_add_null_value(b);
}

/* Records both sides of the disagreement, then chains on from the log's
 * actual last line: history is never rewritten. */
static gboolean append_chain_break(AlkAudit *self, const AuditTail *tail, const AlkAuditHead *head,
                                   gboolean head_ok, GError **error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) args = NULL;

	json_builder_begin_object(b);
	json_builder_set_member_name(b, "reason");
	json_builder_add_string_value(b, self->chain_break);
	add_seq_member(b, "head_seq", head_ok, head->seq);
	add_hash_member(b, "head_hash", head_ok, head->hash);
	add_seq_member(b, "log_seq", tail->parsed, tail->info.seq);
	add_hash_member(b, "log_hash", tail->present, tail->hash);
	json_builder_end_object(b);
	args = json_builder_get_root(b);
	return append_locked(self, "airlockd", ALK_AUDIT_ACTION_CHAIN_BREAK, NULL, NULL, args, NULL,
	                     error);
}

/* NULL when the head vouches for the tail, else why not */
static char *chain_break_reason(const AuditTail *tail, const AlkAuditHead *head,
                                const GError *head_error)
{
	if (head_error != NULL && g_error_matches(head_error, ALK_ERROR, ALK_ERROR_NOT_FOUND))
		return tail->present ? g_strdup("head file missing but the log is not empty")
		                     : NULL;
	if (head_error != NULL)
		return g_strdup(head_error->message);
	if (!tail->present)
		return g_strdup_printf("log is empty but the head says seq %" G_GUINT64_FORMAT,
		                       head->seq);
	if (tail->torn)
		return g_strdup("the log's last line is incomplete");
	if (!tail->parsed)
		return g_strdup("the log's last line is not an audit line");
	if (head->seq == tail->info.seq && strcmp(head->hash, tail->hash) == 0)
		return NULL;
	/* nothing tells a writer that stopped between the line and the head
	 * from a line appended by someone else: both are recorded */
	if (head->seq + 1 == tail->info.seq && strcmp(head->hash, tail->info.prev) == 0)
		return g_strdup_printf("the log's last line (seq %" G_GUINT64_FORMAT ") is not in "
		                       "the head: a writer stopped between them, or the line was "
		                       "added by something else",
		                       tail->info.seq);
	return g_strdup_printf("head says seq %" G_GUINT64_FORMAT " but the log ends at seq "
	                       "%" G_GUINT64_FORMAT " with another hash",
	                       head->seq, tail->info.seq);
}

/* Continues the chain from the log's last line, or records a break. */
static gboolean resume_chain(AlkAudit *self, const char *head_path, off_t size, GError **error)
{
	AuditTail tail;
	AlkAuditHead head = {0};
	g_autoptr(GError) head_error = NULL;
	gboolean head_ok;

	if (!read_tail(self->fd, self->key, size, &tail, error))
		return FALSE;
	/* end a torn line so that the next line starts on its own */
	if (tail.torn && write(self->fd, "\n", 1) != 1)
		return set_io_error(error, "cannot append to", "log");
	head_ok = alk_audit_head_read(head_path, &head, &head_error);
	if (head_error != NULL && !g_error_matches(head_error, ALK_ERROR, ALK_ERROR_NOT_FOUND) &&
	    !g_error_matches(head_error, ALK_ERROR, ALK_ERROR_INVALID)) {
		g_propagate_error(error, g_steal_pointer(&head_error));
		return FALSE;
	}
	/* one chain, one mode: switching means starting a new log */
	if (head_ok && head.keyed != (self->key != NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "the log is %s but [api] audit_key is %s: move the log and its head "
		            "away to start a new one (the old one verifies with `airlock audit "
		            "verify%s`)",
		            head.keyed ? "keyed" : "not keyed",
		            self->key != NULL ? "set" : "not set", head.keyed ? " --key FILE" : "");
		return FALSE;
	}
	/* an emptied log starts again at seq 1: verify then sees a clean chain
	 * whose first line records the break */
	self->seq = tail.parsed ? tail.info.seq : (tail.present && head_ok ? head.seq : 0);
	self->durable = self->seq;
	memcpy(self->hash, tail.present ? tail.hash : ALK_AUDIT_ZERO_HASH, 65);
	self->chain_break = chain_break_reason(&tail, &head, head_error);
	if (self->chain_break != NULL)
		return append_chain_break(self, &tail, &head, head_ok, error);
	return TRUE;
}

static gboolean open_files(AlkAudit *self, const char *log_path, off_t *size, GError **error)
{
	g_autofree char *dir = g_path_get_dirname(self->head_path);
	struct stat st;

	self->fd =
	    open(log_path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	if (self->fd < 0)
		return set_io_error(error, "cannot open", log_path);
	if (fstat(self->fd, &st) != 0)
		return set_io_error(error, "cannot stat", log_path);
	if (!S_ISREG(st.st_mode)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit: %s is not a regular file",
		            log_path);
		return FALSE;
	}
	if (flock(self->fd, LOCK_EX | LOCK_NB) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT,
		            "audit: %s is in use by another writer", log_path);
		return FALSE;
	}
	self->dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (self->dir_fd < 0)
		return set_io_error(error, "cannot open", dir);
	*size = st.st_size;
	return TRUE;
}

AlkAudit *alk_audit_open(const char *log_path, const char *head_path, gboolean sync, GError **error)
{
	return alk_audit_open_keyed(log_path, head_path, sync, NULL, error);
}

AlkAudit *alk_audit_open_keyed(const char *log_path, const char *head_path, gboolean sync,
                               GBytes *key, GError **error)
{
	g_autoptr(AlkAudit) self = g_new0(AlkAudit, 1);
	off_t size = 0;

	self->ref = 1;
	g_mutex_init(&self->lock);
	g_mutex_init(&self->commit_lock);
	g_cond_init(&self->commit_done);
	g_queue_init(&self->waiters);
	self->context = g_main_context_ref_thread_default();
	self->sync_func = default_sync;
	self->key = key != NULL ? g_bytes_ref(key) : NULL;
	self->fd = -1;
	self->dir_fd = -1;
	self->head_fd = -1;
	self->sync = sync;
	self->head_path = g_strdup(head_path);
	/* what the log holds at open is as durable as it will be; a
	 * chain-break line written at open is synced before the first answer */
	if (!open_files(self, log_path, &size, error) ||
	    !resume_chain(self, head_path, size, error) || !alk_audit_flush(self, error)) {
		g_prefix_error(error, "opening the audit log: ");
		return NULL;
	}
	return g_steal_pointer(&self);
}

const char *alk_audit_get_chain_break(const AlkAudit *self)
{
	return self->chain_break;
}

guint64 alk_audit_get_seq(const AlkAudit *self)
{
	return self->seq;
}

guint64 alk_audit_get_head(AlkAudit *self, char hash[65])
{
	guint64 seq;

	g_mutex_lock(&self->lock);
	seq = self->seq;
	memcpy(hash, self->hash, 65);
	g_mutex_unlock(&self->lock);
	return seq;
}

static void audit_unref(AlkAudit *self)
{
	if (!g_atomic_int_dec_and_test(&self->ref))
		return;
	g_main_context_unref(self->context);
	g_clear_error(&self->sync_error);
	g_queue_clear_full(&self->waiters, g_free);
	g_mutex_clear(&self->lock);
	g_mutex_clear(&self->commit_lock);
	g_cond_clear(&self->commit_done);
	g_free(self);
}

void alk_audit_free(AlkAudit *self)
{
	g_autoptr(GError) error = NULL;

	if (self == NULL)
		return;
	/* the last lines and their head, then no sync any more: a scheduled
	 * one finds the log closed, waiters left are never called */
	if (self->fd >= 0 && self->sync && !alk_audit_flush(self, &error))
		g_warning("%s", error->message);
	g_mutex_lock(&self->lock);
	self->closed = TRUE;
	while (self->busy)
		g_cond_wait(&self->commit_done, &self->lock);
	g_queue_clear_full(&self->waiters, g_free);
	g_mutex_unlock(&self->lock);
	if (self->fd >= 0)
		close(self->fd);
	if (self->dir_fd >= 0)
		close(self->dir_fd);
	if (self->head_fd >= 0)
		close(self->head_fd);
	self->fd = self->dir_fd = self->head_fd = -1;
	g_clear_pointer(&self->key, g_bytes_unref);
	g_clear_pointer(&self->head_path, g_free);
	g_clear_pointer(&self->chain_break, g_free);
	g_clear_pointer(&self->node, g_free);
	audit_unref(self);
}

/* ---- the throttle ---- */

struct _AlkAuditThrottle {
	guint burst;
	gint64 window_us;
	guint max_keys;
	GHashTable *keys; /* char * -> Window * */
	guint64 pending;
};

typedef struct {
	gint64 start_us;
	guint admitted;
	guint64 suppressed;
} Window;

AlkAuditThrottle *alk_audit_throttle_new(guint burst, guint window_s, guint max_keys)
{
	AlkAuditThrottle *t = g_new0(AlkAuditThrottle, 1);

	t->burst = burst;
	t->window_us = (gint64)window_s * G_USEC_PER_SEC;
	t->max_keys = MAX(max_keys, 1);
	t->keys = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	return t;
}

void alk_audit_throttle_free(AlkAuditThrottle *t)
{
	if (t == NULL)
		return;
	g_hash_table_destroy(t->keys);
	g_free(t);
}

static Window *window_for(AlkAuditThrottle *t, const char *key, gint64 now_us)
{
	Window *w = g_hash_table_lookup(t->keys, key);

	if (w == NULL && g_hash_table_size(t->keys) >= t->max_keys - 1)
		key = "*";
	if (w == NULL && (w = g_hash_table_lookup(t->keys, key)) == NULL) {
		w = g_new0(Window, 1);
		w->start_us = now_us;
		g_hash_table_insert(t->keys, g_strdup(key), w);
	}
	return w;
}

gboolean alk_audit_throttle_admit(AlkAuditThrottle *t, const char *key, gint64 now_us)
{
	Window *w = window_for(t, key, now_us);

	/* a window with nothing suppressed starts again by itself; one with
	 * suppressed lines waits for expire() to report them */
	if (w->suppressed == 0 && now_us - w->start_us >= t->window_us) {
		w->start_us = now_us;
		w->admitted = 0;
	}
	if (w->suppressed == 0 && w->admitted < t->burst) {
		w->admitted++;
		return TRUE;
	}
	w->suppressed++;
	t->pending++;
	return FALSE;
}

static void suppressed_free(gpointer data)
{
	AlkAuditSuppressed *s = data;
	g_free(s->key);
	g_free(s);
}

GPtrArray *alk_audit_throttle_expire(AlkAuditThrottle *t, gint64 now_us)
{
	GPtrArray *out = g_ptr_array_new_with_free_func(suppressed_free);
	GHashTableIter it;
	gpointer key, value;

	g_hash_table_iter_init(&it, t->keys);
	while (g_hash_table_iter_next(&it, &key, &value)) {
		Window *w = value;
		if (now_us - w->start_us < t->window_us)
			continue;
		if (w->suppressed > 0) {
			AlkAuditSuppressed *s = g_new0(AlkAuditSuppressed, 1);
			s->key = g_strdup(key);
			s->suppressed = w->suppressed;
			s->since_us = w->start_us;
			g_ptr_array_add(out, s);
			t->pending -= w->suppressed;
		}
		g_hash_table_iter_remove(&it);
	}
	return out;
}

guint64 alk_audit_throttle_pending(const AlkAuditThrottle *t)
{
	return t->pending;
}
