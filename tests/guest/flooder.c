/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * airlock-flooder: a hostile stand-in for airlock-agent, for tests only.
 *
 * Built into the test image "minimal-flooder" in place of the agent:
 *
 *   images/minimal/build.sh --agent build/tests/guest/flooder --name minimal-flooder
 *
 * As PID 1 it mounts /dev and /sys, finds the virtio-serial port named
 * org.airlock.agent.0 and writes junk into it forever, as fast as it can:
 * random bytes, and headers that start with the magic "ALK!" but are never a
 * valid frame (wrong version, wrong checksum, non-zero flags, or a correct
 * checksum over a length beyond the protocol's maximum), some followed by
 * random "payload". The host side must survive this: resync, bounded
 * buffers, read deadlines, boot deadline -> failed, no crash, no hang.
 *
 * The header layout mirrored here is version 1 of protocol/alk-proto.h:
 *   magic u32 | version u8 | type u8 | flags u16 | id u32 | len u32 | crc32 u32
 * big-endian, crc32 (IEEE) over the first 16 bytes. If that layout changes,
 * these headers only become more wrong, never valid.
 *
 * It never exits (PID 1 exiting panics the kernel): when the port is missing
 * or a write fails (no host connected, EPIPE, EAGAIN, hang-up) it sleeps a
 * little and tries again. Plain libc, static:
 *   musl-gcc -static -Wall -Wextra -Werror -o flooder flooder.c
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "org.airlock.agent.0"
#define PORTS_DIR "/sys/class/virtio-ports"

#define MAGIC0 0x41
#define MAGIC1 0x4c
#define MAGIC2 0x4b
#define MAGIC3 0x21
#define PROTO_VERSION 1
#define PROTO_MAX_PAYLOAD 65536u
#define PROTO_TYPE_MAX 22
#define HDR 20

#define BUF_SIZE (64 * 1024)
#define NBUFS 8

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64* */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint32_t rnd_below(uint32_t n)
{
	return n ? (uint32_t)(rnd() % n) : 0;
}

static uint32_t crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t crc = ~0u;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
	}
	return ~crc;
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int is_magic(const uint8_t *p)
{
	return p[0] == MAGIC0 && p[1] == MAGIC1 && p[2] == MAGIC2 && p[3] == MAGIC3;
}

/* Random bytes that never contain the magic (so that they cannot complete a
 * valid header by chance). */
static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rnd();
	for (size_t i = 0; i + 4 <= n; i++)
		if (is_magic(p + i))
			p[i + 3] ^= 0x80;
}

/* True when h would pass the version 1 header checks. */
static int header_valid(const uint8_t *h)
{
	return is_magic(h) && h[4] == PROTO_VERSION && h[6] == 0 && h[7] == 0 &&
	       get_be32(h + 12) <= PROTO_MAX_PAYLOAD && get_be32(h + 16) == crc32_ieee(h, 16);
}

/* One invalid header in h[HDR]; returns how many bytes of random "payload"
 * to put after it. */
static size_t make_header(uint8_t *h)
{
	uint32_t len;
	size_t payload = 0;

	h[0] = MAGIC0;
	h[1] = MAGIC1;
	h[2] = MAGIC2;
	h[3] = MAGIC3;
	h[4] = PROTO_VERSION;
	h[5] = (uint8_t)(1 + rnd_below(PROTO_TYPE_MAX));
	put_be16(h + 6, 0);
	put_be32(h + 8, (uint32_t)rnd());
	switch (rnd_below(6)) {
	case 0: /* correct checksum, length just over the maximum */
		len = PROTO_MAX_PAYLOAD + 1 + rnd_below(16);
		put_be32(h + 12, len);
		put_be32(h + 16, crc32_ieee(h, 16));
		break;
	case 1: /* correct checksum, huge length */
		len = rnd() & 1 ? 0xffffffffu : 0x80000000u | (uint32_t)rnd();
		put_be32(h + 12, len);
		put_be32(h + 16, crc32_ieee(h, 16));
		break;
	case 2: /* plausible length, wrong checksum, random payload follows */
		len = rnd_below(PROTO_MAX_PAYLOAD / 4);
		put_be32(h + 12, len);
		put_be32(h + 16, crc32_ieee(h, 16) ^ (1u + rnd_below(0xfffffffeu)));
		payload = len;
		break;
	case 3: /* correct checksum, non-zero (reserved) flags */
		put_be16(h + 6, (uint16_t)(1 + rnd_below(0xfffe)));
		put_be32(h + 12, rnd_below(1024));
		put_be32(h + 16, crc32_ieee(h, 16));
		payload = get_be32(h + 12);
		break;
	case 4: /* wrong version, correct checksum */
		h[4] = (uint8_t)(2 + rnd_below(254));
		put_be32(h + 12, rnd_below(PROTO_MAX_PAYLOAD));
		put_be32(h + 16, crc32_ieee(h, 16));
		break;
	default: /* magic then noise */
		fill_random(h + 4, HDR - 4);
		break;
	}
	if (header_valid(h)) /* cannot happen by construction; be sure */
		h[19] ^= 0x01;
	return payload;
}

/* Fills buf with a mix of junk pieces. */
static void make_junk(uint8_t *buf, size_t size)
{
	size_t off = 0;

	while (off < size) {
		size_t room = size - off;
		uint32_t kind = rnd_below(10);

		if (kind < 3 || room < HDR) { /* random run */
			size_t n = 1 + rnd_below(4096);
			if (n > room)
				n = room;
			fill_random(buf + off, n);
			off += n;
		} else if (kind < 4 && room >= 8) { /* bare or doubled magic: partial headers */
			size_t n = 4 + rnd_below(4);
			memcpy(buf + off, "ALK!ALK!", 8);
			off += n;
		} else {
			size_t payload = make_header(buf + off);
			off += HDR;
			room = size - off;
			if (payload > room)
				payload = room;
			fill_random(buf + off, payload);
			off += payload;
		}
	}
	/* Pieces can join into a magic across their borders: check every
	 * header in the buffer, again after each fix (a fix may touch an
	 * overlapping header). A magic in the last HDR-1 bytes is never written:
	 * see safe_len(). */
	for (int changed = 1; changed;) {
		changed = 0;
		for (size_t i = 0; i + HDR <= size; i++)
			if (header_valid(buf + i)) {
				buf[i + 19] ^= 0x01;
				changed = 1;
			}
	}
}

/* Shortens a chunk so that its last HDR-1 bytes hold no magic byte 0x41:
 * every header that starts inside a chunk then ends inside it too (and was
 * checked by make_junk()), and no magic can be completed by the next write. */
static size_t safe_len(const uint8_t *b, size_t len)
{
	for (;;) {
		size_t start = len > HDR - 1 ? len - (HDR - 1) : 0;
		const uint8_t *a = memchr(b + start, MAGIC0, len - start);

		if (!a)
			return len;
		len = (size_t)(a - b);
	}
}

static void msleep(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Path of the /dev node of the port named PORT_NAME, or -1. */
static int find_port(char *dev, size_t devlen)
{
	DIR *d = opendir(PORTS_DIR);
	struct dirent *e;
	int found = -1;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[512], name[128];
		ssize_t n;
		int fd;

		if (strncmp(e->d_name, "vport", 5) != 0)
			continue;
		snprintf(path, sizeof(path), PORTS_DIR "/%s/name", e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, name, sizeof(name) - 1);
		close(fd);
		if (n <= 0)
			continue;
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (strcmp(name, PORT_NAME) == 0) {
			snprintf(dev, devlen, "/dev/%s", e->d_name);
			found = 0;
			break;
		}
	}
	closedir(d);
	return found;
}

static void mount_if_needed(const char *src, const char *dir, const char *type)
{
	mkdir(dir, 0755);
	if (mount(src, dir, type, MS_NOSUID | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
		printf("airlock-flooder: mount %s on %s: %s\n", type, dir, strerror(errno));
}

static uint8_t bufs[NBUFS][BUF_SIZE];

int main(int argc, char **argv)
{
	char dev[300];
	unsigned long long total = 0, errors = 0;
	int fd = -1, last_errno = 0, said_missing = 0;
	double last_report;
	unsigned long iter = 0;
	uint8_t *b = NULL;
	size_t left = 0;
	struct timespec ts;

	if (argc > 1 && strcmp(argv[1], "--version") == 0) {
		puts("airlock-flooder 1 (test junk writer, not an agent)");
		return 0;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (getpid() == 1) {
		mount_if_needed("devtmpfs", "/dev", "devtmpfs");
		mount_if_needed("sysfs", "/sys", "sysfs");
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	rng_state = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^
	            ((uint64_t)getpid() << 16) ^ 0x9E3779B97F4A7C15ULL;
	for (int i = 0; i < NBUFS; i++)
		make_junk(bufs[i], BUF_SIZE);
	printf("airlock-flooder: started (pid %d)\n", (int)getpid());
	last_report = now();

	for (;;) {
		ssize_t n;

		if (fd < 0) {
			if (find_port(dev, sizeof(dev)) < 0) {
				if (!said_missing)
					printf("airlock-flooder: no port %s yet, waiting\n",
					       PORT_NAME);
				said_missing = 1;
				msleep(200);
				continue;
			}
			fd = open(dev, O_WRONLY | O_CLOEXEC | O_NOCTTY);
			if (fd < 0) {
				if (errno != last_errno)
					printf("airlock-flooder: open %s: %s\n", dev,
					       strerror(errno));
				last_errno = errno;
				msleep(100);
				continue;
			}
			printf("airlock-flooder: flooding %s (%s)\n", dev, PORT_NAME);
			said_missing = 0;
		}

		if (left == 0) {
			/* Rotate through the buffers, at a random offset and
			 * length so that write boundaries move; refresh one now
			 * and then. */
			size_t off = rnd_below(BUF_SIZE / 2);

			b = bufs[iter % NBUFS];
			if (iter % 64 == 63)
				make_junk(b, BUF_SIZE);
			iter++;
			b += off;
			left = safe_len(b, BUF_SIZE - off - rnd_below(BUF_SIZE / 4));
			if (left == 0)
				continue;
		}
		/* A short write continues the same chunk, so that what the
		 * host reads is always whole chunks back to back. */
		n = write(fd, b, left);
		if (n > 0) {
			total += (unsigned long long)n;
			b += n;
			left -= (size_t)n;
			last_errno = 0;
		} else {
			int err = n < 0 ? errno : EIO;

			errors++;
			if (err != last_errno)
				printf("airlock-flooder: write: %s; retrying\n", strerror(err));
			last_errno = err;
			if (err == EINTR)
				continue;
			if (err == ENODEV || err == EBADF || err == ENXIO) {
				close(fd);
				fd = -1;
			}
			/* EPIPE / EAGAIN / hang-up: no host, or it went away. */
			msleep(100);
		}
		if (now() - last_report >= 10.0) {
			printf("airlock-flooder: %llu bytes written, %llu failed writes\n", total,
			       errors);
			last_report = now();
		}
	}
}
