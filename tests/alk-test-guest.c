/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-guest.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <poll.h>
#include <pwd.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "alk-domain-xml.h"
#include "alk-error.h"

#define GARBAGE_LIMIT (1024 * 1024)
#define STATE_DIR "/var/lib/airlock-test"

struct AlkTestGuest {
	virConnectPtr conn;
	virDomainPtr dom;
	char *name;
	char *dir;
	char *overlay;
	char *sock;
	char *console;
	int fd;
	guint qemu_uid, qemu_gid;
	AlkDecoder *dec;
	guint32 next_id;
	guint32 sync_id;
	gboolean have_hello;
	AlkMsgHello hello;
	char agent_version[64];
	guint8 frame[ALK_PROTO_MAX_FRAME];
	guint8 in[65536];
	gsize in_off, in_len;
};

static pid_t owner_pid(void)
{
	const char *env = g_getenv("ALK_TEST_OWNER");
	return env != NULL ? (pid_t)g_ascii_strtoll(env, NULL, 10) : getpid();
}

const char *alk_test_image_dir(void)
{
	const char *env = g_getenv("ALK_IMAGE_DIR");
	return env != NULL ? env : "/var/lib/airlock/images";
}

static char *template_dir(void)
{
	const char *env = g_getenv("ALK_TEMPLATE_DIR");
	return g_strdup(env != NULL ? env : ALK_SOURCE_DIR "/xml-templates");
}

static gboolean run_cmd(const char *const *argv, GError **error)
{
	g_autofree char *err = NULL;
	int status = 0;
	if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &err,
	                  &status, error))
		return FALSE;
	if (!g_spawn_check_wait_status(status, error)) {
		g_prefix_error(error, "%s: %s", argv[0], err != NULL ? g_strstrip(err) : "");
		return FALSE;
	}
	return TRUE;
}

static gboolean make_dir(AlkTestGuest *g, GError **error)
{
	struct passwd *qemu = getpwnam("libvirt-qemu");
	if (g_mkdir_with_parents(STATE_DIR, 0755) < 0 || g_mkdir(g->dir, 0750) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "mkdir %s: %s", g->dir,
		            g_strerror(errno));
		return FALSE;
	}
	/* QEMU binds the agent socket here, as the unprivileged QEMU user */
	if (qemu != NULL && chown(g->dir, qemu->pw_uid, qemu->pw_gid) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "chown %s: %s", g->dir,
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

static gboolean make_overlay(AlkTestGuest *g, const char *base, guint64 disk_mib, GError **error)
{
	g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT "M", disk_mib);
	const char *argv[] = {"qemu-img", "create", "-q", "-f",       "qcow2", "-F",
	                      "qcow2",    "-b",     base, g->overlay, size,    NULL};
	struct passwd *qemu = getpwnam("libvirt-qemu");
	if (!run_cmd(argv, error))
		return FALSE;
	/* the domain template turns relabelling off: QEMU's user must own it */
	if (qemu == NULL || chown(g->overlay, qemu->pw_uid, qemu->pw_gid) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "chown %s: %s", g->overlay,
		            g_strerror(errno));
		return FALSE;
	}
	g->qemu_uid = qemu->pw_uid;
	g->qemu_gid = qemu->pw_gid;
	return TRUE;
}

typedef struct {
	char *kernel, *initrd, *rootfs, *cmdline;
} ImageInfo;

static void image_info_clear(ImageInfo *i)
{
	g_free(i->kernel);
	g_free(i->initrd);
	g_free(i->rootfs);
	g_free(i->cmdline);
}

/* Minimal image.json reader for the harness (the daemon has the real one). */
static gboolean image_info_load(const char *image, ImageInfo *info, GError **error)
{
	/* the current build's own directory (images/airlock-image's layout), so that a
	 * rebuild under a running guest leaves its backing file alone */
	g_autofree char *current = g_build_filename(alk_test_image_dir(), image, "current", NULL);
	g_autofree char *dir = realpath(current, NULL);
	if (dir == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s: %s", current, g_strerror(errno));
		return FALSE;
	}
	g_autofree char *json = g_build_filename(dir, "image.json", NULL);
	g_autofree char *text = NULL;
	g_autoptr(GRegex) re = g_regex_new("\"cmdline\"\\s*:\\s*\"([^\"]*)\"", 0, 0, NULL);
	g_autoptr(GRegex) kre = g_regex_new("\"kernel\"\\s*:\\s*\"([a-z.]+)\"", 0, 0, NULL);
	g_autofree char *kernel = NULL;
	g_autoptr(GMatchInfo) m = NULL;

	if (!g_file_get_contents(json, &text, NULL, error))
		return FALSE;
	if (!g_regex_match(re, text, 0, &m)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s: no cmdline", json);
		return FALSE;
	}
	info->cmdline = g_match_info_fetch(m, 1);
	g_clear_pointer(&m, g_match_info_free);
	/* vmlinux (the PVH ELF) or vmlinuz, as its build wrote it */
	if (!g_regex_match(kre, text, 0, &m)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s: no kernel", json);
		return FALSE;
	}
	kernel = g_match_info_fetch(m, 1);
	info->kernel = g_build_filename(dir, kernel, NULL);
	info->initrd = g_build_filename(dir, "initrd.img", NULL);
	info->rootfs = g_build_filename(dir, "rootfs.qcow2", NULL);
	return TRUE;
}

static gboolean start_domain(AlkTestGuest *g, const ImageInfo *img, guint memory_mib, guint vcpus,
                             GError **error)
{
	g_autofree char *tdir = template_dir();
	AlkDomainSpec spec = {
	    .name = g->name,
	    .virt_type = "qemu",
	    .vcpus = vcpus,
	    .memory_mib = memory_mib,
	    .hard_limit_mib = 0, /* needs CAP_SYS_RESOURCE, see alk-domain-xml.h */
	    .kernel = img->kernel,
	    .initrd = img->initrd,
	    .cmdline = img->cmdline,
	    .overlay = g->overlay,
	    .base = img->rootfs,
	    .console_log = g->console,
	    .agent_socket = g->sock,
	    .record = "{\"test\":true}",
	    .qemu_uid = g->qemu_uid,
	    .qemu_gid = g->qemu_gid,
	};
	g_autofree char *xml = alk_domain_xml_render(tdir, &spec, error);
	if (xml == NULL)
		return FALSE;
	g->dom = virDomainCreateXML(g->conn, xml, 0);
	if (g->dom == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "virDomainCreateXML: %s",
		            virGetLastErrorMessage());
		return FALSE;
	}
	return TRUE;
}

static void quiet_libvirt(void *opaque, virErrorPtr err)
{
}

AlkTestGuest *alk_test_guest_create(const char *image, guint memory_mib, guint vcpus,
                                    guint64 disk_mib, GError **error)
{
	static guint counter;
	g_autoptr(AlkTestGuest) g = g_new0(AlkTestGuest, 1);
	ImageInfo img = {0};
	gboolean ok;

	g->fd = -1;
	g->next_id = 1;
	g->dec = g_new(AlkDecoder, 1);
	alk_decoder_init(g->dec);
	g->name =
	    g_strdup_printf(ALK_TEST_DOMAIN_PREFIX "%d-%d-%u", owner_pid(), getpid(), counter++);
	g->dir = g_strdup_printf(STATE_DIR "/%s", g->name + strlen("airlock-"));
	g->overlay = g_build_filename(g->dir, "overlay.qcow2", NULL);
	g->sock = g_build_filename(g->dir, "agent.sock", NULL);
	g->console = g_build_filename(g->dir, "console.log", NULL);
	virSetErrorFunc(NULL, quiet_libvirt);
	g->conn = virConnectOpen(g_getenv("ALK_LIBVIRT_URI") ?: "qemu:///system");
	if (g->conn == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "libvirt: %s",
		            virGetLastErrorMessage());
		return NULL;
	}
	ok = image_info_load(image, &img, error) && make_dir(g, error) &&
	     make_overlay(g, img.rootfs, disk_mib ? disk_mib : 1024, error) &&
	     start_domain(g, &img, memory_mib ? memory_mib : 256, vcpus ? vcpus : 1, error);
	image_info_clear(&img);
	return ok ? g_steal_pointer(&g) : NULL;
}

static gboolean deadline_passed(gint64 deadline_us, const char *what, GError **error)
{
	if (g_get_monotonic_time() < deadline_us)
		return FALSE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_TIMEOUT, "timed out %s", what);
	return TRUE;
}

static int remaining_ms(gint64 deadline_us)
{
	gint64 left = deadline_us - g_get_monotonic_time();
	return left <= 0 ? 0 : (int)MIN(left / 1000 + 1, 1000);
}

gboolean alk_test_guest_connect(AlkTestGuest *g, gint64 deadline_us, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	g_strlcpy(addr.sun_path, g->sock, sizeof(addr.sun_path));
	for (;;) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
			g->fd = fd;
			g->in_off = g->in_len = 0;
			alk_decoder_reset(g->dec);
			return TRUE;
		}
		if (fd >= 0)
			close(fd);
		/* QEMU creates the socket shortly after the domain starts */
		if (deadline_passed(deadline_us, "connecting to the agent socket", error))
			return FALSE;
		g_usleep(20000);
	}
}

void alk_test_guest_disconnect(AlkTestGuest *g)
{
	if (g->fd >= 0)
		close(g->fd);
	g->fd = -1;
}

gboolean alk_test_guest_send(AlkTestGuest *g, const void *buf, gsize len, gint64 deadline_us,
                             GError **error)
{
	const guint8 *p = buf;
	while (len > 0) {
		ssize_t n = write(g->fd, p, len);
		if (n > 0) {
			p += n;
			len -= n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "send: %s", g_strerror(errno));
			return FALSE;
		}
		struct pollfd pfd = {.fd = g->fd, .events = POLLOUT};
		if (deadline_passed(deadline_us, "sending to the agent", error))
			return FALSE;
		poll(&pfd, 1, remaining_ms(deadline_us));
	}
	return TRUE;
}

/* Reads once from the socket into the input buffer; FALSE on EOF/error. */
static gboolean fill(AlkTestGuest *g, gint64 deadline_us, GError **error)
{
	struct pollfd pfd = {.fd = g->fd, .events = POLLIN};
	if (poll(&pfd, 1, remaining_ms(deadline_us)) <= 0)
		return !deadline_passed(deadline_us, "waiting for the agent", error);
	ssize_t n = read(g->fd, g->in, sizeof(g->in));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "agent socket closed: %s",
		            n == 0 ? "EOF" : g_strerror(errno));
		return FALSE;
	}
	g->in_off = 0;
	g->in_len = n > 0 ? (gsize)n : 0;
	return TRUE;
}

static gboolean is_stale(AlkTestGuest *g, const AlkFrameHeader *h)
{
	return h->id != 0 && h->id < g->sync_id;
}

gboolean alk_test_guest_recv(AlkTestGuest *g, AlkFrameHeader *h, GBytes **payload,
                             gint64 deadline_us, GError **error)
{
	for (;;) {
		if (alk_decoder_ready(g->dec)) {
			const guint8 *p = alk_decoder_frame(g->dec, h);
			gboolean stale = is_stale(g, h);
			if (!stale && payload != NULL)
				*payload = g_bytes_new(p, h->len);
			alk_decoder_consume(g->dec);
			if (!stale)
				return TRUE;
			continue;
		}
		if (g->in_off < g->in_len) {
			g->in_off +=
			    alk_decoder_feed(g->dec, g->in + g->in_off, g->in_len - g->in_off);
			continue;
		}
		if (!fill(g, deadline_us, error))
			return FALSE;
	}
}

static gboolean garbage_check(AlkTestGuest *g, GError **error)
{
	if (g->dec->skipped <= GARBAGE_LIMIT)
		return TRUE;
	g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL,
	            "agent channel: %" G_GUINT64_FORMAT
	            " bytes from the guest were not protocol frames (last: %s); "
	            "is something other than airlock-agent holding the port?",
	            g->dec->skipped, alk_proto_strerror(g->dec->last_error));
	return FALSE;
}

static gboolean take_hello(AlkTestGuest *g, GBytes *payload, GError **error)
{
	gsize n;
	const guint8 *p = g_bytes_get_data(payload, &n);
	AlkMsgHello m;
	int rc = alk_msg_hello_decode(p, n, &m);
	if (rc < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "bad HELLO: %s",
		            alk_proto_strerror(rc));
		return FALSE;
	}
	g_strlcpy(g->agent_version, m.agent_version ? m.agent_version : "",
	          sizeof(g->agent_version));
	g->hello = m;
	g->hello.agent_version = g->agent_version;
	g->have_hello = TRUE;
	return TRUE;
}

/* Receives with a short slice so the garbage check runs while a flooder
 * keeps the socket busy. */
static gboolean recv_checked(AlkTestGuest *g, AlkFrameHeader *h, GBytes **payload,
                             gint64 deadline_us, GError **error)
{
	for (;;) {
		g_autoptr(GError) local = NULL;
		gint64 slice = MIN(deadline_us, g_get_monotonic_time() + 200000);
		if (!garbage_check(g, error))
			return FALSE;
		if (alk_test_guest_recv(g, h, payload, slice, &local))
			return TRUE;
		if (!g_error_matches(local, ALK_ERROR, ALK_ERROR_TIMEOUT) ||
		    g_get_monotonic_time() >= deadline_us) {
			g_propagate_error(error, g_steal_pointer(&local));
			return FALSE;
		}
	}
}

gboolean alk_test_guest_sync(AlkTestGuest *g, gint64 deadline_us, GError **error)
{
	guint64 nonce = g_random_int() | ((guint64)g_random_int() << 32);
	AlkMsgSync m = {.nonce = nonce};
	guint32 id = g->next_id++;
	long n = alk_msg_sync_encode(g->frame, sizeof(g->frame), ALK_MSG_SYNC, id, &m);

	g_assert(n > 0);
	if (!alk_test_guest_send(g, g->frame, n, deadline_us, error))
		return FALSE;
	g->sync_id = id;
	for (;;) {
		AlkFrameHeader h;
		g_autoptr(GBytes) payload = NULL;
		AlkMsgSync ack;
		gsize len;
		if (!recv_checked(g, &h, &payload, deadline_us, error))
			return FALSE;
		if (h.type == ALK_MSG_HELLO && !take_hello(g, payload, error))
			return FALSE;
		if (h.type != ALK_MSG_SYNC_ACK)
			continue;
		const guint8 *p = g_bytes_get_data(payload, &len);
		if (alk_msg_sync_decode(p, len, &ack) == 0 && ack.nonce == nonce && h.id == id)
			return TRUE;
	}
}

gboolean alk_test_guest_handshake(AlkTestGuest *g, gint64 deadline_us, GError **error)
{
	while (!g->have_hello) {
		AlkFrameHeader h;
		g_autoptr(GBytes) payload = NULL;
		if (!recv_checked(g, &h, &payload, deadline_us, error)) {
			g_prefix_error(error, "waiting for HELLO: ");
			return FALSE;
		}
		if (h.type == ALK_MSG_HELLO && !take_hello(g, payload, error))
			return FALSE;
	}
	return alk_test_guest_sync(g, deadline_us, error);
}

AlkTestGuest *alk_test_guest_boot(const char *image, GError **error)
{
	gint64 deadline = g_get_monotonic_time() + 120 * G_USEC_PER_SEC;
	g_autoptr(AlkTestGuest) g = alk_test_guest_create(image, 0, 0, 0, error);
	if (g == NULL || !alk_test_guest_connect(g, deadline, error) ||
	    !alk_test_guest_handshake(g, deadline, error))
		return NULL;
	return g_steal_pointer(&g);
}

int alk_test_guest_fd(AlkTestGuest *g)
{
	return g->fd;
}

const AlkMsgHello *alk_test_guest_hello(AlkTestGuest *g)
{
	return g->have_hello ? &g->hello : NULL;
}

guint64 alk_test_guest_garbage(AlkTestGuest *g)
{
	return g->dec->skipped;
}

guint32 alk_test_guest_next_id(AlkTestGuest *g)
{
	return g->next_id++;
}

/* One frame if one can be had without blocking: 1, 0 (none yet), -1. */
static int poll_frame(AlkTestGuest *g, AlkFrameHeader *h, GBytes **payload, GError **error)
{
	for (;;) {
		if (alk_decoder_ready(g->dec) || g->in_off < g->in_len) {
			if (alk_test_guest_recv(g, h, payload, G_MAXINT64, error))
				return 1;
			return -1;
		}
		ssize_t n = read(g->fd, g->in, sizeof(g->in));
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n <= 0) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "agent socket closed: %s",
			            n == 0 ? "EOF" : g_strerror(errno));
			return -1;
		}
		g->in_off = 0;
		g->in_len = n;
	}
}

static gboolean guest_error(GBytes *payload, GError **error)
{
	gsize n;
	const guint8 *p = g_bytes_get_data(payload, &n);
	AlkMsgError e;
	if (alk_msg_error_decode(p, n, &e) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "malformed ERROR");
		return FALSE;
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_GUEST, "agent error %u (errno %u): %s", e.code,
	            e.errnum, e.message ? e.message : "");
	return FALSE;
}

typedef struct {
	GBytes *data;
	gsize sent, acked;
	gboolean eof_sent;
	GByteArray *pending; /* encoded frames not yet written */
	gsize pending_off;
} StdinFeed;

static void stdin_queue(AlkTestGuest *g, guint32 id, StdinFeed *f)
{
	gsize len = f->data ? g_bytes_get_size(f->data) : 0;
	if (f->data == NULL || f->pending_off < f->pending->len)
		return;
	g_byte_array_set_size(f->pending, 0);
	f->pending_off = 0;
	if (f->sent < len && f->sent - f->acked < ALK_PROTO_STDIN_WINDOW) {
		gsize room = ALK_PROTO_STDIN_WINDOW - (f->sent - f->acked);
		gsize chunk = MIN(MIN(len - f->sent, (gsize)ALK_PROTO_MAX_CHUNK), room);
		const guint8 *p = g_bytes_get_data(f->data, NULL);
		long n = alk_msg_data_encode(g->frame, sizeof(g->frame), ALK_MSG_STDIN, id,
		                             p + f->sent, chunk);
		g_byte_array_append(f->pending, g->frame, n);
		f->sent += chunk;
	} else if (f->sent == len && !f->eof_sent) {
		long n = alk_msg_empty_encode(g->frame, sizeof(g->frame), ALK_MSG_STDIN_EOF, id);
		g_byte_array_append(f->pending, g->frame, n);
		f->eof_sent = TRUE;
	}
}

static gboolean stdin_write(AlkTestGuest *g, StdinFeed *f, GError **error)
{
	if (f->pending == NULL || f->pending_off >= f->pending->len)
		return TRUE;
	ssize_t n =
	    write(g->fd, f->pending->data + f->pending_off, f->pending->len - f->pending_off);
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "send stdin: %s", g_strerror(errno));
		return FALSE;
	}
	f->pending_off += MAX(n, 0);
	return TRUE;
}

/* Handles one frame of exec id; TRUE with *done when EXIT arrived. */
static gboolean exec_frame(const AlkFrameHeader *h, GBytes *payload, AlkTestExec *r, StdinFeed *f,
                           gboolean *done, GError **error)
{
	gsize n;
	const guint8 *p = g_bytes_get_data(payload, &n);
	AlkMsgData d;
	AlkMsgAck ack;
	AlkMsgStarted st;
	AlkMsgExit ex;

	switch (h->type) {
	case ALK_MSG_STARTED:
		if (alk_msg_started_decode(p, n, &st) == 0)
			r->pid = st.pid;
		return TRUE;
	case ALK_MSG_STDOUT:
	case ALK_MSG_STDERR:
		if (alk_msg_data_decode(p, n, &d) < 0)
			break;
		if (h->type == ALK_MSG_STDOUT && r->first_out_us == 0)
			r->first_out_us = g_get_monotonic_time();
		g_byte_array_append(h->type == ALK_MSG_STDOUT ? r->out : r->err, d.data.data,
		                    d.data.len);
		return TRUE;
	case ALK_MSG_STDIN_ACK:
		if (alk_msg_ack_decode(p, n, &ack) == 0)
			f->acked = ack.bytes;
		return TRUE;
	case ALK_MSG_EXIT:
		if (alk_msg_exit_decode(p, n, &ex) < 0)
			break;
		r->exit_us = g_get_monotonic_time();
		r->exit_code = ex.exit_code;
		r->signo = ex.signo;
		r->timed_out = ex.timed_out;
		r->truncated = ex.truncated;
		r->max_rss_kib = ex.max_rss_kib;
		r->stdout_bytes = ex.stdout_bytes;
		r->duration_ms = ex.duration_ms;
		*done = TRUE;
		return TRUE;
	case ALK_MSG_ERROR:
		return guest_error(payload, error);
	default:
		return TRUE;
	}
	g_set_error(error, ALK_ERROR, ALK_ERROR_PROTOCOL, "malformed %s",
	            alk_proto_type_name(h->type));
	return FALSE;
}

static gboolean exec_send(AlkTestGuest *g, guint32 id, const char *const *argv, gboolean with_stdin,
                          guint32 timeout_ms, guint64 cap, gint64 deadline_us, GError **error)
{
	AlkMsgExec m = {0};
	for (m.argc = 0; argv[m.argc] != NULL && m.argc < ALK_PROTO_MAX_ARGS; m.argc++)
		m.argv[m.argc] = argv[m.argc];
	m.timeout_ms = timeout_ms;
	m.output_cap = cap;
	m.stdin_mode = with_stdin ? ALK_STDIN_PIPE : ALK_STDIN_NULL;
	long n = alk_msg_exec_encode(g->frame, sizeof(g->frame), id, &m);
	if (n < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "encode EXEC: %s",
		            alk_proto_strerror((int)n));
		return FALSE;
	}
	return alk_test_guest_send(g, g->frame, n, deadline_us, error);
}

static gboolean exec_loop(AlkTestGuest *g, guint32 id, AlkTestExec *r, StdinFeed *f,
                          gint64 deadline_us, GError **error)
{
	gboolean done = FALSE;
	while (!done) {
		AlkFrameHeader h;
		g_autoptr(GBytes) payload = NULL;
		int got;
		stdin_queue(g, id, f);
		if (!stdin_write(g, f, error))
			return FALSE;
		got = poll_frame(g, &h, &payload, error);
		if (got < 0)
			return FALSE;
		if (got == 1) {
			if (h.id == id && !exec_frame(&h, payload, r, f, &done, error))
				return FALSE;
			continue;
		}
		gboolean want_out = f->pending && f->pending_off < f->pending->len;
		struct pollfd pfd = {.fd = g->fd, .events = POLLIN | (want_out ? POLLOUT : 0)};
		if (deadline_passed(deadline_us, "waiting for EXIT", error))
			return FALSE;
		poll(&pfd, 1, remaining_ms(deadline_us));
	}
	return TRUE;
}

gboolean alk_test_guest_exec(AlkTestGuest *g, const char *const *argv, GBytes *stdin_data,
                             guint32 timeout_ms, guint64 output_cap, AlkTestExec *r,
                             gint64 deadline_us, GError **error)
{
	guint32 id = g->next_id++;
	StdinFeed f = {.data = stdin_data, .pending = g_byte_array_new()};
	gboolean ok;

	memset(r, 0, sizeof(*r));
	r->out = g_byte_array_new();
	r->err = g_byte_array_new();
	r->started_us = g_get_monotonic_time();
	ok = exec_send(g, id, argv, stdin_data != NULL, timeout_ms, output_cap, deadline_us,
	               error) &&
	     exec_loop(g, id, r, &f, deadline_us, error);
	g_byte_array_unref(f.pending);
	return ok;
}

void alk_test_exec_clear(AlkTestExec *r)
{
	g_clear_pointer(&r->out, g_byte_array_unref);
	g_clear_pointer(&r->err, g_byte_array_unref);
}

char *alk_test_guest_sh(AlkTestGuest *g, const char *cmd, int *exit_code, GError **error)
{
	const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
	AlkTestExec r;
	char *out = NULL;
	if (alk_test_guest_exec(g, argv, NULL, 0, 0, &r,
	                        g_get_monotonic_time() + 60 * G_USEC_PER_SEC, error)) {
		out = r.out->len > 0 ? g_strndup((const char *)r.out->data, r.out->len)
		                     : g_strdup("");
		if (exit_code != NULL)
			*exit_code = r.exit_code;
	}
	alk_test_exec_clear(&r);
	return out;
}

static gboolean wait_reply(AlkTestGuest *g, guint32 id, int want, GBytes **payload,
                           gint64 deadline_us, GError **error)
{
	for (;;) {
		AlkFrameHeader h;
		g_autoptr(GBytes) p = NULL;
		if (!alk_test_guest_recv(g, &h, &p, deadline_us, error))
			return FALSE;
		if (h.id != id)
			continue;
		if (h.type == ALK_MSG_ERROR)
			return guest_error(p, error);
		if (h.type == want) {
			if (payload != NULL)
				*payload = g_steal_pointer(&p);
			return TRUE;
		}
	}
}

gboolean alk_test_guest_put(AlkTestGuest *g, const char *path, guint32 mode, GBytes *data,
                            gint64 deadline_us, GError **error)
{
	guint32 id = g->next_id++;
	gsize len;
	const guint8 *p = g_bytes_get_data(data, &len);
	AlkMsgFile m = {.path = path, .mode = mode, .size = len};
	long n = alk_msg_file_encode(g->frame, sizeof(g->frame), ALK_MSG_FILE_PUT, id, &m);

	if (n < 0 || !alk_test_guest_send(g, g->frame, n, deadline_us, error))
		return n < 0 ? (g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "encode"), FALSE)
		             : FALSE;
	for (gsize off = 0; off < len; off += ALK_PROTO_MAX_CHUNK) {
		gsize chunk = MIN(len - off, (gsize)ALK_PROTO_MAX_CHUNK);
		n = alk_msg_data_encode(g->frame, sizeof(g->frame), ALK_MSG_FILE_DATA, id, p + off,
		                        chunk);
		if (!alk_test_guest_send(g, g->frame, n, deadline_us, error))
			return FALSE;
	}
	n = alk_msg_empty_encode(g->frame, sizeof(g->frame), ALK_MSG_FILE_END, id);
	return alk_test_guest_send(g, g->frame, n, deadline_us, error) &&
	       wait_reply(g, id, ALK_MSG_OK, NULL, deadline_us, error);
}

GBytes *alk_test_guest_get(AlkTestGuest *g, const char *path, gint64 deadline_us, GError **error)
{
	guint32 id = g->next_id++;
	AlkMsgFile m = {.path = path};
	long n = alk_msg_file_encode(g->frame, sizeof(g->frame), ALK_MSG_FILE_GET, id, &m);
	g_autoptr(GByteArray) buf = g_byte_array_new();

	if (n < 0 || !alk_test_guest_send(g, g->frame, n, deadline_us, error) ||
	    !wait_reply(g, id, ALK_MSG_FILE_INFO, NULL, deadline_us, error))
		return NULL;
	for (;;) {
		AlkFrameHeader h;
		g_autoptr(GBytes) p = NULL;
		AlkMsgData d;
		gsize len;
		if (!alk_test_guest_recv(g, &h, &p, deadline_us, error))
			return NULL;
		if (h.id != id)
			continue;
		if (h.type == ALK_MSG_FILE_END)
			return g_byte_array_free_to_bytes(g_steal_pointer(&buf));
		if (h.type == ALK_MSG_ERROR) {
			guest_error(p, error);
			return NULL;
		}
		const guint8 *data = g_bytes_get_data(p, &len);
		if (h.type == ALK_MSG_FILE_DATA && alk_msg_data_decode(data, len, &d) == 0)
			g_byte_array_append(buf, d.data.data, d.data.len);
	}
}

static void remove_tree(const char *dir)
{
	const char *argv[] = {"rm", "-rf", "--one-file-system", dir, NULL};
	run_cmd(argv, NULL);
}

void alk_test_guest_free(AlkTestGuest *g)
{
	if (g == NULL)
		return;
	alk_test_guest_disconnect(g);
	if (g->dom != NULL) {
		virDomainDestroy(g->dom);
		virDomainFree(g->dom);
	}
	if (g->conn != NULL)
		virConnectClose(g->conn);
	if (g->dir != NULL)
		remove_tree(g->dir);
	g_free(g->name);
	g_free(g->dir);
	g_free(g->overlay);
	g_free(g->sock);
	g_free(g->console);
	g_free(g->dec);
	g_free(g);
}

static guint sweep(pid_t owner, gboolean remove)
{
	g_autofree char *prefix = g_strdup_printf(ALK_TEST_DOMAIN_PREFIX "%d-", owner);
	virConnectPtr conn = virConnectOpen(g_getenv("ALK_LIBVIRT_URI") ?: "qemu:///system");
	g_autoptr(GDir) dir = g_dir_open(STATE_DIR, 0, NULL);
	virDomainPtr *doms = NULL;
	guint found = 0;
	int n = conn ? virConnectListAllDomains(conn, &doms, 0) : 0;

	for (int i = 0; i < n; i++) {
		if (g_str_has_prefix(virDomainGetName(doms[i]), prefix)) {
			found++;
			if (remove)
				virDomainDestroy(doms[i]);
		}
		virDomainFree(doms[i]);
	}
	free(doms);
	if (conn != NULL)
		virConnectClose(conn);
	for (const char *e; dir != NULL && (e = g_dir_read_name(dir)) != NULL;) {
		if (!g_str_has_prefix(e, prefix + strlen("airlock-")))
			continue;
		found++;
		if (remove) {
			g_autofree char *path = g_build_filename(STATE_DIR, e, NULL);
			remove_tree(path);
		}
	}
	return found;
}

guint alk_test_sweep(pid_t owner)
{
	return sweep(owner, TRUE);
}

guint alk_test_count_leftovers(pid_t owner)
{
	return sweep(owner, FALSE);
}
