/* SPDX-License-Identifier: MIT */
/*
 * The app that brokerd starts in the brokerctl tests.
 *
 *   ctl-app LOG     take every handed-back socket, append one line per
 *                   socket to LOG ("ID REASON KIND CONTEXT DATA"), answer
 *                   "echo:DATA" on a stream, greet and close an accepted
 *                   connection on a listener
 *   ctl-app --mute  never open the activation; wait until brokerd closes
 *                   it (so the app's sockets stay triggered)
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <socket-broker/broker.h>

static void serve(FILE *log, const broker_handback *h, int fd)
{
	char data[256] = "-";
	if (h->kind == BROKER_KIND_LISTENER) {
		int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (conn >= 0) {
			send(conn, "hello from ctl-app\n", 19, MSG_NOSIGNAL);
			close(conn);
		}
	} else {
		ssize_t n = recv(fd, data, sizeof(data) - 1, MSG_DONTWAIT);
		data[n > 0 ? n : 0] = 0;
		if (n > 0) {
			char reply[300];
			int len = snprintf(reply, sizeof(reply), "echo:%s", data);
			send(fd, reply, (size_t)len, MSG_NOSIGNAL);
		} else {
			snprintf(data, sizeof(data), "-");
		}
	}
	fprintf(log, "%s %s %s %.*s %s\n", h->id, broker_reason_name(h->reason), broker_kind_name(h->kind),
		(int)h->context_len, (const char *)h->context, data);
	fflush(log);
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	if (strcmp(argv[1], "--mute") == 0) {
		for (;;) {
			char c;
			ssize_t n = read(3, &c, 1);
			if (n == 0 || (n < 0 && errno != EINTR))
				return 0;
		}
	}
	FILE *log = fopen(argv[1], "ae");
	if (!log)
		return 1;
	broker_activation *a;
	int r = broker_activation_open(&a);
	if (r < 0) {
		fprintf(log, "activation: %s\n", broker_strerror(r));
		return 1;
	}
	broker_handback *h;
	while ((r = broker_activation_receive(a, 5000, &h)) > 0) {
		int fd = broker_handback_accept(a, h);
		if (fd >= 0) {
			serve(log, h, fd);
			close(fd);
		}
		broker_handback_free(h);
	}
	broker_activation_close(a);
	fclose(log);
	return 0;
}
