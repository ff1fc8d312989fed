/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A task: one exec, upload or download in a sandbox, owned by core.
 *
 * The contract every caller relies on: a task ends with exactly one of its
 * done/failed callbacks, on every path — the agent's answer, a lost
 * channel, the daemon's own deadline, its sandbox ending (deleted, TTL,
 * failed, the daemon stopping) — and that callback runs before anything the
 * task points to is freed. The handle is valid from its creation until that
 * callback returns or alk_task_cancel(); no callback runs after either.
 * Everything runs on the main thread. */
#pragma once

#include <glib.h>

#include "alk-proto.h"

typedef struct AlkTask AlkTask;

typedef struct {
	/* exec: the process's exit; NULL for file transfers */
	const AlkMsgExit *exit;
	/* exec: output bytes delivered; upload: written; download: received */
	guint64 bytes;
	/* exec: output was cut at the sandbox's cap, by the guest or by the daemon */
	gboolean truncated;
} AlkTaskResult;

typedef struct {
	/* exec: the process runs */
	void (*started)(AlkTask *task, guint32 pid, gpointer user_data);
	/* exec: ALK_MSG_STDOUT or ALK_MSG_STDERR; download: ALK_MSG_FILE_DATA */
	void (*output)(AlkTask *task, int stream, const guint8 *data, gsize len,
	               gpointer user_data);
	/* download: size and mode of the file, before its data */
	void (*info)(AlkTask *task, guint64 size, guint32 mode, gpointer user_data);
	/* exec stdin or upload: can take more after alk_task_write() returned short */
	void (*writable)(AlkTask *task, gpointer user_data);
	/* exactly one of done/failed ends the task; it is freed after it returns */
	void (*done)(AlkTask *task, const AlkTaskResult *result, gpointer user_data);
	void (*failed)(AlkTask *task, const GError *error, gpointer user_data);
} AlkTaskCallbacks;

/* Queues stdin or upload data; returns how much was taken (less than len
 * when the guest's window or the channel is full: wait for writable). */
gsize alk_task_write(AlkTask *task, const guint8 *data, gsize len);
/* Ends stdin or the upload's data once the queued data is sent. */
void alk_task_close(AlkTask *task);
/* exec: sends signo to the process group. */
void alk_task_signal(AlkTask *task, guint32 signo);
/* exec with a tty: the terminal's new window size. */
void alk_task_resize(AlkTask *task, guint32 rows, guint32 cols);
/* Stops the task without its final callback (an exec is killed, a transfer
 * dropped by the agent) and frees it. */
void alk_task_cancel(AlkTask *task);
/* download: while held, the guest's data waits in the guest. */
void alk_task_hold(AlkTask *task, gboolean hold);
