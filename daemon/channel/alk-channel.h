/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The host side of the agent channel: an asynchronous, multiplexed client
 * of the wire protocol (docs/protocol.md) on the GLib main loop.
 *
 * QEMU listens on the sandbox's agent socket; the channel connects to it,
 * waits for HELLO, runs the SYNC handshake and then carries any number of
 * execs and file transfers at once, each under its own request id. Every
 * operation ends with exactly one of its done/error callbacks. A lost
 * connection or an agent restart (a HELLO with a new nonce) fails every
 * operation in flight. Everything runs on the thread that owns the main
 * context; nothing blocks. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "alk-proto.h"

typedef struct AlkChannel AlkChannel;
typedef struct AlkChannelOp AlkChannelOp;

typedef enum {
	ALK_CHANNEL_CLOSED,     /* not connected */
	ALK_CHANNEL_CONNECTING, /* waiting for the socket, HELLO or SYNC_ACK */
	ALK_CHANNEL_READY,
	ALK_CHANNEL_LOST, /* was ready, connection gone or agent restarted */
} AlkChannelState;

/* Called on every state change; error says why for LOST and failed opens. */
typedef void (*AlkChannelStateFunc)(AlkChannel *ch, AlkChannelState state, const GError *error,
                                    gpointer user_data);

/* Bytes of non-frame data tolerated from the guest before the channel
 * gives up on it (a guest process other than the agent holding the port). */
#define ALK_CHANNEL_GARBAGE_LIMIT (1024 * 1024)
/* Queued output above which writers are told to wait (backpressure). */
#define ALK_CHANNEL_HIGH_WATER (1024 * 1024)

AlkChannel *alk_channel_new(const char *socket_path, AlkChannelStateFunc state_func,
                            gpointer user_data);
/* Closes the connection and frees. NULL-safe. Ops still in flight are
 * dropped without their callbacks (only a plain request's destroy notify
 * runs): their owner ends them first, as core's tasks do. No callback runs
 * after it returns. */
void alk_channel_free(AlkChannel *ch);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkChannel, alk_channel_free)

/* Connects (retrying until the socket exists), waits for HELLO, runs SYNC.
 * The state func reports READY, or CLOSED with the error when deadline_us
 * (monotonic) passes or the guest sends garbage. While a handshake is under
 * way already, only moves its deadline. */
void alk_channel_open(AlkChannel *ch, gint64 deadline_us);
void alk_channel_close(AlkChannel *ch);
AlkChannelState alk_channel_get_state(AlkChannel *ch);
/* The agent's HELLO, once READY. */
const AlkMsgHello *alk_channel_get_hello(AlkChannel *ch);
/* When that HELLO came (g_get_monotonic_time()); 0 before any. */
gint64 alk_channel_get_hello_time(AlkChannel *ch);

/* ---- exec ---- */

typedef struct {
	void (*started)(AlkChannelOp *op, guint32 pid, gpointer user_data);
	/* stream is ALK_MSG_STDOUT or ALK_MSG_STDERR */
	void (*output)(AlkChannelOp *op, int stream, const guint8 *data, gsize len,
	               gpointer user_data);
	/* stdin can take more (after alk_channel_op_write returned short) */
	void (*writable)(AlkChannelOp *op, gpointer user_data);
	/* exactly one of done/failed ends the op; the op is freed after it */
	void (*done)(AlkChannelOp *op, const AlkMsgExit *exit, gpointer user_data);
	void (*failed)(AlkChannelOp *op, const GError *error, gpointer user_data);
} AlkExecCallbacks;

/* argv/env/cwd/limits as in AlkMsgExec (its stdin_mode chooses whether
 * stdin is fed through alk_channel_op_write; tty asks for a pseudo-terminal,
 * refused with ALK_ERROR_CONFLICT by an agent without ALK_CAP_PTY). Returns
 * NULL with an error when the channel is not ready or the message does not
 * fit. */
AlkChannelOp *alk_channel_exec(AlkChannel *ch, const AlkMsgExec *msg, const AlkExecCallbacks *cb,
                               gpointer user_data, GError **error);

/* ---- files ---- */

typedef struct {
	/* FILE_GET: size and mode of the file */
	void (*info)(AlkChannelOp *op, guint64 size, guint32 mode, gpointer user_data);
	/* FILE_GET: a chunk */
	void (*data)(AlkChannelOp *op, const guint8 *data, gsize len, gpointer user_data);
	/* FILE_PUT: can take more data */
	void (*writable)(AlkChannelOp *op, gpointer user_data);
	/* FILE_PUT: bytes written; FILE_GET: bytes received */
	void (*done)(AlkChannelOp *op, guint64 bytes, gpointer user_data);
	void (*failed)(AlkChannelOp *op, const GError *error, gpointer user_data);
} AlkFileCallbacks;

/* Starts an upload of exactly size bytes; feed it with alk_channel_op_write
 * and finish with alk_channel_op_close. */
AlkChannelOp *alk_channel_put(AlkChannel *ch, const char *path, guint32 mode, guint64 size,
                              const AlkFileCallbacks *cb, gpointer user_data, GError **error);
/* Starts a download; max_size 0: no limit. */
AlkChannelOp *alk_channel_get(AlkChannel *ch, const char *path, guint64 max_size,
                              const AlkFileCallbacks *cb, gpointer user_data, GError **error);

/* ---- on a running op ---- */

/* Queues stdin or file data; returns how much was taken (less than len
 * when the window or the output queue is full: wait for writable). */
gsize alk_channel_op_write(AlkChannelOp *op, const guint8 *data, gsize len);
/* STDIN_EOF or FILE_END once the queued data is sent. */
void alk_channel_op_close(AlkChannelOp *op);
/* Sends SIGNAL to an exec's process group. */
void alk_channel_op_signal(AlkChannelOp *op, guint32 signo);
/* Sends RESIZE to an exec started with tty (ALK_TTY_SIZE_MIN..MAX each;
 * out of range: nothing is sent). */
void alk_channel_op_resize(AlkChannelOp *op, guint32 rows, guint32 cols);
/* Stops an op: its callbacks never run again, the agent is told with
 * ERROR(CANCELLED) (an exec's process group is killed, its output
 * discarded). The op is freed. */
void alk_channel_op_cancel(AlkChannelOp *op);
/* A held exec or download gets no more output: its consumer (an HTTP
 * client reading slowly) is behind. With an agent that knows CREDIT
 * (ALK_CAP_CREDIT) the host stops granting that op's window, so only its
 * process or file waits, in the guest; every other op goes on. With an
 * older agent nothing is read from the agent while any op is held. The
 * hold ends when the op does. */
void alk_channel_op_hold(AlkChannelOp *op, gboolean hold);
guint32 alk_channel_op_id(AlkChannelOp *op);

/* ---- misc ---- */

typedef void (*AlkPingFunc)(AlkChannel *ch, const GError *error, gpointer user_data);
/* PING/PONG with a deadline: proof that the agent answers. */
void alk_channel_ping(AlkChannel *ch, gint64 deadline_us, AlkPingFunc func, gpointer user_data);

/* ---- renewal (alk-channel-renew.c) ---- */

/* RENEW (docs/protocol.md, 7.8): once, to a clone restored from a template.
 * Completes on the agent's OK (its fresh HELLO follows, which the channel
 * takes as an agent restart: LOST, then READY under the new nonce); fails
 * with ALK_ERROR_GUEST when the agent lacks ALK_CAP_RENEW or answers ERROR,
 * ALK_ERROR_UNAVAILABLE when the channel is not ready or closes first. cb
 * always runs, in a later main loop iteration than the call. */
void alk_channel_renew_async(AlkChannel *ch, const AlkMsgRenew *msg, GAsyncReadyCallback cb,
                             gpointer user_data);
gboolean alk_channel_renew_finish(GAsyncResult *res, GError **error);

/* ---- network (alk-channel-net.c) ---- */

/* NET_CONFIG (docs/protocol.md, 7.6): once per boot of a networked
 * sandbox, after READY. Completes on the agent's OK; fails with
 * ALK_ERROR_GUEST and the agent's message on its ERROR (or when its HELLO
 * lacks ALK_CAP_NET), ALK_ERROR_INVALID when cfg does not encode,
 * ALK_ERROR_UNAVAILABLE when the channel is not ready, closes or is freed
 * first, G_IO_ERROR_CANCELLED when cancel fires. cb always runs, in a later
 * main loop iteration than the call, even after alk_channel_free(). */
void alk_channel_net_config_async(AlkChannel *ch, const AlkMsgNetConfig *cfg, GCancellable *cancel,
                                  GAsyncReadyCallback cb, gpointer user_data);
/* ch may have been freed since: it is only compared, never used. */
gboolean alk_channel_net_config_finish(AlkChannel *ch, GAsyncResult *res, GError **error);

/* FS_CONFIG (docs/protocol.md, 7.7): once per boot of a sandbox whose
 * filesystem layout is not the image's own, after READY (and NET_CONFIG).
 * Completes and fails as NET_CONFIG does (the capability is ALK_CAP_FS). */
void alk_channel_fs_config_async(AlkChannel *ch, const AlkMsgFsConfig *cfg, GCancellable *cancel,
                                 GAsyncReadyCallback cb, gpointer user_data);
gboolean alk_channel_fs_config_finish(AlkChannel *ch, GAsyncResult *res, GError **error);
