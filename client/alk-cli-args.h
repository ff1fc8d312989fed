/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Command-line parsing and validation for the airlock CLI. Pure: no I/O, so
 * every rule is unit-tested. Every value a user types is checked here before
 * it goes near the daemon, and every message shows the offending value in a
 * printable, shortened form (arguments are hostile input too). */
#pragma once

#include <glib.h>

#include "alk-name.h" /* ALK_SANDBOX_ID_LEN */

#define ALK_CLI_ERROR (alk_cli_error_quark())
GQuark alk_cli_error_quark(void);

typedef enum {
	ALK_CLI_ERROR_USAGE,       /* bad arguments */
	ALK_CLI_ERROR_HELP,        /* -h/--help was given: print the usage, succeed */
	ALK_CLI_ERROR_UNREACHABLE, /* no daemon answers at the socket or URL */
	ALK_CLI_ERROR_PROTOCOL,    /* the daemon's answer made no sense */
	ALK_CLI_ERROR_INTERRUPTED, /* Ctrl-C, SIGTERM, SIGHUP */
	ALK_CLI_ERROR_TIMEOUT,     /* the daemon did not answer in time */
	ALK_CLI_ERROR_IO,          /* local files and streams */
	ALK_CLI_ERROR_PIPE,        /* our stdout went away */
	ALK_CLI_ERROR_FAILED,      /* anything else */
} AlkCliError;

/* The daemon answered with an HTTP error; the code is the status. */
#define ALK_CLI_HTTP_ERROR (alk_cli_http_error_quark())
GQuark alk_cli_http_error_quark(void);

/* Limits the CLI enforces before asking (the daemon enforces them again). */
#define ALK_CLI_ID_LEN ALK_SANDBOX_ID_LEN
#define ALK_CLI_ARGV_MAX 256
#define ALK_CLI_ARGV_BYTES_MAX (64 * 1024)
#define ALK_CLI_ENV_MAX 256
#define ALK_CLI_PATH_MAX 4096
#define ALK_CLI_CPUS_MAX 1024
#define ALK_CLI_MEMORY_MIB_MIN 64
#define ALK_CLI_MEMORY_MIB_MAX (16 * 1024 * 1024) /* 16 TiB */
#define ALK_CLI_DISK_MIB_MIN 16
#define ALK_CLI_DISK_MIB_MAX (64 * 1024 * 1024) /* 64 TiB */
#define ALK_CLI_TTL_MAX (366 * 24 * 3600)
#define ALK_CLI_TIMEOUT_MAX (7 * 24 * 3600)
#define ALK_CLI_RM_MAX 256
#define ALK_CLI_TOKEN_MAX 4096
#define ALK_CLI_SOCKET_PATH_MAX 107 /* sun_path less its NUL */

/* Sets an ALK_CLI_ERROR_USAGE error; returns FALSE. */
gboolean alk_cli_usage_error(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

/* ---- the option parser ---------------------------------------------------------------------- */

/* Stores value (NULL for a flag) into the struct at owner. The message
 * should not name the option: the parser prefixes it. */
typedef gboolean (*AlkCliSetter)(gpointer owner, const char *value, GError **error);

typedef struct {
	const char *name; /* long name without "--" */
	char short_name;  /* 0: none */
	gboolean has_value;
	AlkCliSetter set;
} AlkCliOption;

/* options (ended by a NULL name) whose setters get the verb's options
 * struct plus offset. */
typedef struct {
	const AlkCliOption *options;
	gsize offset;
} AlkCliOptionGroup;

typedef struct {
	GPtrArray *positional; /* borrowed from argv */
	char **command;        /* what follows "--", borrowed; NULL without "--" */
	int command_len;
	char **extra; /* from the first positional beyond the maximum, when no "--" came first */
	int extra_len;
	gboolean json; /* --json given after the verb */
} AlkCliArgs;

void alk_cli_args_clear(AlkCliArgs *args);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkCliArgs, alk_cli_args_clear)

/* Parses a verb's arguments (argv[0] is the first one after the verb):
 * "--name VALUE", "--name=VALUE", "-x VALUE", flags, positionals, and
 * everything after "--" as the command. Parsing stops at a positional
 * beyond max_positional (out->extra): "exec ID ls -l" lacks its "--", and
 * "-l" is not ours to judge. --json and -h/--help are known to every verb;
 * help is reported as ALK_CLI_ERROR_HELP. */
gboolean alk_cli_parse(const AlkCliOptionGroup *groups, gpointer opts, guint max_positional,
                       int argc, char **argv, AlkCliArgs *out, GError **error);

/* ---- value checks --------------------------------------------------------------------------- */

/* A short, printable rendering of user input for messages. */
char *alk_cli_shown(const char *s);

/* Decimal digits only, within min..max. what names it in the message. */
gboolean alk_cli_parse_uint(const char *what, const char *s, guint64 min, guint64 max, guint64 *out,
                            GError **error);

/* 12 lowercase hex characters. */
gboolean alk_cli_check_id(const char *s, GError **error);

/* "K=V" with a non-empty K; V may be empty. */
gboolean alk_cli_split_kv(const char *s, char **key, char **value, GError **error);

/* A label as the daemon accepts it: key [a-z0-9_.-]{1,63}, value valid
 * UTF-8 of at most 255 bytes. */
gboolean alk_cli_check_label(const char *key, const char *value, GError **error);

/* An environment variable: name [A-Za-z_][A-Za-z0-9_]*, UTF-8 value. */
gboolean alk_cli_check_env(const char *key, const char *value, GError **error);

/* An image or profile name: [a-z0-9_-]{1,32}. */
gboolean alk_cli_check_name(const char *what, const char *s, GError **error);

/* none | isolated | allowlist */
gboolean alk_cli_check_network(const char *s, GError **error);

/* An allowlist entry as the daemon reads it (common/alk-allow.h): HOST[:PORT],
 * *.HOST[:PORT], IPV4[/LEN][:PORT], [IPV6[/LEN]][:PORT] or IPV6[/LEN]; not
 * inside a range that is always denied (loopback, link-local, …). */
gboolean alk_cli_check_allow(const char *s, GError **error);

/* An absolute guest path: no NUL, no empty, "." or ".." segment, at most
 * ALK_CLI_PATH_MAX bytes, valid UTF-8. A trailing "/" only if allowed. */
gboolean alk_cli_check_guest_path(const char *path, gboolean trailing_slash_ok, GError **error);

/* The command after "--": 1..256 entries of valid UTF-8, 64 KiB in all. */
gboolean alk_cli_check_argv(char **argv, int argc, GError **error);

/* One side of `cp`: "ID:/path" (sandbox) or a local path / "-". */
typedef struct {
	char *id; /* NULL: local */
	char *path;
} AlkCpSpec;

void alk_cp_spec_clear(AlkCpSpec *spec);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(AlkCpSpec, alk_cp_spec_clear)

/* An "ID:" prefix (12 lowercase hex and a colon) makes it the sandbox side;
 * anything else is local (write ./ID:x for a local file of that name). */
gboolean alk_cli_parse_cp_spec(const char *s, AlkCpSpec *out, GError **error);

/* Where airlock talks to: the socket path (< 108 bytes) or an http(s) URL
 * without query, fragment or user info. */
gboolean alk_cli_check_socket_path(const char *path, GError **error);
gboolean alk_cli_check_url(const char *url, GError **error);
/* A bearer token: 1..4096 printable ASCII characters, no spaces. */
gboolean alk_cli_check_token(const char *token, GError **error);

/* The status airlock exits with for a command that ended: its exit code,
 * 128 + its signal, 124 when it timed out (as timeout(1)). */
int alk_cli_exit_status(gboolean has_exit_code, gint64 exit_code, gint64 signo, gboolean timed_out);
