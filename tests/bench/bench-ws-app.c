/* SPDX-License-Identifier: MIT */
/*
 * bench-ws-app: the woken app of the wss scenario.  Started by brokerd, it
 * takes every handed-back socket, continues the WebSocket on it with
 * libbroker-ws (no GnuTLS: a wss:// stream is the TLS keeper's), reads one
 * message, answers with the one-byte binary message "A" and closes.  The
 * same work on a ws:// and a keeper-held wss:// connection.
 */
#include <stdio.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include <socket-broker/broker-ws.h>

static int serve(int fd)
{
	broker_ws *w = NULL;
	if (broker_ws_new(BROKER_WS_MESSAGE, &w) < 0 || broker_ws_adopt(w, fd) < 0) {
		close(fd);
		broker_ws_free(w);
		return -1;
	}
	broker_ws_set_timeouts(w, -1, 10000);
	char buf[256];
	int type;
	ssize_t n = broker_ws_recv(w, buf, sizeof(buf), &type);
	if (n > 0)
		n = broker_ws_send(w, BROKER_WS_BINARY, "A", 1);
	broker_ws_free(w);
	return n == 1 ? 0 : -1;
}

int main(void)
{
	broker_activation *a;
	int r = broker_activation_open(&a);
	if (r < 0) {
		fprintf(stderr, "bench-ws-app: not started by brokerd: %s\n", broker_strerror(r));
		return 1;
	}
	broker_handback *h;
	while ((r = broker_activation_receive(a, 30000, &h)) > 0) {
		int fd = broker_handback_accept(a, h);
		if (fd >= 0 && serve(fd) < 0)
			fprintf(stderr, "bench-ws-app: %s: no answer\n", h->id);
		broker_handback_free(h);
	}
	broker_activation_close(a);
	return r < 0 ? 1 : 0;
}
