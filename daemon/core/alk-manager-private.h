/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared between the manager's files; not for other layers. */
#pragma once

#include "alk-image.h"
#include "alk-manager.h"
#include "alk-virt.h"

typedef struct {
	AlkManager *m;
	AlkSandbox *sb;
	AlkChannel *channel;
	AlkImage *image;      /* while creating */
	GCancellable *cancel; /* overlay creation */
	guint ttl_timer;
	guint retry;              /* a failed destroy is tried again */
	GPtrArray *waiters;       /* GTask of alk_manager_wait_ready_async */
	gboolean domain_maybe;    /* a domain may exist: destroy it at the end */
	gboolean busy;            /* its overlay or domain is being made: the end waits */
	gboolean destroy_pending; /* libvirt was away when it had to go */
} AlkSlot;

struct AlkManager {
	AlkConfig *config;
	AlkVirt *virt;
	const char *virt_type;
	gboolean memtune; /* libvirt can raise QEMU's MEMLOCK to hard_limit */
	uid_t qemu_uid;   /* QEMU's user: owns each sandbox's overlay and run dir */
	gid_t qemu_gid;
	GHashTable *slots; /* id -> AlkSlot, owned */
	AlkManagerWatch watch;
	gpointer watch_data;
};

#define ALK_SLOT(sb) ((AlkSlot *)(sb)->priv)

/* alk-manager.c */
AlkSlot *alk_slot_lookup(AlkManager *m, const char *id);
AlkSlot *alk_slot_add(AlkManager *m, AlkSandbox *sb);
void alk_slot_notify(AlkSlot *slot);
void alk_slot_fail(AlkSlot *slot, GError *error);
void alk_slot_end(AlkSlot *slot, const char *reason);
void alk_slot_arm_ttl(AlkSlot *slot);
void alk_slot_open_channel(AlkSlot *slot, gint64 deadline_us);
gboolean alk_slot_prepare_dirs(AlkSlot *slot, GError **error);
void alk_slot_remove_files(AlkManager *m, const char *id);

/* alk-kvm-probe.c: domains named so are the probe's */
#define ALK_PROBE_DOMAIN "airlock-probe-"
gboolean alk_manager_probe_kvm(AlkManager *m, guint timeout_s, GError **error);

/* alk-reconcile.c */
gboolean alk_manager_reconcile(AlkManager *m, GError **error);
