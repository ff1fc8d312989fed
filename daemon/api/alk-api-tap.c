/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The input side of a client connection as libsoup sees it: the socket's
 * stream passed through unchanged, except that the first line (the
 * request line, the only one: one request per connection) is kept, since
 * libsoup keeps only the normalised URI. Pollable, as libsoup requires.
 * Closing it (libsoup ending the connection) is reported. With limits set,
 * a request line or head longer than them is cut: reported, and libsoup
 * reads an end of stream from then on (it would take 64 KiB and then drop
 * the connection without a word). */
#include <string.h>

#include "alk-api-private.h"

/* Request lines longer than this are cut; libsoup refuses heads over 64 KiB. */
#define LINE_MAX_BYTES (64 * 1024)

#define ALK_TYPE_API_TAP (alk_api_tap_get_type())
G_DECLARE_FINAL_TYPE(AlkApiTap, alk_api_tap, ALK, API_TAP, GFilterInputStream)

struct _AlkApiTap {
	GFilterInputStream parent;
	GString *line;
	gboolean complete;
	void (*closed)(gpointer data);
	gpointer data;
	/* the head's bounds (0: none), and who hears when one is passed */
	gsize line_max;
	gsize head_max;
	void (*cut)(gpointer data, guint status);
	gsize head_bytes;
	guint line_ends; /* in a row, CRs aside: the second ends the head */
	gboolean head_done;
	gboolean was_cut;
};

static void pollable_init(GPollableInputStreamInterface *iface);

G_DEFINE_TYPE_WITH_CODE(AlkApiTap, alk_api_tap, G_TYPE_FILTER_INPUT_STREAM,
                        G_IMPLEMENT_INTERFACE(G_TYPE_POLLABLE_INPUT_STREAM, pollable_init))

static GInputStream *base_of(gpointer self)
{
	return g_filter_input_stream_get_base_stream(G_FILTER_INPUT_STREAM(self));
}

static void record(AlkApiTap *self, const void *buf, gssize n)
{
	const char *nl;
	gsize take;

	if (n <= 0 || self->complete)
		return;
	nl = memchr(buf, '\n', (gsize)n);
	take = MIN(nl != NULL ? (gsize)(nl - (const char *)buf) : (gsize)n,
	           LINE_MAX_BYTES - self->line->len);
	g_string_append_len(self->line, buf, (gssize)take);
	self->complete = nl != NULL || self->line->len >= LINE_MAX_BYTES;
	if (self->complete && self->line->len > 0 && self->line->str[self->line->len - 1] == '\r')
		g_string_truncate(self->line, self->line->len - 1);
}

/* Counts the head's bytes up to its blank line; a status when a bound is
 * passed (414: the request line, 431: the head), else 0. */
static guint measure(AlkApiTap *self, const guint8 *buf, gssize n)
{
	for (gssize i = 0; i < n && !self->head_done; i++) {
		self->head_bytes++;
		if (buf[i] == '\n')
			self->head_done = ++self->line_ends == 2;
		else if (buf[i] != '\r')
			self->line_ends = 0;
	}
	if (self->line_max > 0 && self->line->len > self->line_max)
		return 414;
	if (self->head_max > 0 && !self->head_done && self->head_bytes > self->head_max)
		return 431;
	return 0;
}

/* What libsoup gets of n bytes read: all of them, or an end of stream
 * once the head is cut. */
static gssize pass(AlkApiTap *self, const void *buf, gssize n)
{
	guint status;

	record(self, buf, n);
	if (n <= 0 || self->was_cut || (status = measure(self, buf, n)) == 0)
		return self->was_cut ? 0 : n;
	self->was_cut = TRUE;
	self->complete = TRUE;
	if (self->cut != NULL)
		self->cut(self->data, status);
	return 0;
}

static gssize tap_read(GInputStream *stream, void *buf, gsize count, GCancellable *cancellable,
                       GError **error)
{
	gssize n;

	if (ALK_API_TAP(stream)->was_cut)
		return 0;
	n = g_input_stream_read(base_of(stream), buf, count, cancellable, error);
	return pass(ALK_API_TAP(stream), buf, n);
}

static gboolean tap_close(GInputStream *stream, GCancellable *cancellable, GError **error)
{
	AlkApiTap *self = ALK_API_TAP(stream);
	gboolean ok =
	    G_INPUT_STREAM_CLASS(alk_api_tap_parent_class)->close_fn(stream, cancellable, error);
	void (*closed)(gpointer) = self->closed;

	self->closed = NULL;
	if (closed != NULL)
		closed(self->data);
	return ok;
}

static gboolean tap_can_poll(GPollableInputStream *stream)
{
	return g_pollable_input_stream_can_poll(G_POLLABLE_INPUT_STREAM(base_of(stream)));
}

static gboolean tap_is_readable(GPollableInputStream *stream)
{
	return ALK_API_TAP(stream)->was_cut ||
	       g_pollable_input_stream_is_readable(G_POLLABLE_INPUT_STREAM(base_of(stream)));
}

static GSource *tap_create_source(GPollableInputStream *stream, GCancellable *cancellable)
{
	g_autoptr(GSource) base =
	    g_pollable_input_stream_create_source(G_POLLABLE_INPUT_STREAM(base_of(stream)), NULL);
	return g_pollable_source_new_full(stream, base, cancellable);
}

static gssize tap_read_nonblocking(GPollableInputStream *stream, void *buf, gsize count,
                                   GError **error)
{
	gssize n;

	if (ALK_API_TAP(stream)->was_cut)
		return 0;
	n = g_pollable_input_stream_read_nonblocking(G_POLLABLE_INPUT_STREAM(base_of(stream)), buf,
	                                             count, NULL, error);
	return pass(ALK_API_TAP(stream), buf, n);
}

static void pollable_init(GPollableInputStreamInterface *iface)
{
	iface->can_poll = tap_can_poll;
	iface->is_readable = tap_is_readable;
	iface->create_source = tap_create_source;
	iface->read_nonblocking = tap_read_nonblocking;
}

static void alk_api_tap_finalize(GObject *object)
{
	AlkApiTap *self = ALK_API_TAP(object);
	g_string_free(self->line, TRUE);
	G_OBJECT_CLASS(alk_api_tap_parent_class)->finalize(object);
}

static void alk_api_tap_class_init(AlkApiTapClass *klass)
{
	GObjectClass *object_class = G_OBJECT_CLASS(klass);
	GInputStreamClass *stream_class = G_INPUT_STREAM_CLASS(klass);

	object_class->finalize = alk_api_tap_finalize;
	stream_class->read_fn = tap_read;
	stream_class->close_fn = tap_close;
}

static void alk_api_tap_init(AlkApiTap *self)
{
	self->line = g_string_new(NULL);
}

GInputStream *alk_api_tap_new(GInputStream *base, void (*closed)(gpointer), gpointer data)
{
	AlkApiTap *self = g_object_new(ALK_TYPE_API_TAP, "base-stream", base, NULL);
	self->closed = closed;
	self->data = data;
	return G_INPUT_STREAM(self);
}

void alk_api_tap_limit(GInputStream *tap, gsize line_max, gsize head_max,
                       void (*cut)(gpointer data, guint status))
{
	AlkApiTap *self = ALK_API_TAP(tap);
	self->line_max = line_max;
	self->head_max = head_max;
	self->cut = cut;
}

const char *alk_api_tap_line(GInputStream *tap)
{
	AlkApiTap *self = ALK_API_TAP(tap);
	return self->complete ? self->line->str : NULL;
}

void alk_api_tap_forget(GInputStream *tap)
{
	ALK_API_TAP(tap)->closed = NULL;
}
