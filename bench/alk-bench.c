/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's side of the baseline comparison (bench/README.md): boots the
 * minimal image, then measures create-to-HELLO, the round trip of /bin/true
 * and stdin->stdout echoes through cat. Prints one line in the baseline's
 * format so bench/run can put the two side by side. */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alk-test-guest.h"

#define DEADLINE(s) (g_get_monotonic_time() + (gint64)(s)*G_USEC_PER_SEC)

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double run_ms(AlkTestGuest *g, const char *const *argv, GBytes *in)
{
	g_autoptr(GError) error = NULL;
	AlkTestExec r;
	gint64 t0 = g_get_monotonic_time();
	if (!alk_test_guest_exec(g, argv, in, 0, 0, &r, DEADLINE(300), &error)) {
		g_printerr("exec failed: %s\n", error->message);
		exit(1);
	}
	double ms = (g_get_monotonic_time() - t0) / 1000.0;
	if (r.exit_code != 0 ||
	    (in != NULL && (r.out->len != g_bytes_get_size(in) ||
	                    memcmp(r.out->data, g_bytes_get_data(in, NULL), r.out->len) != 0))) {
		g_printerr("exec returned wrong output or status %d\n", r.exit_code);
		exit(1);
	}
	alk_test_exec_clear(&r);
	return ms;
}

/* PING/PONG: the channel's own round trip, no process in the guest. */
static double ping_ms(AlkTestGuest *g)
{
	g_autoptr(GError) error = NULL;
	guint8 frame[ALK_PROTO_MAX_FRAME];
	AlkMsgSync m = {.nonce = g_random_int()};
	guint32 id = alk_test_guest_next_id(g);
	long n = alk_msg_sync_encode(frame, sizeof(frame), ALK_MSG_PING, id, &m);
	gint64 t0 = g_get_monotonic_time();
	AlkFrameHeader h = {0};

	if (!alk_test_guest_send(g, frame, n, DEADLINE(30), &error)) {
		g_printerr("ping: %s\n", error->message);
		exit(1);
	}
	while (h.type != ALK_MSG_PONG || h.id != id) {
		if (!alk_test_guest_recv(g, &h, NULL, DEADLINE(30), &error)) {
			g_printerr("ping: %s\n", error->message);
			exit(1);
		}
	}
	return (g_get_monotonic_time() - t0) / 1000.0;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(double), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double echo_ms(AlkTestGuest *g, gsize size)
{
	const char *cat[] = {"/bin/cat", NULL};
	g_autofree guint8 *data = g_malloc(size);
	for (gsize i = 0; i < size; i++)
		data[i] = (guint8)g_random_int();
	g_autoptr(GBytes) in = g_bytes_new(data, size);
	return run_ms(g, cat, in);
}

int main(void)
{
	g_autoptr(GError) error = NULL;
	const char *image = g_getenv("IMAGE") ?: "minimal";
	int n = atoi(g_getenv("N") ?: "50");
	const char *tru[] = {"/bin/true", NULL};
	gint64 t0 = g_get_monotonic_time();
	g_autoptr(AlkTestGuest) g = alk_test_guest_boot(image, &error);

	if (g == NULL || n < 1) {
		g_printerr("boot failed: %s\n", error ? error->message : "N must be >= 1");
		return 1;
	}
	double ready = (g_get_monotonic_time() - t0) / 1e6;
	double *ts = g_new(double, n);
	run_ms(g, tru, NULL); /* warm-up, as the baseline does */
	for (int i = 0; i < n; i++)
		ts[i] = run_ms(g, tru, NULL);
	double p50 = median(ts, n); /* sorts ts */
	double p99 = ts[MAX((int)(n * 0.99) - 1, 0)];
	double kb16 = echo_ms(g, 16 << 10);
	double mb1 = echo_ms(g, 1 << 20);
	for (int i = 0; i < n; i++)
		ts[i] = ping_ms(g);
	printf("ready_s=%.2f exec_ms_p50=%.1f exec_ms_p99=%.1f catKB_ms=%.0f cat1MB_ms=%.0f "
	       "ping_ms_p50=%.2f\n",
	       ready, p50, p99, kb16, mb1, median(ts, n));
	g_free(ts);
	return 0;
}
