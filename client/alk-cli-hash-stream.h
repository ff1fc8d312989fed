/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* An input stream that passes at most limit bytes of its base stream
 * through and hashes them (SHA-256), so an upload is checked against the
 * checksum the daemon reports without reading the file twice. */
#pragma once

#include <gio/gio.h>

#define ALK_TYPE_CLI_HASH_STREAM (alk_cli_hash_stream_get_type())
G_DECLARE_FINAL_TYPE(AlkCliHashStream, alk_cli_hash_stream, ALK, CLI_HASH_STREAM,
                     GFilterInputStream)

/* Takes a reference to base. */
GInputStream *alk_cli_hash_stream_new(GInputStream *base, guint64 limit);
/* Bytes passed through so far. Read it once the stream is done with. */
guint64 alk_cli_hash_stream_get_count(AlkCliHashStream *self);
/* Hex SHA-256 of what passed through; call once reading ended. */
char *alk_cli_hash_stream_get_sha256(AlkCliHashStream *self);
