/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What runs inside a sandbox: execs and file transfers, within the
 * sandbox's limits, carried by its agent channel. Each is a task of its
 * slot (alk-task.h): the slot ends its tasks, each with its one final
 * callback, before any of its resources goes. */
#include <signal.h>
#include <string.h>

#include "alk-error.h"
#include "alk-manager-private.h"

/* After an exec's timeout, how long the guest has to report its end before
 * the daemon ends the task itself (the agent kills at the timeout and
 * reports within a fraction of a second; a frozen agent never does). */
#define EXEC_GRACE_MS 3000

typedef enum { TASK_EXEC, TASK_PUT, TASK_GET } TaskKind;

struct AlkTask {
	AlkSlot *slot; /* the slot ends its tasks before it goes */
	TaskKind kind;
	AlkChannelOp *op;
	AlkTaskCallbacks cb;
	gpointer user_data;
	guint64 cap;  /* exec: output bytes delivered at most */
	guint64 kept; /* exec: output bytes delivered */
	gboolean cut; /* exec: output beyond cap was dropped */
	guint deadline;
	guint32 timeout_ms;
};

static AlkSlot *ready_slot(AlkManager *m, const char *id, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	if (slot == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		            alk_sandbox_id_valid(id) ? id : "with that id");
		return NULL;
	}
	if (slot->sb->state != ALK_SANDBOX_READY || slot->channel == NULL ||
	    alk_channel_get_state(slot->channel) != ALK_CHANNEL_READY) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s is %s", id,
		            slot->sb->state == ALK_SANDBOX_READY ? "reconnecting to its agent"
		            : slot->sb->state == ALK_SANDBOX_PAUSED
		                ? "paused: resume it first"
		                : alk_sandbox_state_name(slot->sb->state));
		return NULL;
	}
	return slot;
}

/* ---- a task's life ---- */

static AlkTask *task_new(AlkSlot *slot, TaskKind kind, const AlkTaskCallbacks *cb,
                         gpointer user_data)
{
	AlkTask *task = g_new0(AlkTask, 1);
	task->slot = slot;
	task->kind = kind;
	task->cb = *cb;
	task->user_data = user_data;
	return task;
}

/* Out of its slot's books; the op is gone or going. */
static void task_free(AlkTask *task)
{
	AlkSlot *slot = task->slot;

	g_clear_handle_id(&task->deadline, g_source_remove);
	if (g_hash_table_remove(slot->tasks, task) && task->kind == TASK_EXEC &&
	    slot->sb->execs > 0)
		slot->sb->execs--;
	g_free(task);
}

static void task_done(AlkTask *task, const AlkTaskResult *result)
{
	task->op = NULL;
	g_clear_handle_id(&task->deadline, g_source_remove);
	if (task->cb.done != NULL)
		task->cb.done(task, result, task->user_data);
	task_free(task);
}

/* Ends the task with error; its op (if still there) is dropped first, so
 * nothing of the channel runs for it afterwards. */
static void task_fail(AlkTask *task, const GError *error)
{
	g_clear_pointer(&task->op, alk_channel_op_cancel);
	g_clear_handle_id(&task->deadline, g_source_remove);
	if (task->cb.failed != NULL)
		task->cb.failed(task, error, task->user_data);
	task_free(task);
}

void alk_slot_end_tasks(AlkSlot *slot, const GError *error)
{
	g_autoptr(GPtrArray) tasks = g_ptr_array_new();
	GHashTableIter it;
	gpointer key;

	g_hash_table_iter_init(&it, slot->tasks);
	while (g_hash_table_iter_next(&it, &key, NULL))
		g_ptr_array_add(tasks, key);
	for (guint i = 0; i < tasks->len; i++) {
		AlkTask *task = g_ptr_array_index(tasks, i);
		/* a callback may have cancelled a later task already */
		if (g_hash_table_contains(slot->tasks, task))
			task_fail(task, error);
	}
}

/* The guest did not report the end of an exec in time (its agent is frozen,
 * or busy beyond reason): the daemon's deadline ends the task. */
static gboolean on_deadline(gpointer data)
{
	AlkTask *task = data;
	g_autoptr(GError) error = g_error_new(
	    ALK_ERROR, ALK_ERROR_TIMEOUT,
	    "the exec timed out after %u.%03u s and the guest agent did not report its end",
	    task->timeout_ms / 1000, task->timeout_ms % 1000);

	task->deadline = 0;
	if (task->op != NULL)
		alk_channel_op_signal(task->op, SIGKILL);
	task_fail(task, error);
	return G_SOURCE_REMOVE;
}

/* ---- from the channel ---- */

static void on_started(AlkChannelOp *op, guint32 pid, gpointer data)
{
	AlkTask *task = data;
	if (task->cb.started != NULL)
		task->cb.started(task, pid, task->user_data);
}

static void on_output(AlkChannelOp *op, int stream, const guint8 *d, gsize len, gpointer data)
{
	AlkTask *task = data;
	gsize take = len;

	/* the agent caps the output too; the daemon does not trust it to */
	if (task->kind == TASK_EXEC) {
		take = (gsize)MIN((guint64)len, task->cap - task->kept);
		task->kept += take;
		if (take < len)
			task->cut = TRUE;
	}
	if (take > 0 && task->cb.output != NULL)
		task->cb.output(task, stream, d, take, task->user_data);
}

static void on_writable(AlkChannelOp *op, gpointer data)
{
	AlkTask *task = data;
	if (task->cb.writable != NULL)
		task->cb.writable(task, task->user_data);
}

static void on_exited(AlkChannelOp *op, const AlkMsgExit *exit, gpointer data)
{
	AlkTask *task = data;
	AlkTaskResult result = {
	    .exit = exit,
	    .bytes = task->kept,
	    .truncated = exit->truncated || task->cut,
	};
	task_done(task, &result);
}

static void on_failed(AlkChannelOp *op, const GError *error, gpointer data)
{
	AlkTask *task = data;
	task->op = NULL; /* the channel frees it */
	task_fail(task, error);
}

static const AlkExecCallbacks exec_callbacks = {
    .started = on_started,
    .output = on_output,
    .writable = on_writable,
    .done = on_exited,
    .failed = on_failed,
};

static void on_info(AlkChannelOp *op, guint64 size, guint32 mode, gpointer data)
{
	AlkTask *task = data;
	if (task->cb.info != NULL)
		task->cb.info(task, size, mode, task->user_data);
}

static void on_data(AlkChannelOp *op, const guint8 *d, gsize len, gpointer data)
{
	on_output(op, ALK_MSG_FILE_DATA, d, len, data);
}

static void on_file_done(AlkChannelOp *op, guint64 bytes, gpointer data)
{
	AlkTaskResult result = {.bytes = bytes};
	task_done(data, &result);
}

static const AlkFileCallbacks file_callbacks = {
    .info = on_info,
    .data = on_data,
    .writable = on_writable,
    .done = on_file_done,
    .failed = on_failed,
};

/* ---- starting one ---- */

static AlkTask *task_started(AlkSlot *slot, AlkTask *task, AlkChannelOp *op)
{
	if (op == NULL) {
		g_free(task);
		return NULL;
	}
	task->op = op;
	g_hash_table_add(slot->tasks, task);
	return task;
}

/* "root", uid 0 or 0:GID; NULL (no user) is root too. */
static gboolean is_root(const char *user)
{
	return user == NULL || g_str_equal(user, "root") || g_str_equal(user, "0") ||
	       g_str_has_prefix(user, "0:");
}

/* Who the exec runs as and with what (see alk_manager_exec). The guest has
 * the last word on names (forbid_root: a name it maps to uid 0 is refused
 * there). */
static gboolean exec_privileges(AlkSlot *slot, AlkMsgExec *msg, GError **error)
{
	const AlkProfile *p = alk_config_profile(slot->m->config, slot->sb->profile);
	const char *dflt = slot->sb->default_user;
	gboolean root;

	if (msg->user == NULL && dflt != NULL) {
		if (!alk_proto_user_valid(dflt)) {
			g_set_error(
			    error, ALK_ERROR, ALK_ERROR_INVALID,
			    "image %s's default user '%s' is not a usable user name: give a user",
			    slot->sb->image, dflt);
			return FALSE;
		}
		msg->user = dflt;
	}
	root = is_root(msg->user);
	if (p != NULL && root && !p->allow_root) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_DENIED,
		            "sandbox %s: profile %s does not allow commands as root (allow_root = "
		            "false): give a user",
		            slot->sb->id, p->name);
		return FALSE;
	}
	msg->forbid_root = p != NULL && !p->allow_root;
	if (p != NULL && p->no_new_privs)
		msg->no_new_privs = 1;
	else if (msg->no_new_privs == ALK_EXEC_NNP_DEFAULT)
		msg->no_new_privs = !root;
	else
		msg->no_new_privs = msg->no_new_privs == ALK_EXEC_NNP_ON;
	return TRUE;
}

AlkTask *alk_manager_exec(AlkManager *m, const char *id, AlkMsgExec *msg,
                          const AlkTaskCallbacks *cb, gpointer user_data, GError **error)
{
	AlkSlot *slot = ready_slot(m, id, error);
	guint64 timeout_s;
	AlkTask *task;

	if (slot == NULL || !alk_slot_exec_defaults_apply(slot, msg, error) ||
	    !exec_privileges(slot, msg, error))
		return NULL;
	if (slot->sb->execs >= slot->sb->limits.max_execs) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_LIMIT,
		            "sandbox %s runs %u execs already (the %s profile's max_execs)", id,
		            slot->sb->execs, slot->sb->profile);
		return NULL;
	}
	/* whole seconds, rounded up, so a sub-second request is not "none" */
	if (!alk_limits_exec_timeout(&slot->sb->limits, (msg->timeout_ms + 999) / 1000, &timeout_s,
	                             error))
		return NULL;
	if (msg->timeout_ms == 0)
		msg->timeout_ms = (guint32)MIN(timeout_s * 1000, G_MAXUINT32);
	msg->output_cap = slot->sb->limits.output_cap_bytes;
	task = task_new(slot, TASK_EXEC, cb, user_data);
	task->cap = msg->output_cap;
	task->timeout_ms = msg->timeout_ms;
	task = task_started(slot, task,
	                    alk_channel_exec(slot->channel, msg, &exec_callbacks, task, error));
	if (task == NULL)
		return NULL;
	slot->sb->execs++;
	task->deadline = g_timeout_add(
	    (guint)MIN((guint64)msg->timeout_ms + EXEC_GRACE_MS, G_MAXUINT), on_deadline, task);
	return task;
}

AlkTask *alk_manager_put(AlkManager *m, const char *id, const char *path, guint32 mode,
                         guint64 size, const AlkTaskCallbacks *cb, gpointer user_data,
                         GError **error)
{
	AlkSlot *slot = ready_slot(m, id, error);
	AlkTask *task;

	if (slot == NULL)
		return NULL;
	task = task_new(slot, TASK_PUT, cb, user_data);
	return task_started(
	    slot, task,
	    alk_channel_put(slot->channel, path, mode, size, &file_callbacks, task, error));
}

AlkTask *alk_manager_get(AlkManager *m, const char *id, const char *path, guint64 max_size,
                         const AlkTaskCallbacks *cb, gpointer user_data, GError **error)
{
	AlkSlot *slot = ready_slot(m, id, error);
	AlkTask *task;

	if (slot == NULL)
		return NULL;
	task = task_new(slot, TASK_GET, cb, user_data);
	return task_started(
	    slot, task,
	    alk_channel_get(slot->channel, path, max_size, &file_callbacks, task, error));
}

/* ---- on a running task ---- */

gsize alk_task_write(AlkTask *task, const guint8 *data, gsize len)
{
	return task->op != NULL ? alk_channel_op_write(task->op, data, len) : 0;
}

void alk_task_close(AlkTask *task)
{
	if (task->op != NULL)
		alk_channel_op_close(task->op);
}

void alk_task_signal(AlkTask *task, guint32 signo)
{
	if (task->op == NULL || task->kind != TASK_EXEC)
		return;
	/* a killed process's last output must drain for its EXIT to come,
	 * whoever was behind */
	if (signo == SIGKILL)
		alk_channel_op_hold(task->op, FALSE);
	alk_channel_op_signal(task->op, signo);
}

void alk_task_resize(AlkTask *task, guint32 rows, guint32 cols)
{
	if (task->op != NULL && task->kind == TASK_EXEC)
		alk_channel_op_resize(task->op, rows, cols);
}

void alk_task_cancel(AlkTask *task)
{
	g_clear_pointer(&task->op, alk_channel_op_cancel);
	task_free(task);
}

void alk_task_hold(AlkTask *task, gboolean hold)
{
	if (task->op != NULL)
		alk_channel_op_hold(task->op, hold);
}

/* ---- the console ---- */

char *alk_manager_console(AlkManager *m, const char *id, gsize max_bytes, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);

	if (slot == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
		            alk_sandbox_id_valid(id) ? id : "with that id");
		return NULL;
	}
	return alk_slot_console_tail(slot->sb, max_bytes, error);
}
