/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A clone's own save file: its header and XML, then the template's QEMU
 * stream, through a FIFO (see alk-restore.h for why). */
#include "alk-restore.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"

#define SAVE_MAGIC "LibvirtQemudSave"
#define SAVE_MAGIC_LEN 16
#define SAVE_VERSION 2
/* what a template's XML and cookie may take: libvirt pads to 64 KiB */
#define SAVE_DATA_MAX (4u * 1024 * 1024)
/* how long the writer waits for libvirt to open the FIFO */
#define FEED_OPEN_TIMEOUT_US (120 * G_USEC_PER_SEC)

void alk_save_image_free(AlkSaveImage *s)
{
	if (s == NULL)
		return;
	g_free(s->xml);
	g_free(s->cookie);
	g_free(s);
}

static guint32 get_le32(const guint8 *p)
{
	return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static void put_le32(guint8 *p, guint32 v)
{
	p[0] = (guint8)v;
	p[1] = (guint8)(v >> 8);
	p[2] = (guint8)(v >> 16);
	p[3] = (guint8)(v >> 24);
}

static gboolean invalid(GError **error, const char *why)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "save image: %s", why);
	return FALSE;
}

/* The NUL-terminated string at data[off..len), or NULL. */
static char *string_at(const guint8 *data, gsize len, gsize off)
{
	const guint8 *end = off < len ? memchr(data + off, '\0', len - off) : NULL;

	return end != NULL ? g_strndup((const char *)data + off, (gsize)(end - data) - off) : NULL;
}

AlkSaveImage *alk_save_image_parse(const guint8 *head, gsize len, guint64 file_size, GError **error)
{
	g_autoptr(AlkSaveImage) s = g_new0(AlkSaveImage, 1);
	guint32 cookie_off;

	if (len < ALK_RESTORE_HEADER_SIZE || memcmp(head, SAVE_MAGIC, SAVE_MAGIC_LEN) != 0)
		return invalid(error, "not a libvirt QEMU save image"), NULL;
	s->version = get_le32(head + 16);
	s->data_len = get_le32(head + 20);
	s->was_running = get_le32(head + 24);
	s->format = get_le32(head + 28);
	cookie_off = get_le32(head + 32);
	if (s->version != SAVE_VERSION)
		return invalid(error, "unknown version"), NULL;
	if (s->format != 0)
		return invalid(error, "compressed"), NULL;
	if (s->data_len > SAVE_DATA_MAX || len < ALK_RESTORE_HEADER_SIZE + (gsize)s->data_len ||
	    file_size < ALK_RESTORE_HEADER_SIZE + (guint64)s->data_len)
		return invalid(error, "truncated"), NULL;
	head += ALK_RESTORE_HEADER_SIZE;
	s->xml = string_at(head, s->data_len, 0);
	if (s->xml == NULL || (cookie_off != 0 && cookie_off <= strlen(s->xml)))
		return invalid(error, "bad domain XML"), NULL;
	s->cookie = cookie_off != 0 ? string_at(head, s->data_len, cookie_off) : g_strdup("");
	if (s->cookie == NULL)
		return invalid(error, "bad cookie"), NULL;
	s->stream_offset = ALK_RESTORE_HEADER_SIZE + (guint64)s->data_len;
	s->stream_len = file_size - s->stream_offset;
	return g_steal_pointer(&s);
}

AlkSaveImage *alk_save_image_read(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	g_autofree guint8 *buf = g_malloc(ALK_RESTORE_HEADER_SIZE + SAVE_DATA_MAX);
	struct stat st;
	gsize got = 0;
	ssize_t n = 1;

	if (fd < 0 || fstat(fd, &st) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "opening %s: %s", path,
		            g_strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	/* the header says how much follows: read it first, then the data */
	while (got < ALK_RESTORE_HEADER_SIZE + SAVE_DATA_MAX && n > 0) {
		gsize want = got < ALK_RESTORE_HEADER_SIZE
		                 ? ALK_RESTORE_HEADER_SIZE - got
		                 : MIN(ALK_RESTORE_HEADER_SIZE + get_le32(buf + 20),
		                       SAVE_DATA_MAX + ALK_RESTORE_HEADER_SIZE) -
		                       got;
		if (want == 0)
			break;
		n = read(fd, buf + got, want);
		if (n > 0)
			got += (gsize)n;
	}
	close(fd);
	return alk_save_image_parse(buf, got, (guint64)st.st_size, error);
}

GBytes *alk_save_image_clone_head(const AlkSaveImage *s, const char *xml, GError **error)
{
	gsize xml_len = strlen(xml) + 1, cookie_len = strlen(s->cookie) + 1;
	gsize data_len = xml_len + cookie_len;
	guint8 *buf;

	if (data_len > SAVE_DATA_MAX) {
		invalid(error, "the clone's XML is too large");
		return NULL;
	}
	buf = g_malloc0(ALK_RESTORE_HEADER_SIZE + data_len);
	memcpy(buf, SAVE_MAGIC, SAVE_MAGIC_LEN);
	put_le32(buf + 16, s->version);
	put_le32(buf + 20, (guint32)data_len);
	put_le32(buf + 24, s->was_running);
	put_le32(buf + 28, s->format);
	put_le32(buf + 32, s->cookie[0] != '\0' ? (guint32)xml_len : 0);
	memcpy(buf + ALK_RESTORE_HEADER_SIZE, xml, xml_len);
	memcpy(buf + ALK_RESTORE_HEADER_SIZE + xml_len, s->cookie, cookie_len);
	return g_bytes_new_take(buf, ALK_RESTORE_HEADER_SIZE + data_len);
}

/* ---- the feed ---- */

struct AlkRestoreFeed {
	GThread *thread;
	char *fifo;
	GBytes *head;
	char *save_path;
	guint64 offset, len;
	gint done; /* atomic: the reader returned, stop waiting for it */
	GError *error;
};

/* Opens the FIFO for writing once the reader (libvirtd) has: a blocking
 * open would hang for ever if libvirt failed before opening it. */
static int feed_open(AlkRestoreFeed *f)
{
	gint64 until = g_get_monotonic_time() + FEED_OPEN_TIMEOUT_US;

	while (!g_atomic_int_get(&f->done) && g_get_monotonic_time() < until) {
		int fd = open(f->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			fcntl(fd, F_SETFL, 0);
			return fd;
		}
		if (errno != ENXIO)
			break;
		g_usleep(2000);
	}
	return -1;
}

static gboolean write_all(int fd, const guint8 *p, gsize n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return FALSE;
		p += w;
		n -= (gsize)w;
	}
	return TRUE;
}

/* The stream goes from the page cache into the pipe without a copy
 * through user space. */
static gboolean splice_all(int in, loff_t off, guint64 len, int out)
{
	while (len > 0) {
		ssize_t n = splice(in, &off, out, NULL, MIN(len, 1u << 20), SPLICE_F_MOVE);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return FALSE;
		len -= (guint64)n;
	}
	return TRUE;
}

static gpointer feed_thread(gpointer data)
{
	AlkRestoreFeed *f = data;
	sigset_t pipe_sig;

	/* a reader that went away is EPIPE here, never a signal to the process */
	sigemptyset(&pipe_sig);
	sigaddset(&pipe_sig, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_sig, NULL);
	int out = feed_open(f);
	int in = open(f->save_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	gsize hlen;
	const guint8 *h = g_bytes_get_data(f->head, &hlen);

	if (out < 0 || in < 0)
		g_set_error(&f->error, ALK_ERROR, ALK_ERROR_IO, "restore feed: opening %s: %s",
		            out < 0 ? f->fifo : f->save_path,
		            out < 0 && errno == ENXIO ? "nobody read it" : g_strerror(errno));
	else if (!write_all(out, h, hlen) || !splice_all(in, (loff_t)f->offset, f->len, out))
		g_set_error(&f->error, ALK_ERROR, ALK_ERROR_IO, "restore feed: writing: %s",
		            g_strerror(errno));
	if (out >= 0)
		close(out);
	if (in >= 0)
		close(in);
	return NULL;
}

AlkRestoreFeed *alk_restore_feed_start(const char *fifo_path, GBytes *head, const char *save_path,
                                       guint64 stream_offset, guint64 stream_len, GError **error)
{
	AlkRestoreFeed *f;

	unlink(fifo_path);
	if (mkfifo(fifo_path, 0600) != 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "mkfifo %s: %s", fifo_path,
		            g_strerror(errno));
		return NULL;
	}
	f = g_new0(AlkRestoreFeed, 1);
	f->fifo = g_strdup(fifo_path);
	f->head = g_bytes_ref(head);
	f->save_path = g_strdup(save_path);
	f->offset = stream_offset;
	f->len = stream_len;
	f->thread = g_thread_new("alk-restore-feed", feed_thread, f);
	return f;
}

gboolean alk_restore_feed_finish(AlkRestoreFeed *f, GError **error)
{
	gboolean ok;

	if (f == NULL)
		return TRUE;
	g_atomic_int_set(&f->done, 1);
	/* a writer blocked on a FIFO nobody reads any more: a reader that
	 * opens and closes it makes its write fail with EPIPE */
	int fd = open(f->fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0)
		close(fd);
	g_thread_join(f->thread);
	unlink(f->fifo);
	ok = f->error == NULL;
	if (!ok)
		g_propagate_error(error, f->error);
	g_bytes_unref(f->head);
	g_free(f->fifo);
	g_free(f->save_path);
	g_free(f);
	return ok;
}
