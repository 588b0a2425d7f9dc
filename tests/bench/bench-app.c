/* SPDX-License-Identifier: MIT */
/*
 * bench-app: the one app every activation comparison starts, so that each
 * path pays the same program start (it always links libbroker).
 *
 *   bench-app [--expect N] [--no-serve|--keep] [--many]   started by brokerd (exec or wake
 *                                         socket): take every handed-back
 *                                         socket, serve it; exit after the
 *                                         batch end, or after N sockets
 *   bench-app fd3                         fd 3 is a connection: serve it
 *                                         (posix_spawn floor, systemd-socket-
 *                                         activate --accept)
 *   bench-app listen3                     fd 3 is a listener: accept one
 *                                         connection, serve it (a native
 *                                         systemd .socket with Accept=no)
 *   bench-app --attach-as APP             started by hand: attach to brokerd
 *                                         ($BROKER_SOCKET) as APP and serve
 *                                         what it hands back until it closes
 *
 * Serving is: read one byte, write one byte back, close.  With --no-serve
 * a socket is only accepted and closed; with --keep it is accepted and
 * kept open until the app has closed its activation (the storm: then the
 * connections' teardown is the app's, after the hand-back, not brokerd's).
 * With --many the sockets brokerd sends together are taken together and
 * acknowledged in one message (broker_handback_accept_many()).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <socket-broker/broker.h>

static int serve(int fd)
{
	char c;
	ssize_t n;
	do
		n = read(fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1) {
		c = 'A';
		n = send(fd, &c, 1, MSG_NOSIGNAL);
	}
	close(fd);
	return n == 1 ? 0 : -1;
}

/* The running instance of app_id, attached: *ret its activation. */
static int attach(const char *app_id, broker_activation **ret)
{
	broker *b = NULL;
	int r = broker_open_app(NULL, app_id, BROKER_DEFAULT_TIMEOUT_MS, &b);
	if (r == 0)
		r = broker_attach(b, ret);
	if (r < 0)
		fprintf(stderr, "bench-app: attach %s: %s (%s)\n", app_id, broker_strerror(r), broker_last_message(b));
	broker_close(b);
	return r;
}

enum { SERVE, CLOSE, KEEP };

/* The next handed-back sockets, accepted in one acknowledgement
 * (broker_handback_accept_many(), a HANDBACK_ACK for one): one (batch 1),
 * or those brokerd sent together.  How many fds in fds[], 0 at a batch
 * end, or a negative errno (a socket's own, if one was refused). */
static int next_fds(broker_activation *a, size_t batch, int *fds)
{
	broker_handback *h[253];
	int n = broker_activation_receive_many(a, 30000, h, batch);
	if (n <= 0)
		return n;
	int r = broker_handback_accept_many(a, h, (size_t)n, fds);
	for (int i = 0; i < n; i++) {
		broker_handback_free(h[i]);
		if (r >= 0 && fds[i] < 0)
			r = fds[i];
	}
	return r < 0 ? r : n;
}

static int from_broker(const char *attach_as, unsigned long expect, int mode, size_t batch)
{
	int *kept = mode == KEEP && expect ? calloc(expect, sizeof(int)) : NULL;
	if (mode == KEEP && !kept)
		mode = CLOSE;
	broker_activation *a;
	int r = attach_as ? attach(attach_as, &a) : broker_activation_open(&a);
	if (r < 0) {
		if (!attach_as)
			fprintf(stderr, "bench-app: not started by brokerd: %s\n", broker_strerror(r));
		return 1;
	}
	unsigned long got = 0;
	while (!expect || got < expect) {
		int fds[253];
		r = next_fds(a, batch, fds);
		if (r < 0) {
			fprintf(stderr, "bench-app: receive or accept: %s\n", broker_strerror(r));
			break;
		}
		if (r == 0) {
			if (attach_as || (expect && got < expect))
				continue;   /* attached: until brokerd closes */
			break;
		}
		for (int i = 0; i < r; i++, got++) {
			if (mode == SERVE)
				serve(fds[i]);
			else if (mode == KEEP && got < expect)
				kept[got] = fds[i];
			else
				close(fds[i]);
		}
	}
	broker_activation_close(a);
	for (unsigned long i = 0; kept && i < got; i++)
		close(kept[i]);
	free(kept);
	return expect && got < expect ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "fd3") == 0)
		return serve(3) < 0;
	if (argc > 1 && strcmp(argv[1], "listen3") == 0) {
		int fd = accept4(3, NULL, NULL, SOCK_CLOEXEC);
		return fd < 0 || serve(fd) < 0;
	}
	unsigned long expect = 0;
	int mode = SERVE;
	size_t batch = 1;
	const char *attach_as = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--expect") == 0 && i + 1 < argc)
			expect = strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--attach-as") == 0 && i + 1 < argc)
			attach_as = argv[++i];
		else if (strcmp(argv[i], "--no-serve") == 0)
			mode = CLOSE;
		else if (strcmp(argv[i], "--keep") == 0)
			mode = KEEP;
		else if (strcmp(argv[i], "--many") == 0)
			batch = 253;
		else {
			fprintf(stderr, "bench-app: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	return from_broker(attach_as, expect, mode, batch);
}
