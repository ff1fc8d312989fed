/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-audit-line.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alk-error.h"
#include "alk-json.h"

/* Containers in a line: the line, args or result, and what the writer
 * allows inside those (alk_audit_line_format checks the same bound). */
#define LINE_MAX_DEPTH (ALK_JSON_MAX_DEPTH + 2)

static const char *const line_fields[] = {"seq",     "time", "caller", "action",
                                          "sandbox", "args", "result", "prev"};
/* after sandbox, each optional, in this order */
static const char *const optional_fields[] = {"node", "request_id"};

gboolean alk_audit_request_id_valid(const char *id)
{
	gsize n = id != NULL ? strlen(id) : 0;

	return n > 0 && n <= ALK_AUDIT_MAX_REQUEST_ID &&
	       strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-") ==
	           n;
}

gboolean alk_audit_node_valid(const char *node)
{
	return node != NULL && strlen(node) == 2 && strspn(node, "0123456789abcdef") == 2 &&
	       strcmp(node, "00") != 0;
}

void alk_audit_hash_hex(const char *data, gsize len, char out[65])
{
	g_autoptr(GChecksum) sum = g_checksum_new(G_CHECKSUM_SHA256);

	g_checksum_update(sum, (const guchar *)data, len);
	memcpy(out, g_checksum_get_string(sum), 65);
}

void alk_audit_digest_hex(GBytes *key, const char *data, gsize len, char out[65])
{
	g_autoptr(GHmac) mac = NULL;
	gsize klen = 0;
	const guchar *k;

	if (key == NULL) {
		alk_audit_hash_hex(data, len, out);
		return;
	}
	k = g_bytes_get_data(key, &klen);
	mac = g_hmac_new(G_CHECKSUM_SHA256, k, klen);
	g_hmac_update(mac, (const guchar *)data, (gssize)len);
	memcpy(out, g_hmac_get_string(mac), 65);
}

GBytes *alk_audit_key_load(const char *path, GError **error)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
	guint8 buf[ALK_AUDIT_KEY_MAX + 1];
	const char *bad = NULL;
	struct stat st;
	ssize_t n = -1;

	if (fd < 0) {
		int saved = errno;
		g_set_error(error, ALK_ERROR,
		            saved == ENOENT ? ALK_ERROR_NOT_FOUND : ALK_ERROR_INVALID,
		            "audit key %s: %s", path, g_strerror(saved));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		bad = "not a regular file";
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		bad = "not owned by root";
	else if ((st.st_mode & 077) != 0)
		bad = "readable or writable by others than its owner (chmod 600 it)";
	else if ((n = read(fd, buf, sizeof(buf))) < ALK_AUDIT_KEY_MIN || n > ALK_AUDIT_KEY_MAX)
		bad = "not 32 to 4096 bytes long";
	close(fd);
	if (bad != NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit key %s: %s", path, bad);
		return NULL;
	}
	return g_bytes_new(buf, (gsize)n);
}

char *alk_audit_head_format(guint64 seq, const char *hash, gboolean keyed)
{
	return g_strdup_printf("%" G_GUINT64_FORMAT " %s%s\n", seq, hash,
	                       keyed ? " hmac-sha256" : "");
}

static gboolean check_action(const char *action)
{
	gsize len = action != NULL ? strlen(action) : 0;

	if (len == 0 || len > 64)
		return FALSE;
	for (gsize i = 0; i < len; i++) {
		char c = action[i];
		if (!g_ascii_islower(c) && !g_ascii_isdigit(c) && c != '.' && c != '_' && c != '-')
			return FALSE;
	}
	return TRUE;
}

/* The serializer recurses; so does verify's parser: bound both here */
static gboolean depth_ok_node(JsonNode *node, guint depth)
{
	if (depth > ALK_JSON_MAX_DEPTH)
		return FALSE;
	if (JSON_NODE_HOLDS_OBJECT(node)) {
		g_autoptr(GList) members = json_object_get_values(json_node_get_object(node));
		for (GList *l = members; l != NULL; l = l->next) {
			if (!depth_ok_node(l->data, depth + 1))
				return FALSE;
		}
	} else if (JSON_NODE_HOLDS_ARRAY(node)) {
		JsonArray *arr = json_node_get_array(node);
		for (guint i = 0; i < json_array_get_length(arr); i++) {
			if (!depth_ok_node(json_array_get_element(arr, i), depth + 1))
				return FALSE;
		}
	}
	return TRUE;
}

static gboolean check_fields(const char *caller, const char *action, const char *sandbox,
                             JsonNode *args, JsonNode *result, GError **error)
{
	if (caller == NULL || caller[0] == '\0' || strlen(caller) > ALK_AUDIT_MAX_CALLER) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit: bad caller");
		return FALSE;
	}
	if (!check_action(action)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit: bad action");
		return FALSE;
	}
	if (sandbox != NULL && strlen(sandbox) > ALK_AUDIT_MAX_SANDBOX) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit: bad sandbox id");
		return FALSE;
	}
	if ((args != NULL && !JSON_NODE_HOLDS_OBJECT(args)) ||
	    (result != NULL && !JSON_NODE_HOLDS_OBJECT(result))) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "audit: args and result must be objects");
		return FALSE;
	}
	if ((args != NULL && !depth_ok_node(args, 0)) ||
	    (result != NULL && !depth_ok_node(result, 0))) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID,
		            "audit: args or result nested deeper than %d", ALK_JSON_MAX_DEPTH);
		return FALSE;
	}
	return TRUE;
}

/* alk_json_to_string escapes control characters and repairs invalid UTF-8
 * (json-glib 1.6's generator does neither), so a line is always valid JSON. */
static char *json_text(JsonNode *node)
{
	return node != NULL ? alk_json_to_string(node) : g_strdup("{}");
}

static char *json_string_text(const char *s)
{
	g_autoptr(JsonNode) node = json_node_init_string(json_node_alloc(), s);
	return alk_json_to_string(node);
}

static char *omitted(gsize bytes)
{
	return g_strdup_printf("{\"omitted\":\"oversize\",\"bytes\":%" G_GSIZE_FORMAT "}", bytes);
}

/* Keeps the record of the action and drops what made the line too long:
 * args first, then result. The other fields are bounded (fixed counts them
 * and the punctuation), so the line then fits. */
static void shrink_to_fit(gsize fixed, char **args_text, char **result_text)
{
	char **parts[] = {args_text, result_text};

	for (guint i = 0; i < G_N_ELEMENTS(parts); i++) {
		gsize n;
		if (fixed + strlen(*args_text) + strlen(*result_text) <= ALK_AUDIT_MAX_LINE)
			return;
		n = strlen(*parts[i]);
		g_free(*parts[i]);
		*parts[i] = omitted(n);
	}
}

GString *alk_audit_line_format(guint64 seq, const char *time, const char *caller,
                               const char *action, const char *sandbox, JsonNode *args,
                               JsonNode *result, const char *prev, GError **error)
{
	return alk_audit_line_format_full(seq, time, caller, action, sandbox, NULL, NULL, args,
	                                  result, prev, error);
}

GString *alk_audit_line_format_full(guint64 seq, const char *time, const char *caller,
                                    const char *action, const char *sandbox, const char *node,
                                    const char *request_id, JsonNode *args, JsonNode *result,
                                    const char *prev, GError **error)
{
	g_autofree char *extra = NULL;
	g_autofree char *time_text = NULL;
	g_autofree char *caller_text = NULL;
	g_autofree char *sandbox_text = NULL;
	g_autofree char *args_text = NULL;
	g_autofree char *result_text = NULL;
	GString *line;
	gsize fixed;

	if (!check_fields(caller, action, sandbox, args, result, error))
		return NULL;
	if ((node != NULL && !alk_audit_node_valid(node)) ||
	    (request_id != NULL && !alk_audit_request_id_valid(request_id))) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit: bad node or request id");
		return NULL;
	}
	/* both of a charset that needs no escaping */
	extra =
	    g_strconcat(node != NULL ? ",\"node\":\"" : "", node != NULL ? node : "",
	                node != NULL ? "\"" : "", request_id != NULL ? ",\"request_id\":\"" : "",
	                request_id != NULL ? request_id : "", request_id != NULL ? "\"" : "", NULL);
	time_text = json_string_text(time);
	caller_text = json_string_text(caller);
	sandbox_text = sandbox != NULL ? json_string_text(sandbox) : g_strdup("null");
	args_text = json_text(args);
	result_text = json_text(result);
	fixed = strlen(time_text) + strlen(caller_text) + strlen(sandbox_text) + 256;
	shrink_to_fit(fixed, &args_text, &result_text);
	line = g_string_sized_new(fixed + strlen(args_text) + strlen(result_text));
	g_string_append_printf(line,
	                       "{\"seq\":%" G_GUINT64_FORMAT ",\"time\":%s,\"caller\":%s,"
	                       "\"action\":\"%s\",\"sandbox\":%s%s,\"args\":%s,\"result\":%s,"
	                       "\"prev\":\"%s\"}",
	                       seq, time_text, caller_text, action, sandbox_text, extra, args_text,
	                       result_text, prev);
	return line;
}

static gboolean is_hex64(const char *s)
{
	if (s == NULL || strlen(s) != 64)
		return FALSE;
	for (guint i = 0; i < 64; i++) {
		if (!g_ascii_isdigit(s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
			return FALSE;
	}
	return TRUE;
}

static gboolean has_exact_fields(JsonObject *obj)
{
	g_autoptr(GList) names = json_object_get_members(obj);
	guint i = 0;
	guint opt = 0;

	for (GList *l = names; l != NULL; l = l->next) {
		/* after sandbox: the optional ones, each at most once, in order */
		if (i == 5 && opt < G_N_ELEMENTS(optional_fields)) {
			guint k = opt;
			while (k < G_N_ELEMENTS(optional_fields) &&
			       g_strcmp0(l->data, optional_fields[k]) != 0)
				k++;
			if (k < G_N_ELEMENTS(optional_fields)) {
				opt = k + 1;
				continue;
			}
		}
		if (i >= G_N_ELEMENTS(line_fields) || g_strcmp0(l->data, line_fields[i]) != 0)
			return FALSE;
		i++;
	}
	return i == G_N_ELEMENTS(line_fields);
}

static gboolean is_string_member(JsonObject *obj, const char *name)
{
	JsonNode *n = json_object_get_member(obj, name);
	return JSON_NODE_HOLDS_VALUE(n) && json_node_get_value_type(n) == G_TYPE_STRING;
}

static gboolean check_time(JsonObject *obj)
{
	g_autoptr(GDateTime) t = NULL;

	if (!is_string_member(obj, "time"))
		return FALSE;
	t = g_date_time_new_from_iso8601(json_object_get_string_member(obj, "time"), NULL);
	return t != NULL;
}

static gboolean check_members(JsonObject *obj, GError **error)
{
	JsonNode *seq = json_object_get_member(obj, "seq");
	JsonNode *sandbox = json_object_get_member(obj, "sandbox");
	const char *why = NULL;

	if (!JSON_NODE_HOLDS_VALUE(seq) || json_node_get_value_type(seq) != G_TYPE_INT64 ||
	    json_node_get_int(seq) <= 0)
		why = "seq is not a positive integer";
	else if (!check_time(obj))
		why = "time is not an RFC 3339 time";
	else if (!is_string_member(obj, "caller") || !is_string_member(obj, "action"))
		why = "caller or action is not a string";
	else if (!JSON_NODE_HOLDS_NULL(sandbox) && !is_string_member(obj, "sandbox"))
		why = "sandbox is neither a string nor null";
	else if (!JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "args")) ||
	         !JSON_NODE_HOLDS_OBJECT(json_object_get_member(obj, "result")))
		why = "args or result is not an object";
	else if (json_object_has_member(obj, "node") &&
	         (!is_string_member(obj, "node") ||
	          !alk_audit_node_valid(json_object_get_string_member(obj, "node"))))
		why = "node is not a node tag";
	else if (json_object_has_member(obj, "request_id") &&
	         (!is_string_member(obj, "request_id") ||
	          !alk_audit_request_id_valid(json_object_get_string_member(obj, "request_id"))))
		why = "request_id is not a request id";
	else if (!is_string_member(obj, "prev") ||
	         !is_hex64(json_object_get_string_member(obj, "prev")))
		why = "prev is not 64 lowercase hex digits";
	if (why != NULL) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "%s", why);
		return FALSE;
	}
	return TRUE;
}

gboolean alk_audit_line_parse(const char *line, gsize len, AlkAuditLineInfo *info, GError **error)
{
	g_autoptr(JsonObject) obj = NULL;

	/* strict grammar, no duplicate keys, bounded nesting, before json-glib */
	obj = alk_json_parse_object(line, len, ALK_AUDIT_MAX_LINE, LINE_MAX_DEPTH, error);
	if (obj == NULL)
		return FALSE;
	if (!has_exact_fields(obj)) {
		g_set_error(
		    error, ALK_ERROR, ALK_ERROR_INVALID,
		    "fields are not seq,time,caller,action,sandbox,[node,][request_id,]args,"
		    "result,prev");
		return FALSE;
	}
	if (!check_members(obj, error))
		return FALSE;
	info->seq = (guint64)json_object_get_int_member(obj, "seq");
	memcpy(info->prev, json_object_get_string_member(obj, "prev"), 65);
	info->chain_break = g_strcmp0(json_object_get_string_member(obj, "action"),
	                              ALK_AUDIT_ACTION_CHAIN_BREAK) == 0;
	return TRUE;
}

static gboolean head_parse(const char *buf, gsize len, AlkAuditHead *head)
{
	g_autofree char *text = g_strndup(buf, len);
	g_auto(GStrv) parts = NULL;
	guint64 seq = 0;

	if (len == 0 || buf[len - 1] != '\n' || strlen(text) != len)
		return FALSE;
	text[len - 1] = '\0';
	parts = g_strsplit(text, " ", -1);
	if (g_strv_length(parts) < 2 || g_strv_length(parts) > 3 || !is_hex64(parts[1]) ||
	    !g_ascii_string_to_unsigned(parts[0], 10, 0, G_MAXINT64, &seq, NULL) ||
	    (parts[2] != NULL && strcmp(parts[2], "hmac-sha256") != 0))
		return FALSE;
	head->seq = seq;
	memcpy(head->hash, parts[1], 65);
	head->keyed = parts[2] != NULL;
	return TRUE;
}

gboolean alk_audit_head_read(const char *path, AlkAuditHead *head, GError **error)
{
	char buf[128];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW);

	if (fd < 0) {
		int saved = errno;
		g_set_error(error, ALK_ERROR, saved == ENOENT ? ALK_ERROR_NOT_FOUND : ALK_ERROR_IO,
		            "audit head %s: %s", path, g_strerror(saved));
		return FALSE;
	}
	/* a valid head is at most 98 bytes: anything that fills buf is bad */
	do
		n = read(fd, buf, sizeof(buf));
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_IO, "audit head %s: read failed", path);
		return FALSE;
	}
	if ((gsize)n == sizeof(buf) || !head_parse(buf, (gsize)n, head)) {
		g_set_error(error, ALK_ERROR, ALK_ERROR_INVALID, "audit head %s: malformed", path);
		return FALSE;
	}
	return TRUE;
}
