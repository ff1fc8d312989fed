/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the CLI shows people: aligned tables and key/value listings built
 * from the daemon's JSON. Pure: the clock is a parameter, so it is
 * unit-tested. Every string from the daemon is sanitized first — labels,
 * image errors and names can carry terminal escapes. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct AlkCliTable AlkCliTable;

AlkCliTable *alk_cli_table_new(const char *const *headers);
/* cells: as many as headers; copied and sanitized. */
void alk_cli_table_add(AlkCliTable *t, const char *const *cells);
/* Columns padded to their widest cell (in characters), two spaces apart;
 * the last column is not padded. Ends with a newline. */
char *alk_cli_table_to_string(const AlkCliTable *t);
void alk_cli_table_free(AlkCliTable *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(AlkCliTable, alk_cli_table_free)

/* Valid UTF-8 with control and format characters (escapes, bidi
 * overrides) replaced by '?'. */
char *alk_cli_sanitize(const char *s);

/* 45s, 12m, 3h, 2d: the largest unit that fits, rounded down. */
char *alk_cli_format_duration(gint64 seconds);
/* 512M, 2G (G when a whole number of GiB). */
char *alk_cli_format_mib(guint64 mib);

/* Typed reads of a member: NULL / FALSE when missing or of another type. */
const char *alk_cli_json_string(JsonObject *obj, const char *name);
gboolean alk_cli_json_int(JsonObject *obj, const char *name, gint64 *out);
gboolean alk_cli_json_bool(JsonObject *obj, const char *name, gboolean *out);
JsonObject *alk_cli_json_object(JsonObject *obj, const char *name);
JsonArray *alk_cli_json_array(JsonObject *obj, const char *name);

/* ID STATE IMAGE PROFILE CPUS MEM AGE EXPIRES LABELS, from {"sandboxes":[…]}. */
char *alk_cli_format_sandboxes(JsonArray *sandboxes, GDateTime *now);
/* NAME KERNEL AGENT ROOTFS BUILT USABLE, from {"images":[…]}. */
char *alk_cli_format_images(JsonArray *images, GDateTime *now);
/* NAME CPUS MEMORY DISK TTL EXEC-TIMEOUT NETWORK (default/max), from
 * {"profiles":[…],"default":…}. */
char *alk_cli_format_profiles(JsonObject *doc);
/* "key  value" lines, nested objects as "limits.cpus". */
char *alk_cli_format_object(JsonObject *obj);
