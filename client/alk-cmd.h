/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The CLI's verbs, one file each (alk-cmd-<verb>.c), dispatched from the
 * table in airlock.c. Each returns the process's exit status. Parsing is
 * split from running where a verb's arguments are more than an ID, so the
 * unit tests reach it. */
#pragma once

#include "alk-cli.h"

typedef int (*AlkCmdFunc)(AlkCli *cli, int argc, char **argv);

int alk_cmd_create(AlkCli *cli, int argc, char **argv);
int alk_cmd_ls(AlkCli *cli, int argc, char **argv);
int alk_cmd_inspect(AlkCli *cli, int argc, char **argv);
int alk_cmd_exec(AlkCli *cli, int argc, char **argv);
int alk_cmd_shell(AlkCli *cli, int argc, char **argv);
int alk_cmd_cp(AlkCli *cli, int argc, char **argv);
int alk_cmd_rm(AlkCli *cli, int argc, char **argv);
int alk_cmd_run(AlkCli *cli, int argc, char **argv);
int alk_cmd_ttl(AlkCli *cli, int argc, char **argv);
int alk_cmd_pause(AlkCli *cli, int argc, char **argv);
int alk_cmd_watch(AlkCli *cli, int argc, char **argv);
int alk_cmd_resume(AlkCli *cli, int argc, char **argv);
int alk_cmd_net(AlkCli *cli, int argc, char **argv);
int alk_cmd_logs(AlkCli *cli, int argc, char **argv);
int alk_cmd_mcp(AlkCli *cli, int argc, char **argv);
int alk_cmd_screenshot(AlkCli *cli, int argc, char **argv);
int alk_cmd_computer(AlkCli *cli, int argc, char **argv);
int alk_cmd_images(AlkCli *cli, int argc, char **argv);
int alk_cmd_volume(AlkCli *cli, int argc, char **argv);
int alk_cmd_profiles(AlkCli *cli, int argc, char **argv);
int alk_cmd_health(AlkCli *cli, int argc, char **argv);
int alk_cmd_version(AlkCli *cli, int argc, char **argv);
int alk_cmd_audit(AlkCli *cli, int argc, char **argv);

/* Verbs without options: exactly n_ids sandbox IDs (0 or 1) and no
 * command. *id is borrowed from argv. */
gboolean alk_cmd_parse_plain(AlkCli *cli, int argc, char **argv, guint n_ids, const char **id,
                             GError **error);

/* ---- create (shared with run) --------------------------------------------------------------- */

#define ALK_CLI_LABELS_MAX 32
#define ALK_CLI_ALLOW_MAX 64
#define ALK_CLI_RO_PATHS_MAX 16 /* the daemon's ALK_FS_RO_PATHS_MAX */
#define ALK_CLI_VOLUMES_MAX 8   /* the daemon's ALK_VOLUMES_PER_SANDBOX */

typedef struct {
	char *image;
	char *profile;
	char *network;
	guint64 cpus;
	guint64 memory_mib;
	guint64 disk_mib;
	guint64 ttl_s;
	GPtrArray *allow;   /* char * */
	GHashTable *labels; /* key -> value */
	guint64 display_w;  /* --display WxH; 0: none */
	guint64 display_h;
	char *root;             /* --root writable|readonly; NULL: the profile's */
	gboolean workspace_set; /* --workspace MIB given (0: none) */
	guint64 workspace_mib;
	GPtrArray *ro_paths; /* --readonly-path P…; NULL: none */
	GPtrArray *volumes;  /* --volume NAME:PATH[:rw|:ro]…, as given; NULL: none */
} AlkCreateOpts;

extern const AlkCliOption alk_create_options[];

void alk_create_opts_clear(AlkCreateOpts *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkCreateOpts, alk_create_opts_clear)
/* What cannot be checked option by option (--allow needs allowlist). */
gboolean alk_create_opts_check(const AlkCreateOpts *o, GError **error);
/* The POST /v1/sandboxes body. */
char *alk_create_opts_to_json(const AlkCreateOpts *o);
gboolean alk_cmd_create_parse(int argc, char **argv, AlkCreateOpts *o, AlkCliArgs *args,
                              GError **error);
/* POST /v1/sandboxes[?wait=ready]; the sandbox document. */
GBytes *alk_cli_create(AlkCli *cli, const AlkCreateOpts *o, gboolean wait, GError **error);
/* The "id" of a sandbox document, checked. */
char *alk_cli_sandbox_id(GBytes *body, GError **error);

/* ---- exec (shared with run) ----------------------------------------------------------------- */

#define ALK_CLI_STDIN_MAX (6 * 1024 * 1024) /* base64 of it stays under the 8 MiB body cap */

typedef struct {
	guint64 timeout_s;
	GHashTable *env; /* name -> value */
	char *cwd;
	char *user; /* -u: who it runs as (the daemon checks the form) */
	gboolean interactive;
	gboolean tty; /* -t: a pseudo-terminal in the guest, ours in raw mode */
} AlkExecOpts;

extern const AlkCliOption alk_exec_options[];
extern const AlkCliOption alk_shell_options[];

void alk_exec_opts_clear(AlkExecOpts *o);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkExecOpts, alk_exec_opts_clear)

typedef struct {
	AlkExecOpts exec;
	const char *id;
	char **command;
	int command_len;
	gboolean json;
} AlkExecCmd;

void alk_exec_cmd_clear(AlkExecCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkExecCmd, alk_exec_cmd_clear)
gboolean alk_cmd_exec_parse(int argc, char **argv, AlkExecCmd *out, GError **error);

/* The POST .../exec body; stdin_data may be NULL. */
char *alk_exec_body(const AlkExecOpts *o, char **argv, int argc, GBytes *stdin_data);

typedef struct {
	gboolean has_exit_code;
	gint64 exit_code;
	gint64 signo; /* 0: none */
	gboolean timed_out;
	gboolean truncated;
} AlkExecResult;

/* Reads the exit fields of a result or of the NDJSON "exit" line. */
gboolean alk_exec_result_read(JsonObject *obj, AlkExecResult *out, GError **error);
/* Runs the command: streamed (NDJSON) to our stdout/stderr, or with --json
 * the daemon's whole result printed verbatim. stdin_data may be NULL. */
gboolean alk_cli_exec(AlkCli *cli, const char *id, const char *body, AlkExecResult *result,
                      GError **error);
/* Runs the command over the WebSocket endpoint: stdin streamed (-i, no
 * size limit), on a pseudo-terminal with -t (our terminal in raw mode,
 * its size followed). */
gboolean alk_cli_exec_ws(AlkCli *cli, const char *id, const AlkExecOpts *o, char **argv, int argc,
                         AlkExecResult *result, GError **error);
/* The way exec and run go: the WebSocket for -i or -t (unless --json
 * without -t: the whole result, stdin read whole), else POST .../exec. */
gboolean alk_cli_exec_command(AlkCli *cli, const char *id, const AlkExecOpts *o, char **argv,
                              int argc, AlkExecResult *result, GError **error);
/* -t needs a terminal on stdin: a usage error otherwise. */
gboolean alk_cli_check_tty(const AlkExecOpts *o, GError **error);
/* All of stdin, at most cap bytes (for -i). */
GBytes *alk_cli_read_stdin(AlkCli *cli, gsize cap, GError **error);
/* The exit status for a result (and a warning if output was cut). */
int alk_exec_result_status(const AlkExecResult *r);

/* ---- run ------------------------------------------------------------------------------------ */

typedef struct {
	AlkCreateOpts create;
	AlkExecOpts exec;
	gboolean rm;
	char **command;
	int command_len;
	gboolean json;
} AlkRunCmd;

void alk_run_cmd_clear(AlkRunCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkRunCmd, alk_run_cmd_clear)
gboolean alk_cmd_run_parse(int argc, char **argv, AlkRunCmd *out, GError **error);

/* ---- rm, ttl, cp ---------------------------------------------------------------------------- */

typedef struct {
	gboolean force;
	GPtrArray *ids; /* borrowed, deduplicated */
	gboolean json;
} AlkRmCmd;

void alk_rm_cmd_clear(AlkRmCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkRmCmd, alk_rm_cmd_clear)
gboolean alk_cmd_rm_parse(int argc, char **argv, AlkRmCmd *out, GError **error);

/* pause and resume: verb is "pause" or "resume", for the usage line */
gboolean alk_cmd_pause_parse(const char *verb, int argc, char **argv, const char **id,
                             gboolean *json, GError **error);
/* A verb of one sandbox ID and the options of groups (into opts); usage is
 * the line a missing ID prints. */
gboolean alk_cmd_id_parse(const char *usage, const AlkCliOptionGroup *groups, gpointer opts,
                          int argc, char **argv, const char **id, gboolean *json, GError **error);
gboolean alk_cmd_ttl_parse(int argc, char **argv, const char **id, guint64 *ttl_s, gboolean *json,
                           GError **error);

typedef struct {
	AlkCpSpec src;
	AlkCpSpec dst;
	gboolean json;
} AlkCpCmd;

void alk_cp_cmd_clear(AlkCpCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkCpCmd, alk_cp_cmd_clear)
/* Exactly one side in a sandbox; a guest destination ending in "/" gets
 * the source's file name (not for "-"). */
gboolean alk_cmd_cp_parse(int argc, char **argv, AlkCpCmd *out, GError **error);

/* ---- net ------------------------------------------------------------------------------------ */

typedef struct {
	const char *id;   /* borrowed from argv */
	GPtrArray *allow; /* char *, as typed; empty with --none */
	gboolean none;
	gboolean json;
} AlkNetCmd;

void alk_net_cmd_clear(AlkNetCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkNetCmd, alk_net_cmd_clear)
/* "ID --allow ENTRY…" or "ID --none": exactly one of the two. */
gboolean alk_cmd_net_parse(int argc, char **argv, AlkNetCmd *out, GError **error);
/* The PUT .../network body: {"allow":[…]}. */
char *alk_net_body(const AlkNetCmd *c);
/* "sandbox ID allows:" and the entries, or "sandbox ID allows nothing". */
char *alk_net_describe(JsonObject *sandbox);

/* ---- audit ---------------------------------------------------------------------------------- */

typedef struct {
	char *log_path;
	char *head_path;       /* NULL: no head check */
	gboolean head_derived; /* not named: skipped if it does not exist */
	gboolean no_head;
	gboolean json;
	char *key_path; /* --key: the log is keyed (HMAC-SHA256) */
	char *anchors;  /* --anchors URL[,URL]: etcd, whose anchor of --node the chain must hold */
	char *node;     /* --node TAG */
} AlkAuditCmd;

void alk_audit_cmd_clear(AlkAuditCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkAuditCmd, alk_audit_cmd_clear)
/* "verify [--head FILE | --no-head] [--key FILE] [--anchors URLS --node TAG] [FILE]"; the head
 * defaults to FILE with .jsonl replaced by .head (the daemon's pair). */
gboolean alk_cmd_audit_parse(int argc, char **argv, AlkAuditCmd *out, GError **error);

/* ---- volume ---------------------------------------------------------------------------------- */

typedef struct {
	const char *action; /* create, ls, rm; borrowed from argv */
	const char *name;
	guint64 size_mib;
	gboolean json;
} AlkVolumeCmd;

gboolean alk_cmd_volume_parse(int argc, char **argv, AlkVolumeCmd *c, GError **error);

/* ---- shared by the verbs that only show something ------------------------------------------- */

/* Formats a parsed answer for people. */
typedef char *(*AlkCliFormat)(JsonObject *doc);

/* GET path: with --json the answer verbatim, else format(answer). */
int alk_cli_show(AlkCli *cli, const char *path, AlkCliFormat format);

/* ---- screenshot and computer (alk-cmd-screen.c) ---------------------------------------------- */

typedef struct {
	const char *id;   /* borrowed from argv */
	const char *file; /* "-": stdout */
	guint width, height;
	gboolean json;
} AlkScreenshotCmd;
gboolean alk_cmd_screenshot_parse(int argc, char **argv, AlkScreenshotCmd *out, GError **error);

typedef struct {
	const char *id;        /* borrowed from argv */
	char *body;            /* the request's JSON */
	const char *shot_file; /* --screenshot FILE */
	gboolean shot_action;  /* ACTION is screenshot: its picture goes there */
	guint scale_w, scale_h;
	gboolean json;
} AlkComputerCmd;
void alk_computer_cmd_clear(AlkComputerCmd *c);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkComputerCmd, alk_computer_cmd_clear)
gboolean alk_cmd_computer_parse(int argc, char **argv, AlkComputerCmd *out, GError **error);
