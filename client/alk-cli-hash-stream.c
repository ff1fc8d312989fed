/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-cli-hash-stream.h"

struct _AlkCliHashStream {
	GFilterInputStream parent;
	GChecksum *sum;
	guint64 count;
	guint64 limit;
};

G_DEFINE_TYPE(AlkCliHashStream, alk_cli_hash_stream, G_TYPE_FILTER_INPUT_STREAM)

/* GInputStream's default async read runs this in a worker thread, one
 * read at a time; the caller reads the results after the last one. */
static gssize hash_read(GInputStream *stream, void *buffer, gsize count, GCancellable *cancellable,
                        GError **error)
{
	AlkCliHashStream *self = ALK_CLI_HASH_STREAM(stream);
	GInputStream *base = g_filter_input_stream_get_base_stream(G_FILTER_INPUT_STREAM(stream));
	gssize n = 0;

	if (self->count >= self->limit)
		return 0;
	count = MIN(count, self->limit - self->count);
	n = g_input_stream_read(base, buffer, count, cancellable, error);
	if (n > 0) {
		g_checksum_update(self->sum, buffer, n);
		self->count += (guint64)n;
	}
	return n;
}

static void hash_finalize(GObject *object)
{
	AlkCliHashStream *self = ALK_CLI_HASH_STREAM(object);

	g_checksum_free(self->sum);
	G_OBJECT_CLASS(alk_cli_hash_stream_parent_class)->finalize(object);
}

static void alk_cli_hash_stream_class_init(AlkCliHashStreamClass *klass)
{
	G_OBJECT_CLASS(klass)->finalize = hash_finalize;
	G_INPUT_STREAM_CLASS(klass)->read_fn = hash_read;
}

static void alk_cli_hash_stream_init(AlkCliHashStream *self)
{
	self->sum = g_checksum_new(G_CHECKSUM_SHA256);
}

GInputStream *alk_cli_hash_stream_new(GInputStream *base, guint64 limit)
{
	AlkCliHashStream *self = g_object_new(ALK_TYPE_CLI_HASH_STREAM, "base-stream", base, NULL);

	self->limit = limit;
	return G_INPUT_STREAM(self);
}

guint64 alk_cli_hash_stream_get_count(AlkCliHashStream *self)
{
	return self->count;
}

char *alk_cli_hash_stream_get_sha256(AlkCliHashStream *self)
{
	return g_strdup(g_checksum_get_string(self->sum));
}
