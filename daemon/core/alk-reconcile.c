/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Start-up: what libvirt runs and what the disk holds is made to agree
 * with what the manager knows. Live sandboxes are adopted (the agent must
 * answer again), the rest is destroyed and deleted. Only the listing is
 * synchronous, so an adopted sandbox is listed as soon as the API answers;
 * the destroys (seconds each) and the sweeps after them run on the loop. */
#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#include "alk-error.h"
#include "alk-image-builds.h"
#include "alk-manager-private.h"

#define ADOPT_TIMEOUT_S 30

static void sweep(AlkManager *m);

typedef struct {
	AlkManager *m;
	char *files; /* a probe's files to delete once its domain is gone */
} Drop;

static void dropped(GObject *src, GAsyncResult *res, gpointer data)
{
	Drop *drop = data;
	AlkManager *m = drop->m;
	g_autoptr(GError) error = NULL;

	if (m == NULL) {
		/* the manager let go (alk_manager_reconcile_abandon); the domain is
		 * destroyed all the same, the next start sweeps the files */
		g_free(drop->files);
		g_free(drop);
		return;
	}
	g_ptr_array_remove_fast(m->drops, drop);
	if (!alk_virt_ops_finish(res, &error))
		g_warning("reconcile: %s", error->message);
	if (drop->files != NULL)
		alk_slot_remove_files(m, drop->files);
	g_free(drop->files);
	g_free(drop);
	/* the sweeps wait for every destroy: a dying domain's files are its own */
	if (--m->reconcile_left == 0)
		sweep(m);
}

static void drop_domain_files(AlkManager *m, const char *name, const char *why, const char *files)
{
	Drop *drop = g_new0(Drop, 1);

	g_message("reconcile: destroying %s: %s", name, why);
	drop->m = m;
	drop->files = g_strdup(files);
	g_ptr_array_add(m->drops, drop);
	m->reconcile_left++;
	m->virt_ops->destroy(m->virt_ctx, name, dropped, drop);
}

static void drop_domain(AlkManager *m, const char *name, const char *why)
{
	drop_domain_files(m, name, why, NULL);
}

/* A probe domain of this instance left by a daemon that died mid-probe
 * goes, with its files; another instance's is left alone (it may run). */
static void drop_probe(AlkManager *m, const char *name)
{
	g_autofree char *prefix = alk_manager_probe_prefix(m);
	const char *pid = name + strlen(prefix);
	g_autofree char *files = NULL;

	if (!g_str_has_prefix(name, prefix) || *pid == '\0' ||
	    strspn(pid, "0123456789") != strlen(pid)) {
		g_message("reconcile: leaving %s alone: another instance's KVM probe", name);
		return;
	}
	files = g_strconcat("probe", pid, NULL);
	drop_domain_files(m, name, "a leftover KVM probe", files);
}

/* TRUE when the domain became a sandbox being adopted. */
static gboolean adopt(AlkManager *m, const AlkVirtOpsDomain *d)
{
	const char *id = alk_sandbox_id_from_domain(d->name);
	g_autoptr(AlkSandbox) sb = alk_sandbox_new(id, m->config->state_dir, m->config->run_dir);
	g_autoptr(GError) error = NULL;
	AlkSlot *slot;

	if (d->record == NULL || !alk_sandbox_record_from_json(sb, d->record, &error)) {
		const char *why = error ? error->message : "no readable record";
		/* without a record, only our own directories say it is ours */
		if (g_file_test(sb->state_dir, G_FILE_TEST_IS_DIR) ||
		    g_file_test(sb->run_dir, G_FILE_TEST_IS_DIR))
			drop_domain(m, d->name, why);
		else
			g_message("reconcile: leaving %s alone: %s, and not ours", d->name, why);
		return FALSE;
	}
	/* another airlockd on this host (other state_dir) owns it */
	if (g_strcmp0(sb->instance, m->config->state_dir) != 0)
		return FALSE;
	if (!d->running) {
		drop_domain(m, d->name, "not running");
		return FALSE;
	}
	if (sb->deadline <= g_get_real_time() / G_USEC_PER_SEC) {
		drop_domain(m, d->name, "its deadline passed");
		return FALSE;
	}
	sb->adopted = TRUE;
	slot = alk_slot_add(m, g_steal_pointer(&sb));
	slot->res[ALK_RES_DOMAIN] = ALK_HOLD_HELD;
	slot->res[ALK_RES_FILES] = ALK_HOLD_HELD;
	/* its record says what it holds: the one-writer rule holds after a restart */
	if (slot->sb->nvolumes != 0)
		slot->res[ALK_RES_VOLUMES] = ALK_HOLD_HELD;
	alk_slot_exec_defaults_load(slot);
	alk_sandbox_set_state(slot->sb, ALK_SANDBOX_BOOTING);
	if (alk_slot_net_wanted(slot) && !alk_slot_net_adopt(slot, &error)) {
		g_message("reconcile: cannot adopt sandbox %s: %s", slot->sb->id, error->message);
		alk_slot_fail(slot, g_steal_pointer(&error));
		return FALSE;
	}
	if (d->paused) {
		/* its agent answers once it is resumed (alk_manager_pause_async);
		 * its TTL runs on meanwhile */
		alk_slot_set_state(slot, ALK_SANDBOX_PAUSED);
		alk_slot_arm_ttl(slot);
		g_message("reconcile: adopting sandbox %s, paused", slot->sb->id);
		return TRUE;
	}
	alk_slot_open_channel(slot, g_get_monotonic_time() + ADOPT_TIMEOUT_S * G_USEC_PER_SEC);
	alk_slot_notify(slot);
	g_message("reconcile: adopting sandbox %s", slot->sb->id);
	return TRUE;
}

/* Deletes per-sandbox directories nothing owns any more. */
static void sweep_dir(AlkManager *m, const char *root)
{
	g_autofree char *dir = g_build_filename(root, "sandboxes", NULL);
	g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
	const char *name;

	while (d != NULL && (name = g_dir_read_name(d)) != NULL) {
		if (!alk_sandbox_id_valid(name) || alk_slot_lookup(m, name) != NULL)
			continue;
		g_message("reconcile: deleting orphaned files of %s", name);
		alk_slot_remove_files(m, name);
	}
}

static void sweep(AlkManager *m)
{
	alk_manager_net_sweep(m);
	sweep_dir(m, m->config->state_dir);
	sweep_dir(m, m->config->run_dir);
	alk_image_builds_sweep_async(m->config->image_dir);
	g_message("reconcile: done");
}

void alk_manager_reconcile_abandon(AlkManager *m)
{
	for (guint i = 0; i < m->drops->len; i++)
		((Drop *)g_ptr_array_index(m->drops, i))->m = NULL;
	g_ptr_array_set_size(m->drops, 0);
	m->reconcile_left = 0;
}

gboolean alk_manager_reconcile(AlkManager *m, GError **error)
{
	g_autoptr(GPtrArray) doms = m->virt_ops->list_sync(m->virt_ctx, error);

	if (doms == NULL) {
		g_prefix_error(error, "reconcile: ");
		return FALSE;
	}
	/* held while the loop below starts destroys, so none sweeps early */
	m->reconcile_left++;
	for (guint i = 0; i < doms->len; i++) {
		const AlkVirtOpsDomain *d = g_ptr_array_index(doms, i);
		if (alk_sandbox_id_from_domain(d->name) != NULL)
			adopt(m, d);
		else if (g_str_has_prefix(d->name, ALK_PROBE_DOMAIN))
			drop_probe(m, d->name);
	}
	if (--m->reconcile_left == 0)
		sweep(m);
	return TRUE;
}
