/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names the operator gives things (images, profiles): one rule for all. */
#pragma once

#include <glib.h>

/* [a-z0-9_-]{1,max}: safe as a file name, a config group and in JSON. */
gboolean alk_name_is_valid(const char *name, gsize max);
