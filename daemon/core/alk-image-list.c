/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-image-list.h"

#include <sys/stat.h>

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
	g_free(info->build_id);
	g_free(info->default_user);
	g_free(info->source_kind);
	g_free(info->source_suite);
	g_strfreev(info->source_packages);
	g_free(info->source_flavour);
	g_free(info->source_reference);
	g_free(info->source_digest);
	g_strfreev(info->exec_env);
	g_free(info->exec_cwd);
	g_free(info->exec_user);
	g_strfreev(info->exec_argv);
	g_free(info);
}

static void take_source(AlkImageInfo *info, AlkImage *image)
{
	info->source_kind = g_steal_pointer(&image->source_kind);
	info->source_suite = g_steal_pointer(&image->source_suite);
	info->source_packages = g_steal_pointer(&image->source_packages);
	info->source_flavour = g_steal_pointer(&image->source_flavour);
	info->source_reference = g_steal_pointer(&image->source_reference);
	info->source_digest = g_steal_pointer(&image->source_digest);
	info->exec_env = g_steal_pointer(&image->exec_env);
	info->exec_cwd = g_steal_pointer(&image->exec_cwd);
	info->exec_user = g_steal_pointer(&image->exec_user);
	info->exec_argv = g_steal_pointer(&image->exec_argv);
}

static AlkImageInfo *info_new(AlkImage *image)
{
	AlkImageInfo *info = g_new0(AlkImageInfo, 1);
	struct stat st;

	info->name = g_strdup(image->name);
	info->error = g_strdup(image->error);
	if (image->error != NULL)
		return info;
	info->kernel_version = g_strdup(image->kernel_version);
	info->agent_version = g_strdup(image->agent_version);
	info->rootfs_virtual_mib = image->rootfs_virtual_mib;
	if (image->rootfs_fd >= 0 && fstat(image->rootfs_fd, &st) == 0)
		info->rootfs_bytes = (guint64)st.st_size;
	info->built_at = g_strdup(image->built_at);
	info->build_id = g_strdup(image->build_id);
	info->default_user = g_strdup(image->default_user);
	take_source(info, image);
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
