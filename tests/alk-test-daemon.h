/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A real airlockd for tests: started from the build tree with a private
 * configuration (own state and run dirs, TCG, its socket in a temp dir, TCP
 * on 127.0.0.1 with a free port, a tokens file with a write and a read
 * token), and stopped with everything it made removed: sandboxes, domains,
 * overlays, sockets, dirs.
 *
 * With check, start it in an unchecked fixture and stop it in the unchecked
 * teardown: both run in the parent process, so the cleanup happens even
 * when the test itself crashes.
 *
 * $ALK_AIRLOCKD overrides the binary (an ASan build, say);
 * $ALK_TEST_DAEMON_WRAPPER runs it under a tool ("valgrind --leak-check=full"). */
#pragma once

#include <glib.h>
#include <sys/types.h>

typedef struct {
	GPid pid;
	char *dir; /* temp dir: config, tokens, socket, log */
	char *config_path;
	char *socket_path; /* the API's unix socket */
	char *tcp_url;     /* "http://127.0.0.1:PORT" */
	guint16 port;
	char *write_token;
	char *read_token;
	char *state_dir;
	char *run_dir;
	char *log_path;   /* the daemon's stderr */
	char *audit_path; /* its audit log */
	gboolean exited;  /* reaped already */
	int exit_status;  /* waitpid status, once exited */
} AlkTestDaemon;

/* A TCP port on 127.0.0.1 that was free a moment ago. */
guint16 alk_test_free_port(void);

/* extra: more configuration text, appended to the generated file (may
 * repeat a group header, not a key it sets: see alk-test-daemon.c; except
 * virt_type, left out when extra sets it). Waits
 * until GET /v1/health answers on the socket. */
AlkTestDaemon *alk_test_daemon_start(const char *extra, GError **error);

/* Deletes every sandbox through the API, stops the daemon (SIGTERM, then
 * SIGKILL), destroys any domain still using its state dir and removes its
 * dirs. Call it from the process that started the daemon. NULL-safe. */
void alk_test_daemon_stop(AlkTestDaemon *d);

/* SIGTERM and waits (from any process, a forked test included) until the
 * daemon exited; returns its stderr log then, NULL on timeout. */
char *alk_test_daemon_terminate(AlkTestDaemon *d, guint timeout_s);

/* kill -9 (and reaped). From the process that started it. */
void alk_test_daemon_crash(AlkTestDaemon *d);
/* The same daemon again (same configuration and dirs), killed first if it
 * runs; waits until it answers. */
gboolean alk_test_daemon_restart(AlkTestDaemon *d, GError **error);
/* The daemon's peak and current resident memory, KiB (0 if unknown). */
guint64 alk_test_daemon_hwm_kib(AlkTestDaemon *d);
guint64 alk_test_daemon_rss_kib(AlkTestDaemon *d);
