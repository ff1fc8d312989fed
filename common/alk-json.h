/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one wrapper around json-glib. Everything airlockd reads as JSON (image.json,
 * REST bodies) goes through alk_json_parse() and a field table, so each type and
 * range check exists once.
 *
 * json-glib 1.6 alone is not fit for hostile input: deep nesting overflows its
 * stack, duplicate keys silently keep the last value, "\u0000" truncates a
 * string, integers beyond 64 bits wrap, it accepts comments, single quotes, hex
 * numbers and trailing garbage, and its generator emits some control characters
 * and invalid UTF-8 raw. So input is first checked by a strict RFC 8259 scanner,
 * and output is written by our own serializer. Errors are ALK_ERROR_INVALID. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

/* Defaults for callers that have no better numbers (DESIGN.md: bodies 8 MiB). */
#define ALK_JSON_MAX_SIZE (8 * 1024 * 1024)
#define ALK_JSON_MAX_DEPTH 32

/* Checks JSON text without building anything: size <= max_len, valid UTF-8, no
 * NUL, strict grammar (one value, no comments or trailing data), at most max_depth
 * nested containers, no duplicate keys in an object, no "\u0000" or lone
 * surrogate, integers within gint64, finite numbers. Iterative, so hostile
 * nesting costs neither stack nor more than O(max_depth) memory. */
gboolean alk_json_validate(const char *data, gsize len, gsize max_len, guint max_depth,
                           GError **error);

/* alk_json_validate(), then json-glib. Returns the root node, owned by the caller. */
JsonNode *alk_json_parse(const char *data, gsize len, gsize max_len, guint max_depth,
                         GError **error);

/* alk_json_parse() for documents whose root must be an object. Returns a new reference. */
JsonObject *alk_json_parse_object(const char *data, gsize len, gsize max_len, guint max_depth,
                                  GError **error);

typedef enum {
	ALK_JSON_STRING,       /* char *, owned; min..max: length in bytes, max 0: no limit */
	ALK_JSON_INT,          /* gint64; min..max: the value */
	ALK_JSON_UINT,         /* guint64; min..max: the value (min >= 0) */
	ALK_JSON_BOOL,         /* gboolean */
	ALK_JSON_STRING_ARRAY, /* char ** (GStrv), owned; min..max: count; item_max: bytes each */
	ALK_JSON_STRING_MAP,   /* GHashTable * string -> string, owned; min..max: entries;
	                        * item_max: bytes of each key and each value */
	ALK_JSON_OBJECT,       /* JsonObject *, borrowed from the object read */
	ALK_JSON_ARRAY,        /* JsonArray *, borrowed; min..max: count (max 0: no limit);
	                        * its items are the caller's to check */
} AlkJsonType;

/* One member of a JSON object and where it lands in a C struct. A table is an
 * array of these ended by an entry whose name is NULL. */
typedef struct {
	const char *name;
	AlkJsonType type;
	gsize offset; /* G_STRUCT_OFFSET(Struct, member) */
	gboolean required;
	gint64 min;
	gint64 max;
	gsize item_max; /* STRING_ARRAY, STRING_MAP; 0: no limit */
} AlkJsonField;

/* Reads obj into out_struct through fields: every member must be in the table
 * and of its type and range; required ones must be present. A member that is
 * absent, or null when not required and not an integer, leaves its struct
 * field untouched (a null integer is refused). On error
 * nothing is written, and the message names the field. Pointer fields that are
 * written free their previous value, so start from a zeroed struct. */
gboolean alk_json_read_object(JsonObject *obj, const AlkJsonField *fields, gpointer out_struct,
                              GError **error);

/* Frees the pointer fields of out_struct that fields describe and zeroes them. */
void alk_json_fields_clear(const AlkJsonField *fields, gpointer out_struct);

/* Compact JSON text of node. Strings that are not valid UTF-8 are repaired with
 * U+FFFD and non-finite doubles become null, so the output is always valid JSON. */
char *alk_json_to_string(JsonNode *node);

/* Object members for a JsonBuilder that is inside an object. */
void alk_json_add_string(JsonBuilder *b, const char *key, const char *value); /* NULL: null */
void alk_json_add_int(JsonBuilder *b, const char *key, gint64 value);
void alk_json_add_bool(JsonBuilder *b, const char *key, gboolean value);
void alk_json_add_strv(JsonBuilder *b, const char *key, const char *const *strv);
void alk_json_add_map(JsonBuilder *b, const char *key, GHashTable *map); /* keys sorted */
