/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/images: what can be created, and why an image cannot. */
#include "alk-api-private.h"
#include "alk-image-list.h"
#include "alk-json.h"

static void add_uint(JsonBuilder *b, const char *key, gboolean usable, guint64 value)
{
	json_builder_set_member_name(b, key);
	if (usable)
		json_builder_add_int_value(b, (gint64)value);
	else
		json_builder_add_null_value(b);
}

/* {kind, suite, packages} | {kind, reference, digest} | {kind}; null when unusable */
static void add_source(JsonBuilder *b, const AlkImageInfo *image)
{
	json_builder_set_member_name(b, "source");
	if (image->source_kind == NULL) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	alk_json_add_string(b, "kind", image->source_kind);
	if (g_strcmp0(image->source_kind, "debian") == 0) {
		alk_json_add_string(b, "suite", image->source_suite);
		alk_json_add_strv(b, "packages", (const char *const *)image->source_packages);
		if (image->source_flavour != NULL)
			alk_json_add_string(b, "flavour", image->source_flavour);
	} else if (g_strcmp0(image->source_kind, "oci") == 0) {
		alk_json_add_string(b, "reference", image->source_reference);
		alk_json_add_string(b, "digest", image->source_digest);
	}
	json_builder_end_object(b);
}

/* What the image's config asks an exec to default to (OCI); null when nothing. */
static void add_exec(JsonBuilder *b, const AlkImageInfo *image)
{
	json_builder_set_member_name(b, "exec_defaults");
	if (image->exec_env == NULL && image->exec_cwd == NULL && image->exec_user == NULL &&
	    image->exec_argv == NULL) {
		json_builder_add_null_value(b);
		return;
	}
	json_builder_begin_object(b);
	alk_json_add_strv(b, "env", (const char *const *)image->exec_env);
	alk_json_add_string(b, "cwd", image->exec_cwd);
	alk_json_add_string(b, "user", image->exec_user);
	alk_json_add_strv(b, "argv", (const char *const *)image->exec_argv);
	json_builder_end_object(b);
}

static void add_image(JsonBuilder *b, const AlkImageInfo *image)
{
	gboolean usable = image->error == NULL;

	json_builder_begin_object(b);
	alk_json_add_string(b, "name", image->name);
	alk_json_add_string(b, "build_id", image->build_id);
	alk_json_add_string(b, "kernel_version", image->kernel_version);
	alk_json_add_string(b, "agent_version", image->agent_version);
	add_uint(b, "rootfs_virtual_mib", usable, image->rootfs_virtual_mib);
	add_uint(b, "rootfs_bytes", usable, image->rootfs_bytes);
	alk_json_add_string(b, "built_at", image->built_at);
	alk_json_add_string(b, "default_user", image->default_user);
	add_source(b, image);
	add_exec(b, image);
	alk_json_add_bool(b, "usable", usable);
	alk_json_add_string(b, "error", image->error);
	json_builder_end_object(b);
}

void alk_api_images_get(AlkApiReq *req)
{
	g_autoptr(GError) error = NULL;
	g_autoptr(GPtrArray) images = alk_image_list(req->api->config->image_dir, &error);
	g_autoptr(JsonBuilder) b = json_builder_new();

	if (images == NULL) {
		alk_api_reply_error(req, error);
		return;
	}
	json_builder_begin_object(b);
	json_builder_set_member_name(b, "images");
	json_builder_begin_array(b);
	for (guint i = 0; i < images->len; i++)
		add_image(b, g_ptr_array_index(images, i));
	json_builder_end_array(b);
	json_builder_end_object(b);
	alk_api_reply_builder(req, SOUP_STATUS_OK, b);
}
