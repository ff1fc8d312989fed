/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A sandbox's exec defaults: what its image says an exec runs with when the
 * exec does not say (an OCI config's Env, WorkingDir and Entrypoint + Cmd;
 * its User is the image's default user). Kept in the sandbox's state dir
 * (exec-defaults.json, the daemon's), so that an adopted sandbox has them
 * too, and applied to each EXEC in alk_manager_exec. */
#include <string.h>

#include "alk-error.h"
#include "alk-json.h"
#include "alk-manager-private.h"

#define DEFAULTS_FILE "exec-defaults.json"
#define DEFAULTS_MAX (256 * 1024)
#define ITEM_MAX (64 * 1024)

typedef struct {
	char **env;
	char *cwd;
	char **argv;
} Defaults;

#define F(member) G_STRUCT_OFFSET(Defaults, member)
static const AlkJsonField fields[] = {
    {"env", ALK_JSON_STRING_ARRAY, F(env), FALSE, 0, ALK_PROTO_MAX_ENV, ITEM_MAX},
    {"cwd", ALK_JSON_STRING, F(cwd), FALSE, 1, 4096, 0},
    {"argv", ALK_JSON_STRING_ARRAY, F(argv), FALSE, 1, ALK_PROTO_MAX_ARGS, ITEM_MAX},
    {NULL, 0, 0, FALSE, 0, 0, 0},
};
#undef F

static char *path_of(const AlkSandbox *sb)
{
	return g_build_filename(sb->state_dir, DEFAULTS_FILE, NULL);
}

void alk_slot_exec_defaults_take(AlkSlot *slot, const AlkImage *image)
{
	AlkSandbox *sb = slot->sb;
	g_autoptr(JsonBuilder) b = NULL;
	g_autoptr(JsonNode) root = NULL;
	g_autofree char *text = NULL;
	g_autofree char *path = NULL;
	g_autoptr(GError) error = NULL;

	sb->exec_env = g_strdupv(image->exec_env);
	sb->exec_cwd = g_strdup(image->exec_cwd);
	sb->exec_argv = g_strdupv(image->exec_argv);
	if (sb->exec_env == NULL && sb->exec_cwd == NULL && sb->exec_argv == NULL)
		return;
	b = json_builder_new();
	json_builder_begin_object(b);
	if (sb->exec_env != NULL)
		alk_json_add_strv(b, "env", (const char *const *)sb->exec_env);
	if (sb->exec_cwd != NULL)
		alk_json_add_string(b, "cwd", sb->exec_cwd);
	if (sb->exec_argv != NULL)
		alk_json_add_strv(b, "argv", (const char *const *)sb->exec_argv);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	text = alk_json_to_string(root);
	path = path_of(sb);
	if (!g_file_set_contents(path, text, -1, &error))
		g_warning("sandbox %s: keeping its exec defaults: %s", sb->id, error->message);
}

void alk_slot_exec_defaults_load(AlkSlot *slot)
{
	AlkSandbox *sb = slot->sb;
	g_autofree char *path = path_of(sb);
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	g_autoptr(JsonObject) obj = NULL;
	gsize len = 0;
	Defaults d = {0};

	if (!g_file_test(path, G_FILE_TEST_EXISTS))
		return;
	if (!g_file_get_contents(path, &text, &len, &error) ||
	    (obj = alk_json_parse_object(text, len, DEFAULTS_MAX, 3, &error)) == NULL ||
	    !alk_json_read_object(obj, fields, &d, &error)) {
		g_warning("sandbox %s: its exec defaults are lost: %s", sb->id, error->message);
		alk_json_fields_clear(fields, &d);
		return;
	}
	sb->exec_env = g_steal_pointer(&d.env);
	sb->exec_cwd = g_steal_pointer(&d.cwd);
	sb->exec_argv = g_steal_pointer(&d.argv);
}

gboolean alk_slot_exec_defaults_apply(AlkSlot *slot, AlkMsgExec *msg, GError **error)
{
	const AlkSandbox *sb = slot->sb;
	const char *env[ALK_PROTO_MAX_ENV + 1];
	guint n = 0;

	if (msg->argc == 0) {
		guint argc = sb->exec_argv != NULL ? g_strv_length(sb->exec_argv) : 0;

		if (argc == 0 || argc > ALK_PROTO_MAX_ARGS) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "argv: give a command (image %s has no default command)",
			            sb->image);
			return FALSE;
		}
		for (guint i = 0; i < argc; i++)
			msg->argv[i] = sb->exec_argv[i];
		msg->argv[argc] = NULL;
		msg->argc = argc;
	}
	if (msg->cwd == NULL)
		msg->cwd = sb->exec_cwd;
	if (sb->exec_env == NULL)
		return TRUE;
	/* the image's first, each the exec does not set itself; then the exec's */
	for (guint i = 0; sb->exec_env[i] != NULL; i++) {
		const char *kv = sb->exec_env[i];
		gsize klen = strcspn(kv, "=") + 1;
		gboolean given = FALSE;

		for (guint j = 0; j < msg->envc && !given; j++)
			given = strncmp(msg->env[j], kv, klen) == 0;
		if (!given && n < ALK_PROTO_MAX_ENV)
			env[n++] = kv;
	}
	if (n + msg->envc > ALK_PROTO_MAX_ENV) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "env: with image %s's %u variables, more than %d", sb->image, n,
		            ALK_PROTO_MAX_ENV);
		return FALSE;
	}
	for (guint j = 0; j < msg->envc; j++)
		env[n++] = msg->env[j];
	memcpy(msg->env, env, n * sizeof(env[0]));
	msg->env[n] = NULL;
	msg->envc = n;
	return TRUE;
}
