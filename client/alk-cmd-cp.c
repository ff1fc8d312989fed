/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* airlock cp SRC DST, one side "ID:/path" in a sandbox, the other a local
 * path or "-" (stdin/stdout). Files stream both ways without being held in
 * memory: the upload body is the file itself (stdin that is not a file is
 * first spooled to an unlinked temporary file, as the daemon needs a
 * Content-Length), the download is written as it arrives into a temporary
 * file renamed over the destination once complete. */
#include "alk-cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixinputstream.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-cli-hash-stream.h"
#include "alk-cli-table.h"
#include "alk-json.h"

#define CHUNK (256 * 1024)

void alk_cp_cmd_clear(AlkCpCmd *c)
{
	alk_cp_spec_clear(&c->src);
	alk_cp_spec_clear(&c->dst);
}

static gboolean io_error(GError **error, int errsv, const char *what, const char *path)
{
	g_autofree char *shown = alk_cli_shown(path);

	g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_IO, "%s %s: %s", what, shown,
	            g_strerror(errsv));
	return FALSE;
}

/* ---- parsing -------------------------------------------------------------------------------- */

/* A guest directory destination ("ID:/dir/") gets the source's name. */
static gboolean complete_guest_dst(AlkCpCmd *c, GError **error)
{
	g_autofree char *base = NULL;
	char *joined = NULL;

	if (!g_str_has_suffix(c->dst.path, "/"))
		return alk_cli_check_guest_path(c->dst.path, FALSE, error);
	if (strcmp(c->src.path, "-") == 0)
		return alk_cli_usage_error(error,
		                           "name the file that stdin goes to (ID:/dir/NAME)");
	base = g_path_get_basename(c->src.path);
	if (strcmp(base, "/") == 0 || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return alk_cli_usage_error(error, "name the destination file (ID:/dir/NAME)");
	joined = g_strconcat(c->dst.path, base, NULL);
	g_free(c->dst.path);
	c->dst.path = joined;
	return alk_cli_check_guest_path(c->dst.path, FALSE, error);
}

gboolean alk_cmd_cp_parse(int argc, char **argv, AlkCpCmd *out, GError **error)
{
	const AlkCliOptionGroup groups[] = {{NULL, 0}};
	g_auto(AlkCliArgs) args = {0};

	if (!alk_cli_parse(groups, NULL, 2, argc, argv, &args, error))
		return FALSE;
	if (args.extra != NULL || args.command != NULL || args.positional->len != 2)
		return alk_cli_usage_error(error, "cp takes two arguments: SRC DST");
	out->json = args.json;
	if (!alk_cli_parse_cp_spec(g_ptr_array_index(args.positional, 0), &out->src, error) ||
	    !alk_cli_parse_cp_spec(g_ptr_array_index(args.positional, 1), &out->dst, error))
		return FALSE;
	if (out->src.id != NULL && out->dst.id != NULL)
		return alk_cli_usage_error(error, "copying between sandboxes is not supported; "
		                                  "copy through the host");
	if (out->src.id == NULL && out->dst.id == NULL)
		return alk_cli_usage_error(error, "one side must be in a sandbox (ID:/path)");
	if (out->dst.id != NULL)
		return complete_guest_dst(out, error);
	return alk_cli_check_guest_path(out->src.path, FALSE, error);
}

/* ---- upload --------------------------------------------------------------------------------- */

/* Copies fd_in (a pipe, a device) into an unlinked temporary file;
 * returns that file's fd at offset 0. */
static int spool(AlkCli *cli, int fd_in, GError **error)
{
	g_autofree char *name = NULL;
	g_autoptr(GInputStream) in = g_unix_input_stream_new(fd_in, FALSE);
	g_autoptr(GError) local = NULL;
	int fd = g_file_open_tmp("airlock-cp-XXXXXX", &name, error);

	if (fd < 0)
		return -1;
	g_unlink(name);
	for (;;) {
		g_autoptr(GAsyncResult) res = NULL;
		g_autoptr(GBytes) chunk = NULL;
		g_input_stream_read_bytes_async(in, CHUNK, G_PRIORITY_DEFAULT, cli->cancel,
		                                alk_cli_async_done, &res);
		alk_cli_await(cli, &res);
		chunk = g_input_stream_read_bytes_finish(in, res, &local);
		if (chunk == NULL || g_bytes_get_size(chunk) == 0 ||
		    !alk_cli_write_all(fd, g_bytes_get_data(chunk, NULL), g_bytes_get_size(chunk),
		                       &local))
			break;
	}
	if (local == NULL && lseek(fd, 0, SEEK_SET) == 0)
		return fd;
	close(fd);
	alk_cli_explain_cancel(cli, &local);
	if (local != NULL)
		g_propagate_prefixed_error(error, g_steal_pointer(&local), "spooling the input: ");
	else
		io_error(error, errno, "cannot rewind", name);
	return -1;
}

typedef struct {
	int fd;
	guint64 size;
	guint mode; /* 0: none to send */
} Source;

static gboolean open_source(AlkCli *cli, const char *path, Source *src, GError **error)
{
	struct stat st;
	gboolean is_stdin = strcmp(path, "-") == 0;
	int fd = is_stdin ? dup(STDIN_FILENO) : open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return io_error(error, errno, "cannot read", path);
	if (fstat(fd, &st) != 0) {
		int errsv = errno;
		close(fd);
		return io_error(error, errsv, "cannot read", path);
	}
	if (S_ISDIR(st.st_mode)) {
		close(fd);
		return io_error(error, EISDIR, "cannot copy", path);
	}
	src->mode = is_stdin ? 0 : (st.st_mode & 0777);
	if (S_ISREG(st.st_mode)) {
		off_t at = lseek(fd, 0, SEEK_CUR);
		src->fd = fd;
		src->size = (guint64)(st.st_size - MAX(at, 0));
		return TRUE;
	}
	/* a pipe or a device: its size is known only once read */
	src->fd = spool(cli, fd, error);
	close(fd);
	if (src->fd < 0)
		return FALSE;
	if (fstat(src->fd, &st) != 0) {
		int errsv = errno;
		close(src->fd);
		return io_error(error, errsv, "cannot read", path);
	}
	src->size = (guint64)st.st_size;
	return TRUE;
}

static void on_wrote(SoupMessage *msg, guint chunk, gpointer data)
{
	*(guint64 *)data += chunk;
}

/* The daemon's {"path","bytes","sha256"} must match what was sent. */
static gboolean check_receipt(GBytes *answer, AlkCliHashStream *hash, GError **error)
{
	g_autoptr(JsonObject) doc = alk_cli_parse_object(answer, error);
	g_autofree char *sha = alk_cli_hash_stream_get_sha256(hash);
	const char *theirs = alk_cli_json_string(doc, "sha256");
	gint64 bytes = -1;

	if (doc == NULL)
		return FALSE;
	alk_cli_json_int(doc, "bytes", &bytes);
	if (bytes < 0 || (guint64)bytes != alk_cli_hash_stream_get_count(hash) ||
	    g_strcmp0(theirs, sha) != 0) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "the sandbox stored %" G_GINT64_FORMAT " bytes with another checksum "
		            "than the %" G_GUINT64_FORMAT " bytes sent",
		            bytes, alk_cli_hash_stream_get_count(hash));
		return FALSE;
	}
	return TRUE;
}

static SoupMessage *upload_message(AlkCli *cli, const AlkCpCmd *c, const Source *src,
                                   GError **error)
{
	g_autofree char *files = alk_cli_files_path(c->dst.id, c->dst.path);
	g_autofree char *path =
	    src->mode != 0 ? g_strdup_printf("%s?mode=%04o", files, src->mode) : g_strdup(files);

	return alk_cli_message(cli, "PUT", path, error);
}

static GBytes *upload(AlkCli *cli, const AlkCpCmd *c, GError **error)
{
	Source src = {-1, 0, 0};
	g_autoptr(SoupMessage) msg = NULL;
	g_autoptr(GInputStream) file = NULL;
	g_autoptr(GInputStream) hash = NULL;
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(AlkCliProgress) progress = NULL;
	g_autoptr(GBytes) answer = NULL;
	guint64 sent = 0;

	if (!open_source(cli, c->src.path, &src, error))
		return NULL;
	file = g_unix_input_stream_new(src.fd, TRUE);
	hash = alk_cli_hash_stream_new(file, src.size);
	msg = upload_message(cli, c, &src, error);
	if (msg == NULL)
		return NULL;
	soup_message_set_request_body(msg, "application/octet-stream", hash, (gssize)src.size);
	g_signal_connect(msg, "wrote-body-data", G_CALLBACK(on_wrote), &sent);
	progress = alk_cli_progress_new("uploading", FALSE);
	alk_cli_progress_set_bytes(progress, &sent, src.size);
	in = alk_cli_send(cli, msg, error);
	answer = in != NULL ? alk_cli_read_all(cli, in, ALK_CLI_ERROR_BODY_MAX, error) : NULL;
	if (answer == NULL || !check_receipt(answer, ALK_CLI_HASH_STREAM(hash), error))
		return NULL;
	return g_steal_pointer(&answer);
}

/* ---- download ------------------------------------------------------------------------------- */

typedef struct {
	int fd;
	char *target; /* NULL: stdout */
	char *tmp;    /* written, then renamed to target; NULL: written in place */
} Sink;

static void sink_clear(Sink *s)
{
	if (s->tmp != NULL)
		g_unlink(s->tmp); /* still there: not committed */
	if (s->fd >= 0 && s->target != NULL)
		close(s->fd);
	g_free(s->target);
	g_free(s->tmp);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(Sink, sink_clear)

/* A directory gets the guest file's name; an existing non-regular file
 * (a device, a FIFO, a symlink) is written in place, anything else through
 * a temporary file next to it. */
static gboolean sink_open(Sink *s, const char *local, const char *guest, GError **error)
{
	struct stat st;

	if (strcmp(local, "-") == 0) {
		s->fd = STDOUT_FILENO;
		return TRUE;
	}
	if (stat(local, &st) == 0 && S_ISDIR(st.st_mode)) {
		g_autofree char *base = g_path_get_basename(guest);
		s->target = g_build_filename(local, base, NULL);
	} else {
		s->target = g_strdup(local);
	}
	if (lstat(s->target, &st) == 0 && !S_ISREG(st.st_mode)) {
		s->fd = open(s->target, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOCTTY);
		return s->fd >= 0 || io_error(error, errno, "cannot write", s->target);
	}
	g_autofree char *dir = g_path_get_dirname(s->target);
	g_autofree char *base = g_path_get_basename(s->target);
	s->tmp = g_strdup_printf("%s/.%s.airlock-XXXXXX", dir, base);
	s->fd = g_mkstemp_full(s->tmp, O_WRONLY | O_CLOEXEC, 0600);
	if (s->fd < 0) {
		int errsv = errno;
		g_clear_pointer(&s->tmp, g_free);
		return io_error(error, errsv, "cannot write into", dir);
	}
	return TRUE;
}

/* The guest file's permission bits, less the umask, as cp(1) does. */
static gboolean sink_commit(Sink *s, guint mode, GError **error)
{
	mode_t mask = umask(0);

	umask(mask);
	if (s->tmp == NULL)
		return TRUE;
	if (fchmod(s->fd, mode & 0777 & ~mask) != 0 || fsync(s->fd) != 0 ||
	    rename(s->tmp, s->target) != 0)
		return io_error(error, errno, "cannot write", s->target);
	g_clear_pointer(&s->tmp, g_free);
	return TRUE;
}

static guint mode_header(SoupMessage *msg)
{
	const char *v =
	    soup_message_headers_get_one(soup_message_get_response_headers(msg), "X-Airlock-Mode");
	guint64 mode = 0;

	if (v == NULL || strlen(v) > 4 || strspn(v, "01234567") != strlen(v) ||
	    !g_ascii_string_to_unsigned(v, 8, 0, 07777, &mode, NULL))
		return 0644;
	return (guint)mode;
}

typedef struct {
	guint64 received;
	GChecksum *sum;
} Received;

static gboolean copy_body(AlkCli *cli, GInputStream *in, int fd, Received *r, GError **error)
{
	for (;;) {
		g_autoptr(GAsyncResult) res = NULL;
		g_autoptr(GBytes) chunk = NULL;
		gsize len = 0;
		g_input_stream_read_bytes_async(in, CHUNK, G_PRIORITY_DEFAULT, cli->cancel,
		                                alk_cli_async_done, &res);
		alk_cli_await(cli, &res);
		chunk = g_input_stream_read_bytes_finish(in, res, error);
		if (chunk == NULL) {
			alk_cli_explain_cancel(cli, error);
			return FALSE;
		}
		const guchar *data = g_bytes_get_data(chunk, &len);
		if (len == 0)
			return TRUE;
		if (!alk_cli_write_all(fd, data, len, error))
			return FALSE;
		g_checksum_update(r->sum, data, len);
		r->received += len;
	}
}

static char *receipt(const char *path, const Received *r)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	alk_json_add_string(b, "path", path);
	alk_json_add_int(b, "bytes", (gint64)r->received);
	alk_json_add_string(b, "sha256", g_checksum_get_string(r->sum));
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}

static GBytes *download(AlkCli *cli, const AlkCpCmd *c, GError **error)
{
	g_autofree char *path = alk_cli_files_path(c->src.id, c->src.path);
	g_autoptr(SoupMessage) msg = alk_cli_message(cli, "GET", path, error);
	g_autoptr(GInputStream) in = NULL;
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);
	g_autoptr(AlkCliProgress) progress = NULL;
	g_auto(Sink) sink = {-1, NULL, NULL};
	Received r = {0, sum};
	goffset expected = -1;

	if (msg == NULL || (in = alk_cli_send(cli, msg, error)) == NULL ||
	    !sink_open(&sink, c->dst.path, c->src.path, error))
		return NULL;
	if (soup_message_headers_get_encoding(soup_message_get_response_headers(msg)) ==
	    SOUP_ENCODING_CONTENT_LENGTH)
		expected =
		    soup_message_headers_get_content_length(soup_message_get_response_headers(msg));
	progress = alk_cli_progress_new("downloading", FALSE);
	alk_cli_progress_set_bytes(progress, &r.received, MAX(expected, 0));
	if (!copy_body(cli, in, sink.fd, &r, error))
		return NULL;
	if (expected >= 0 && r.received != (guint64)expected) {
		g_set_error(error, ALK_CLI_ERROR, ALK_CLI_ERROR_PROTOCOL,
		            "received %" G_GUINT64_FORMAT " of %" G_GOFFSET_FORMAT " bytes",
		            r.received, expected);
		return NULL;
	}
	if (!sink_commit(&sink, mode_header(msg), error))
		return NULL;
	g_autofree char *json = receipt(sink.target != NULL ? sink.target : "-", &r);
	gsize len = strlen(json);
	return g_bytes_new_take(g_steal_pointer(&json), len);
}

int alk_cmd_cp(AlkCli *cli, int argc, char **argv)
{
	g_auto(AlkCpCmd) cmd = {0};
	g_autoptr(GError) error = NULL;
	g_autoptr(GBytes) answer = NULL;

	if (!alk_cmd_cp_parse(argc, argv, &cmd, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	cli->json |= cmd.json;
	answer = cmd.dst.id != NULL ? upload(cli, &cmd, &error) : download(cli, &cmd, &error);
	if (answer == NULL)
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	if (cli->json && !alk_cli_print_json(answer, &error))
		return alk_cli_fail(cli, error, ALK_EXIT_FAILURE);
	return ALK_EXIT_OK;
}
