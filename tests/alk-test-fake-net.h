/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A fake network backend (alk-net-ops.h) for unit tests of the manager: no
 * ip, nft or namespaces. Each plan it is asked to run is recorded as text
 * (alk_net_plan_to_string()) and completes on the main loop; the namespaces
 * "exist" from the plan that adds one to the plan that deletes it. Plans can
 * be held and failed on demand. */
#pragma once

#include "alk-net-ops.h"

typedef struct AlkTestFakeNet AlkTestFakeNet;

extern const AlkNetOps alk_test_fake_net_ops;

AlkTestFakeNet *alk_test_fake_net_new(void);
void alk_test_fake_net_free(AlkTestFakeNet *f);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkTestFakeNet, alk_test_fake_net_free)

/* Plans wait until released (hold FALSE), then complete in order. */
void alk_test_fake_net_hold(AlkTestFakeNet *f, gboolean hold);
guint alk_test_fake_net_held(AlkTestFakeNet *f);
/* The next plan to run fails with ALK_ERROR_FAILED message. */
void alk_test_fake_net_fail_next(AlkTestFakeNet *f, const char *message);
/* Every plan asked for so far, in order (char *). */
GPtrArray *alk_test_fake_net_plans(AlkTestFakeNet *f);
/* The index of the first plan from `from` on that has line, or -1. */
gint alk_test_fake_net_find(AlkTestFakeNet *f, guint from, const char *line);
gboolean alk_test_fake_net_has(AlkTestFakeNet *f, const char *ns);
