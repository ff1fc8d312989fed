/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the alk-manager-net*.c files only. */
#pragma once

#include "alk-manager-private.h"
#include "alk-netns.h"
#include "alk-resolver.h"

/* The guest's link: the same in every namespace. */
#define GUEST_NET "10.254.254.0/30"
#define GUEST_GW "10.254.254.1"
#define GUEST_ADDR "10.254.254.2"
#define GUEST_PREFIX 30
#define GUEST_MTU 1500

/* A name the resolver answered, kept to rebuild the pins when the allowlist changes. */
typedef struct {
	char *name;
	GInetAddress *address;
	gint64 expires; /* unix µs */
} Answer;

struct AlkSlotNet {
	char ns[ALK_NETNS_NAME_LEN + 1];
	char tap[ALK_NETNS_NAME_LEN + 1];
	char mac[18];
	GPtrArray *allow;        /* AlkAllowEntry * */
	GPtrArray *extra_denied; /* GInetAddressMask * */
	AlkResolver *resolver;
	GPtrArray *answers; /* Answer * */
	gboolean counting;  /* a counters read is running */
	gboolean changing;  /* a new allowlist is being loaded */
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
/* The namespace's whole ruleset for its current allowlist, generation and pins. */
char *alk_slot_net_ruleset(AlkSlot *slot, GError **error);

/* alk-manager-net-pins.c */
GPtrArray *alk_net_answers_new(void);
/* The answers kept in the sandbox's state dir, after a restart. */
void alk_slot_net_answers_load(AlkSlot *slot);
/* The resolver's AlkResolverPinFunc (user_data: a NetRef). */
void alk_slot_net_on_pins(const char *name, GPtrArray *pins,
                          void (*done)(gpointer done_data, gboolean ok), gpointer done_data,
                          gpointer user_data);
