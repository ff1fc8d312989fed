/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Networked sandboxes: namespace, uplink, nftables and resolver per sandbox. */
#include "alk-error.h"
#include "alk-manager-private.h"

void alk_manager_set_network_async(AlkManager *m, const char *id, const char *const *allow,
                                   GAsyncReadyCallback cb, gpointer user_data)
{
	g_autoptr(GTask) task = g_task_new(NULL, NULL, cb, user_data);

	g_task_set_source_tag(task, alk_manager_set_network_async);
	g_task_return_new_error(task, ALK_ERROR, ALK_ERROR_CONFLICT, "not implemented yet");
}

gboolean alk_manager_set_network_finish(AlkManager *m, GAsyncResult *res, GError **error)
{
	return g_task_propagate_boolean(G_TASK(res), error);
}
