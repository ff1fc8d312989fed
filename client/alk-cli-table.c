/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-cli-table.h"

#include <string.h>

#include "alk-json.h"

struct AlkCliTable {
	guint columns;
	GPtrArray *rows; /* GStrv, the first is the header */
};

char *alk_cli_sanitize(const char *s)
{
	g_autofree char *valid = g_utf8_make_valid(s != NULL ? s : "", -1);
	GString *out = g_string_sized_new(strlen(valid));

	for (const char *p = valid; *p != '\0'; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		if (g_unichar_iscntrl(c) || g_unichar_type(c) == G_UNICODE_FORMAT)
			g_string_append_c(out, '?');
		else
			g_string_append_unichar(out, c);
	}
	return g_string_free(out, FALSE);
}

AlkCliTable *alk_cli_table_new(const char *const *headers)
{
	AlkCliTable *t = g_new0(AlkCliTable, 1);

	t->columns = g_strv_length((char **)headers);
	t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	alk_cli_table_add(t, headers);
	return t;
}

void alk_cli_table_add(AlkCliTable *t, const char *const *cells)
{
	char **row = g_new0(char *, t->columns + 1);

	for (guint i = 0; i < t->columns; i++)
		row[i] = alk_cli_sanitize(cells[i]);
	g_ptr_array_add(t->rows, row);
}

char *alk_cli_table_to_string(const AlkCliTable *t)
{
	g_autofree glong *width = g_new0(glong, t->columns);
	GString *out = g_string_new(NULL);

	for (guint r = 0; r < t->rows->len; r++) {
		char **row = g_ptr_array_index(t->rows, r);
		for (guint c = 0; c < t->columns; c++)
			width[c] = MAX(width[c], g_utf8_strlen(row[c], -1));
	}
	for (guint r = 0; r < t->rows->len; r++) {
		char **row = g_ptr_array_index(t->rows, r);
		for (guint c = 0; c < t->columns; c++) {
			gboolean last = c + 1 == t->columns;
			g_string_append(out, row[c]);
			for (glong pad = g_utf8_strlen(row[c], -1); !last && pad < width[c] + 2;
			     pad++)
				g_string_append_c(out, ' ');
		}
		g_string_append_c(out, '\n');
	}
	return g_string_free(out, FALSE);
}

void alk_cli_table_free(AlkCliTable *t)
{
	if (t == NULL)
		return;
	g_ptr_array_unref(t->rows);
	g_free(t);
}

char *alk_cli_format_duration(gint64 seconds)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 60)
		return g_strdup_printf("%" G_GINT64_FORMAT "s", seconds);
	if (seconds < 3600)
		return g_strdup_printf("%" G_GINT64_FORMAT "m", seconds / 60);
	if (seconds < 86400)
		return g_strdup_printf("%" G_GINT64_FORMAT "h", seconds / 3600);
	return g_strdup_printf("%" G_GINT64_FORMAT "d", seconds / 86400);
}

char *alk_cli_format_mib(guint64 mib)
{
	if (mib >= 1024 && mib % 1024 == 0)
		return g_strdup_printf("%" G_GUINT64_FORMAT "G", mib / 1024);
	return g_strdup_printf("%" G_GUINT64_FORMAT "M", mib);
}

/* ---- typed member reads --------------------------------------------------------------------- */

static JsonNode *member(JsonObject *obj, const char *name)
{
	return obj != NULL ? json_object_get_member(obj, name) : NULL;
}

const char *alk_cli_json_string(JsonObject *obj, const char *name)
{
	JsonNode *n = member(obj, name);

	if (n == NULL || JSON_NODE_TYPE(n) != JSON_NODE_VALUE ||
	    json_node_get_value_type(n) != G_TYPE_STRING)
		return NULL;
	return json_node_get_string(n);
}

gboolean alk_cli_json_int(JsonObject *obj, const char *name, gint64 *out)
{
	JsonNode *n = member(obj, name);

	if (n == NULL || JSON_NODE_TYPE(n) != JSON_NODE_VALUE ||
	    json_node_get_value_type(n) != G_TYPE_INT64)
		return FALSE;
	*out = json_node_get_int(n);
	return TRUE;
}

gboolean alk_cli_json_bool(JsonObject *obj, const char *name, gboolean *out)
{
	JsonNode *n = member(obj, name);

	if (n == NULL || JSON_NODE_TYPE(n) != JSON_NODE_VALUE ||
	    json_node_get_value_type(n) != G_TYPE_BOOLEAN)
		return FALSE;
	*out = json_node_get_boolean(n);
	return TRUE;
}

JsonObject *alk_cli_json_object(JsonObject *obj, const char *name)
{
	JsonNode *n = member(obj, name);

	return n != NULL && JSON_NODE_HOLDS_OBJECT(n) ? json_node_get_object(n) : NULL;
}

JsonArray *alk_cli_json_array(JsonObject *obj, const char *name)
{
	JsonNode *n = member(obj, name);

	return n != NULL && JSON_NODE_HOLDS_ARRAY(n) ? json_node_get_array(n) : NULL;
}

/* ---- cells ---------------------------------------------------------------------------------- */

static char *cell_string(JsonObject *obj, const char *name)
{
	const char *s = alk_cli_json_string(obj, name);

	return g_strdup(s != NULL ? s : "-");
}

static char *cell_int(JsonObject *obj, const char *name)
{
	gint64 v = 0;

	if (!alk_cli_json_int(obj, name, &v))
		return g_strdup("-");
	return g_strdup_printf("%" G_GINT64_FORMAT, v);
}

static char *cell_mib(JsonObject *obj, const char *name)
{
	gint64 v = 0;

	if (!alk_cli_json_int(obj, name, &v) || v < 0)
		return g_strdup("-");
	return alk_cli_format_mib((guint64)v);
}

/* Seconds from now to the time in member name (negative: in the past). */
static gboolean seconds_until(JsonObject *obj, const char *name, GDateTime *now, gint64 *out)
{
	const char *s = alk_cli_json_string(obj, name);
	g_autoptr(GDateTime) t = s != NULL ? g_date_time_new_from_iso8601(s, NULL) : NULL;

	if (t == NULL)
		return FALSE;
	*out = g_date_time_difference(t, now) / G_TIME_SPAN_SECOND;
	return TRUE;
}

static char *cell_age(JsonObject *obj, const char *name, GDateTime *now)
{
	gint64 s = 0;

	if (!seconds_until(obj, name, now, &s))
		return g_strdup("-");
	return alk_cli_format_duration(-s);
}

static char *cell_expires(JsonObject *sandbox, GDateTime *now)
{
	const char *state = alk_cli_json_string(sandbox, "state");
	gint64 s = 0;

	if (g_strcmp0(state, "destroyed") == 0 || g_strcmp0(state, "failed") == 0 ||
	    !seconds_until(sandbox, "expires_at", now, &s))
		return g_strdup("-");
	if (s <= 0)
		return g_strdup("expired");
	g_autofree char *d = alk_cli_format_duration(s);
	return g_strconcat("in ", d, NULL);
}

static gint compare_strings(gconstpointer a, gconstpointer b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *cell_labels(JsonObject *sandbox)
{
	JsonObject *labels = alk_cli_json_object(sandbox, "labels");
	g_autoptr(GPtrArray) pairs = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GList) names = labels != NULL ? json_object_get_members(labels) : NULL;

	for (GList *l = names; l != NULL; l = l->next) {
		const char *v = alk_cli_json_string(labels, l->data);
		g_ptr_array_add(pairs, g_strdup_printf("%s=%s", (char *)l->data, v ? v : ""));
	}
	if (pairs->len == 0)
		return g_strdup("-");
	g_ptr_array_sort(pairs, compare_strings);
	g_ptr_array_add(pairs, NULL);
	return g_strjoinv(",", (char **)pairs->pdata);
}

/* ---- tables --------------------------------------------------------------------------------- */

static char *finish(AlkCliTable *t)
{
	return alk_cli_table_to_string(t);
}

static void add_sandbox(AlkCliTable *t, JsonObject *sb, GDateTime *now)
{
	JsonObject *limits = alk_cli_json_object(sb, "limits");
	g_autofree char *id = cell_string(sb, "id");
	g_autofree char *state = cell_string(sb, "state");
	g_autofree char *image = cell_string(sb, "image");
	g_autofree char *profile = cell_string(sb, "profile");
	g_autofree char *cpus = cell_int(limits, "cpus");
	g_autofree char *mem = cell_mib(limits, "memory_mib");
	g_autofree char *age = cell_age(sb, "created_at", now);
	g_autofree char *expires = cell_expires(sb, now);
	g_autofree char *labels = cell_labels(sb);
	const char *row[] = {id, state, image, profile, cpus, mem, age, expires, labels, NULL};

	alk_cli_table_add(t, row);
}

char *alk_cli_format_sandboxes(JsonArray *sandboxes, GDateTime *now)
{
	static const char *const headers[] = {"ID",  "STATE", "IMAGE",   "PROFILE", "CPUS",
	                                      "MEM", "AGE",   "EXPIRES", "LABELS",  NULL};
	g_autoptr(AlkCliTable) t = alk_cli_table_new(headers);
	guint n = sandboxes != NULL ? json_array_get_length(sandboxes) : 0;

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element(sandboxes, i);
		if (JSON_NODE_HOLDS_OBJECT(node))
			add_sandbox(t, json_node_get_object(node), now);
	}
	return finish(t);
}

static char *cell_usable(JsonObject *img)
{
	gboolean usable = FALSE;
	const char *err = alk_cli_json_string(img, "error");

	if (alk_cli_json_bool(img, "usable", &usable) && usable)
		return g_strdup("yes");
	return err != NULL ? g_strconcat("no: ", err, NULL) : g_strdup("no");
}

/* "debian bookworm +python3,git", "oci REF@sha256:0123456789ab", "minimal" */
static char *cell_source(JsonObject *img)
{
	JsonObject *src = alk_cli_json_object(img, "source");
	const char *kind = src != NULL ? alk_cli_json_string(src, "kind") : NULL;
	JsonArray *pkgs = src != NULL ? alk_cli_json_array(src, "packages") : NULL;
	g_autoptr(GString) out = NULL;

	if (kind == NULL)
		return g_strdup("-");
	out = g_string_new(kind);
	if (g_strcmp0(kind, "debian") == 0) {
		const char *suite = alk_cli_json_string(src, "suite");
		g_string_append_printf(out, " %s", suite != NULL ? suite : "?");
		for (guint i = 0; pkgs != NULL && i < json_array_get_length(pkgs); i++) {
			JsonNode *n = json_array_get_element(pkgs, i);
			if (JSON_NODE_TYPE(n) == JSON_NODE_VALUE &&
			    json_node_get_value_type(n) == G_TYPE_STRING)
				g_string_append_printf(out, "%s%s", i == 0 ? " +" : ",",
				                       json_node_get_string(n));
		}
	} else if (g_strcmp0(kind, "oci") == 0) {
		const char *ref = alk_cli_json_string(src, "reference");
		const char *digest = alk_cli_json_string(src, "digest");
		g_string_append_printf(out, " %s", ref != NULL ? ref : "?");
		if (digest != NULL && strlen(digest) > 19)
			g_string_append_printf(out, "@%.19s", digest);
	}
	return g_string_free(g_steal_pointer(&out), FALSE);
}

static char *cell_bytes_mib(JsonObject *obj, const char *name)
{
	gint64 v = 0;

	if (!alk_cli_json_int(obj, name, &v) || v < 0)
		return g_strdup("-");
	return alk_cli_format_mib(((guint64)v + 1024 * 1024 - 1) / (1024 * 1024));
}

static void add_image(AlkCliTable *t, JsonObject *img, GDateTime *now)
{
	g_autofree char *name = cell_string(img, "name");
	g_autofree char *build = cell_string(img, "build_id");
	g_autofree char *kernel = cell_string(img, "kernel_version");
	const char *u = alk_cli_json_string(img, "default_user");
	gboolean broken = alk_cli_json_string(img, "error") != NULL;
	const char *user = broken ? "-" : u != NULL ? u : "root";
	g_autofree char *source = cell_source(img);
	g_autofree char *disk = cell_bytes_mib(img, "rootfs_bytes");
	g_autofree char *rootfs = cell_mib(img, "rootfs_virtual_mib");
	g_autofree char *age = cell_age(img, "built_at", now);
	g_autofree char *built =
	    g_strcmp0(age, "-") == 0 ? g_strdup("-") : g_strconcat(age, " ago", NULL);
	g_autofree char *usable = cell_usable(img);
	const char *row[] = {name, kernel, user, source, disk, rootfs, built, build, usable, NULL};

	alk_cli_table_add(t, row);
}

char *alk_cli_format_images(JsonArray *images, GDateTime *now)
{
	static const char *const headers[] = {"NAME",   "KERNEL", "USER",  "SOURCE", "SIZE",
	                                      "ROOTFS", "BUILT",  "BUILD", "USABLE", NULL};
	g_autoptr(AlkCliTable) t = alk_cli_table_new(headers);
	guint n = images != NULL ? json_array_get_length(images) : 0;

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element(images, i);
		if (JSON_NODE_HOLDS_OBJECT(node))
			add_image(t, json_node_get_object(node), now);
	}
	return finish(t);
}

typedef char *(*CellFormat)(JsonObject *obj, const char *name);

static char *cell_seconds(JsonObject *obj, const char *name)
{
	gint64 v = 0;

	if (!alk_cli_json_int(obj, name, &v))
		return g_strdup("-");
	return alk_cli_format_duration(v);
}

/* "default/max" of two members */
static char *cell_pair(JsonObject *p, const char *def, const char *max, CellFormat format)
{
	g_autofree char *a = format(p, def);
	g_autofree char *b = format(p, max);

	return g_strdup_printf("%s/%s", a, b);
}

static char *cell_modes(JsonObject *p)
{
	JsonArray *modes = alk_cli_json_array(p, "network_modes");
	g_autoptr(GPtrArray) names = g_ptr_array_new();
	guint n = modes != NULL ? json_array_get_length(modes) : 0;

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element(modes, i);
		if (JSON_NODE_TYPE(node) == JSON_NODE_VALUE &&
		    json_node_get_value_type(node) == G_TYPE_STRING)
			g_ptr_array_add(names, (gpointer)json_node_get_string(node));
	}
	g_ptr_array_add(names, NULL);
	return names->len > 1 ? g_strjoinv(",", (char **)names->pdata) : g_strdup("-");
}

static void add_profile(AlkCliTable *t, JsonObject *p, const char *default_name)
{
	const char *pname = alk_cli_json_string(p, "name");
	g_autofree char *name =
	    g_strdup_printf("%s%s", pname != NULL ? pname : "-",
	                    g_strcmp0(pname, default_name) == 0 ? " (default)" : "");
	g_autofree char *cpus = cell_pair(p, "cpus", "max_cpus", cell_int);
	g_autofree char *mem = cell_pair(p, "memory_mib", "max_memory_mib", cell_mib);
	g_autofree char *disk = cell_pair(p, "disk_mib", "max_disk_mib", cell_mib);
	g_autofree char *ttl = cell_pair(p, "ttl_s", "max_ttl_s", cell_seconds);
	g_autofree char *exec = cell_pair(p, "exec_timeout_s", "max_exec_timeout_s", cell_seconds);
	g_autofree char *modes = cell_modes(p);
	const char *row[] = {name, cpus, mem, disk, ttl, exec, modes, NULL};

	alk_cli_table_add(t, row);
}

char *alk_cli_format_profiles(JsonObject *doc)
{
	static const char *const headers[] = {"NAME", "CPUS",         "MEMORY",  "DISK",
	                                      "TTL",  "EXEC-TIMEOUT", "NETWORK", NULL};
	g_autoptr(AlkCliTable) t = alk_cli_table_new(headers);
	JsonArray *profiles = alk_cli_json_array(doc, "profiles");
	const char *def = alk_cli_json_string(doc, "default");
	guint n = profiles != NULL ? json_array_get_length(profiles) : 0;

	for (guint i = 0; i < n; i++) {
		JsonNode *node = json_array_get_element(profiles, i);
		if (JSON_NODE_HOLDS_OBJECT(node))
			add_profile(t, json_node_get_object(node), def);
	}
	return finish(t);
}

/* ---- key/value listing ---------------------------------------------------------------------- */

static char *scalar_text(JsonNode *node)
{
	if (JSON_NODE_HOLDS_NULL(node))
		return g_strdup("-");
	if (JSON_NODE_TYPE(node) == JSON_NODE_VALUE &&
	    json_node_get_value_type(node) == G_TYPE_STRING)
		return g_strdup(json_node_get_string(node));
	return alk_json_to_string(node);
}

static char *array_text(JsonArray *array)
{
	guint n = json_array_get_length(array);
	GString *out = NULL;

	if (n == 0)
		return g_strdup("-");
	out = g_string_new(NULL);
	for (guint i = 0; i < n; i++) {
		g_autofree char *item = scalar_text(json_array_get_element(array, i));
		g_string_append_printf(out, "%s%s", i > 0 ? "," : "", item);
	}
	return g_string_free(out, FALSE);
}

static void flatten(AlkCliTable *t, const char *prefix, JsonObject *obj)
{
	g_autoptr(GList) names = json_object_get_members(obj);

	for (GList *l = names; l != NULL; l = l->next) {
		const char *name = l->data;
		JsonNode *node = json_object_get_member(obj, name);
		g_autofree char *key =
		    prefix != NULL ? g_strconcat(prefix, ".", name, NULL) : g_strdup(name);
		g_autofree char *value = NULL;
		if (JSON_NODE_HOLDS_OBJECT(node) &&
		    json_object_get_size(json_node_get_object(node))) {
			flatten(t, key, json_node_get_object(node));
			continue;
		}
		if (JSON_NODE_HOLDS_ARRAY(node))
			value = array_text(json_node_get_array(node));
		else if (JSON_NODE_HOLDS_OBJECT(node))
			value = g_strdup("-");
		else
			value = scalar_text(node);
		const char *row[] = {key, value, NULL};
		alk_cli_table_add(t, row);
	}
}

char *alk_cli_format_object(JsonObject *obj)
{
	g_autoptr(AlkCliTable) t = g_new0(AlkCliTable, 1);

	t->columns = 2;
	t->rows = g_ptr_array_new_with_free_func((GDestroyNotify)g_strfreev);
	flatten(t, NULL, obj);
	return alk_cli_table_to_string(t);
}
