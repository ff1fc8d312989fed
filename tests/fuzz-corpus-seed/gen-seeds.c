/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writes the fuzz seed corpus: one valid frame per message type and a stream
 * of several frames with garbage between them. The output is checked in
 * beside this file; regenerate after a protocol change with
 *   cc -Iprotocol tests/fuzz-corpus-seed/gen-seeds.c protocol/alk-proto*.c \
 *      -o /tmp/gen-seeds && /tmp/gen-seeds tests/fuzz-corpus-seed
 */
#include "alk-proto.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t buf[ALK_PROTO_MAX_FRAME];

static void save(const char *dir, const char *name, const uint8_t *p, long n)
{
	char path[4096];
	FILE *f;

	if (n < 0) {
		fprintf(stderr, "%s: %s\n", name, alk_proto_strerror((int)n));
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL || fwrite(p, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

static void save_exec(const char *dir)
{
	static AlkMsgExec e;

	e.argv[0] = "/bin/sh";
	e.argv[1] = "-c";
	e.argv[2] = "echo hi; cat";
	e.argc = 3;
	e.env[0] = "PATH=/usr/bin:/bin";
	e.env[1] = "HOME=/root";
	e.envc = 2;
	e.cwd = "/tmp";
	e.timeout_ms = 5000;
	e.stdin_mode = ALK_STDIN_PIPE;
	e.output_cap = 1 << 20;
	e.rlimits[0] = (AlkRlimit){.resource = 7, .value = 256};
	e.rlimits[1] = (AlkRlimit){.resource = 9, .value = UINT64_MAX};
	e.nrlimits = 2;
	save(dir, "exec.bin", buf, alk_msg_exec_encode(buf, sizeof(buf), 7, &e));
}

static void save_exec_tty(const char *dir)
{
	static AlkMsgExec e;

	e.argv[0] = "/bin/sh";
	e.argc = 1;
	e.stdin_mode = ALK_STDIN_PIPE;
	e.tty = 1;
	e.rows = 50;
	e.cols = 132;
	save(dir, "exec-tty.bin", buf, alk_msg_exec_encode(buf, sizeof(buf), 11, &e));
	save(dir, "resize.bin", buf,
	     alk_msg_resize_encode(buf, sizeof(buf), 11, &(AlkMsgResize){.rows = 1000, .cols = 1}));
	{
		static const uint8_t pool[ALK_RENEW_ENTROPY_MIN] = {1, 2, 3, 4, 5, 6, 7, 8};
		AlkMsgRenew r = {.entropy = {pool, sizeof(pool)},
		                 .realtime_s = 1796000000,
		                 .realtime_ns = 999999999};
		save(dir, "renew.bin", buf, alk_msg_renew_encode(buf, sizeof(buf), 12, &r));
	}
}

static void save_net_config(const char *dir)
{
	AlkMsgNetConfig net = {
	    .mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
	    .address = {10, 0, 2, 15},
	    .prefix_len = 24,
	    .gateway = {10, 0, 2, 2},
	    .dns = {10, 0, 2, 3},
	    .mtu = 1500,
	};

	save(dir, "net-config.bin", buf, alk_msg_net_config_encode(buf, sizeof(buf), 10, &net));
}

static void save_fs_config(const char *dir)
{
	AlkMsgFsConfig fs = {
	    .root_readonly = 1,
	    .tmpfs_mib = 64,
	    .workspace = 1,
	    .owner = "agent",
	    .readonly_paths = {"/etc", "/usr/lib"},
	    .nreadonly_paths = 2,
	    .volumes = {"/data", "/ref"},
	    .nvolumes = 2,
	    .volumes_readonly = 2,
	};

	save(dir, "fs-config.bin", buf, alk_msg_fs_config_encode(buf, sizeof(buf), 12, &fs));
}

static void save_messages(const char *dir)
{
	AlkMsgHello hello = {
	    .version = 1, .caps = 15, .max_payload = 65536, .agent_version = "0.1.0"};
	AlkMsgExit ex = {.exit_code = -1, .signo = 9, .timed_out = 1, .duration_ms = 5000};
	AlkMsgFile put = {.path = "/tmp/f", .mode = 0600, .size = 3};
	AlkMsgFile get = {.path = "/etc/os-release", .max_size = 4096};
	AlkMsgFile info = {.mode = 0100644, .size = 300};

	memcpy(hello.nonce, "0123456789abcdef", ALK_PROTO_NONCE_SIZE);
	save(dir, "hello.bin", buf, alk_msg_hello_encode(buf, sizeof(buf), &hello));
	save(dir, "sync.bin", buf,
	     alk_msg_sync_encode(buf, sizeof(buf), ALK_MSG_SYNC, 3, &(AlkMsgSync){.nonce = 99}));
	save_exec(dir);
	save(dir, "started.bin", buf,
	     alk_msg_started_encode(buf, sizeof(buf), 7, &(AlkMsgStarted){.pid = 120}));
	save(dir, "stdout.bin", buf,
	     alk_msg_data_encode(buf, sizeof(buf), ALK_MSG_STDOUT, 7, "hi\n", 3));
	save(dir, "ack.bin", buf, alk_msg_ack_encode(buf, sizeof(buf), ALK_MSG_STDIN_ACK, 7, 4096));
	save(dir, "signal.bin", buf, alk_msg_signal_encode(buf, sizeof(buf), 7, 15));
	save(dir, "exit.bin", buf, alk_msg_exit_encode(buf, sizeof(buf), 7, &ex));
	save(dir, "file-put.bin", buf,
	     alk_msg_file_encode(buf, sizeof(buf), ALK_MSG_FILE_PUT, 8, &put));
	save(dir, "file-get.bin", buf,
	     alk_msg_file_encode(buf, sizeof(buf), ALK_MSG_FILE_GET, 9, &get));
	save(dir, "file-info.bin", buf,
	     alk_msg_file_encode(buf, sizeof(buf), ALK_MSG_FILE_INFO, 9, &info));
	save(dir, "error.bin", buf,
	     alk_msg_error_encode(buf, sizeof(buf), 9, ALK_ERR_IO, 2, "No such file"));
	save(dir, "file-end.bin", buf, alk_msg_empty_encode(buf, sizeof(buf), ALK_MSG_FILE_END, 8));
	save_net_config(dir);
	save_fs_config(dir);
	save_exec_tty(dir);
}

/* Garbage, a false magic, frames back to back. */
static void save_stream(const char *dir)
{
	static const char junk[] = "xx\x41\x4c\x4b\x21garbage-after-magic";
	long n = sizeof(junk) - 1;

	memcpy(buf, junk, sizeof(junk) - 1);
	n += alk_msg_sync_encode(buf + n, 100, ALK_MSG_PING, 1, &(AlkMsgSync){.nonce = 5});
	n += alk_msg_data_encode(buf + n, 100, ALK_MSG_STDIN, 7, "input", 5);
	memcpy(buf + n, "\x41\x4c", 2);
	n += 2;
	n += alk_msg_empty_encode(buf + n, 100, ALK_MSG_STDIN_EOF, 7);
	save(dir, "stream.bin", buf, n);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";

	save_messages(dir);
	save_stream(dir);
	return 0;
}
