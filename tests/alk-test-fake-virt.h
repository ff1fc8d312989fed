/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fake virtualisation backend (alk-virt-ops.h) for unit tests of the
 * manager, no libvirt: a "domain" is the guest agent built for the image,
 * run on the host. Creating one listens on the agent socket its XML names,
 * as QEMU does; each connection gets a fresh agent (--fd), so a restarted
 * manager meets a restarted agent, as after a reconnect. Ops complete on the
 * main loop; faults are injected by the test. */
#pragma once

#include "alk-virt-ops.h"

typedef struct AlkTestFakeVirt AlkTestFakeVirt;

extern const AlkVirtOps alk_test_fake_virt_ops;

AlkTestFakeVirt *alk_test_fake_virt_new(void);
/* Kills every agent and removes its socket. */
void alk_test_fake_virt_free(AlkTestFakeVirt *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTestFakeVirt, alk_test_fake_virt_free)

/* A manager over f (not owning it: f may outlive it, for adoption). */
AlkManager *alk_test_fake_virt_manager(AlkTestFakeVirt *f, AlkConfig *config);

/* The next create fails with ALK_ERROR_FAILED message. */
void alk_test_fake_virt_fail_create(AlkTestFakeVirt *f, const char *message);
/* The next n record updates fail (the old record stays). */
void alk_test_fake_virt_fail_set_record(AlkTestFakeVirt *f, guint n);
/* The next n destroys fail. */
void alk_test_fake_virt_fail_destroy(AlkTestFakeVirt *f, guint n);
/* Creates wait until released (hold FALSE), then complete: as ordered,
 * or with UNAVAILABLE if the connection went away meanwhile. */
void alk_test_fake_virt_hold_creates(AlkTestFakeVirt *f, gboolean hold);
guint alk_test_fake_virt_held(AlkTestFakeVirt *f);
/* The connection goes (FALSE) or comes back (TRUE), with its event. */
void alk_test_fake_virt_set_connected(AlkTestFakeVirt *f, gboolean up);
/* The domain stops by itself (poweroff, panic, QEMU death): gone, with
 * its event unless the connection is away. FALSE if there is no such
 * domain. */
gboolean alk_test_fake_virt_stop(AlkTestFakeVirt *f, const char *name, AlkVirtOpsStop reason);
/* Domains now, and destroys asked for so far. */
guint alk_test_fake_virt_count(AlkTestFakeVirt *f);
gboolean alk_test_fake_virt_has(AlkTestFakeVirt *f, const char *name);
guint alk_test_fake_virt_destroys(AlkTestFakeVirt *f);
/* The next n restores fail (as libvirt's would: no domain). */
void alk_test_fake_virt_fail_restore(AlkTestFakeVirt *f, guint n);
/* Saves (a template's memory) and restores (a clone) so far. */
guint alk_test_fake_virt_saves(AlkTestFakeVirt *f);
guint alk_test_fake_virt_restores(AlkTestFakeVirt *f);
