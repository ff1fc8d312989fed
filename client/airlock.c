/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock: the command-line client of airlockd. One file per verb
 * (alk-cmd-<verb>.c), dispatched from the table below. */
#include <locale.h>
#include <string.h>

#include "alk-cmd.h"

typedef struct {
	const char *name;
	AlkCmdFunc run;
	const char *summary;
	const char *usage;
} AlkVerb;

#define CREATE_OPTIONS                                                                             \
	"  --image NAME         image (default: the daemon's)\n"                                   \
	"  --profile NAME       profile: development, staging, production, …\n"                  \
	"  --cpus N             vCPUs (up to the profile's maximum)\n"                             \
	"  --memory MIB         memory in MiB\n"                                                   \
	"  --disk MIB           root disk size in MiB\n"                                           \
	"  --network MODE       none (default), isolated or allowlist\n"                           \
	"  --allow ENTRY        allowlist entry: HOST[:PORT], *.HOST, IP[/LEN][:PORT], …\n"      \
	"                       (repeatable, at most 64; needs --network allowlist)\n"             \
	"  --ttl SECONDS        lifetime; the sandbox is destroyed after it\n"                     \
	"  --label KEY=VALUE    label (repeatable; key [a-z0-9_.-]{1,63})\n"                       \
	"  --display WxH        a screen, keyboard and mouse (screenshot, computer)\n"

#define EXEC_OPTIONS                                                                               \
	"  --timeout SECONDS    kill the command after this long (exit status 124)\n"              \
	"  -e, --env KEY=VALUE  environment variable (repeatable)\n"                               \
	"  -w, --cwd DIR        working directory in the sandbox\n"                                \
	"  -u, --user USER      run as USER (a name or UID[:GID]; default: the image's)\n"         \
	"  -i, --interactive    stream airlock's stdin to the command (with --json: read\n"        \
	"                       whole, at most 6 MiB)\n"                                           \
	"  -t, --tty            run it on a terminal (stdin must be one; raw mode, size\n"         \
	"                       followed; -it for an interactive shell)\n"

#define EXEC_STATUS                                                                                \
	"Exit status: the command's; 128+N when killed by signal N; 124 when it timed out;\n"      \
	"125 when airlock failed; 130 when interrupted.\n"

static const AlkVerb verbs[] = {
    {"create", alk_cmd_create, "create a sandbox and print its ID",
     "usage: airlock create [OPTIONS]\n\n"
     "Creates a sandbox, waits until it is ready and prints its ID.\n\n" CREATE_OPTIONS},
    {"ls", alk_cmd_ls, "list sandboxes",
     "usage: airlock ls [-q] [--label KEY=VALUE]\n\n"
     "  -q, --quiet          IDs only\n"
     "  -l, --label K=V      only sandboxes with this label\n"},
    {"inspect", alk_cmd_inspect, "show one sandbox", "usage: airlock inspect ID\n"},
    {"exec", alk_cmd_exec, "run a command in a sandbox",
     "usage: airlock exec [OPTIONS] ID -- CMD [ARG…]\n\n"
     "Runs CMD in the sandbox, streaming its stdout and stderr.\n\n" EXEC_OPTIONS "\n" EXEC_STATUS},
    {"shell", alk_cmd_shell, "an interactive shell in a sandbox",
     "usage: airlock shell [OPTIONS] ID [-- CMD [ARG…]]\n\n"
     "Same as airlock exec -it ID -- /bin/sh -l (or CMD). ^C, ^Z and ^D go to the\n"
     "sandbox; the shell's exit status is airlock's.\n\n"
     "  --timeout SECONDS    kill it after this long\n"
     "  -e, --env KEY=VALUE  environment variable (repeatable)\n"
     "  -w, --cwd DIR        working directory in the sandbox\n"},
    {"cp", alk_cmd_cp, "copy a file into or out of a sandbox",
     "usage: airlock cp SRC DST\n\n"
     "One side is ID:/path in a sandbox, the other a local path or - (stdin/stdout).\n"
     "A destination ending in / (or a local directory) keeps the file's name.\n"},
    {"rm", alk_cmd_rm, "destroy sandboxes",
     "usage: airlock rm [-f] ID…\n\n"
     "  -f, --force          no error for a sandbox that does not exist\n"},
    {"run", alk_cmd_run, "create a sandbox, run a command, optionally remove it",
     "usage: airlock run [OPTIONS] [--rm] -- CMD [ARG…]\n\n" CREATE_OPTIONS EXEC_OPTIONS
     "  --rm                 remove the sandbox afterwards, whatever happened\n"
     "\n" EXEC_STATUS},
    {"ttl", alk_cmd_ttl, "give a sandbox a new deadline",
     "usage: airlock ttl ID SECONDS\n\nThe sandbox is destroyed SECONDS from now.\n"},
    {"pause", alk_cmd_pause, "pause a sandbox's vCPUs",
     "usage: airlock pause ID\n\n"
     "Stops a ready sandbox's vCPUs; its memory stays, its TTL runs on. Commands and\n"
     "copies are refused until it is resumed. A sandbox with commands or copies in\n"
     "flight is not paused.\n"},
    {"resume", alk_cmd_resume, "resume a paused sandbox",
     "usage: airlock resume ID\n\nStarts a paused sandbox's vCPUs again.\n"},
    {"net", alk_cmd_net, "replace a sandbox's network allowlist",
     "usage: airlock net ID --allow ENTRY [--allow ENTRY]…\n"
     "       airlock net ID --none\n\n"
     "Replaces the whole allowlist of a ready sandbox in network mode allowlist;\n"
     "connections to destinations no longer allowed are cut. Prints the list now in\n"
     "effect (--json: the sandbox).\n\n"
     "  --allow ENTRY        HOST[:PORT], *.HOST[:PORT], IP[/LEN][:PORT] or\n"
     "                       [IPV6[/LEN]][:PORT] (repeatable, at most 64)\n"
     "  --none               allow nothing\n"},
    {"logs", alk_cmd_logs, "show a sandbox's serial console", "usage: airlock logs ID\n"},
    {"mcp", alk_cmd_mcp, "serve MCP on stdio, bridged to the daemon's /mcp",
     "usage: airlock mcp\n\n"
     "Speaks the Model Context Protocol's stdio transport (one JSON-RPC message per\n"
     "line) and forwards each message to the daemon's /mcp endpoint over the usual\n"
     "connection (--socket, or --url with --token), carrying its Mcp-Session-Id.\n"
     "For MCP hosts such as Claude Desktop and Claude Code: docs/clients/mcp.md.\n"},
    {"screenshot", alk_cmd_screenshot, "save a sandbox's screen as PNG",
     "usage: airlock screenshot [--width W] [--height H] ID FILE\n\n"
     "Saves the screen of a sandbox created with a display to FILE (- for stdout),\n"
     "scaled to W x H when asked (one of them: the aspect ratio is kept). Prints the\n"
     "real screen's size.\n\n"
     "  --width W, --height H   1..4096 pixels\n"},
    {"computer", alk_cmd_computer, "move, click, type or press keys on a sandbox's screen",
     "usage: airlock computer [--scale WxH] [--screenshot FILE] ID ACTION [ARG…]\n\n"
     "Actions: move X Y | click [X Y] | double-click [X Y] | right-click [X Y] |\n"
     "middle-click [X Y] | drag X1 Y1 X2 Y2 [X Y…] | scroll up|down|left|right [N] |\n"
     "key CHORD | key-down CHORD | key-up CHORD | type TEXT | wait MS | cursor |\n"
     "screenshot\n\n"
     "CHORD is xdotool's: ctrl+shift+t, Return, KP_0, alt+F4. TEXT is typed on a US\n"
     "layout (a character it lacks is an error); put it after -- if it starts with -.\n\n"
     "  --scale WxH          coordinates (and --screenshot) in a W x H view of the screen\n"
     "  --screenshot FILE    save the screen after the action (the screenshot action's\n"
     "                       picture) to FILE\n"},
    {"watch", alk_cmd_watch, "print a link to watch a sandbox's screen from a browser",
     "usage: airlock watch [--control] ID\n\n"
     "Asks for a watch ticket (good for one viewer, for 60 s) and prints the viewer\n"
     "page's URL with it: open it in a browser to see the screen live, read-only.\n"
     "Over the unix socket it prints the path, to open on the daemon's TCP listener.\n\n"
     "  --control   the page's clicks and keys reach the guest (needs scope write)\n"},
    {"images", alk_cmd_images, "list images", "usage: airlock images\n"},
    {"volume", alk_cmd_volume, "make, list and remove named volumes",
     "usage: airlock volume create NAME --size MIB | volume ls | volume rm NAME\n\n"
     "A volume is an empty ext4 disk kept under the daemon's state directory until removed;\n"
     "sandboxes attach it at create (create --volume NAME:PATH[:rw]). Making and\n"
     "removing one needs admin scope; rm of an attached volume is refused.\n"},
    {"profiles", alk_cmd_profiles, "list profiles and their limits",
     "usage: airlock profiles\n\nLimits are shown as default/maximum.\n"},
    {"health", alk_cmd_health, "show the daemon's health (exit 1 unless ok)",
     "usage: airlock health\n"},
    {"version", alk_cmd_version, "show the client's and the daemon's versions",
     "usage: airlock version\n"},
    {"audit", alk_cmd_audit, "verify the audit log's hash chain",
     "usage: airlock audit verify [--head FILE | --no-head] [--key FILE]\n"
     "                            [--anchors ETCD_URL[,URL...] --node TAG] [FILE]\n\n"
     "Checks FILE (default /var/lib/airlock/audit.jsonl) against its head file\n"
     "(FILE with .jsonl replaced by .head). With --anchors, the chain must also\n"
     "hold the anchor node TAG last wrote to etcd (its line count and head hash):\n"
     "a rewrite of anchored lines shows. Exit status 1 on a bad chain.\n"},
};

static char *global_usage(void)
{
	GString *s = g_string_new("usage: airlock [--socket PATH | --url URL] [--token TOKEN] "
	                          "[--json] COMMAND [ARG…]\n\ncommands:\n");

	for (guint i = 0; i < G_N_ELEMENTS(verbs); i++)
		g_string_append_printf(s, "  %-10s %s\n", verbs[i].name, verbs[i].summary);
	g_string_append(s,
	                "\n"
	                "  --socket PATH   the daemon's unix socket (AIRLOCK_SOCKET; default "
	                "/run/airlock/api.sock)\n"
	                "  --url URL       the daemon's TCP listener, e.g. http://127.0.0.1:8420 "
	                "(AIRLOCK_URL)\n"
	                "  --token TOKEN   bearer token for --url (AIRLOCK_TOKEN)\n"
	                "  --cacert FILE   CA certificates (PEM) an https:// daemon's certificate "
	                "must chain to (AIRLOCK_CACERT)\n"
	                "  --json          print the daemon's JSON instead of tables\n"
	                "\n'airlock COMMAND --help' describes a command. See docs/cli.md.\n");
	return g_string_free(s, FALSE);
}

static const AlkVerb *find_verb(const char *name)
{
	for (guint i = 0; i < G_N_ELEMENTS(verbs); i++) {
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	}
	return NULL;
}

int main(int argc, char **argv)
{
	g_autoptr(AlkCli) cli = alk_cli_new();
	g_autoptr(GError) error = NULL;
	g_autofree char *usage = global_usage();
	const AlkVerb *verb = NULL;

	setlocale(LC_ALL, "");
	cli->usage = usage;
	if (!alk_cli_parse_global(cli, &argc, &argv, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (argc == 0 || strcmp(argv[0], "help") == 0) {
		g_printerr("%s", usage);
		return argc == 0 ? ALK_EXIT_USAGE : ALK_EXIT_OK;
	}
	verb = find_verb(argv[0]);
	if (verb == NULL) {
		g_autofree char *shown = alk_cli_shown(argv[0]);
		g_set_error(&error, ALK_CLI_ERROR, ALK_CLI_ERROR_USAGE, "unknown command '%s'",
		            shown);
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	}
	cli->verb = verb->name;
	cli->usage = verb->usage;
	return verb->run(cli, argc - 1, argv + 1);
}
