/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The real backend of alk-virt-ops.h: libvirt at uri, not yet connected. */
#pragma once

#include "alk-virt-ops.h"

extern const AlkVirtOps alk_virt_real_ops;
gpointer alk_virt_real_new(const char *uri);
