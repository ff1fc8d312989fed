/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-cli-args.h"

#include <string.h>

#include "alk-allow.h"
#include "alk-name.h"

G_DEFINE_QUARK(alk - cli - error - quark, alk_cli_error)
G_DEFINE_QUARK(alk - cli - http - error - quark, alk_cli_http_error)

#define SHOWN_MAX 64

gboolean alk_cli_usage_error(GError **error, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	g_autofree char *msg = g_strdup_vprintf(format, ap);
	va_end(ap);
	g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE, msg);
	return FALSE;
}

char *alk_cli_shown(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s, -1);
	GString *out = g_string_new(NULL);
	glong n = 0;

	for (const char *p = valid; *p != '\0' && n < SHOWN_MAX; p = g_utf8_next_char(p), n++) {
		gunichar c = g_utf8_get_char(p);
		if (g_unichar_iscntrl(c))
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, c);
	}
	if (g_utf8_strlen(valid, -1) > SHOWN_MAX)
		g_string_append(out, "…");
	return g_string_free(out, FALSE);
}

/* ---- the option parser ---------------------------------------------------------------------- */

void alk_cli_args_clear(AlkCliArgs *args)
{
	g_clear_pointer(&args->positional, g_ptr_array_unref);
	args->command = NULL;
	args->command_len = 0;
	args->extra = NULL;
	args->extra_len = 0;
	args->json = FALSE;
}

typedef struct {
	const AlkCliOption *option;
	gpointer owner;
} Found;

static gboolean find_option(const AlkCliOptionGroup *groups, gpointer opts, const char *name,
                            char short_name, Found *found)
{
	for (const AlkCliOptionGroup *g = groups; g != NULL && g->options != NULL; g++) {
		for (const AlkCliOption *o = g->options; o->name != NULL; o++) {
			gboolean hit = name != NULL
			                   ? strcmp(o->name, name) == 0
			                   : (short_name != 0 && o->short_name == short_name);
			if (hit) {
				found->option = o;
				found->owner = (char *)opts + g->offset;
				return TRUE;
			}
		}
	}
	return FALSE;
}

typedef struct {
	const AlkCliOptionGroup *groups;
	gpointer opts;
	int argc;
	char **argv;
	int i; /* the argument being parsed */
	AlkCliArgs *out;
} Parser;

/* The option's value: after "=", else the next argument. */
static gboolean take_value(Parser *p, const char *shown_name, const char *inline_value,
                           const char **value, GError **error)
{
	if (inline_value != NULL) {
		*value = inline_value;
		return TRUE;
	}
	if (p->i + 1 >= p->argc)
		return alk_cli_usage_error(error, "%s needs a value", shown_name);
	p->i++;
	*value = p->argv[p->i];
	return TRUE;
}

static gboolean apply(Parser *p, const Found *f, const char *shown_name, const char *inline_value,
                      GError **error)
{
	const char *value = NULL;
	g_autoptr(GError) local = NULL;

	if (!f->option->has_value && inline_value != NULL)
		return alk_cli_usage_error(error, "%s takes no value", shown_name);
	if (f->option->has_value && !take_value(p, shown_name, inline_value, &value, error))
		return FALSE;
	if (!f->option->set(f->owner, value, &local)) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE, "%s: %s", shown_name,
		            local->message);
		return FALSE;
	}
	return TRUE;
}

static gboolean parse_long(Parser *p, const char *arg, GError **error)
{
	g_autofree char *name = g_strdup(arg + 2);
	char *eq = strchr(name, '=');
	const char *inline_value = NULL;
	Found f = {0};

	if (eq != NULL) {
		*eq = '\0';
		inline_value = eq + 1;
	}
	if (strcmp(name, "help") == 0) {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_HELP, "help");
		return FALSE;
	}
	if (strcmp(name, "json") == 0 && inline_value == NULL) {
		p->out->json = TRUE;
		return TRUE;
	}
	if (!find_option(p->groups, p->opts, name, 0, &f)) {
		g_autofree char *shown = alk_cli_shown(arg);
		return alk_cli_usage_error(error, "unknown option '%s'", shown);
	}
	g_autofree char *shown_name = g_strconcat("--", name, NULL);
	return apply(p, &f, shown_name, inline_value, error);
}

/* "-it": short options without a value, bundled as with getopt. */
static gboolean parse_bundle(Parser *p, const char *arg, GError **error)
{
	for (const char *c = arg + 1; *c != '\0'; c++) {
		char shown_name[3] = {'-', *c, '\0'};
		Found f = {0};

		if (!find_option(p->groups, p->opts, NULL, *c, &f) || f.option->has_value) {
			g_autofree char *shown = alk_cli_shown(arg);
			return alk_cli_usage_error(error, "unknown option '%s'", shown);
		}
		if (!apply(p, &f, shown_name, NULL, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean parse_short(Parser *p, const char *arg, GError **error)
{
	Found f = {0};
	char shown_name[3] = {'-', arg[1], '\0'};

	if (arg[1] == 'h' && arg[2] == '\0') {
		g_set_error_literal(error, ALK_CLI_ERROR, ALK_CLI_ERROR_HELP, "help");
		return FALSE;
	}
	if (arg[2] != '\0')
		return parse_bundle(p, arg, error);
	if (!find_option(p->groups, p->opts, NULL, arg[1], &f)) {
		g_autofree char *shown = alk_cli_shown(arg);
		return alk_cli_usage_error(error, "unknown option '%s'", shown);
	}
	return apply(p, &f, shown_name, NULL, error);
}

gboolean alk_cli_parse(const AlkCliOptionGroup *groups, gpointer opts, guint max_positional,
                       int argc, char **argv, AlkCliArgs *out, GError **error)
{
	Parser p = {groups, opts, argc, argv, 0, out};

	alk_cli_args_clear(out);
	out->positional = g_ptr_array_new();
	for (p.i = 0; p.i < argc; p.i++) {
		const char *arg = argv[p.i];
		gboolean ok = TRUE;
		if (strcmp(arg, "--") == 0) {
			out->command = argv + p.i + 1;
			out->command_len = argc - p.i - 1;
			return TRUE;
		}
		if (g_str_has_prefix(arg, "--"))
			ok = parse_long(&p, arg, error);
		else if (arg[0] == '-' && arg[1] != '\0')
			ok = parse_short(&p, arg, error);
		else if (out->positional->len < max_positional)
			g_ptr_array_add(out->positional, (gpointer)arg);
		else {
			out->extra = argv + p.i;
			out->extra_len = argc - p.i;
			return TRUE;
		}
		if (!ok)
			return FALSE;
	}
	return TRUE;
}

/* ---- value checks --------------------------------------------------------------------------- */

gboolean alk_cli_parse_uint(const char *what, const char *s, guint64 min, guint64 max, guint64 *out,
                            GError **error)
{
	gsize len = strlen(s);
	guint64 v = 0;
	g_autofree char *shown = alk_cli_shown(s);

	if (len == 0 || len > 20 || strspn(s, "0123456789") != len ||
	    !g_ascii_string_to_unsigned(s, 10, 0, G_MAXUINT64, &v, NULL))
		return alk_cli_usage_error(error, "%s must be a whole number, not '%s'", what,
		                           shown);
	if (v < min || v > max)
		return alk_cli_usage_error(error,
		                           "%s must be between %" G_GUINT64_FORMAT
		                           " and %" G_GUINT64_FORMAT ", not %s",
		                           what, min, max, shown);
	*out = v;
	return TRUE;
}

gboolean alk_cli_check_id(const char *s, GError **error)
{
	if (!alk_sandbox_id_valid(s)) {
		g_autofree char *shown = alk_cli_shown(s);
		return alk_cli_usage_error(
		    error, "'%s' is not a sandbox ID (12 lowercase hex characters)", shown);
	}
	return TRUE;
}

gboolean alk_cli_split_kv(const char *s, char **key, char **value, GError **error)
{
	const char *eq = strchr(s, '=');

	if (eq == NULL || eq == s) {
		g_autofree char *shown = alk_cli_shown(s);
		return alk_cli_usage_error(error, "'%s' is not of the form KEY=VALUE", shown);
	}
	*key = g_strndup(s, eq - s);
	*value = g_strdup(eq + 1);
	return TRUE;
}

gboolean alk_cli_check_label(const char *key, const char *value, GError **error)
{
	if (!alk_label_key_is_valid(key)) {
		g_autofree char *shown = alk_cli_shown(key);
		return alk_cli_usage_error(error, "label key '%s' must be [a-z0-9_.-]{1,%d}", shown,
		                           ALK_LABEL_KEY_MAX);
	}
	if (strlen(value) > ALK_LABEL_VALUE_MAX || !g_utf8_validate(value, -1, NULL))
		return alk_cli_usage_error(
		    error, "label '%s': the value must be UTF-8 of at most %d bytes", key,
		    ALK_LABEL_VALUE_MAX);
	return TRUE;
}

gboolean alk_cli_check_env(const char *key, const char *value, GError **error)
{
	gboolean ok = g_ascii_isalpha(key[0]) || key[0] == '_';

	for (const char *p = key; ok && *p != '\0'; p++)
		ok = g_ascii_isalnum(*p) || *p == '_';
	if (!ok || strlen(key) > 255) {
		g_autofree char *shown = alk_cli_shown(key);
		return alk_cli_usage_error(
		    error, "'%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)", shown);
	}
	if (!g_utf8_validate(value, -1, NULL) || strlen(value) > ALK_CLI_ARGV_BYTES_MAX)
		return alk_cli_usage_error(error,
		                           "the value of %s must be UTF-8 of at most %d bytes", key,
		                           ALK_CLI_ARGV_BYTES_MAX);
	return TRUE;
}

gboolean alk_cli_check_name(const char *what, const char *s, GError **error)
{
	if (!alk_name_is_valid(s, ALK_PROFILE_NAME_MAX)) {
		g_autofree char *shown = alk_cli_shown(s);
		return alk_cli_usage_error(error, "%s name '%s' must be [a-z0-9_-]{1,%d}", what,
		                           shown, ALK_PROFILE_NAME_MAX);
	}
	return TRUE;
}

gboolean alk_cli_check_network(const char *s, GError **error)
{
	if (g_strcmp0(s, "none") != 0 && g_strcmp0(s, "isolated") != 0 &&
	    g_strcmp0(s, "allowlist") != 0) {
		g_autofree char *shown = alk_cli_shown(s);
		return alk_cli_usage_error(error, "'%s' is not one of none, isolated, allowlist",
		                           shown);
	}
	return TRUE;
}

/* The daemon's own grammar (common/alk-allow.c), so that both refuse the same
 * entries. Of the denied ranges only those denied everywhere are known
 * here; the daemon adds its host's own. */
gboolean alk_cli_check_allow(const char *s, GError **error)
{
	g_autoptr(GError) local = NULL;
	g_autoptr(AlkAllowEntry) entry = alk_allow_entry_parse(s, &local);

	if (entry == NULL || !alk_allow_entry_check_denied(entry, NULL, &local))
		return alk_cli_usage_error(error, "%s", local->message);
	return TRUE;
}

static gboolean check_segments(const char *path, gboolean trailing_slash_ok, GError **error)
{
	g_auto(GStrv) parts = NULL;
	guint n = 0;
	g_autofree char *shown = alk_cli_shown(path);

	if (path[1] == '\0')
		return trailing_slash_ok ||
		       alk_cli_usage_error(error, "'/' is a directory, not a file");
	parts = g_strsplit(path + 1, "/", -1);
	n = g_strv_length(parts);
	for (guint i = 0; i < n; i++) {
		const char *seg = parts[i];
		if (seg[0] == '\0' && i + 1 == n && !trailing_slash_ok)
			return alk_cli_usage_error(error, "'%s' is a directory, not a file", shown);
		if (seg[0] == '\0' && i + 1 < n)
			return alk_cli_usage_error(error, "'%s' has an empty path segment", shown);
		if (strcmp(seg, ".") == 0 || strcmp(seg, "..") == 0)
			return alk_cli_usage_error(
			    error, "'%s': '.' and '..' are not allowed in guest paths", shown);
	}
	return TRUE;
}

gboolean alk_cli_check_guest_path(const char *path, gboolean trailing_slash_ok, GError **error)
{
	g_autofree char *shown = alk_cli_shown(path);

	if (path[0] != '/')
		return alk_cli_usage_error(error, "guest path '%s' must be absolute", shown);
	if (strlen(path) > ALK_CLI_PATH_MAX)
		return alk_cli_usage_error(error, "guest path is longer than %d bytes",
		                           ALK_CLI_PATH_MAX);
	if (!g_utf8_validate(path, -1, NULL))
		return alk_cli_usage_error(error, "guest path '%s' is not valid UTF-8", shown);
	return check_segments(path, trailing_slash_ok, error);
}

gboolean alk_cli_check_argv(char **argv, int argc, GError **error)
{
	gsize total = 0;

	if (argv == NULL)
		return alk_cli_usage_error(error, "missing '--' and the command after it");
	if (argc == 0)
		return alk_cli_usage_error(error, "no command after '--'");
	if (argc > ALK_CLI_ARGV_MAX)
		return alk_cli_usage_error(error,
		                           "the command has %d arguments, at most %d allowed", argc,
		                           ALK_CLI_ARGV_MAX);
	if (argv[0][0] == '\0')
		return alk_cli_usage_error(error, "the command name is empty");
	for (int i = 0; i < argc; i++) {
		total += strlen(argv[i]) + 1;
		if (!g_utf8_validate(argv[i], -1, NULL))
			return alk_cli_usage_error(
			    error, "argument %d of the command is not valid UTF-8", i + 1);
	}
	if (total > ALK_CLI_ARGV_BYTES_MAX)
		return alk_cli_usage_error(error, "the command's arguments exceed %d bytes",
		                           ALK_CLI_ARGV_BYTES_MAX);
	return TRUE;
}

void alk_cp_spec_clear(AlkCpSpec *spec)
{
	g_clear_pointer(&spec->id, g_free);
	g_clear_pointer(&spec->path, g_free);
}

static gboolean has_id_prefix(const char *s)
{
	return alk_sandbox_id_is_prefix(s) && s[ALK_CLI_ID_LEN] == ':';
}

gboolean alk_cli_parse_cp_spec(const char *s, AlkCpSpec *out, GError **error)
{
	if (s[0] == '\0')
		return alk_cli_usage_error(error, "an empty path");
	if (!has_id_prefix(s)) {
		if (strlen(s) > ALK_CLI_PATH_MAX)
			return alk_cli_usage_error(error, "local path is longer than %d bytes",
			                           ALK_CLI_PATH_MAX);
		out->id = NULL;
		out->path = g_strdup(s);
		return TRUE;
	}
	if (!alk_cli_check_guest_path(s + ALK_CLI_ID_LEN + 1, TRUE, error))
		return FALSE;
	out->id = g_strndup(s, ALK_CLI_ID_LEN);
	out->path = g_strdup(s + ALK_CLI_ID_LEN + 1);
	return TRUE;
}

gboolean alk_cli_check_socket_path(const char *path, GError **error)
{
	if (path[0] == '\0')
		return alk_cli_usage_error(error, "the socket path is empty");
	if (strlen(path) > ALK_CLI_SOCKET_PATH_MAX)
		return alk_cli_usage_error(error, "the socket path is longer than %d bytes",
		                           ALK_CLI_SOCKET_PATH_MAX);
	return TRUE;
}

gboolean alk_cli_check_url(const char *url, GError **error)
{
	g_autoptr(GUri) uri = g_uri_parse(url, G_URI_FLAGS_NONE, NULL);
	g_autofree char *shown = alk_cli_shown(url);
	const char *scheme = uri != NULL ? g_uri_get_scheme(uri) : NULL;

	if (uri == NULL || (g_strcmp0(scheme, "http") != 0 && g_strcmp0(scheme, "https") != 0) ||
	    g_uri_get_host(uri) == NULL || g_uri_get_host(uri)[0] == '\0')
		return alk_cli_usage_error(
		    error, "'%s' is not an http:// or https:// URL with a host", shown);
	if (g_uri_get_query(uri) != NULL || g_uri_get_fragment(uri) != NULL ||
	    g_uri_get_userinfo(uri) != NULL)
		return alk_cli_usage_error(
		    error, "URL '%s' must not have user info, a query or a fragment", shown);
	return TRUE;
}

gboolean alk_cli_check_token(const char *token, GError **error)
{
	gsize len = strlen(token);

	if (len == 0 || len > ALK_CLI_TOKEN_MAX)
		return alk_cli_usage_error(error, "the token must have 1 to %d characters",
		                           ALK_CLI_TOKEN_MAX);
	for (gsize i = 0; i < len; i++) {
		if (token[i] <= ' ' || token[i] > '~')
			return alk_cli_usage_error(
			    error, "the token must be printable ASCII without spaces");
	}
	return TRUE;
}

int alk_cli_exit_status(gboolean has_exit_code, gint64 exit_code, gint64 signo, gboolean timed_out)
{
	if (timed_out)
		return 124;
	if (signo > 0 && signo < 128)
		return 128 + (int)signo;
	if (has_exit_code && exit_code >= 0 && exit_code <= 255)
		return (int)exit_code;
	return 125;
}
