/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The one table from errors to HTTP statuses and the error codes of the
 * REST contract. */
#include "alk-api-private.h"
#include "alk-error.h"
#include "alk-json.h"

G_DEFINE_QUARK(alk - api - error - quark, alk_api_error)

typedef struct {
	gboolean api; /* ALK_API_ERROR, else ALK_ERROR */
	gint code;
	guint status;
	const char *name;
} AlkApiErrorRow;

static const AlkApiErrorRow rows[] = {
    {FALSE, ALK_ERROR_INVALID, 400, "invalid_request"},
    {TRUE, ALK_API_ERROR_UNAUTHORIZED, 401, "unauthorized"},
    {TRUE, ALK_API_ERROR_FORBIDDEN, 403, "forbidden"},
    {FALSE, ALK_ERROR_DENIED, 403, "forbidden"},
    {FALSE, ALK_ERROR_NOT_FOUND, 404, "not_found"},
    {TRUE, ALK_API_ERROR_METHOD, 405, "method_not_allowed"},
    {FALSE, ALK_ERROR_CONFLICT, 409, "conflict"},
    {FALSE, ALK_ERROR_ENDED, 410, "sandbox_ended"},
    {TRUE, ALK_API_ERROR_TOO_LARGE, 413, "payload_too_large"},
    {TRUE, ALK_API_ERROR_URI_TOO_LONG, 414, "uri_too_long"},
    {TRUE, ALK_API_ERROR_MEDIA_TYPE, 415, "unsupported_media_type"},
    {FALSE, ALK_ERROR_LIMIT, 429, "limit_exceeded"},
    /* at capacity: in a cluster the create answers 503 + X-Airlock-Full instead
     * (alk-api-sandboxes.c), so that the proxy tries another node */
    {FALSE, ALK_ERROR_FULL, 429, "limit_exceeded"},
    {TRUE, ALK_API_ERROR_HEAD_TOO_LARGE, 431, "headers_too_large"},
    {TRUE, ALK_API_ERROR_CLUSTER, 503, "cluster_unavailable"},
    {FALSE, ALK_ERROR_FAILED, 500, "internal"},
    {FALSE, ALK_ERROR_PROTOCOL, 500, "internal"},
    {FALSE, ALK_ERROR_IO, 500, "internal"},
    /* the guest failed (a full disk, an I/O error): not the caller's fault */
    {FALSE, ALK_ERROR_GUEST, 502, "guest_error"},
    {FALSE, ALK_ERROR_UNAVAILABLE, 503, "libvirt_unavailable"},
    {FALSE, ALK_ERROR_TIMEOUT, 504, "timeout"},
};

/* Anything else (a GIOError escaping somewhere) is internal. */
static const AlkApiErrorRow internal = {FALSE, ALK_ERROR_FAILED, 500, "internal"};

static const AlkApiErrorRow *row_for(const GError *error)
{
	for (guint i = 0; error != NULL && i < G_N_ELEMENTS(rows); i++) {
		GQuark domain = rows[i].api ? ALK_API_ERROR : ALK_ERROR;
		if (error->domain == domain && error->code == rows[i].code)
			return &rows[i];
	}
	return &internal;
}

guint alk_api_error_status(const GError *error)
{
	return row_for(error)->status;
}

const char *alk_api_error_code(const GError *error)
{
	return row_for(error)->name;
}

char *alk_api_error_json(const GError *error)
{
	g_autoptr(JsonBuilder) b = json_builder_new();
	g_autoptr(JsonNode) root = NULL;

	json_builder_begin_object(b);
	alk_api_json_add_error(b, error);
	json_builder_end_object(b);
	root = json_builder_get_root(b);
	return alk_json_to_string(root);
}
