/* SPDX-License-Identifier: MIT */
/*
 * A wake-socket app for the systemd suite, run by sdtest-app@.service:
 *
 *   sdtest-app [--idle-exit SEC] [--no-ack] [--fail]
 *	Take the "socket-broker" listener from LISTEN_FDS and serve every
 *	socket brokerd hands back: read its payload (4-byte big-endian length,
 *	then that many bytes; none for socket-closed or keepalive-expired),
 *	answer one line on it
 *	  ok app=A id=I reason=R ctxlen=N ctxsum=X len=N sum=X pid=P
 *	and transfer it back under the same id, context and keep-alive.
 *	--no-ack takes handbacks but never acknowledges them; --fail exits 1
 *	at once (an app whose service fails).  Exits after SEC seconds idle.
 *	--order says when the acknowledgement goes out:
 *	  ack-first       acknowledge, then serve and transfer back (default)
 *	  transfer-first  serve and transfer back (a dup), then acknowledge
 *	  transfer-exit   serve and transfer back, then exit unacknowledged
 *	  random          ack-first or transfer-first, by --seed and the pid, and
 *	                  one time in 16 exit at once, unacknowledged (brokerd
 *	                  keeps the socket and starts the app again)
 *	  hold            acknowledge and keep the socket, never serve it
 *	--attach: after its first batch, close the activation it was started
 *	with and attach itself (broker_attach()) as the app it was handed back
 *	for; later triggers come over that.  --attach-as APP: not started by
 *	brokerd (by hand), attach as APP at once.
 *
 *   sdtest-app --register APP
 *	Exit 0 if brokerd lets this process act as APP, 77 if it refuses
 *	(EPERM; or ENOENT, which is how another user's app looks), 1 on any
 *	other error.
 *
 *   sdtest-app --store NAME
 *	Put one end of a new socket pair in the fd store of the service this
 *	runs in (as an ExecStartPre=, with NotifyAccess=all): an fd that
 *	brokerd will find without metadata.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <sys/socket.h>
#include <systemd/sd-daemon.h>

#include <socket-broker/broker.h>
#include "sdtest-sum.h"

static int do_register(const char *app)
{
	broker *b = NULL;
	int r = broker_open(NULL, &b);
	if (r == 0)
		r = broker_register(b, app);
	fprintf(stderr, "sdtest-app: register %s: %s%s%s\n", app, r ? broker_strerror(r) : "ok",
		r && b ? ": " : "", r && b ? broker_last_message(b) : "");
	broker_close(b);
	return r == 0 ? 0 : r == -EPERM || r == -ENOENT ? 77 : 1;
}

static int do_store(const char *name)
{
	int sv[2];
	char text[300];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 1;
	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
	int r = sd_pid_notify_with_fds(0, 0, text, &sv[0], 1);
	/* The manager finds our unit by our pid: wait until it has read us. */
	if (r > 0)
		r = sd_notify_barrier(0, 5 * 1000000);
	fprintf(stderr, "sdtest-app: store %s: %s\n", name, r > 0 ? "ok" : r == 0 ? "no $NOTIFY_SOCKET" : strerror(-r));
	return r > 0 ? 0 : 1;
}

/* Read exactly n bytes, waiting up to 10 s for each part. */
static int read_exact(int fd, void *buf, size_t n)
{
	uint8_t *p = buf;
	while (n) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, 10000) <= 0)
			return -ETIMEDOUT;
		ssize_t k = read(fd, p, n);
		if (k <= 0)
			return k == 0 ? -EPIPE : -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Hand fd back to brokerd on a connection of its own (closed again, so
 * that the test can count brokerd's fds); brokerd may be restarting, so
 * try again for a while. */
static int transfer_back(const broker_handback *h, int fd)
{
	int r = -EAGAIN;
	for (int attempt = 0; attempt < 100 && r < 0; attempt++) {
		broker *b = NULL;
		r = broker_open(NULL, &b);
		if (r == 0)
			r = broker_register(b, h->app_id);
		if (r == 0)
			r = broker_transfer(b, h->id, fd, h->context, h->context_len, h->keepalive_sec);
		broker_close(b);
		if (r < 0)
			nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	return r;
}

static void serve(broker_handback *h, int fd)
{
	uint8_t *data = NULL;
	uint32_t len = 0;
	if (h->reason == BROKER_REASON_SOCKET_CLOSED) {
		close(fd);
		return;
	}
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (h->reason == BROKER_REASON_SOCKET_ACTIVITY && poll(&pfd, 1, 500) == 0) {
		/* Hand-back is at-least-once: a crash of brokerd lost the ack of
		 * a delivery this process served already.  Nothing to read: hold
		 * it again as it is. */
		fprintf(stderr, "sdtest-app: %s: delivered again, nothing to read; transferring it back\n", h->id);
		if (transfer_back(h, fd) < 0)
			close(fd);
		return;
	}
	if (h->reason != BROKER_REASON_KEEPALIVE_EXPIRED) {
		uint32_t be;
		if (read_exact(fd, &be, sizeof(be)) < 0 || (len = ntohl(be)) > (1u << 24) ||
		    !(data = malloc(len + 1u)) || read_exact(fd, data, len) < 0) {
			fprintf(stderr, "sdtest-app: %s: cannot read the payload\n", h->id);
			free(data);
			close(fd);
			return;
		}
	}
	char line[512];
	int n = snprintf(line, sizeof(line), "ok app=%s id=%s reason=%s ctxlen=%zu ctxsum=%08x len=%u sum=%08x pid=%d\n",
			 h->app_id, h->id, broker_reason_name(h->reason), h->context_len,
			 sdtest_sum(h->context, h->context_len), len, sdtest_sum(data, len), (int)getpid());
	free(data);
	if (write(fd, line, (size_t)n) != n)
		fprintf(stderr, "sdtest-app: %s: cannot answer\n", h->id);
	int r = transfer_back(h, fd);
	if (r < 0) {
		fprintf(stderr, "sdtest-app: %s: cannot transfer back: %s\n", h->id, broker_strerror(r));
		close(fd);
	}
}

/* Become APP's running instance: *a is the attached activation. */
static int attach(const char *app, broker_activation **a)
{
	broker *b = NULL;
	int r = broker_open(NULL, &b);
	if (r == 0)
		r = broker_register(b, app);
	if (r == 0)
		r = broker_attach(b, a);
	fprintf(stderr, "sdtest-app: pid %d attach %s: %s%s%s\n", (int)getpid(), app, r ? broker_strerror(r) : "ok",
		r && b ? ": " : "", r && b ? broker_last_message(b) : "");
	broker_close(b);
	return r;
}

enum order { ACK_FIRST, TRANSFER_FIRST, TRANSFER_EXIT, RANDOM, HOLD };

static int order_from(const char *s)
{
	static const char *const names[] = { "ack-first", "transfer-first", "transfer-exit", "random", "hold" };
	for (int i = 0; i < 5; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "idle-exit", required_argument, NULL, 'i' }, { "no-ack", no_argument, NULL, 'n' },
		{ "fail", no_argument, NULL, 'f' }, { "register", required_argument, NULL, 'r' },
		{ "store", required_argument, NULL, 's' }, { "order", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 'S' }, { "attach", no_argument, NULL, 'a' },
		{ "attach-as", required_argument, NULL, 'A' }, { 0 },
	};
	const char *attach_as = NULL;
	bool attach_later = false;
	char app[BROKER_ID_MAX + 1] = "";
	int idle = 60, c, order = ACK_FIRST;
	unsigned seed = 1;
	bool no_ack = false;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i': idle = atoi(optarg); break;
		case 'n': no_ack = true; break;
		case 'f': return 1;
		case 'r': return do_register(optarg);
		case 's': return do_store(optarg);
		case 'o':
			if ((order = order_from(optarg)) < 0)
				return 2;
			break;
		case 'S': seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'a': attach_later = true; break;
		case 'A': attach_as = optarg; break;
		default: return 2;
		}
	}
	seed ^= (unsigned)getpid();
	broker_activation *a;
	int r = attach_as ? attach(attach_as, &a) : broker_activation_open(&a);
	if (r < 0) {
		fprintf(stderr, "sdtest-app: not started through a wake socket: %s\n", broker_strerror(r));
		return 1;
	}
	time_t last = time(NULL);
	while (time(NULL) - last < idle) {
		broker_handback *h;
		r = broker_activation_receive(a, 1000, &h);
		if (r < 0)
			break;
		if (r == 0 && attach_later && *app) {
			broker_activation_close(a);
			attach_later = false;
			if (attach(app, &a) < 0)
				return 1;
		}
		if (r == 0)
			continue;
		last = time(NULL);
		snprintf(app, sizeof(app), "%s", h->app_id);
		if (no_ack) {
			broker_handback_free(h);   /* closes brokerd's socket, unacknowledged */
			continue;
		}
		int o = order;
		if (order == RANDOM) {
			unsigned x = (unsigned)rand_r(&seed);
			if (x % 16 == 0) {
				fprintf(stderr, "sdtest-app: %s: exiting without an ack\n", h->id);
				_exit(0);
			}
			o = x & 1 ? TRANSFER_FIRST : ACK_FIRST;
		}
		if (o == HOLD) {
			int fd = broker_handback_accept(a, h);
			fprintf(stderr, "sdtest-app: %s: holding it as fd %d\n", h->id, fd);   /* never closed */
		} else if (o == ACK_FIRST) {
			int fd = broker_handback_accept(a, h);
			if (fd >= 0)
				serve(h, fd);
		} else {
			/* brokerd reads the transfer before the ack, or never gets one */
			serve(h, fcntl(h->fd, F_DUPFD_CLOEXEC, 3));
			if (o == TRANSFER_EXIT)
				_exit(0);
			int fd = broker_handback_accept(a, h);
			if (fd >= 0)
				close(fd);
		}
		broker_handback_free(h);
	}
	broker_activation_close(a);
	return 0;
}
