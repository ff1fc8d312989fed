/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* RENEW (docs/protocol.md, 7.8): this agent woke up in a clone restored from
 * a template's saved memory, so its clock, its random pool and its boot
 * nonce are the template's. The host's entropy goes into the pool and the
 * kernel reseeds its generator at once (without the forced reseed a
 * crng already initialised would keep the template's key until its next
 * scheduled reseed, and two clones would read the same bytes from
 * /dev/urandom); the clock takes the host's time; a new nonce is drawn from
 * the reseeded pool and a fresh HELLO announces it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "alk-agent.h"

/* <linux/random.h>, which musl-gcc lacks: _IOW('R', 0x03, int[2]) and
 * _IO('R', 0x07). */
#define ALK_RNDADDENTROPY 0x40085203
#define ALK_RNDRESEEDCRNG 0x5207

struct alk_rand_pool_info {
	int entropy_count; /* bits credited */
	int buf_size;      /* bytes */
	uint8_t buf[ALK_RENEW_ENTROPY_MAX];
};

static int renew_pool(const AlkBytes *entropy)
{
	struct alk_rand_pool_info info = {
	    .entropy_count = (int)entropy->len * 8,
	    .buf_size = (int)entropy->len,
	};
	int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return errno;
	memcpy(info.buf, entropy->data, entropy->len);
	if (ioctl(fd, ALK_RNDADDENTROPY, &info) != 0 || ioctl(fd, ALK_RNDRESEEDCRNG) != 0)
		err = errno;
	close(fd);
	memset(&info, 0, sizeof(info));
	return err;
}

static int renew_nonce(uint8_t *nonce)
{
	if (syscall(SYS_getrandom, nonce, ALK_PROTO_NONCE_SIZE, 0) == ALK_PROTO_NONCE_SIZE)
		return 0;
	return errno != 0 ? errno : EIO;
}

void alk_renew(AlkAgent *a, const AlkFrameHeader *h, const AlkHostMsg *m)
{
	const AlkMsgRenew *r = &m->renew;
	struct timespec ts = {.tv_sec = (time_t)r->realtime_s, .tv_nsec = (long)r->realtime_ns};
	uint8_t nonce[ALK_PROTO_NONCE_SIZE];
	int err;

	if (a->renew_dry) {
		/* an agent run on a host for tests: only the identity changes */
	} else if ((err = renew_pool(&r->entropy)) != 0) {
		alk_send_errno(a, h->id, err, "reseeding the random pool");
		return;
	}
	if (!a->renew_dry && clock_settime(CLOCK_REALTIME, &ts) != 0) {
		alk_send_errno(a, h->id, errno, "setting the clock");
		return;
	}
	if ((err = renew_nonce(nonce)) != 0) {
		alk_send_errno(a, h->id, err, "drawing a new nonce");
		return;
	}
	memcpy(a->nonce, nonce, sizeof(nonce));
	/* the nonce only tells boots apart (no secret): logged so that a
	 * clone's identity can be checked from its console */
	alk_log("renewed%s: nonce %02x%02x%02x%02x%02x%02x%02x%02x",
	        a->renew_dry ? " (dry: clock and pool left alone)" : ": clock set, pool reseeded",
	        nonce[0], nonce[1], nonce[2], nonce[3], nonce[4], nonce[5], nonce[6], nonce[7]);
	alk_send_ack(a, ALK_MSG_OK, h->id, r->entropy.len);
	alk_send_hello(a);
}
