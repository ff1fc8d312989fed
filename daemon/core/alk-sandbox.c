/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "alk-sandbox.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "alk-error.h"

static const char *const state_names[] = {
    [ALK_SANDBOX_CREATING] = "creating",   [ALK_SANDBOX_BOOTING] = "booting",
    [ALK_SANDBOX_READY] = "ready",         [ALK_SANDBOX_STOPPING] = "stopping",
    [ALK_SANDBOX_DESTROYED] = "destroyed", [ALK_SANDBOX_FAILED] = "failed",
    [ALK_SANDBOX_PAUSED] = "paused",
};

/* Rows: from; bit per allowed "to". Failing is possible from any live
 * state; stopping is how every live state ends. A ready sandbox pauses and
 * resumes; one adopted paused (booting) resumes to booting, since its agent
 * must answer again. */
#define BIT(s) (1u << (s))
#define ENDS (BIT(ALK_SANDBOX_STOPPING) | BIT(ALK_SANDBOX_FAILED))
static const guint transitions[] = {
    [ALK_SANDBOX_CREATING] = BIT(ALK_SANDBOX_BOOTING) | ENDS,
    [ALK_SANDBOX_BOOTING] = BIT(ALK_SANDBOX_READY) | BIT(ALK_SANDBOX_PAUSED) | ENDS,
    [ALK_SANDBOX_READY] = BIT(ALK_SANDBOX_PAUSED) | ENDS,
    [ALK_SANDBOX_STOPPING] = BIT(ALK_SANDBOX_DESTROYED) | BIT(ALK_SANDBOX_FAILED),
    [ALK_SANDBOX_DESTROYED] = 0,
    [ALK_SANDBOX_FAILED] = 0,
    [ALK_SANDBOX_PAUSED] = BIT(ALK_SANDBOX_READY) | BIT(ALK_SANDBOX_BOOTING) | ENDS,
};

const char *alk_sandbox_state_name(AlkSandboxState state)
{
	return state < ALK_SANDBOX_N_STATES ? state_names[state] : "unknown";
}

gboolean alk_sandbox_state_allowed(AlkSandboxState from, AlkSandboxState to)
{
	return from < ALK_SANDBOX_N_STATES && to < ALK_SANDBOX_N_STATES &&
	       (transitions[from] & BIT(to)) != 0;
}

gboolean alk_sandbox_set_state(AlkSandbox *sb, AlkSandboxState to)
{
	if (!alk_sandbox_state_allowed(sb->state, to))
		return FALSE;
	sb->state = to;
	return TRUE;
}

gboolean alk_sandbox_is_live(const AlkSandbox *sb)
{
	return sb->state != ALK_SANDBOX_DESTROYED && sb->state != ALK_SANDBOX_FAILED;
}

static gint64 ms_between(gint64 from_us, gint64 to_us)
{
	return from_us != 0 && to_us >= from_us ? (to_us - from_us) / 1000 : -1;
}

gboolean alk_sandbox_boot_phases(const AlkSandboxBoot *b, AlkBootPhases *out)
{
	AlkBootPhases p;
	gint64 kernel_start_us;

	if (b->start_us == 0 || b->ready_us == 0 || b->hello_us == 0 || b->running_us == 0)
		return FALSE;
	p.total = ms_between(b->start_us, b->ready_us);
	p.prepare = ms_between(b->start_us, b->domain_call_us);
	p.libvirt = ms_between(b->domain_call_us, b->domain_us);
	p.attach = ms_between(b->domain_us, b->running_us);
	p.guest = ms_between(b->running_us, b->hello_us);
	p.handshake = ms_between(b->hello_us, b->ready_us);
	p.firmware = p.kernel = p.initramfs = p.grow = p.switch_root = p.agent = -1;
	/* the guest's stamps, if they are in order and fit in the host's view
	 * of the time between running and HELLO */
	kernel_start_us = b->hello_us - (gint64)b->guest_hello_ms * 1000;
	if (b->guest_initramfs_ms > 0 && b->guest_initramfs_ms <= b->guest_root_ms &&
	    b->guest_root_ms <= b->guest_grown_ms && b->guest_grown_ms <= b->guest_init_ms &&
	    b->guest_init_ms <= b->guest_hello_ms && kernel_start_us >= b->running_us) {
		p.firmware = (kernel_start_us - b->running_us) / 1000;
		p.kernel = b->guest_initramfs_ms;
		p.initramfs = b->guest_root_ms - b->guest_initramfs_ms;
		p.grow = b->guest_grown_ms - b->guest_root_ms;
		p.switch_root = b->guest_init_ms - b->guest_grown_ms;
		p.agent = b->guest_hello_ms - b->guest_init_ms;
	}
	*out = p;
	return TRUE;
}

void alk_sandbox_new_id(char out[ALK_SANDBOX_ID_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	for (int i = 0; i < ALK_SANDBOX_ID_LEN; i++)
		out[i] = hex[g_random_int_range(0, 16)];
	out[ALK_SANDBOX_ID_LEN] = '\0';
}

const char *alk_sandbox_id_from_domain(const char *name)
{
	if (name == NULL || !g_str_has_prefix(name, ALK_DOMAIN_PREFIX))
		return NULL;
	name += strlen(ALK_DOMAIN_PREFIX);
	return alk_sandbox_id_valid(name) ? name : NULL;
}

AlkSandbox *alk_sandbox_new(const char *id, const char *state_root, const char *run_root)
{
	AlkSandbox *sb = g_new0(AlkSandbox, 1);
	g_strlcpy(sb->id, id, sizeof(sb->id));
	sb->domain = g_strconcat(ALK_DOMAIN_PREFIX, id, NULL);
	sb->labels = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
	sb->net.uplink = -1;
	sb->state_dir = g_build_filename(state_root, "sandboxes", id, NULL);
	sb->run_dir = g_build_filename(run_root, "sandboxes", id, NULL);
	sb->overlay = g_build_filename(sb->state_dir, "overlay.qcow2", NULL);
	sb->agent_socket = g_build_filename(sb->run_dir, "agent.sock", NULL);
	sb->console_log = g_build_filename(sb->run_dir, "console.log", NULL);
	return sb;
}

void alk_sandbox_free(AlkSandbox *sb)
{
	if (sb == NULL)
		return;
	g_free(sb->domain);
	g_free(sb->instance);
	g_free(sb->image);
	g_free(sb->profile);
	g_free(sb->pool);
	g_free(sb->build);
	g_free(sb->default_user);
	g_strfreev(sb->exec_env);
	g_free(sb->exec_cwd);
	g_strfreev(sb->exec_argv);
	g_hash_table_unref(sb->labels);
	g_strfreev(sb->net.allow);
	g_free(sb->net.address);
	g_free(sb->state_dir);
	g_free(sb->run_dir);
	g_free(sb->overlay);
	g_free(sb->agent_socket);
	g_free(sb->console_log);
	g_clear_error(&sb->error);
	g_free(sb->end_reason);
	g_free(sb);
}
