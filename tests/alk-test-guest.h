/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test and benchmark harness: boots one image as a transient libvirt domain
 * on a fresh overlay and speaks the wire protocol to its agent, with a
 * deadline on every wait. Used by the integration tests and bench/. */
#pragma once

#include <glib.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "alk-proto.h"

typedef struct AlkTestGuest AlkTestGuest;

/* Domains and directories of one test process share this prefix, so a
 * sweep can find what a crashed test left behind. */
#define ALK_TEST_DOMAIN_PREFIX "airlock-t"
#define ALK_TEST_RUN_DIR "/run/airlock-test"

typedef struct {
	int exit_code;
	guint32 signo;
	gboolean timed_out;
	gboolean truncated;
	guint32 pid;
	GByteArray *out;
	GByteArray *err;
	gint64 started_us;   /* when EXEC was sent */
	gint64 first_out_us; /* first STDOUT frame, 0 if none */
	gint64 exit_us;      /* EXIT frame */
	guint64 max_rss_kib;
	guint64 stdout_bytes;
	guint64 duration_ms; /* as the agent measured it */
} AlkTestExec;

/* Image directory: $ALK_IMAGE_DIR or /var/lib/airlock/images. */
const char *alk_test_image_dir(void);

/* Creates overlay + domain and returns once the domain runs (not yet the
 * agent). disk_mib 0: 1024. */
AlkTestGuest *alk_test_guest_create(const char *image, guint memory_mib, guint vcpus,
                                    guint64 disk_mib, GError **error);
/* Connects to the agent socket (waiting for QEMU to create it). */
gboolean alk_test_guest_connect(AlkTestGuest *g, gint64 deadline_us, GError **error);
/* Waits for HELLO (fails fast once more than garbage_limit bytes of
 * non-frames arrived), then SYNC/SYNC_ACK. */
gboolean alk_test_guest_handshake(AlkTestGuest *g, gint64 deadline_us, GError **error);
/* create + connect + handshake, 120 s deadline. */
AlkTestGuest *alk_test_guest_boot(const char *image, GError **error);
void alk_test_guest_disconnect(AlkTestGuest *g);
/* SYNC/SYNC_ACK only (after a reconnect). */
gboolean alk_test_guest_sync(AlkTestGuest *g, gint64 deadline_us, GError **error);

int alk_test_guest_fd(AlkTestGuest *g);
const AlkMsgHello *alk_test_guest_hello(AlkTestGuest *g);
guint64 alk_test_guest_garbage(AlkTestGuest *g);
guint32 alk_test_guest_next_id(AlkTestGuest *g);

gboolean alk_test_guest_send(AlkTestGuest *g, const void *buf, gsize len, gint64 deadline_us,
                             GError **error);
/* Next frame; payload copied into *payload (may be NULL). Replies with an
 * id below the last SYNC id are dropped, as the protocol says. */
gboolean alk_test_guest_recv(AlkTestGuest *g, AlkFrameHeader *h, GBytes **payload,
                             gint64 deadline_us, GError **error);

/* Runs argv; stdin (may be NULL for /dev/null) is streamed within the
 * window. Result freed with alk_test_exec_clear. */
gboolean alk_test_guest_exec(AlkTestGuest *g, const char *const *argv, GBytes *stdin_data,
                             guint32 timeout_ms, guint64 output_cap, AlkTestExec *r,
                             gint64 deadline_us, GError **error);
/* sh -c CMD, 60 s deadline; returns stdout as a string or NULL. */
char *alk_test_guest_sh(AlkTestGuest *g, const char *cmd, int *exit_code, GError **error);
void alk_test_exec_clear(AlkTestExec *r);

gboolean alk_test_guest_put(AlkTestGuest *g, const char *path, guint32 mode, GBytes *data,
                            gint64 deadline_us, GError **error);
GBytes *alk_test_guest_get(AlkTestGuest *g, const char *path, gint64 deadline_us, GError **error);

/* Destroys the domain, deletes overlay, sockets and directory. */
void alk_test_guest_free(AlkTestGuest *g);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTestGuest, alk_test_guest_free)

/* Destroys every domain and directory of this process id's prefix; returns
 * how many leftovers it found. */
guint alk_test_sweep(pid_t owner);
/* Leftovers of owner without removing them. */
guint alk_test_count_leftovers(pid_t owner);
