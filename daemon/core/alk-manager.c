/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-manager-private.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>

#include "alk-domain-xml.h"
#include "alk-error.h"
#include "alk-image-builds.h"
#include "alk-overlay.h"
#include "alk-virt-real.h"

/* Failed sandboxes stay visible (with their error) up to this many. */
#define FAILED_KEPT_MAX 64
/* Console log bytes quoted in a boot failure. */
#define CONSOLE_TAIL 2048
#define RECONNECT_AGENT_S 15
/* Debian's QEMU user (libvirt's qemu.conf default) */
#define QEMU_USER "libvirt-qemu"

/* A create waiting for the virtualisation type (alk_slot_await_virt_type). */
typedef struct {
	char id[ALK_SANDBOX_ID_LEN + 1];
	AlkSlotNext next;
} VirtWaiter;

static void complete_waiters(AlkSlot *slot, const GError *stopping);

static void slot_free(AlkSlot *slot)
{
	if (slot == NULL)
		return;
	g_clear_handle_id(&slot->ttl_timer, g_source_remove);
	g_clear_handle_id(&slot->retry, g_source_remove);
	alk_slot_stop_pings(slot);
	if (slot->cancel != NULL) {
		g_cancellable_cancel(slot->cancel);
		g_object_unref(slot->cancel);
	}
	if (g_hash_table_size(slot->tasks) > 0) {
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
		alk_slot_end_tasks(slot, error);
	}
	g_hash_table_unref(slot->tasks);
	alk_channel_free(slot->channel);
	alk_slot_net_free(slot);
	alk_image_free(slot->image);
	if (slot->waiters->len > 0) {
		g_autoptr(GError) error =
		    g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE, "airlockd is stopping");
		complete_waiters(slot, error);
	}
	g_ptr_array_unref(slot->waiters);
	alk_sandbox_free(slot->sb);
	g_free(slot);
}

AlkManager *alk_manager_new(AlkConfig *config)
{
	return alk_manager_new_with_backend(config, &alk_virt_real_ops,
	                                    alk_virt_real_new(config->libvirt_uri));
}

AlkManager *alk_manager_new_with_backend(AlkConfig *config, const AlkVirtOps *ops, gpointer ctx)
{
	AlkManager *m = g_new0(AlkManager, 1);
	m->config = config;
	m->virt_ops = ops;
	m->virt_ctx = ctx;
	m->net_ops = &alk_net_real_ops;
	m->virt_type = "qemu";
	m->slots = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)slot_free);
	alk_manager_restore_start(m);
	m->virt_waiters = g_array_new(FALSE, FALSE, sizeof(VirtWaiter));
	m->drops = g_ptr_array_new();
	return m;
}

void alk_manager_detach(AlkManager *m)
{
	/* the sandboxes live on; the next daemon adopts them */
	g_hash_table_remove_all(m->slots);
}

void alk_manager_free(AlkManager *m)
{
	if (m == NULL)
		return;
	alk_manager_detach(m);
	g_clear_handle_id(&m->net_timer, g_source_remove);
	alk_manager_pool_stop(m);
	alk_manager_probe_kvm_abandon(m);
	alk_manager_reconcile_abandon(m);
	g_ptr_array_unref(m->drops);
	g_array_unref(m->virt_waiters);
	g_hash_table_unref(m->slots);
	g_clear_pointer(&m->volumes_making, g_hash_table_unref);
	alk_manager_restore_stop(m);
	if (m->virt_ops->free != NULL)
		m->virt_ops->free(m->virt_ctx);
	if (m->net_ops->free != NULL)
		m->net_ops->free(m->net_ctx);
	g_free(m);
}

void alk_manager_set_net_backend(AlkManager *m, const AlkNetOps *ops, gpointer ctx)
{
	if (m->net_ops->free != NULL)
		m->net_ops->free(m->net_ctx);
	m->net_ops = ops;
	m->net_ctx = ctx;
}

void alk_manager_set_watch(AlkManager *m, AlkManagerWatch func, gpointer user_data)
{
	m->watch = func;
	m->watch_data = user_data;
}

AlkSlot *alk_slot_lookup(AlkManager *m, const char *id)
{
	return id != NULL ? g_hash_table_lookup(m->slots, id) : NULL;
}

AlkSlot *alk_slot_add(AlkManager *m, AlkSandbox *sb)
{
	AlkSlot *slot = g_new0(AlkSlot, 1);
	slot->m = m;
	slot->sb = sb;
	slot->waiters = g_ptr_array_new();
	slot->tasks = g_hash_table_new(NULL, NULL);
	sb->priv = slot;
	g_hash_table_insert(m->slots, sb->id, slot);
	return slot;
}

/* ---- waiting ---- */

static gboolean not_here(AlkManager *m, const char *id, GError **error);

struct AlkManagerWait {
	AlkSlot *slot;
	AlkSandboxState until;
	AlkManagerWaitFunc func;
	gpointer user_data;
};

/* Whether sb settles a wait until that state; *error why it never will. */
static gboolean settled(const AlkSandbox *sb, AlkSandboxState until, GError **error)
{
	if (until == ALK_SANDBOX_DESTROYED)
		return !alk_sandbox_is_live(sb);
	if (sb->state == ALK_SANDBOX_CREATING || sb->state == ALK_SANDBOX_BOOTING)
		return FALSE;
	if (sb->state == ALK_SANDBOX_READY)
		return TRUE;
	if (sb->error != NULL)
		*error = g_error_copy(sb->error);
	else
		*error = g_error_new(ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s ended: %s", sb->id,
		                     sb->end_reason != NULL ? sb->end_reason : "stopped");
	return TRUE;
}

/* Runs the waits the sandbox's state settles (or, with error, all of them). */
static void complete_waiters(AlkSlot *slot, const GError *stopping)
{
	for (guint i = 0; i < slot->waiters->len;) {
		AlkManagerWait *w = g_ptr_array_index(slot->waiters, i);
		g_autoptr(GError) error = stopping != NULL ? g_error_copy(stopping) : NULL;
		if (error == NULL && !settled(slot->sb, w->until, &error)) {
			i++;
			continue;
		}
		/* out of the list first: func may add or cancel waits */
		g_ptr_array_remove_index(slot->waiters, i);
		w->func(slot->sb, error, w->user_data);
		g_free(w);
		i = 0;
	}
}

gboolean alk_manager_wait(AlkManager *m, const char *id, AlkSandboxState until,
                          AlkManagerWaitFunc func, gpointer user_data, AlkManagerWait **wait,
                          GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	g_autoptr(GError) why = NULL;
	AlkManagerWait *w;

	*wait = NULL;
	if (slot == NULL)
		return not_here(m, id, error);
	if (settled(slot->sb, until, &why)) {
		func(slot->sb, why, user_data);
		return TRUE;
	}
	w = g_new0(AlkManagerWait, 1);
	w->slot = slot;
	w->until = until;
	w->func = func;
	w->user_data = user_data;
	g_ptr_array_add(slot->waiters, w);
	*wait = w;
	return TRUE;
}

void alk_manager_wait_cancel(AlkManagerWait *wait)
{
	if (wait != NULL && g_ptr_array_remove(wait->slot->waiters, wait))
		g_free(wait);
}

void alk_slot_notify(AlkSlot *slot)
{
	AlkManager *m = slot->m;
	complete_waiters(slot, NULL);
	if (m->watch != NULL)
		m->watch(m, slot->sb, m->watch_data);
}

void alk_slot_set_state(AlkSlot *slot, AlkSandboxState state)
{
	if (alk_sandbox_set_state(slot->sb, state))
		alk_slot_notify(slot);
}

/* ---- files ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) < 0 && errno != ENOENT ? -1 : 0;
}

static void rm_tree(const char *path)
{
	/* depth first, never following links out of the tree */
	nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

void alk_slot_remove_files(AlkManager *m, const char *id)
{
	g_autofree char *state = g_build_filename(m->config->state_dir, "sandboxes", id, NULL);
	g_autofree char *run = g_build_filename(m->config->run_dir, "sandboxes", id, NULL);
	rm_tree(state);
	rm_tree(run);
	alk_image_builds_sweep_async(m->config->image_dir); /* its image build may be free now */
}

static gboolean make_dir(const char *path, mode_t mode, uid_t uid, gid_t gid, GError **error)
{
	struct stat st;
	/* an existing directory with the right mode is left alone: it may be
	 * on a read-only file system, where only creating must fail */
	if (g_mkdir_with_parents(path, 0711) < 0 || stat(path, &st) < 0 ||
	    ((st.st_mode & 07777) != mode && chmod(path, mode) < 0) ||
	    (uid != (uid_t)-1 && st.st_uid != uid && chown(path, uid, gid) < 0)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "creating %s: %s", path,
		            g_strerror(errno));
		return FALSE;
	}
	return TRUE;
}

/* State dir and run dir: root's, traversable so QEMU reaches the overlay.
 * libvirt makes the agent socket and opens the console log (through
 * virtlogd) as root and hands QEMU descriptors, so QEMU's user needs no
 * write access: a compromised QEMU cannot plant links there for root to
 * follow. */
gboolean alk_slot_prepare_dirs(AlkSlot *slot, GError **error)
{
	AlkSandbox *sb = slot->sb;

	if (strlen(sb->agent_socket) >= 100) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "run_dir is too long: %s must stay under 100 bytes", sb->agent_socket);
		return FALSE;
	}
	if (g_file_test(sb->state_dir, G_FILE_TEST_EXISTS) ||
	    g_file_test(sb->run_dir, G_FILE_TEST_EXISTS)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s: files exist already",
		            sb->id);
		return FALSE;
	}
	return make_dir(sb->state_dir, 0711, (uid_t)-1, (gid_t)-1, error) &&
	       make_dir(sb->run_dir, 0711, 0, 0, error);
}

/* ---- the end of a sandbox ---- */

AlkSlotRef *alk_slot_ref(AlkSlot *slot, AlkSlotNext next)
{
	AlkSlotRef *ref = g_new0(AlkSlotRef, 1);
	ref->m = slot->m;
	g_strlcpy(ref->id, slot->sb->id, sizeof(ref->id));
	ref->next = next;
	return ref;
}

AlkSlot *alk_slot_ref_get(const AlkSlotRef *ref)
{
	return alk_slot_lookup(ref->m, ref->id);
}

void alk_slot_forget(AlkSlot *slot)
{
	g_hash_table_remove(slot->m->slots, slot->sb->id);
}

const char *alk_end_name(AlkEnd end)
{
	static const char *const names[] = {
	    [ALK_END_NONE] = "none",   [ALK_END_WAITING] = "waiting", [ALK_END_DOMAIN] = "domain",
	    [ALK_END_RETRY] = "retry", [ALK_END_LIBVIRT] = "libvirt", [ALK_END_NETWORK] = "network",
	    [ALK_END_DONE] = "done",
	};
	return (guint)end < G_N_ELEMENTS(names) ? names[end] : "unknown";
}

const char *alk_hold_name(AlkHold hold)
{
	static const char *const names[] = {
	    [ALK_HOLD_NONE] = "none",
	    [ALK_HOLD_MAKING] = "making",
	    [ALK_HOLD_HELD] = "held",
	    [ALK_HOLD_FREEING] = "freeing",
	};
	return (guint)hold < G_N_ELEMENTS(names) ? names[hold] : "unknown";
}

/* Resources go in their order (the domain before the namespace its tap is
 * in, both before the files QEMU has open), each once nothing is being made:
 * a half-made resource is only known once its maker answers. */
AlkEndStep alk_end_next_step(const AlkHold res[ALK_RES_N], gboolean libvirt_up)
{
	for (guint r = 0; r < ALK_RES_N; r++) {
		if (res[r] == ALK_HOLD_MAKING)
			return ALK_END_STEP_WAIT;
	}
	for (guint r = 0; r < ALK_RES_N; r++) {
		if (res[r] == ALK_HOLD_FREEING)
			return ALK_END_STEP_WAIT;
		if (res[r] != ALK_HOLD_HELD)
			continue;
		switch ((AlkRes)r) {
		case ALK_RES_DOMAIN:
			return libvirt_up ? ALK_END_STEP_DESTROY_DOMAIN
			                  : ALK_END_STEP_AWAIT_LIBVIRT;
		case ALK_RES_VOLUMES:
			return ALK_END_STEP_RELEASE_VOLUMES;
		case ALK_RES_NETWORK:
			return ALK_END_STEP_DELETE_NETWORK;
		case ALK_RES_FILES:
			return ALK_END_STEP_REMOVE_FILES;
		case ALK_RES_TEMPLATE:
		case ALK_RES_N:
			/* only once the overlay it backs is gone */
			return ALK_END_STEP_RELEASE_TEMPLATE;
		}
	}
	return ALK_END_STEP_FINISH;
}

static void prune_failed(AlkManager *m)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);
	guint failed = 0;
	for (guint i = all->len; i-- > 0;) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);
		if (sb->state == ALK_SANDBOX_FAILED && ++failed > FAILED_KEPT_MAX &&
		    ALK_SLOT(sb)->end == ALK_END_DONE)
			alk_slot_forget(ALK_SLOT(sb));
	}
}

static gboolean on_retry(gpointer data)
{
	AlkSlot *slot = data;
	slot->retry = 0;
	alk_slot_step(slot);
	return G_SOURCE_REMOVE;
}

static void destroyed(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree AlkSlotRef *ref = data;
	g_autoptr(GError) error = NULL;
	gboolean ok = alk_virt_ops_finish(res, &error);
	AlkSlot *slot = alk_slot_ref_get(ref);

	if (slot == NULL)
		return;
	if (!ok) {
		/* again in a second, or when libvirt is back if it went away */
		g_message("sandbox %s: destroy failed, will retry: %s", ref->id, error->message);
		slot->res[ALK_RES_DOMAIN] = ALK_HOLD_HELD;
		slot->end = ALK_END_RETRY;
		if (slot->retry == 0)
			slot->retry = g_timeout_add_seconds(1, on_retry, slot);
		return;
	}
	slot->res[ALK_RES_DOMAIN] = ALK_HOLD_NONE;
	alk_slot_step(slot);
}

static void net_gone(AlkSlot *slot, GError *error)
{
	g_clear_error(&error);
	slot->res[ALK_RES_NETWORK] = ALK_HOLD_NONE;
	alk_slot_step(slot);
}

/* Nothing is held any more: a deleted sandbox goes, a failed one stays
 * listed (with its error) among the last FAILED_KEPT_MAX. */
static void finish(AlkSlot *slot)
{
	AlkManager *m = slot->m;

	slot->end = ALK_END_DONE;
	if (g_strcmp0(slot->sb->pool, ALK_TEMPLATE_MAKER) == 0)
		alk_slot_template_maker_ended(slot);
	if (slot->sb->state == ALK_SANDBOX_STOPPING) {
		alk_slot_set_state(slot, ALK_SANDBOX_DESTROYED);
		alk_slot_forget(slot);
	} else if (slot->sb->pool != NULL) {
		alk_slot_pool_ended(slot); /* a failed member: not kept */
	} else {
		prune_failed(m);
	}
	alk_manager_pool_kick(m); /* there is room again */
}

void alk_slot_step(AlkSlot *slot)
{
	AlkManager *m = slot->m;

	while (slot->end != ALK_END_NONE && slot->end != ALK_END_DONE) {
		switch (alk_end_next_step(slot->res, m->virt_ops->is_connected(m->virt_ctx))) {
		case ALK_END_STEP_WAIT:
			/* a removal in flight ends in a step of its own */
			if (slot->end != ALK_END_DOMAIN && slot->end != ALK_END_NETWORK)
				slot->end = ALK_END_WAITING;
			return;
		case ALK_END_STEP_DESTROY_DOMAIN:
			g_clear_handle_id(&slot->retry, g_source_remove);
			slot->end = ALK_END_DOMAIN;
			slot->res[ALK_RES_DOMAIN] = ALK_HOLD_FREEING;
			m->virt_ops->destroy(m->virt_ctx, slot->sb->domain, destroyed,
			                     alk_slot_ref(slot, NULL));
			return;
		case ALK_END_STEP_AWAIT_LIBVIRT:
			/* the retry timer, if any, finds libvirt away again */
			slot->end = slot->retry != 0 ? ALK_END_RETRY : ALK_END_LIBVIRT;
			return;
		case ALK_END_STEP_RELEASE_VOLUMES:
			/* QEMU, which had them open, is gone: another may attach them */
			slot->res[ALK_RES_VOLUMES] = ALK_HOLD_NONE;
			break;
		case ALK_END_STEP_DELETE_NETWORK:
			slot->end = ALK_END_NETWORK;
			slot->res[ALK_RES_NETWORK] = ALK_HOLD_FREEING;
			alk_slot_net_teardown(slot, net_gone); /* may step before it returns */
			return;
		case ALK_END_STEP_REMOVE_FILES:
			alk_slot_remove_files(m, slot->sb->id);
			slot->res[ALK_RES_FILES] = ALK_HOLD_NONE;
			break;
		case ALK_END_STEP_RELEASE_TEMPLATE:
			alk_slot_template_release(slot);
			break;
		case ALK_END_STEP_FINISH:
			finish(slot);
			return;
		}
	}
}

gboolean alk_slot_settled(AlkSlot *slot, AlkRes res, gboolean exists)
{
	slot->res[res] = exists ? ALK_HOLD_HELD : ALK_HOLD_NONE;
	if (slot->end == ALK_END_NONE)
		return FALSE;
	alk_slot_step(slot);
	return TRUE;
}

GError *alk_slot_ended_error(AlkSlot *slot)
{
	AlkSandbox *sb = slot->sb;

	if (sb->state == ALK_SANDBOX_FAILED && sb->error != NULL)
		return g_error_new(ALK_ERROR, ALK_ERROR_ENDED, "sandbox %s failed: %.*s", sb->id,
		                   (int)strcspn(sb->error->message, "\n"), sb->error->message);
	return g_error_new(ALK_ERROR, ALK_ERROR_ENDED, "sandbox %s ended: %s", sb->id,
	                   sb->end_reason != NULL ? sb->end_reason : "stopped");
}

void alk_slot_teardown(AlkSlot *slot)
{
	/* a stopping sandbox that fails: its end goes on as it was */
	if (slot->end != ALK_END_NONE) {
		alk_slot_step(slot);
		return;
	}
	g_clear_handle_id(&slot->ttl_timer, g_source_remove);
	alk_slot_stop_pings(slot);
	if (slot->cancel != NULL)
		g_cancellable_cancel(slot->cancel);
	if (g_hash_table_size(slot->tasks) > 0) {
		g_autoptr(GError) error = alk_slot_ended_error(slot);
		alk_slot_end_tasks(slot, error);
	}
	g_clear_pointer(&slot->channel, alk_channel_free);
	slot->end = ALK_END_WAITING;
	alk_slot_step(slot);
}

/* At most max_bytes from the end of the regular file fd. */
static char *read_tail(int fd, gsize max_bytes, GError **error)
{
	g_autofree char *buf = NULL;
	struct stat st;
	gsize want;
	ssize_t n;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s", "not a regular file");
		return NULL;
	}
	want = (gsize)MIN((guint64)st.st_size, (guint64)max_bytes);
	buf = g_malloc(want + 1);
	n = pread(fd, buf, want, st.st_size - (off_t)want);
	if (n < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "%s", g_strerror(errno));
		return NULL;
	}
	buf[n] = '\0';
	return g_steal_pointer(&buf);
}

char *alk_slot_console_tail(AlkSandbox *sb, gsize max_bytes, GError **error)
{
	/* the run dir is root's, yet never follow a link there nor read more
	 * than asked: the log is the guest's output */
	int fd = open(sb->console_log, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	char *text;

	if (fd < 0 && errno == ENOENT)
		return g_strdup("");
	if (fd < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "console log of %s: %s", sb->id,
		            g_strerror(errno));
		return NULL;
	}
	text = read_tail(fd, max_bytes, error);
	close(fd);
	if (text == NULL)
		g_prefix_error(error, "console log of %s: ", sb->id);
	return text;
}

static char *console_tail(AlkSandbox *sb)
{
	g_autofree char *text = alk_slot_console_tail(sb, CONSOLE_TAIL, NULL);
	if (text == NULL || text[0] == '\0')
		return g_strdup("(console log empty)");
	return g_utf8_make_valid(text, -1);
}

void alk_slot_fail(AlkSlot *slot, GError *error)
{
	AlkSandbox *sb = slot->sb;
	if (!alk_sandbox_is_live(sb)) {
		g_error_free(error);
		return;
	}
	if (sb->state == ALK_SANDBOX_CREATING || sb->state == ALK_SANDBOX_BOOTING) {
		g_autofree char *tail = console_tail(sb);
		g_prefix_error(&error, "sandbox %s failed to boot: ", sb->id);
		g_autofree char *msg =
		    g_strdup_printf("%s\n--- console ---\n%s", error->message, tail);
		g_free(error->message);
		error->message = g_steal_pointer(&msg);
	}
	g_clear_error(&sb->error);
	sb->error = error;
	alk_slot_set_state(slot, ALK_SANDBOX_FAILED);
	alk_slot_teardown(slot);
}

void alk_slot_end(AlkSlot *slot, const char *reason)
{
	AlkSandbox *sb = slot->sb;
	if (!alk_sandbox_is_live(sb) || sb->state == ALK_SANDBOX_STOPPING)
		return;
	g_free(sb->end_reason);
	sb->end_reason = g_strdup(reason);
	alk_slot_set_state(slot, ALK_SANDBOX_STOPPING);
	alk_slot_teardown(slot);
}

/* ---- TTL ---- */

static gboolean on_ttl(gpointer data)
{
	AlkSlot *slot = data;
	slot->ttl_timer = 0;
	if (g_get_real_time() / G_USEC_PER_SEC < slot->sb->deadline) {
		alk_slot_arm_ttl(slot); /* the clock moved: not yet */
		return G_SOURCE_REMOVE;
	}
	alk_slot_end(slot, "ttl expired");
	return G_SOURCE_REMOVE;
}

void alk_slot_arm_ttl(AlkSlot *slot)
{
	gint64 left = slot->sb->deadline - g_get_real_time() / G_USEC_PER_SEC;
	g_clear_handle_id(&slot->ttl_timer, g_source_remove);
	slot->ttl_timer = g_timeout_add_seconds((guint)CLAMP(left, 0, G_MAXINT32), on_ttl, slot);
}

/* ---- the agent channel ---- */

/* The boot's last stamps: the HELLO's (the guest's own) and now. */
static void stamp_ready(AlkSlot *slot)
{
	AlkSandboxBoot *b = &slot->sb->boot;
	const AlkMsgHello *hello = alk_channel_get_hello(slot->channel);

	if (b->start_us == 0 || slot->sb->adopted)
		return;
	b->ready_us = g_get_monotonic_time();
	b->hello_us = alk_channel_get_hello_time(slot->channel);
	if (hello == NULL)
		return;
	b->guest_initramfs_ms = hello->initramfs_ms;
	b->guest_root_ms = hello->root_ms;
	b->guest_grown_ms = hello->grown_ms;
	b->guest_init_ms = hello->init_ms;
	b->guest_hello_ms = hello->uptime_ms;
}

static void became_ready(AlkSlot *slot)
{
	stamp_ready(slot);
	alk_slot_set_state(slot, ALK_SANDBOX_READY);
	if (alk_slot_is_template_maker(slot)) {
		alk_slot_template_maker_ready(slot); /* its memory is saved */
		return;
	}
	/* a warm pool member's TTL starts when it is handed out */
	if (slot->sb->pool == NULL)
		alk_slot_arm_ttl(slot);
	alk_slot_pool_ready(slot);
	alk_slot_start_pings(slot);
}

static void fs_configured(AlkSlot *slot, GError *error)
{
	if (slot->sb->state != ALK_SANDBOX_BOOTING) {
		g_clear_error(&error);
		return;
	}
	if (error != NULL)
		alk_slot_fail(slot, error);
	else
		became_ready(slot);
}

/* The network first: NET_CONFIG may write /etc/resolv.conf, which a
 * read-only root would refuse. */
static void net_configured(AlkSlot *slot, GError *error)
{
	if (slot->sb->state != ALK_SANDBOX_BOOTING || error != NULL || !alk_slot_fs_wanted(slot))
		fs_configured(slot, error);
	else
		alk_slot_fs_configure(slot, fs_configured);
}

static const char *guest_end_text(AlkSandbox *sb);

void alk_slot_booted(AlkSlot *slot)
{
	AlkSandbox *sb = slot->sb;
	/* a template's maker gets neither address nor mounts (its clones get
	 * theirs) */
	gboolean maker = alk_slot_is_template_maker(slot);

	/* an adopted guest has its address and its mounts already */
	if (slot->net != NULL && !sb->adopted && !maker)
		alk_slot_net_configure(slot, net_configured);
	else if (!sb->adopted && !maker)
		net_configured(slot, NULL);
	else
		became_ready(slot);
}

static void on_channel(AlkChannel *ch, AlkChannelState state, const GError *error, gpointer data)
{
	AlkSlot *slot = data;
	AlkSandbox *sb = slot->sb;

	if (state == ALK_CHANNEL_READY && sb->state == ALK_SANDBOX_BOOTING) {
		/* a clone renews its agent's identity first */
		if (!alk_slot_renew_step(slot))
			alk_slot_booted(slot);
	} else if (state == ALK_CHANNEL_CLOSED && sb->state == ALK_SANDBOX_BOOTING) {
		alk_slot_fail(slot, g_error_copy(error));
	} else if (state == ALK_CHANNEL_CLOSED && sb->state == ALK_SANDBOX_READY) {
		/* a guest that ended itself, when libvirt has not said so yet */
		const char *ended = guest_end_text(sb);
		if (ended != NULL)
			alk_slot_end(slot, ended);
		else
			alk_slot_fail(slot, g_error_new(ALK_ERROR, ALK_ERROR_UNAVAILABLE,
			                                "the guest agent stopped answering: %s",
			                                error ? error->message : "closed"));
	} else if (state == ALK_CHANNEL_LOST && sb->state == ALK_SANDBOX_READY) {
		/* QEMU may be going (its stop event ends the sandbox) or the
		 * agent restarted: reconnect for a while before giving up */
		alk_channel_open(ch, g_get_monotonic_time() + RECONNECT_AGENT_S * G_USEC_PER_SEC);
	}
}

void alk_slot_open_channel(AlkSlot *slot, gint64 deadline_us)
{
	if (slot->channel == NULL)
		slot->channel = alk_channel_new(slot->sb->agent_socket, on_channel, slot);
	alk_channel_open(slot->channel, deadline_us);
}

/* ---- libvirt events ---- */

static const char *stop_text(AlkVirtOpsStop reason)
{
	switch (reason) {
	case ALK_VIRT_OPS_STOPPED_SHUTDOWN:
		return "the guest powered off";
	case ALK_VIRT_OPS_STOPPED_CRASHED:
		return "the guest kernel panicked";
	case ALK_VIRT_OPS_STOPPED_FAILED:
		return "QEMU exited unexpectedly";
	case ALK_VIRT_OPS_STOPPED_DESTROYED:
		return "the domain was destroyed outside airlock";
	default:
		return "the domain stopped";
	}
}

/* libvirt reports a guest's reset (on_reboot=destroy) as a shutdown like
 * any other; the kernel's last words on the console tell them apart.
 * NULL when the guest did not end itself. */
static const char *guest_end_text(AlkSandbox *sb)
{
	g_autofree char *tail = alk_slot_console_tail(sb, CONSOLE_TAIL, NULL);
	const char *last = NULL;

	for (const char *p = tail; p != NULL && (p = strstr(p, "reboot: ")) != NULL; p++)
		last = p;
	if (last != NULL && g_str_has_prefix(last, "reboot: Restarting system"))
		return "the guest rebooted (a sandbox ends when its guest reboots)";
	if (last != NULL && g_str_has_prefix(last, "reboot: Power down"))
		return stop_text(ALK_VIRT_OPS_STOPPED_SHUTDOWN);
	return NULL;
}

static const char *shutdown_text(AlkSandbox *sb)
{
	return guest_end_text(sb) ?: stop_text(ALK_VIRT_OPS_STOPPED_SHUTDOWN);
}

static void on_stopped(const char *name, AlkVirtOpsStop reason, gpointer data)
{
	AlkManager *m = data;
	AlkSlot *slot = alk_slot_lookup(m, alk_sandbox_id_from_domain(name));

	if (slot == NULL || !alk_sandbox_is_live(slot->sb) || alk_slot_template_saving(slot))
		return;
	/* it is gone: nothing left to destroy, only files to delete */
	if (slot->res[ALK_RES_DOMAIN] == ALK_HOLD_HELD)
		slot->res[ALK_RES_DOMAIN] = ALK_HOLD_NONE;
	if (slot->sb->state == ALK_SANDBOX_STOPPING)
		return;
	if (reason == ALK_VIRT_OPS_STOPPED_SHUTDOWN && slot->sb->state == ALK_SANDBOX_READY)
		alk_slot_end(slot, shutdown_text(slot->sb));
	else
		alk_slot_fail(slot,
		              g_error_new(ALK_ERROR, ALK_ERROR_FAILED, "%s", stop_text(reason)));
}

/* After libvirt came back: finish destroys it could not do, and end the
 * sandboxes whose domains vanished meanwhile. */
static void resynced(GObject *src, GAsyncResult *res, gpointer data)
{
	AlkManager *m = data;
	g_autoptr(GPtrArray) doms = alk_virt_ops_list_finish(res, NULL);
	g_autoptr(GHashTable) alive = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GPtrArray) all = NULL;

	if (doms == NULL)
		return;
	for (guint i = 0; i < doms->len; i++)
		g_hash_table_add(alive, ((AlkVirtOpsDomain *)g_ptr_array_index(doms, i))->name);
	all = alk_manager_list(m);
	for (guint i = 0; i < all->len; i++) {
		AlkSandbox *sb = g_ptr_array_index(all, i);
		AlkSlot *slot = ALK_SLOT(sb);
		if (slot->end == ALK_END_LIBVIRT || slot->end == ALK_END_RETRY)
			alk_slot_step(slot);
		else if ((sb->state == ALK_SANDBOX_BOOTING || sb->state == ALK_SANDBOX_READY ||
		          sb->state == ALK_SANDBOX_PAUSED) &&
		         !g_hash_table_contains(alive, sb->domain))
			on_stopped(sb->domain, ALK_VIRT_OPS_STOPPED_FAILED, m);
	}
}

static void on_connection(gboolean up, gpointer data)
{
	AlkManager *m = data;
	if (up) {
		g_message("libvirt connection restored");
		m->virt_ops->list(m->virt_ctx, resynced, m);
	} else {
		g_warning("libvirt connection lost; reconnecting");
	}
}

/* ---- queries and requests ---- */

static gboolean not_found(const char *id, GError **error)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND, "no sandbox %s",
	            alk_sandbox_id_valid(id) ? id : "with that id");
	return FALSE;
}

/* In a cluster: ids of another node's tag are never here. */
static gboolean other_node(AlkManager *m, const char *id)
{
	const char *node = m->config->cluster.node;

	return node[0] != '\0' && alk_sandbox_id_valid(id) && strncmp(id, node, 2) != 0;
}

static gboolean not_here(AlkManager *m, const char *id, GError **error)
{
	if (!other_node(m, id))
		return not_found(id, error);
	g_set_error(error, ALK_ERROR, ALK_ERROR_NOT_FOUND,
	            "no sandbox %s here: its id is node %.2s's, this is node %s", id, id,
	            m->config->cluster.node);
	return FALSE;
}

const AlkSandbox *alk_manager_lookup(AlkManager *m, const char *id, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	if (slot == NULL) {
		not_here(m, id, error);
		return NULL;
	}
	return slot->sb;
}

static gint by_creation(gconstpointer a, gconstpointer b)
{
	const AlkSandbox *x = *(AlkSandbox *const *)a, *y = *(AlkSandbox *const *)b;
	if (x->created_at != y->created_at)
		return x->created_at < y->created_at ? -1 : 1;
	return strcmp(x->id, y->id);
}

GPtrArray *alk_manager_list(AlkManager *m)
{
	GPtrArray *out = g_ptr_array_new();
	GHashTableIter it;
	gpointer value;
	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value))
		g_ptr_array_add(out, ((AlkSlot *)value)->sb);
	g_ptr_array_sort(out, by_creation);
	return out;
}

guint alk_manager_count_live(AlkManager *m)
{
	GHashTableIter it;
	gpointer value;
	guint n = 0;
	g_hash_table_iter_init(&it, m->slots);
	while (g_hash_table_iter_next(&it, NULL, &value))
		n += alk_sandbox_is_live(((AlkSlot *)value)->sb);
	return n;
}

gboolean alk_manager_destroy(AlkManager *m, const char *id, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	if (slot == NULL)
		return not_here(m, id, error);
	if (!alk_sandbox_is_live(slot->sb)) {
		if (slot->end == ALK_END_DONE)
			alk_slot_forget(slot);
		return TRUE;
	}
	if (slot->res[ALK_RES_DOMAIN] != ALK_HOLD_NONE && !m->virt_ops->is_connected(m->virt_ctx)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_UNAVAILABLE,
		            "libvirt unavailable: cannot destroy sandbox %s now", id);
		return FALSE;
	}
	alk_slot_end(slot, "deleted");
	return TRUE;
}

static void record_set(GObject *src, GAsyncResult *res, gpointer data)
{
	g_autofree char *id = data;
	g_autoptr(GError) error = NULL;
	if (!g_task_propagate_boolean(G_TASK(res), &error))
		g_warning("sandbox %s: new deadline not saved in libvirt: %s", id, error->message);
}

gboolean alk_manager_set_ttl(AlkManager *m, const char *id, guint64 ttl_s, GError **error)
{
	AlkSlot *slot = alk_slot_lookup(m, id);
	if (slot == NULL)
		return not_here(m, id, error);
	if (slot->sb->state != ALK_SANDBOX_READY && slot->sb->state != ALK_SANDBOX_BOOTING &&
	    slot->sb->state != ALK_SANDBOX_CREATING && slot->sb->state != ALK_SANDBOX_PAUSED) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_CONFLICT, "sandbox %s is %s", id,
		            alk_sandbox_state_name(slot->sb->state));
		return FALSE;
	}
	if (!alk_limits_check_ttl(&slot->sb->limits, ttl_s, error))
		return FALSE;
	slot->sb->deadline = g_get_real_time() / G_USEC_PER_SEC + (gint64)ttl_s;
	if (slot->sb->state == ALK_SANDBOX_READY || slot->sb->state == ALK_SANDBOX_PAUSED)
		alk_slot_arm_ttl(slot);
	/* the record in libvirt is what a restarted daemon goes by */
	if (slot->res[ALK_RES_DOMAIN] != ALK_HOLD_NONE) {
		g_autofree char *record = alk_sandbox_record_to_json(slot->sb);
		m->virt_ops->set_record(m->virt_ctx, slot->sb->domain, record, record_set,
		                        g_strdup(id));
	}
	alk_slot_notify(slot);
	return TRUE;
}

const char *alk_manager_virt_type(AlkManager *m)
{
	return m->virt_type != NULL ? m->virt_type : "pending";
}

AlkKvmProbeState alk_manager_kvm_probe(AlkManager *m)
{
	return m->kvm_probe;
}

const char *alk_kvm_probe_state_name(AlkKvmProbeState state)
{
	static const char *const names[] = {
	    [ALK_KVM_PROBE_OFF] = "off",         [ALK_KVM_PROBE_RUNNING] = "running",
	    [ALK_KVM_PROBE_PROBED] = "probed",   [ALK_KVM_PROBE_CACHED] = "cached",
	    [ALK_KVM_PROBE_SKIPPED] = "skipped",
	};
	return (guint)state < G_N_ELEMENTS(names) ? names[state] : "unknown";
}

const char *alk_manager_startup(AlkManager *m)
{
	if (m->reconcile_left > 0)
		return "reconciling";
	return m->virt_type == NULL ? "probing_kvm" : "done";
}

gboolean alk_manager_libvirt_up(AlkManager *m)
{
	return m->virt_ops->is_connected(m->virt_ctx);
}

/* ---- start ---- */

/* libvirt sets QEMU's RLIMIT_MEMLOCK to memtune's hard_limit, which only a
 * process with CAP_SYS_RESOURCE may raise; libvirtd runs beside us as root
 * with the same bounding set, so our own capability tells. */
static gboolean can_raise_memlock(void)
{
	g_autofree char *status = NULL;
	const char *p;
	if (!g_file_get_contents("/proc/self/status", &status, NULL, NULL) ||
	    (p = strstr(status, "\nCapEff:")) == NULL)
		return FALSE;
	return (g_ascii_strtoull(p + 8, NULL, 16) >> 24) & 1; /* CAP_SYS_RESOURCE */
}

static gboolean qemu_user(AlkManager *m, GError **error)
{
	struct passwd *pw = getpwnam(QEMU_USER);
	if (pw == NULL || pw->pw_uid == 0) {
		g_set_error(
		    error, ALK_ERROR, ALK_ERROR_FAILED,
		    "no unprivileged user %s for QEMU (is libvirt-daemon-system installed?)",
		    QEMU_USER);
		return FALSE;
	}
	m->qemu_uid = pw->pw_uid;
	m->qemu_gid = pw->pw_gid;
	return TRUE;
}

static gboolean make_roots(AlkManager *m, GError **error)
{
	const char *roots[] = {m->config->state_dir, m->config->run_dir};
	for (guint i = 0; i < G_N_ELEMENTS(roots); i++) {
		g_autofree char *dir = g_build_filename(roots[i], "sandboxes", NULL);
		/* traversable: QEMU reaches overlays and sockets below */
		if (!make_dir(roots[i], 0711, (uid_t)-1, (gid_t)-1, error) ||
		    !make_dir(dir, 0711, (uid_t)-1, (gid_t)-1, error))
			return FALSE;
	}
	return TRUE;
}

gboolean alk_slot_await_virt_type(AlkSlot *slot, AlkSlotNext next)
{
	VirtWaiter w = {.next = next};

	if (slot->m->virt_type != NULL)
		return FALSE;
	g_strlcpy(w.id, slot->sb->id, sizeof(w.id));
	g_array_append_val(slot->m->virt_waiters, w);
	return TRUE;
}

/* The creates that waited for the virtualisation type go on. */
static void release_virt_waiters(AlkManager *m)
{
	g_autoptr(GArray) waiters = g_steal_pointer(&m->virt_waiters);

	m->virt_waiters = g_array_new(FALSE, FALSE, sizeof(VirtWaiter));
	for (guint i = 0; i < waiters->len; i++) {
		VirtWaiter *w = &g_array_index(waiters, VirtWaiter, i);
		AlkSlot *slot = alk_slot_lookup(m, w->id);
		if (slot != NULL)
			w->next(slot, NULL);
	}
}

static void virt_type_known(AlkManager *m, AlkKvmProbeState how, gboolean usable,
                            const char *reason)
{
	m->kvm_probe = how;
	m->virt_type = usable ? "kvm" : "qemu";
	if (usable)
		g_message("KVM works here (%s): using it", how == ALK_KVM_PROBE_CACHED
		                                               ? "remembered from an earlier probe"
		                                               : "the probe guest answered");
	else
		g_warning("KVM is not usable (%s%s): using TCG software emulation, which is "
		          "much slower",
		          reason != NULL ? reason : "no reason given",
		          how == ALK_KVM_PROBE_CACHED ? ", remembered from an earlier probe" : "");
	release_virt_waiters(m);
}

static void choose_virt_type(AlkManager *m)
{
	if (m->config->virt_type == ALK_VIRT_QEMU) {
		m->virt_type = "qemu";
	} else if (m->config->virt_type == ALK_VIRT_KVM) {
		m->virt_type = "kvm";
	} else {
		m->virt_type = NULL;
		m->kvm_probe = ALK_KVM_PROBE_RUNNING;
		alk_manager_probe_kvm_start(m, virt_type_known);
	}
}

/* A host switches to cluster mode (or to another tag) only while it holds
 * no sandboxes: every id it serves must carry its tag. */
static gboolean check_tags(AlkManager *m, GError **error)
{
	g_autoptr(GPtrArray) all = alk_manager_list(m);

	for (guint i = 0; i < all->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(all, i);

		if (other_node(m, sb->id)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "cluster.node %s: sandbox %s does not carry this node's tag; "
			            "a host joins a cluster (or changes its tag) only with no "
			            "sandboxes: delete them first",
			            m->config->cluster.node, sb->id);
			return FALSE;
		}
	}
	return TRUE;
}

gboolean alk_manager_start(AlkManager *m, GError **error)
{
	static const AlkVirtOpsEvents ev = {.stopped = on_stopped, .connection = on_connection};

	if (!qemu_user(m, error) || !make_roots(m, error) ||
	    !m->virt_ops->open(m->virt_ctx, &ev, m, error))
		return FALSE;
	m->memtune = can_raise_memlock();
	if (!m->memtune)
		g_message("no CAP_SYS_RESOURCE: memtune hard_limit is left out");
	alk_manager_net_start(m);
	alk_manager_net_check_config(m);
	/* the probe's domain starts only once the loop runs: reconcile's
	 * listing, now, never sees it */
	choose_virt_type(m);
	if (!alk_manager_reconcile(m, error) || !check_tags(m, error))
		return FALSE;
	alk_manager_pool_start(m);
	return TRUE;
}
