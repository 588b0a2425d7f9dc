/* SPDX-License-Identifier: MIT */
/* Triggers: the poll set's reports classified without reading a byte, then
 * handed to the lifecycle (WATCHING -> TRIGGERED). */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "lifecycle.h"
#include "pollset.h"
#include "trigger.h"

/* Readiness that peeking cannot explain this many times in a row is taken
 * as a broken socket rather than spun on. */
#define SPURIOUS_MAX 3

int trigger_classify(int fd, int kind)
{
	if (kind == BROKER_KIND_LISTENER)
		return BROKER_REASON_CONNECTION_ACCEPTED;

	/* Peek one byte: never consume application data. */
	char c;
	ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n > 0)
		return BROKER_REASON_SOCKET_ACTIVITY;
	if (n == 0) {
		/* A datagram may be empty, and so may a SOCK_SEQPACKET record:
		 * only a hang-up says that a stream's peer is gone. */
		if (kind == BROKER_KIND_DATAGRAM)
			return BROKER_REASON_SOCKET_ACTIVITY;
		struct pollfd p = { .fd = fd, .events = POLLIN | POLLRDHUP };
		if (poll(&p, 1, 0) == 1 && !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
			return BROKER_REASON_SOCKET_ACTIVITY;
		return BROKER_REASON_SOCKET_CLOSED;
	}
	if (errno == EAGAIN || errno == EINTR)
		return BROKER_REASON_NONE;
	/* ECONNRESET, ETIMEDOUT, ECONNREFUSED (ICMP on UDP), ...: the socket errored. */
	return BROKER_REASON_SOCKET_CLOSED;
}

static void trigger_ready(struct daemon *d, struct held *h)
{
	if (h->state != BROKER_STATE_WATCHING)
		return;   /* triggered, lent or handed back meanwhile: now disarmed */
	int reason = trigger_classify(h->fd, h->kind);
	if (reason == BROKER_REASON_NONE) {
		if (++h->spurious < SPURIOUS_MAX) {
			int r = pollset_arm(d, h);   /* again */
			if (r < 0)
				lifecycle_unarmable(d, h, r);
			return;
		}
		reason = BROKER_REASON_SOCKET_CLOSED;
	}
	lifecycle_trigger(d, h, reason);
}

int trigger_init(struct daemon *d)
{
	return pollset_init(d, trigger_ready);
}

void trigger_admin(struct daemon *d, struct held *h)
{
	if (h->state != BROKER_STATE_WATCHING)
		return;
	int reason = trigger_classify(held_fd(h), h->kind);
	if (h->kind == BROKER_KIND_LISTENER || reason == BROKER_REASON_NONE)
		reason = BROKER_REASON_ADMIN_TRIGGER;
	lifecycle_trigger(d, h, reason);
}
