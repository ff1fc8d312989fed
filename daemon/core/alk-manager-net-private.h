/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the alk-manager-net*.c files only. */
#pragma once

#include "alk-answers.h"
#include "alk-manager-private.h"
#include "alk-net-recipe.h"
#include "alk-netns.h"
#include "alk-resolver.h"

struct AlkSlotNet {
	AlkNetLayout *layout;    /* its names and addresses */
	GPtrArray *allow;        /* AlkAllowEntry * */
	GPtrArray *extra_denied; /* GInetAddressMask * */
	AlkResolver *resolver;
	AlkAnswers *answers; /* the resolver's, to rebuild the pins */
	gboolean counting;   /* a counters read is running */
	gboolean changing;   /* a new allowlist is being loaded */
};

typedef struct {
	AlkManager *m;
	char id[ALK_SANDBOX_ID_LEN + 1];
	AlkSlotNext next;
} NetRef;

/* A callback's reference to a sandbox; next: the step after (may be NULL). */
NetRef *alk_net_ref(AlkSlot *slot, AlkSlotNext next);
/* The networked slot ref names, or NULL when the manager let go of it. */
AlkSlot *alk_net_ref_slot(NetRef *ref);
gboolean alk_slot_net_allowlist(AlkSlot *slot);
char **alk_net_allow_strv(GPtrArray *allow);

/* alk-manager-net-pins.c */
/* The pins the kept answers give under allow (AlkNftPin *, owned). */
GPtrArray *alk_slot_net_pins(AlkSlot *slot, GPtrArray *allow);
/* The answers kept in the sandbox's state dir, after a restart. */
void alk_slot_net_answers_load(AlkSlot *slot);
/* The resolver's AlkResolverPinFunc (user_data: a NetRef). */
void alk_slot_net_on_pins(const char *name, GPtrArray *pins,
                          void (*done)(gpointer done_data, gboolean ok), gpointer done_data,
                          gpointer user_data);
