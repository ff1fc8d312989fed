/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-test-fake-virt.h"

#include <errno.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alk-error.h"

typedef struct {
	char *name;
	char *record;
	char *socket_path;
	char *mac; /* its NIC's, if it has one */
	gboolean paused;
	int listener;
	guint accept_watch;
	int pending; /* a connection accepted while paused */
	pid_t agent;
} Domain;

struct AlkTestFakeVirt {
	GHashTable *domains; /* name -> Domain */
	gboolean connected;
	const AlkVirtOpsEvents *ev;
	gpointer ev_data;
	char *fail_create;
	guint fail_restore;
	guint saves;
	guint restores;
	guint fail_destroy;
	guint fail_set_record;
	gboolean hold;
	GPtrArray *held; /* GTask *, task data: Domain * */
	guint destroys;
};

/* ---- domains: an agent per connection on the socket ---- */

static void stop_agent(Domain *d)
{
	if (d->agent > 0) {
		kill(d->agent, SIGKILL);
		waitpid(d->agent, NULL, 0);
		d->agent = 0;
	}
}

static void start_agent(Domain *d, int conn)
{
	const char *bin = g_getenv("ALK_AGENT_BIN") ?: ALK_AGENT_BIN;
	pid_t pid;

	/* one guest process holds the port */
	stop_agent(d);
	pid = fork();
	if (pid == 0) {
		char arg[16];
		g_snprintf(arg, sizeof(arg), "%d", conn);
		if (d->mac == NULL) {
			execl(bin, bin, "--fd", arg, "--renew-dry", (char *)NULL);
			_exit(127);
		}
		/* a networked guest: its agent configures a NIC with the MAC
		 * the XML names, in a namespace of its own (never the host's),
		 * and writes its resolver beside the socket; the veth's peer is
		 * up, so the NIC runs once the agent brings it up (NET_CONFIG's
		 * OK waits for that) */
		g_autofree char *dir = g_path_get_dirname(d->socket_path);
		g_autofree char *resolv = g_build_filename(dir, "resolv.conf", NULL);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(126);
		execl("/bin/sh", "sh", "-c",
		      "ip link add eth0 address \"$1\" type veth peer name eth1 && "
		      "ip link set eth1 up && exec \"$2\" --fd \"$3\" --resolv-conf \"$4\" "
		      "--renew-dry",
		      "sh", d->mac, bin, arg, resolv, (char *)NULL);
		_exit(127);
	}
	d->agent = pid;
	close(conn);
}

static gboolean on_accept(int fd, GIOCondition cond, gpointer data)
{
	Domain *d = data;
	int conn = accept(fd, NULL, NULL); /* blocking, never inherited */

	if (conn < 0)
		return G_SOURCE_CONTINUE;
	if (d->paused) {
		if (d->pending >= 0)
			close(d->pending);
		d->pending = conn;
	} else {
		start_agent(d, conn);
	}
	return G_SOURCE_CONTINUE;
}

static void domain_free(Domain *d)
{
	if (d == NULL)
		return;
	stop_agent(d);
	g_clear_handle_id(&d->accept_watch, g_source_remove);
	if (d->listener >= 0)
		close(d->listener);
	if (d->pending >= 0)
		close(d->pending);
	if (d->socket_path != NULL && d->listener >= 0)
		unlink(d->socket_path);
	g_free(d->name);
	g_free(d->record);
	g_free(d->socket_path);
	g_free(d->mac);
	g_free(d);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Domain, domain_free)

/* Listens on the agent socket, as QEMU does for <source mode='bind'/>. */
static gboolean domain_listen(Domain *d, GError **error)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	if (d->socket_path == NULL || strlen(d->socket_path) >= sizeof(addr.sun_path)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "fake: no usable agent socket");
		return FALSE;
	}
	g_strlcpy(addr.sun_path, d->socket_path, sizeof(addr.sun_path));
	d->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (d->listener < 0 || bind(d->listener, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(d->listener, 4) < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "fake: listening on %s: %s",
		            d->socket_path, g_strerror(errno));
		if (d->listener >= 0)
			close(d->listener);
		d->listener = -1;
		return FALSE;
	}
	d->accept_watch = g_unix_fd_add(d->listener, G_IO_IN, on_accept, d);
	return TRUE;
}

/* ---- the XML: what the fake needs of it, read as libvirt would ---- */

typedef struct {
	Domain *d;
	GString *text;
	gboolean in_channel;
} Parse;

static void parse_start(GMarkupParseContext *ctx, const char *element, const char **names,
                        const char **values, gpointer data, GError **error)
{
	Parse *p = data;

	g_string_truncate(p->text, 0);
	if (strcmp(element, "channel") == 0)
		p->in_channel = TRUE;
	if (p->in_channel && strcmp(element, "source") == 0)
		for (guint i = 0; names[i] != NULL; i++)
			if (strcmp(names[i], "path") == 0)
				p->d->socket_path = g_strdup(values[i]);
	if (strcmp(element, "mac") == 0)
		for (guint i = 0; names[i] != NULL; i++)
			if (strcmp(names[i], "address") == 0 && p->d->mac == NULL)
				p->d->mac = g_strdup(values[i]);
}

static void parse_end(GMarkupParseContext *ctx, const char *element, gpointer data, GError **error)
{
	Parse *p = data;
	const GSList *stack = g_markup_parse_context_get_element_stack(ctx);
	const char *parent = stack->next != NULL ? stack->next->data : "";

	if (strcmp(element, "name") == 0 && strcmp(parent, "domain") == 0)
		p->d->name = g_strdup(p->text->str);
	else if (strcmp(element, "airlock:sandbox") == 0)
		p->d->record = g_strdup(p->text->str);
	else if (strcmp(element, "channel") == 0)
		p->in_channel = FALSE;
}

static void parse_text(GMarkupParseContext *ctx, const char *text, gsize len, gpointer data,
                       GError **error)
{
	g_string_append_len(((Parse *)data)->text, text, len);
}

static Domain *domain_from_xml(const char *xml, gboolean paused, GError **error)
{
	static const GMarkupParser parser = {
	    .start_element = parse_start, .end_element = parse_end, .text = parse_text};
	g_autoptr(Domain) d = g_new0(Domain, 1);
	g_autoptr(GString) text = g_string_new(NULL);
	Parse p = {.d = d, .text = text};
	g_autoptr(GMarkupParseContext) ctx = g_markup_parse_context_new(&parser, 0, &p, NULL);

	d->listener = -1;
	d->pending = -1;
	d->paused = paused;
	if (!g_markup_parse_context_parse(ctx, xml, -1, error) ||
	    !g_markup_parse_context_end_parse(ctx, error))
		return NULL;
	if (d->name == NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "fake: a domain without a name");
		return NULL;
	}
	return g_steal_pointer(&d);
}

/* ---- the table ---- */

static gboolean unavailable(AlkTestFakeVirt *f, GTask *task)
{
	if (f->connected)
		return FALSE;
	g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
	                        "libvirt unavailable: reconnecting");
	g_object_unref(task);
	return TRUE;
}

static gboolean fake_open(gpointer ctx, const AlkVirtOpsEvents *ev, gpointer ev_data,
                          GError **error)
{
	AlkTestFakeVirt *f = ctx;
	f->ev = ev;
	f->ev_data = ev_data;
	return TRUE;
}

static gboolean fake_is_connected(gpointer ctx)
{
	AlkTestFakeVirt *f = ctx;
	return f->ev != NULL && f->connected;
}

/* A create completes: the domain runs, or the call failed. */
static void create_done(AlkTestFakeVirt *f, GTask *task)
{
	g_autoptr(Domain) d = g_task_get_task_data(task); /* the fake's from now */
	GError *error = NULL;

	if (unavailable(f, task))
		return;
	if (g_hash_table_contains(f->domains, d->name))
		g_set_error(&error, ALK_ERROR, ALK_ERROR_CONFLICT, "fake: %s exists", d->name);
	else if (domain_listen(d, &error)) {
		Domain *owned = g_steal_pointer(&d);
		g_hash_table_insert(f->domains, owned->name, owned);
	}
	if (error != NULL)
		g_task_return_error(task, error);
	else
		g_task_return_boolean(task, TRUE);
	g_object_unref(task);
}

static void fake_create(gpointer ctx, const char *xml, gboolean paused, GAsyncReadyCallback cb,
                        gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	GTask *task = g_task_new(NULL, NULL, cb, user_data);
	g_autofree char *fail = g_steal_pointer(&f->fail_create);
	GError *error = NULL;
	Domain *d;

	if (unavailable(f, task))
		return;
	if (fail != NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_FAILED, "%s", fail);
		g_object_unref(task);
		return;
	}
	d = domain_from_xml(xml, paused, &error);
	if (d == NULL) {
		g_task_return_error(task, error);
		g_object_unref(task);
		return;
	}
	g_task_set_task_data(task, d, NULL);
	if (f->hold)
		g_ptr_array_add(f->held, task);
	else
		create_done(f, task);
}

static void fake_destroy(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);

	f->destroys++;
	if (unavailable(f, g_object_ref(task)))
		return;
	if (f->fail_destroy > 0) {
		f->fail_destroy--;
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_FAILED,
		                        "fake: destroying %s failed", name);
		return;
	}
	/* libvirt reports our own destroys too */
	if (g_hash_table_remove(f->domains, name))
		f->ev->stopped(name, ALK_VIRT_OPS_STOPPED_DESTROYED, f->ev_data);
	g_task_return_boolean(task, TRUE);
}

/* The domain goes, its "memory" is a file naming it. */
static void fake_save(gpointer ctx, const char *name, const char *path, GAsyncReadyCallback cb,
                      gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	GError *error = NULL;

	if (unavailable(f, g_object_ref(task)))
		return;
	if (!g_hash_table_contains(f->domains, name)) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "fake: no %s", name);
		return;
	}
	if (!g_file_set_contents(path, name, -1, &error)) {
		g_task_return_error(task, error);
		return;
	}
	f->saves++;
	/* libvirt reports the stop of a saved domain as well */
	g_hash_table_remove(f->domains, name);
	f->ev->stopped(name, ALK_VIRT_OPS_STOPPED_OTHER, f->ev_data);
	g_task_return_boolean(task, TRUE);
}

/* A restored domain is a created one whose agent must renew (its nonce is
 * fresh anyway: the manager renews every clone). The save file must be
 * there, and the FIFO's directory. */
static void fake_restore(gpointer ctx, const char *save_path, const char *xml,
                         const char *fifo_path, gboolean paused, GAsyncReadyCallback cb,
                         gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	g_autofree char *dir = g_path_get_dirname(fifo_path);

	if (f->fail_restore > 0 || !g_file_test(save_path, G_FILE_TEST_IS_REGULAR) ||
	    !g_file_test(dir, G_FILE_TEST_IS_DIR)) {
		g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
		if (f->fail_restore > 0)
			f->fail_restore--;
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_FAILED,
		                        "fake: restoring from %s failed", save_path);
		return;
	}
	f->restores++;
	fake_create(ctx, xml, paused, cb, user_data);
}

/* A paused domain's agent is stopped (SIGSTOP): its connection stays and
 * nothing answers, as with a VM's vCPUs paused. */
static void set_paused(AlkTestFakeVirt *f, const char *name, gboolean paused,
                       GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	Domain *d;

	if (unavailable(f, g_object_ref(task)))
		return;
	if ((d = g_hash_table_lookup(f->domains, name)) == NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "fake: no %s", name);
		return;
	}
	d->paused = paused;
	if (d->agent > 0)
		kill(d->agent, paused ? SIGSTOP : SIGCONT);
	if (!paused && d->pending >= 0) {
		start_agent(d, d->pending);
		d->pending = -1;
	}
	g_task_return_boolean(task, TRUE);
}

static void fake_resume(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	set_paused(ctx, name, FALSE, cb, user_data);
}

static void fake_suspend(gpointer ctx, const char *name, GAsyncReadyCallback cb, gpointer user_data)
{
	set_paused(ctx, name, TRUE, cb, user_data);
}

static void fake_set_record(gpointer ctx, const char *name, const char *record,
                            GAsyncReadyCallback cb, gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	Domain *d;

	if (unavailable(f, g_object_ref(task)))
		return;
	if ((d = g_hash_table_lookup(f->domains, name)) == NULL) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "fake: no %s", name);
		return;
	}
	if (f->fail_set_record > 0) {
		f->fail_set_record--;
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_FAILED,
		                        "fake: record not saved");
		return;
	}
	g_free(d->record);
	d->record = g_strdup(record);
	g_task_return_boolean(task, TRUE);
}

static GPtrArray *list_now(AlkTestFakeVirt *f)
{
	GPtrArray *out = g_ptr_array_new_with_free_func((GDestroyNotify)alk_virt_ops_domain_free);
	GHashTableIter it;
	gpointer value;

	g_hash_table_iter_init(&it, f->domains);
	while (g_hash_table_iter_next(&it, NULL, &value)) {
		Domain *d = value;
		g_ptr_array_add(out, alk_virt_ops_domain_new(d->name, d->record, TRUE, d->paused));
	}
	return out;
}

static void fake_list(gpointer ctx, GAsyncReadyCallback cb, gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);

	if (unavailable(f, g_object_ref(task)))
		return;
	g_task_return_pointer(task, list_now(f), (GDestroyNotify)g_ptr_array_unref);
}

static GPtrArray *fake_list_sync(gpointer ctx, GError **error)
{
	AlkTestFakeVirt *f = ctx;
	if (!f->connected) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE, "libvirt unavailable");
		return NULL;
	}
	return list_now(f);
}

static gboolean fake_destroy_sync(gpointer ctx, const char *name, GError **error)
{
	AlkTestFakeVirt *f = ctx;
	f->destroys++;
	g_hash_table_remove(f->domains, name);
	return TRUE;
}

static gboolean fake_versions_sync(gpointer ctx, char **hypervisor, char **library, GError **error)
{
	*hypervisor = g_strdup("0.0.0");
	*library = g_strdup("0.0.0");
	return TRUE;
}

/* No screen to show: the real one is proven with real guests (test-screen) */
static void fake_screenshot(gpointer ctx, const char *name, GAsyncReadyCallback cb,
                            gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);
	g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_FAILED, "fake: %s has no screen", name);
}

/* QEMU's answer to anything: nothing happened, successfully */
static void fake_monitor(gpointer ctx, const char *name, const char *command,
                         GAsyncReadyCallback cb, gpointer user_data)
{
	AlkTestFakeVirt *f = ctx;
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);

	if (!g_hash_table_contains(f->domains, name)) {
		g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_NOT_FOUND, "fake: no %s", name);
		return;
	}
	g_task_return_pointer(task, g_strdup("{\"return\":{}}"), g_free);
}

const AlkVirtOps alk_test_fake_virt_ops = {
    .open = fake_open,
    .is_connected = fake_is_connected,
    .create = fake_create,
    .destroy = fake_destroy,
    .resume = fake_resume,
    .suspend = fake_suspend,
    .set_record = fake_set_record,
    .list = fake_list,
    .list_sync = fake_list_sync,
    .destroy_sync = fake_destroy_sync,
    .versions_sync = fake_versions_sync,
    .free = NULL, /* the test's */
    .screenshot = fake_screenshot,
    .monitor = fake_monitor,
    .save = fake_save,
    .restore = fake_restore,
};

/* ---- the test's side ---- */

AlkTestFakeVirt *alk_test_fake_virt_new(void)
{
	AlkTestFakeVirt *f = g_new0(AlkTestFakeVirt, 1);
	f->domains =
	    g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)domain_free);
	f->held = g_ptr_array_new();
	f->connected = TRUE;
	return f;
}

void alk_test_fake_virt_free(AlkTestFakeVirt *f)
{
	if (f == NULL)
		return;
	for (guint i = 0; i < f->held->len; i++) {
		/* never completes: a test releases its creates before it ends */
		GTask *task = g_ptr_array_index(f->held, i);
		domain_free(g_task_get_task_data(task));
		g_object_unref(task);
	}
	g_ptr_array_unref(f->held);
	g_hash_table_unref(f->domains);
	g_free(f->fail_create);
	g_free(f);
}

AlkManager *alk_test_fake_virt_manager(AlkTestFakeVirt *f, AlkConfig *config)
{
	return alk_manager_new_with_backend(config, &alk_test_fake_virt_ops, f);
}

void alk_test_fake_virt_fail_create(AlkTestFakeVirt *f, const char *message)
{
	g_free(f->fail_create);
	f->fail_create = g_strdup(message);
}

void alk_test_fake_virt_fail_set_record(AlkTestFakeVirt *f, guint n)
{
	f->fail_set_record = n;
}

void alk_test_fake_virt_fail_destroy(AlkTestFakeVirt *f, guint n)
{
	f->fail_destroy = n;
}

void alk_test_fake_virt_hold_creates(AlkTestFakeVirt *f, gboolean hold)
{
	g_autoptr(GPtrArray) held = NULL;

	f->hold = hold;
	if (hold)
		return;
	held = g_steal_pointer(&f->held);
	f->held = g_ptr_array_new();
	for (guint i = 0; i < held->len; i++)
		create_done(f, g_ptr_array_index(held, i));
}

guint alk_test_fake_virt_held(AlkTestFakeVirt *f)
{
	return f->held->len;
}

void alk_test_fake_virt_set_connected(AlkTestFakeVirt *f, gboolean up)
{
	if (f->connected == up)
		return;
	f->connected = up;
	if (f->ev != NULL)
		f->ev->connection(up, f->ev_data);
}

gboolean alk_test_fake_virt_stop(AlkTestFakeVirt *f, const char *name, AlkVirtOpsStop reason)
{
	if (!g_hash_table_remove(f->domains, name))
		return FALSE;
	/* while the connection is away, nobody hears of it */
	if (f->ev != NULL && f->connected)
		f->ev->stopped(name, reason, f->ev_data);
	return TRUE;
}

guint alk_test_fake_virt_count(AlkTestFakeVirt *f)
{
	return g_hash_table_size(f->domains);
}

gboolean alk_test_fake_virt_has(AlkTestFakeVirt *f, const char *name)
{
	return g_hash_table_contains(f->domains, name);
}

guint alk_test_fake_virt_destroys(AlkTestFakeVirt *f)
{
	return f->destroys;
}

void alk_test_fake_virt_fail_restore(AlkTestFakeVirt *f, guint n)
{
	f->fail_restore = n;
}

guint alk_test_fake_virt_saves(AlkTestFakeVirt *f)
{
	return f->saves;
}

guint alk_test_fake_virt_restores(AlkTestFakeVirt *f)
{
	return f->restores;
}
