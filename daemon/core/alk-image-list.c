/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-image-list.h"

#include "alk-image.h"

void alk_image_info_free(AlkImageInfo *info)
{
	if (info == NULL)
		return;
	g_free(info->name);
	g_free(info->error);
	g_free(info->kernel_version);
	g_free(info->agent_version);
	g_free(info->built_at);
	g_free(info);
}

static AlkImageInfo *info_new(const AlkImage *image)
{
	AlkImageInfo *info = g_new0(AlkImageInfo, 1);

	info->name = g_strdup(image->name);
	info->error = g_strdup(image->error);
	if (image->error != NULL)
		return info;
	info->kernel_version = g_strdup(image->kernel_version);
	info->agent_version = g_strdup(image->agent_version);
	info->rootfs_virtual_mib = image->rootfs_virtual_mib;
	info->built_at = g_strdup(image->built_at);
	return info;
}

GPtrArray *alk_image_list(const char *image_dir, GError **error)
{
	g_autoptr(GPtrArray) images = alk_image_scan(image_dir, error);
	GPtrArray *out;

	if (images == NULL)
		return NULL;
	out = g_ptr_array_new_full(images->len, (GDestroyNotify)alk_image_info_free);
	for (guint i = 0; i < images->len; i++)
		g_ptr_array_add(out, info_new(g_ptr_array_index(images, i)));
	return out;
}
