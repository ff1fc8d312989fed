/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-error.h"

G_DEFINE_QUARK(alk - error - quark, alk_error)
