/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GET /metrics: the Prometheus text exposition: the registry, then the
 * per-sandbox network counters read from the live sandboxes just now. */
#include <string.h>

#include "alk-api-private.h"

static gboolean counted(const AlkSandbox *sb)
{
	return sb->limits.network != ALK_NET_NONE && alk_sandbox_is_live(sb);
}

/* Two samples per sandbox: label name, its values, and the two counts. */
static void render_pairs(GString *out, GPtrArray *sandboxes, const char *name, const char *help,
                         const char *label, const char *const values[2],
                         void (*read)(const AlkSandbox *sb, guint64 counts[2]))
{
	g_autoptr(GArray) samples = g_array_new(FALSE, TRUE, sizeof(AlkMetricSample));
	g_autoptr(GPtrArray) labels = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GError) error = NULL;

	for (guint i = 0; i < sandboxes->len; i++) {
		const AlkSandbox *sb = g_ptr_array_index(sandboxes, i);
		guint64 counts[2] = {0, 0};

		if (!counted(sb))
			continue;
		read(sb, counts);
		for (guint k = 0; k < 2; k++) {
			const char **set = g_new0(const char *, 5);
			AlkMetricSample sample = {set, (double)counts[k]};
			set[0] = "sandbox";
			set[1] = sb->id;
			set[2] = label;
			set[3] = values[k];
			g_ptr_array_add(labels, set);
			g_array_append_val(samples, sample);
		}
	}
	if (!alk_metrics_render_samples(out, name, ALK_METRIC_COUNTER, help,
	                                (const AlkMetricSample *)samples->data, samples->len,
	                                &error))
		g_warning("%s", error->message);
}

static void read_packets(const AlkSandbox *sb, guint64 counts[2])
{
	counts[0] = sb->net.allowed;
	counts[1] = sb->net.denied;
}

/* "answered": every query the allowlist let through (forwarded and
 * answered, whatever the answer) */
static void read_dns(const AlkSandbox *sb, guint64 counts[2])
{
	counts[0] = sb->net.dns_queries - MIN(sb->net.dns_refused, sb->net.dns_queries);
	counts[1] = sb->net.dns_refused;
}

void alk_api_metrics_sandboxes(GString *out, GPtrArray *sandboxes)
{
	static const char *const verdicts[2] = {"allowed", "denied"};
	static const char *const results[2] = {"answered", "refused"};

	render_pairs(out, sandboxes, ALK_METRIC_NET_PACKETS,
	             "Packets of networked sandboxes, let out by the allowlist or dropped.",
	             "verdict", verdicts, read_packets);
	render_pairs(out, sandboxes, ALK_METRIC_DNS_QUERIES,
	             "DNS queries of networked sandboxes to airlock's resolver, answered or "
	             "refused (a name not allowed, a denied answer).",
	             "result", results, read_dns);
}

void alk_api_metrics_get(AlkApiReq *req)
{
	AlkApi *api = req->api;
	g_autoptr(GPtrArray) all = NULL;
	g_autofree char *registry = NULL;
	GString *text;
	gsize len;

	if (api->metrics != NULL) {
		alk_metrics_set(api->metrics, ALK_METRIC_LIBVIRT_UP, NULL,
		                alk_manager_libvirt_up(api->manager), NULL);
		registry = alk_metrics_render(api->metrics);
	}
	text = g_string_new(registry);
	if (api->metrics != NULL) {
		all = alk_manager_list(api->manager);
		alk_api_metrics_sandboxes(text, all);
	}
	len = text->len;
	alk_api_reply_text(req, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
	                   g_string_free(text, FALSE), len);
}
