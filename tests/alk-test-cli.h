/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Runs the built `airlock` binary as a subprocess, as a user would, with a
 * deadline: its stdout and stderr captured apart, its exit status. */
#pragma once

#include <gio/gio.h>

typedef struct {
	int status; /* exit status; 128+N when killed by signal N; -1: deadline passed */
	GBytes *out;
	GBytes *err;
	char *out_text; /* out as a string (NUL-terminated copy) */
	char *err_text;
} AlkTestCli;

void alk_test_cli_clear(AlkTestCli *r);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkTestCli, alk_test_cli_clear)

/* The binary (ALK_CLI_BIN, or $ALK_CLI_BIN) and the socket it is pointed
 * at with AIRLOCK_SOCKET (NULL: leave the environment alone). */
const char *alk_test_cli_bin(void);
void alk_test_cli_set_socket(const char *path);

/* Runs airlock with args (NULL-terminated); input (may be NULL) is its
 * stdin. Kills it when timeout_s pass (status -1). */
void alk_test_cli_run(const char *const *args, GBytes *input, guint timeout_s, AlkTestCli *r);
/* The same from a printf-style, space-separated argument line. */
void alk_test_cli_runf(AlkTestCli *r, guint timeout_s, const char *format, ...) G_GNUC_PRINTF(3, 4);
/* Starts airlock in the background (stdin /dev/null, output discarded). */
GSubprocess *alk_test_cli_spawn(const char *const *args, GError **error);
/* Its exit status once it exited, -1 if it did not within timeout_s. */
int alk_test_cli_wait(GSubprocess *p, guint timeout_s);

/* The last line of out, stripped (create prints the ID last). */
char *alk_test_cli_last_line(const AlkTestCli *r);
