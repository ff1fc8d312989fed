/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Names and ids, one rule each, shared by the daemon, the CLI and the tests:
 * names the operator gives things (images, profiles), label keys, and
 * sandbox ids. */
#pragma once

#include <glib.h>

/* image and profile names */
#define ALK_PROFILE_NAME_MAX 32
#define ALK_IMAGE_NAME_MAX 32

/* named volumes (/v1/volumes) */
#define ALK_VOLUME_NAME_MAX 32

/* a sandbox's labels */
#define ALK_LABELS_MAX 32
#define ALK_LABEL_KEY_MAX 63
#define ALK_LABEL_VALUE_MAX 255

/* A sandbox id: ALK_SANDBOX_ID_LEN lowercase hex characters, so that "al<id>"
 * fits IFNAMSIZ (host devices, network namespaces). */
#define ALK_SANDBOX_ID_LEN 12

/* [a-z0-9_-]{1,max}: safe as a file name, a config group and in JSON. */
gboolean alk_name_is_valid(const char *name, gsize max);

/* TRUE if name is a volume name: [a-z0-9_-]{1,ALK_VOLUME_NAME_MAX}, safe as
 * a file name under the state directory. */
gboolean alk_volume_name_is_valid(const char *name);

/* TRUE if key is a label key: [a-z0-9_.-]{1,ALK_LABEL_KEY_MAX}. */
gboolean alk_label_key_is_valid(const char *key);

/* TRUE if s begins with a sandbox id: its first ALK_SANDBOX_ID_LEN bytes are
 * lowercase hex (what follows is the caller's business, as in "ID:/path"). */
gboolean alk_sandbox_id_is_prefix(const char *s);

/* TRUE if s is a sandbox id, nothing more. */
gboolean alk_sandbox_id_valid(const char *s);
