/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The resources a sandbox holds and the sub-states of its end: the
 * manager's (alk-manager-private.h), apart so that unit tests check the
 * table alk_end_next_step() is. */
#pragma once

#include <glib.h>

/* What a sandbox holds outside the daemon's memory, in teardown order (the
 * agent channel and the tasks over it end first, at once, in memory). */
typedef enum {
	ALK_RES_DOMAIN,   /* its libvirt domain (QEMU) */
	ALK_RES_VOLUMES,  /* its claims on named volumes: released once QEMU is gone */
	ALK_RES_NETWORK,  /* its namespace and everything in it */
	ALK_RES_FILES,    /* its state and run directories, the overlay in them */
	ALK_RES_TEMPLATE, /* a clone's restore template: its frozen layer backs the overlay */
	ALK_RES_N,
} AlkRes;

/* Where one resource is. MAKING covers every asynchronous change to it
 * (created, attached, rules reloaded): the end waits for it to settle. */
typedef enum {
	ALK_HOLD_NONE,    /* not there */
	ALK_HOLD_MAKING,  /* being made or changed */
	ALK_HOLD_HELD,    /* there, or may be */
	ALK_HOLD_FREEING, /* being removed */
} AlkHold;

/* A sandbox's end, one sub-state at a time (alk_slot_step()). */
typedef enum {
	ALK_END_NONE,    /* not ending */
	ALK_END_WAITING, /* a resource is being made or changed: its end waits */
	ALK_END_DOMAIN,  /* its domain is being destroyed */
	ALK_END_RETRY,   /* the destroy failed: tried again in a second */
	ALK_END_LIBVIRT, /* its domain must go, libvirt is away: when it is back */
	ALK_END_NETWORK, /* its namespace is being deleted */
	ALK_END_DONE,    /* nothing is left of it but the record in memory */
} AlkEnd;

/* What the end does next, from the resources alone: a pure function so that
 * its table is unit-tested. */
typedef enum {
	ALK_END_STEP_WAIT,             /* something settles first */
	ALK_END_STEP_DESTROY_DOMAIN,   /* destroy the domain */
	ALK_END_STEP_AWAIT_LIBVIRT,    /* the domain must go, libvirt is away */
	ALK_END_STEP_RELEASE_VOLUMES,  /* let go of the volumes (in memory, at once) */
	ALK_END_STEP_DELETE_NETWORK,   /* delete the namespace */
	ALK_END_STEP_REMOVE_FILES,     /* remove the directories */
	ALK_END_STEP_RELEASE_TEMPLATE, /* let go of the template (its layer may go) */
	ALK_END_STEP_FINISH,           /* nothing is held */
} AlkEndStep;
AlkEndStep alk_end_next_step(const AlkHold res[ALK_RES_N], gboolean libvirt_up);
const char *alk_end_name(AlkEnd end);
const char *alk_hold_name(AlkHold hold);
