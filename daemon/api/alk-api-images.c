/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /v1/images: what can be created, and why an image cannot. */
#include "alk-api-private.h"
#include "alk-image-list.h"
#include "alk-json.h"

static void add_image(JsonBuilder *b, const AlkImageInfo *image)
{
	gboolean usable = image->error == NULL;

	json_builder_begin_object(b);
	alk_json_add_string(b, "name", image->name);
	alk_json_add_string(b, "kernel_version", usable ? image->kernel_version : NULL);
	alk_json_add_string(b, "agent_version", usable ? image->agent_version : NULL);
	json_builder_set_member_name(b, "rootfs_virtual_mib");
	if (usable)
		json_builder_add_int_value(b, (gint64)image->rootfs_virtual_mib);
	else
		json_builder_add_null_value(b);
	alk_json_add_string(b, "built_at", usable ? image->built_at : NULL);
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
