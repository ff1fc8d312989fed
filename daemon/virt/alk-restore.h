/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Boot once, restore many: a template's memory saved by libvirt
 * (virDomainSaveFlags) is restored into any number of clones, each under its
 * own name, UUID and paths.
 *
 * Why our own code: libvirt's restore takes the domain's XML from the save
 * file, or a replacement (dxml) that must pass its ABI check, and that check
 * refuses any UUID other than the saved one ("Target domain uuid ... does
 * not match source"), while a second live domain with the saved UUID is
 * refused too. So each clone is restored from a save file of its own: a
 * FIFO in its state dir, into which a thread writes a header and XML of the
 * clone's and then the template's QEMU stream, spliced from the shared file
 * (no copy of hundreds of MB on disk). libvirt reads the header and XML,
 * starts QEMU with -incoming and hands it the FIFO; the restore returns once
 * QEMU has read the whole stream.
 *
 * The save file format (libvirt 9.0, src/qemu/qemu_saveimage.h): a 92-byte
 * header, "LibvirtQemudSave", then little-endian u32s version (2), data_len,
 * was_running, format (0: raw), cookieOffset and 14 unused; then data_len
 * bytes: the domain XML and its NUL, at cookieOffset the cookie (libvirt's
 * own XML: the guest CPU and so on) and its NUL, then padding; then QEMU's
 * migration stream to the end of the file. */
#pragma once

#include <glib.h>

#define ALK_RESTORE_HEADER_SIZE 92

typedef struct {
	guint32 version;
	guint32 data_len;
	guint32 was_running;
	guint32 format;
	char *xml;    /* the saved domain XML */
	char *cookie; /* libvirt's cookie, "" when there is none */
	guint64 stream_offset;
	guint64 stream_len;
} AlkSaveImage;

void alk_save_image_free(AlkSaveImage *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkSaveImage, alk_save_image_free)

/* Parses a save file's header and data (pure: the bytes of its first
 * data_len + 92 bytes, and the file's size). Errors: INVALID (not a raw
 * libvirt save image of version 2, or truncated). */
AlkSaveImage *alk_save_image_parse(const guint8 *head, gsize len, guint64 file_size,
                                   GError **error);
/* Reads and parses the save file at path. Errors: IO, INVALID. */
AlkSaveImage *alk_save_image_read(const char *path, GError **error);

/* The header and data of a clone: s's, with xml in place of the saved XML.
 * Errors: INVALID (xml too large for a u32 length). */
GBytes *alk_save_image_clone_head(const AlkSaveImage *s, const char *xml, GError **error);

typedef struct AlkRestoreFeed AlkRestoreFeed;
/* Makes the FIFO fifo_path (0600) and starts a thread that writes head and
 * then save_path's stream into it as soon as a reader opens it. Errors: IO. */
AlkRestoreFeed *alk_restore_feed_start(const char *fifo_path, GBytes *head, const char *save_path,
                                       guint64 stream_offset, guint64 stream_len, GError **error);
/* The reader is done (the restore returned, either way): waits for the
 * thread, removes the FIFO; FALSE with the writer's error when it did not
 * write everything. NULL-safe. */
gboolean alk_restore_feed_finish(AlkRestoreFeed *feed, GError **error);
