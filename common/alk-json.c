/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "alk-error.h"

JsonNode *alk_json_parse(const char *data, gsize len, gsize max_len, guint max_depth,
                         GError **error)
{
	g_autoptr(JsonParser) parser = json_parser_new_immutable();
	g_autoptr(GError) local = NULL;

	if (!alk_json_validate(data, len, max_len, max_depth, error))
		return NULL;
	if (!json_parser_load_from_data(parser, data, (gssize)len, &local)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "invalid JSON: %s",
		            local->message);
		return NULL;
	}
	JsonNode *root = json_parser_steal_root(parser);
	if (root == NULL)
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "invalid JSON: no value");
	return root;
}

JsonObject *alk_json_parse_object(const char *data, gsize len, gsize max_len, guint max_depth,
                                  GError **error)
{
	g_autoptr(JsonNode) root = alk_json_parse(data, len, max_len, max_depth, error);

	if (root == NULL)
		return NULL;
	if (!JSON_NODE_HOLDS_OBJECT(root)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "JSON text must be an object");
		return NULL;
	}
	return json_node_dup_object(root);
}

/* ---- field tables --------------------------------------------------------------------------- */

/* Names from the input go into error messages: keep them valid and short. */
static char *shown(const char *name)
{
	g_autofree char *valid = g_utf8_make_valid(name, -1);

	if (g_utf8_strlen(valid, -1) <= 64)
		return g_steal_pointer(&valid);
	g_autofree char *cut = g_utf8_substring(valid, 0, 64);
	return g_strconcat(cut, "…", NULL);
}

static const char *node_kind(JsonNode *node)
{
	if (JSON_NODE_HOLDS_OBJECT(node))
		return "an object";
	if (JSON_NODE_HOLDS_ARRAY(node))
		return "an array";
	if (JSON_NODE_HOLDS_NULL(node))
		return "null";
	switch (json_node_get_value_type(node)) {
	case G_TYPE_INT64:
		return "an integer";
	case G_TYPE_DOUBLE:
		return "a number with a fraction or exponent";
	case G_TYPE_BOOLEAN:
		return "a boolean";
	case G_TYPE_STRING:
		return "a string";
	default:
		return "a value of unknown type";
	}
}

static gboolean holds(JsonNode *node, GType type)
{
	return JSON_NODE_HOLDS_VALUE(node) && json_node_get_value_type(node) == type;
}

static gboolean is_set(JsonNode *node)
{
	return node != NULL && !JSON_NODE_HOLDS_NULL(node);
}

static gboolean type_error(const AlkJsonField *f, const char *want, JsonNode *node, GError **error)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "field '%s' must be %s, not %s", f->name,
	            want, node_kind(node));
	return FALSE;
}

static gboolean count_error(const AlkJsonField *f, const char *what, guint n, GError **error)
{
	g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
	            "field '%s' has %u %s, allowed %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
	            f->name, n, what, f->min, f->max);
	return FALSE;
}

/* One string inside a field (itself, an item, a key or a value); what says which. */
static gboolean check_text_item(const AlkJsonField *f, const char *what, const char *s, gsize min,
                                gsize max, GError **error)
{
	gsize len = strlen(s);

	if (!g_utf8_validate(s, -1, NULL)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field '%s': %s is not valid UTF-8", f->name, what);
		return FALSE;
	}
	if (len < min || (max > 0 && len > max)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field '%s': %s has %" G_GSIZE_FORMAT " bytes, allowed %" G_GSIZE_FORMAT
		            "..%" G_GSIZE_FORMAT,
		            f->name, what, len, min, max > 0 ? max : G_MAXSIZE);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_int(const AlkJsonField *f, JsonNode *node, GError **error)
{
	if (!holds(node, G_TYPE_INT64))
		return type_error(f, "an integer", node, error);
	gint64 v = json_node_get_int(node);
	if (v < f->min || v > f->max) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field '%s' is %" G_GINT64_FORMAT ", allowed %" G_GINT64_FORMAT
		            "..%" G_GINT64_FORMAT,
		            f->name, v, f->min, f->max);
		return FALSE;
	}
	return TRUE;
}

static gboolean check_string(const AlkJsonField *f, JsonNode *node, GError **error)
{
	if (!holds(node, G_TYPE_STRING))
		return type_error(f, "a string", node, error);
	return check_text_item(f, "the string", json_node_get_string(node), (gsize)MAX(f->min, 0),
	                       (gsize)MAX(f->max, 0), error);
}

static gboolean check_string_array(const AlkJsonField *f, JsonNode *node, GError **error)
{
	if (!JSON_NODE_HOLDS_ARRAY(node))
		return type_error(f, "an array of strings", node, error);
	JsonArray *array = json_node_get_array(node);
	guint n = json_array_get_length(array);
	if (n < f->min || n > f->max)
		return count_error(f, "items", n, error);
	for (guint i = 0; i < n; i++) {
		JsonNode *item = json_array_get_element(array, i);
		g_autofree char *what = g_strdup_printf("item %u", i);
		if (!holds(item, G_TYPE_STRING)) {
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
			            "field '%s': %s must be a string, not %s", f->name, what,
			            node_kind(item));
			return FALSE;
		}
		if (!check_text_item(f, what, json_node_get_string(item), 0, f->item_max, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean check_array(const AlkJsonField *f, JsonNode *node, GError **error)
{
	guint n;

	if (!JSON_NODE_HOLDS_ARRAY(node))
		return type_error(f, "an array", node, error);
	n = json_array_get_length(json_node_get_array(node));
	if (n < f->min || (f->max > 0 && n > f->max))
		return count_error(f, "items", n, error);
	return TRUE;
}

static gboolean check_map_member(const AlkJsonField *f, const char *key, JsonNode *value,
                                 GError **error)
{
	g_autofree char *name = shown(key);
	g_autofree char *what = g_strdup_printf("key '%s'", name);

	if (!check_text_item(f, what, key, 0, f->item_max, error))
		return FALSE;
	g_free(g_steal_pointer(&what));
	what = g_strdup_printf("the value of '%s'", name);
	if (!holds(value, G_TYPE_STRING)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "field '%s': %s must be a string, not %s", f->name, what,
		            node_kind(value));
		return FALSE;
	}
	return check_text_item(f, what, json_node_get_string(value), 0, f->item_max, error);
}

static gboolean check_string_map(const AlkJsonField *f, JsonNode *node, GError **error)
{
	JsonObjectIter iter;
	const char *key = NULL;
	JsonNode *value = NULL;

	if (!JSON_NODE_HOLDS_OBJECT(node))
		return type_error(f, "an object of strings", node, error);
	guint n = json_object_get_size(json_node_get_object(node));
	if (n < f->min || n > f->max)
		return count_error(f, "entries", n, error);
	json_object_iter_init_ordered(&iter, json_node_get_object(node));
	while (json_object_iter_next_ordered(&iter, &key, &value)) {
		if (!check_map_member(f, key, value, error))
			return FALSE;
	}
	return TRUE;
}

static gboolean check_field(const AlkJsonField *f, JsonNode *node, GError **error)
{
	/* no integer of the REST contract is nullable: null is not "absent" */
	if (node != NULL && JSON_NODE_HOLDS_NULL(node) &&
	    (f->type == ALK_JSON_INT || f->type == ALK_JSON_UINT))
		return type_error(f, "an integer", node, error);
	if (!is_set(node)) {
		if (!f->required)
			return TRUE;
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "missing required field '%s'",
		            f->name);
		return FALSE;
	}
	switch (f->type) {
	case ALK_JSON_STRING:
		return check_string(f, node, error);
	case ALK_JSON_INT:
	case ALK_JSON_UINT:
		return check_int(f, node, error);
	case ALK_JSON_BOOL:
		return holds(node, G_TYPE_BOOLEAN) || type_error(f, "a boolean", node, error);
	case ALK_JSON_STRING_ARRAY:
		return check_string_array(f, node, error);
	case ALK_JSON_STRING_MAP:
		return check_string_map(f, node, error);
	case ALK_JSON_OBJECT:
		return JSON_NODE_HOLDS_OBJECT(node) || type_error(f, "an object", node, error);
	case ALK_JSON_ARRAY:
		return check_array(f, node, error);
	default:
		g_assert_not_reached();
	}
}

static const AlkJsonField *find_field(const AlkJsonField *fields, const char *name)
{
	for (const AlkJsonField *f = fields; f->name != NULL; f++) {
		if (g_strcmp0(f->name, name) == 0)
			return f;
	}
	return NULL;
}

static gboolean check_unknown(JsonObject *obj, const AlkJsonField *fields, GError **error)
{
	JsonObjectIter iter;
	const char *key = NULL;

	json_object_iter_init_ordered(&iter, obj);
	while (json_object_iter_next_ordered(&iter, &key, NULL)) {
		if (find_field(fields, key) == NULL) {
			g_autofree char *name = shown(key);
			g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "unknown field '%s'",
			            name);
			return FALSE;
		}
	}
	return TRUE;
}

static char **strv_from_array(JsonArray *array)
{
	guint n = json_array_get_length(array);
	char **strv = g_new0(char *, n + 1);

	for (guint i = 0; i < n; i++)
		strv[i] = g_strdup(json_array_get_string_element(array, i));
	return strv;
}

static GHashTable *map_from_object(JsonObject *obj)
{
	GHashTable *map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	JsonObjectIter iter;
	const char *key = NULL;
	JsonNode *value = NULL;

	json_object_iter_init(&iter, obj);
	while (json_object_iter_next(&iter, &key, &value))
		g_hash_table_insert(map, g_strdup(key), g_strdup(json_node_get_string(value)));
	return map;
}

/* Only called after check_field() accepted node. */
static void store_field(const AlkJsonField *f, JsonNode *node, gpointer out)
{
	gpointer dest = G_STRUCT_MEMBER_P(out, f->offset);

	switch (f->type) {
	case ALK_JSON_STRING:
		g_free(*(char **)dest);
		*(char **)dest = g_strdup(json_node_get_string(node));
		break;
	case ALK_JSON_INT:
		*(gint64 *)dest = json_node_get_int(node);
		break;
	case ALK_JSON_UINT:
		*(guint64 *)dest = (guint64)json_node_get_int(node);
		break;
	case ALK_JSON_BOOL:
		*(gboolean *)dest = json_node_get_boolean(node);
		break;
	case ALK_JSON_STRING_ARRAY:
		g_strfreev(*(char ***)dest);
		*(char ***)dest = strv_from_array(json_node_get_array(node));
		break;
	case ALK_JSON_STRING_MAP:
		g_clear_pointer((GHashTable **)dest, g_hash_table_unref);
		*(GHashTable **)dest = map_from_object(json_node_get_object(node));
		break;
	case ALK_JSON_OBJECT:
		*(JsonObject **)dest = json_node_get_object(node);
		break;
	case ALK_JSON_ARRAY:
		*(JsonArray **)dest = json_node_get_array(node);
		break;
	}
}

gboolean alk_json_read_object(JsonObject *obj, const AlkJsonField *fields, gpointer out_struct,
                              GError **error)
{
	if (!check_unknown(obj, fields, error))
		return FALSE;
	for (const AlkJsonField *f = fields; f->name != NULL; f++) {
		if (!check_field(f, json_object_get_member(obj, f->name), error))
			return FALSE;
	}
	for (const AlkJsonField *f = fields; f->name != NULL; f++) {
		JsonNode *node = json_object_get_member(obj, f->name);
		if (is_set(node))
			store_field(f, node, out_struct);
	}
	return TRUE;
}

void alk_json_fields_clear(const AlkJsonField *fields, gpointer out_struct)
{
	for (const AlkJsonField *f = fields; f->name != NULL; f++) {
		gpointer dest = G_STRUCT_MEMBER_P(out_struct, f->offset);
		switch (f->type) {
		case ALK_JSON_STRING:
			g_clear_pointer((char **)dest, g_free);
			break;
		case ALK_JSON_STRING_ARRAY:
			g_clear_pointer((char ***)dest, g_strfreev);
			break;
		case ALK_JSON_STRING_MAP:
			g_clear_pointer((GHashTable **)dest, g_hash_table_unref);
			break;
		case ALK_JSON_OBJECT:
			*(JsonObject **)dest = NULL;
			break;
		case ALK_JSON_ARRAY:
			*(JsonArray **)dest = NULL;
			break;
		case ALK_JSON_INT:
		case ALK_JSON_UINT:
			*(gint64 *)dest = 0;
			break;
		case ALK_JSON_BOOL:
			*(gboolean *)dest = FALSE;
			break;
		}
	}
}

/* ---- output --------------------------------------------------------------------------------- */

/* The two-character escapes JSON has; other control characters become \u00XX. */
static const char *short_escape(guchar c)
{
	switch (c) {
	case '"':
		return "\\\"";
	case '\\':
		return "\\\\";
	case '\n':
		return "\\n";
	case '\r':
		return "\\r";
	case '\t':
		return "\\t";
	default:
		return NULL;
	}
}

static void write_string(GString *out, const char *s)
{
	g_autofree char *repaired = g_utf8_validate(s, -1, NULL) ? NULL : g_utf8_make_valid(s, -1);

	g_string_append_c(out, '"');
	for (const char *p = repaired != NULL ? repaired : s; *p != '\0'; p++) {
		guchar c = (guchar)*p;
		const char *esc = short_escape(c);
		if (esc != NULL)
			g_string_append(out, esc);
		else if (c < 0x20)
			g_string_append_printf(out, "\\u%04x", c);
		else
			g_string_append_c(out, (char)c);
	}
	g_string_append_c(out, '"');
}

static void write_value(GString *out, JsonNode *node)
{
	char buf[G_ASCII_DTOSTR_BUF_SIZE];

	switch (json_node_get_value_type(node)) {
	case G_TYPE_INT64:
		g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(node));
		break;
	case G_TYPE_DOUBLE:
		if (isfinite(json_node_get_double(node)))
			g_string_append(
			    out, g_ascii_dtostr(buf, sizeof buf, json_node_get_double(node)));
		else
			g_string_append(out, "null");
		break;
	case G_TYPE_BOOLEAN:
		g_string_append(out, json_node_get_boolean(node) ? "true" : "false");
		break;
	case G_TYPE_STRING:
		write_string(out, json_node_get_string(node));
		break;
	default:
		g_string_append(out, "null");
		break;
	}
}

static void write_node(GString *out, JsonNode *node);

static void write_object(GString *out, JsonObject *obj)
{
	JsonObjectIter iter;
	const char *key = NULL;
	JsonNode *member = NULL;
	gboolean first = TRUE;

	g_string_append_c(out, '{');
	json_object_iter_init_ordered(&iter, obj);
	while (json_object_iter_next_ordered(&iter, &key, &member)) {
		if (!first)
			g_string_append_c(out, ',');
		first = FALSE;
		write_string(out, key);
		g_string_append_c(out, ':');
		write_node(out, member);
	}
	g_string_append_c(out, '}');
}

static void write_array(GString *out, JsonArray *array)
{
	g_string_append_c(out, '[');
	for (guint i = 0; i < json_array_get_length(array); i++) {
		if (i > 0)
			g_string_append_c(out, ',');
		write_node(out, json_array_get_element(array, i));
	}
	g_string_append_c(out, ']');
}

static void write_node(GString *out, JsonNode *node)
{
	if (node == NULL || JSON_NODE_HOLDS_NULL(node))
		g_string_append(out, "null");
	else if (JSON_NODE_HOLDS_OBJECT(node))
		write_object(out, json_node_get_object(node));
	else if (JSON_NODE_HOLDS_ARRAY(node))
		write_array(out, json_node_get_array(node));
	else
		write_value(out, node);
}

char *alk_json_to_string(JsonNode *node)
{
	GString *out = g_string_new(NULL);

	write_node(out, node);
	return g_string_free(out, FALSE);
}

void alk_json_add_string(JsonBuilder *b, const char *key, const char *value)
{
	json_builder_set_member_name(b, key);
	if (value != NULL)
		json_builder_add_string_value(b, value);
	else
		json_builder_add_null_value(b);
}

void alk_json_add_int(JsonBuilder *b, const char *key, gint64 value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_int_value(b, value);
}

void alk_json_add_bool(JsonBuilder *b, const char *key, gboolean value)
{
	json_builder_set_member_name(b, key);
	json_builder_add_boolean_value(b, value);
}

void alk_json_add_strv(JsonBuilder *b, const char *key, const char *const *strv)
{
	json_builder_set_member_name(b, key);
	json_builder_begin_array(b);
	for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
		json_builder_add_string_value(b, strv[i]);
	json_builder_end_array(b);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void alk_json_add_map(JsonBuilder *b, const char *key, GHashTable *map)
{
	g_autofree const char **keys = NULL;
	guint n = 0;

	json_builder_set_member_name(b, key);
	json_builder_begin_object(b);
	if (map != NULL) {
		keys = (const char **)g_hash_table_get_keys_as_array(map, &n);
		qsort(keys, n, sizeof(char *), compare_strings);
	}
	for (guint i = 0; i < n; i++)
		alk_json_add_string(b, keys[i], g_hash_table_lookup(map, keys[i]));
	json_builder_end_object(b);
}
