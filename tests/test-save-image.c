/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* libvirt's save file as daemon/virt/alk-restore.c reads it and writes a
 * clone's header: the format (libvirt 9.0's qemu_saveimage.h), hostile
 * headers refused, and the FIFO feed end to end on the host. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-restore.h"

static void put32(guint8 *p, guint32 v)
{
	for (guint i = 0; i < 4; i++)
		p[i] = (guint8)(v >> (8 * i));
}

/* A save file's head as libvirt writes it: padding after the cookie. */
static GByteArray *fake_head(guint32 version, guint32 format, const char *xml, const char *cookie,
                             guint32 pad)
{
	GByteArray *b = g_byte_array_new();
	guint8 h[ALK_RESTORE_HEADER_SIZE] = {0};
	guint32 xlen = (guint32)strlen(xml) + 1, clen = (guint32)strlen(cookie) + 1;

	memcpy(h, "LibvirtQemudSave", 16);
	put32(h + 16, version);
	put32(h + 20, xlen + clen + pad);
	put32(h + 24, 1);
	put32(h + 28, format);
	put32(h + 32, xlen);
	g_byte_array_append(b, h, sizeof(h));
	g_byte_array_append(b, (const guint8 *)xml, xlen);
	g_byte_array_append(b, (const guint8 *)cookie, clen);
	for (guint32 i = 0; i < pad; i++)
		g_byte_array_append(b, (const guint8 *)"", 1);
	return b;
}

START_TEST(test_parse_and_clone)
{
	g_autoptr(GByteArray) b = fake_head(2, 0, "<domain>t</domain>", "<cookie/>", 100);
	g_autoptr(GError) error = NULL;
	g_autoptr(AlkSaveImage) s = alk_save_image_parse(b->data, b->len, b->len + 5000, &error);
	g_autoptr(AlkSaveImage) c = NULL;
	g_autoptr(GBytes) head = NULL;
	gsize n;
	const guint8 *p;

	ck_assert_msg(s != NULL, "%s", error ? error->message : "?");
	ck_assert_str_eq(s->xml, "<domain>t</domain>");
	ck_assert_str_eq(s->cookie, "<cookie/>");
	ck_assert_uint_eq(s->stream_offset, b->len);
	ck_assert_uint_eq(s->stream_len, 5000);
	/* the clone's head: its XML, the same cookie, parsed back alike */
	head = alk_save_image_clone_head(s, "<domain>clone, longer than the template's</domain>",
	                                 &error);
	ck_assert(head != NULL);
	p = g_bytes_get_data(head, &n);
	c = alk_save_image_parse(p, n, n + 5000, &error);
	ck_assert_msg(c != NULL, "%s", error ? error->message : "?");
	ck_assert_str_eq(c->xml, "<domain>clone, longer than the template's</domain>");
	ck_assert_str_eq(c->cookie, "<cookie/>");
	ck_assert_uint_eq(c->stream_offset, n);
	ck_assert_uint_eq(c->was_running, 1);
}
END_TEST

START_TEST(test_hostile_heads)
{
	g_autoptr(GByteArray) v3 = fake_head(3, 0, "<d/>", "", 0);
	g_autoptr(GByteArray) gz = fake_head(2, 1, "<d/>", "", 0);
	g_autoptr(GByteArray) ok = fake_head(2, 0, "<d/>", "<c/>", 0);
	guint8 junk[ALK_RESTORE_HEADER_SIZE] = "NotLibvirtAtAll!";

	ck_assert(alk_save_image_parse(junk, sizeof(junk), 4096, NULL) == NULL);
	ck_assert(alk_save_image_parse(v3->data, v3->len, v3->len, NULL) == NULL);
	ck_assert(alk_save_image_parse(gz->data, gz->len, gz->len, NULL) == NULL);
	/* cut short: the data, or the file behind it */
	ck_assert(alk_save_image_parse(ok->data, ok->len - 1, ok->len, NULL) == NULL);
	ck_assert(alk_save_image_parse(ok->data, ok->len, ok->len - 1, NULL) == NULL);
	ck_assert(alk_save_image_parse(ok->data, 10, 10, NULL) == NULL);
	/* an XML without its NUL inside data_len */
	memset(ok->data + ALK_RESTORE_HEADER_SIZE, 'x', ok->len - ALK_RESTORE_HEADER_SIZE);
	ck_assert(alk_save_image_parse(ok->data, ok->len, ok->len, NULL) == NULL);
	/* a huge data_len */
	put32(ok->data + 20, 0xffffffffu);
	ck_assert(alk_save_image_parse(ok->data, ok->len, G_MAXUINT64, NULL) == NULL);
}
END_TEST

START_TEST(test_feed)
{
	g_autofree char *dir = g_dir_make_tmp("alk-feed-XXXXXX", NULL);
	g_autofree char *save = g_build_filename(dir, "memory.save", NULL);
	g_autofree char *fifo = g_build_filename(dir, "restore.fifo", NULL);
	g_autoptr(GByteArray) file = fake_head(2, 0, "<d/>", "<c/>", 10);
	g_autoptr(AlkSaveImage) s = NULL;
	g_autoptr(GBytes) head = NULL;
	g_autoptr(GByteArray) got = g_byte_array_new();
	g_autoptr(GError) error = NULL;
	guint8 buf[65536];
	guint8 stream[200000];
	AlkRestoreFeed *feed;
	gsize hlen;
	ssize_t n;
	int fd;

	for (gsize i = 0; i < sizeof(stream); i++)
		stream[i] = (guint8)(i * 31);
	g_byte_array_append(file, stream, sizeof(stream));
	ck_assert(g_file_set_contents(save, (const char *)file->data, file->len, NULL));
	s = alk_save_image_read(save, &error);
	ck_assert_msg(s != NULL, "%s", error ? error->message : "?");
	head = alk_save_image_clone_head(s, "<clone/>", &error);
	feed = alk_restore_feed_start(fifo, head, save, s->stream_offset, s->stream_len, &error);
	ck_assert_msg(feed != NULL, "%s", error ? error->message : "?");
	/* the reader (libvirtd's part): the clone's head, then the stream */
	fd = open(fifo, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		g_byte_array_append(got, buf, (guint)n);
	close(fd);
	ck_assert(alk_restore_feed_finish(feed, &error));
	g_bytes_get_data(head, &hlen);
	ck_assert_uint_eq(got->len, hlen + sizeof(stream));
	ck_assert(memcmp(got->data, g_bytes_get_data(head, NULL), hlen) == 0);
	ck_assert(memcmp(got->data + hlen, stream, sizeof(stream)) == 0);
	ck_assert(!g_file_test(fifo, G_FILE_TEST_EXISTS));
	/* a reader that never comes: the feed gives up when told, no hang */
	feed = alk_restore_feed_start(fifo, head, save, s->stream_offset, s->stream_len, &error);
	ck_assert(feed != NULL);
	ck_assert(!alk_restore_feed_finish(feed, &error));
	ck_assert(error != NULL);
	g_unlink(save);
	g_rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("save-image");
	TCase *tc = tcase_create("format");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_parse_and_clone);
	tcase_add_test(tc, test_hostile_heads);
	tcase_add_test(tc, test_feed);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
