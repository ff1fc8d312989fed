/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Helpers for tests that run the sandbox manager in-process against the
 * real libvirtd: a private config (own state and run dirs, TCG), waiting on
 * the main loop with deadlines, and synchronous wrappers of its async API. */
#pragma once

#include <glib.h>

#include "alk-manager.h"

typedef struct {
	AlkConfig *config;
	AlkManager *manager;
	char *state_dir;
	char *run_dir;
	char *template_dir;
	GHashTable *seen; /* id -> last AlkSandboxState seen by the watch */
	gpointer conn;    /* virConnectPtr for checks */
} AlkTestCore;

/* extra: more [daemon] keys, e.g. "max_sandboxes = 3\n"; NULL for none.
 * A fixed root per test process, so a restarted manager finds the same. */
AlkTestCore *alk_test_core_new(const char *extra, GError **error);
/* The same with state_dir elsewhere (a special file system). */
AlkTestCore *alk_test_core_new_at(const char *state_dir, const char *extra, GError **error);
/* Stops the manager (destroying every sandbox) and deletes the dirs. */
void alk_test_core_free(AlkTestCore *t);
/* A new manager over the same config, as a restarted daemon. */
gboolean alk_test_core_restart(AlkTestCore *t, GError **error);

/* Runs the main loop until func(data) or the deadline. */
gboolean alk_test_loop_until(gboolean (*func)(gpointer), gpointer data, guint timeout_s);

/* create + wait ready; NULL with error. */
char *alk_test_core_boot(AlkTestCore *t, const AlkSandboxRequest *req, GError **error);
/* The last state the watch saw for id (DESTROYED once forgotten). */
AlkSandboxState alk_test_core_seen(AlkTestCore *t, const char *id);
gboolean alk_test_core_wait_state(AlkTestCore *t, const char *id, AlkSandboxState state,
                                  guint timeout_s);

typedef struct {
	int exit_code;
	guint32 signo;
	gboolean timed_out;
	GString *out;
	GString *err;
	GError *error;
	gboolean done;
} AlkTestRun;

/* sh -c cmd in the sandbox; FALSE when it could not run. */
gboolean alk_test_core_sh(AlkTestCore *t, const char *id, const char *cmd, AlkTestRun *r);
void alk_test_run_clear(AlkTestRun *r);

/* Whether nothing of sandbox id is left: no domain, no files. */
gboolean alk_test_core_gone(AlkTestCore *t, const char *id);
