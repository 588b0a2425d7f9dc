/* SPDX-License-Identifier: MIT */
/*
 * push-client: the smallest useful broker app.
 *
 * Started by hand, it connects to its server, hands the connection to
 * brokerd and exits.  Started by brokerd, it takes the connection back,
 * prints what arrived, answers, and hands it over again.  If the server
 * hung up, it reconnects once from the context it saved and hands the new
 * connection over under the same id (as the original platform's sample does).
 *
 * With --tls it connects with TLS instead (--ca for a CA file other than the
 * system trust store, --client-cert/--client-key for a client certificate
 * from PEM files or a PKCS#11 URI).  A TLS stream cannot be handed to
 * brokerd, so it then serves the connection itself, unless --hold asks for a
 * holdable one, whose session the TLS keeper keeps: see push-tls.c, which
 * also explains why libbroker-tls is loaded only then.
 *
 * With --ws URL it speaks WebSocket (ws:// or wss://, --protocol to ask for
 * a subprotocol) and hands the connection over as well: see push-ws.c.
 *
 *   push-client [--app ID] [--id ID] [--keepalive SEC] [--control PATH]
 *               [--tls [--hold] [--ca FILE] [--client-cert CERT [--client-key KEY]]] HOST:PORT
 *   push-client [--app ID] [--id ID] [--keepalive SEC] [--control PATH]
 *               --ws URL [--protocol NAME] [--ca FILE]
 */
#include <errno.h>
#include <stdbool.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <socket-broker/broker.h>
#include "push-tls.h"
#include "push-ws.h"

struct opts {
	const char *app, *id, *control, *server;
	unsigned keepalive;
	bool tls;
	struct push_tls_opts tls_opts;
	struct push_ws_opts ws_opts;
};

static int dial(const char *server)
{
	char host[256];
	snprintf(host, sizeof(host), "%s", server);
	char *port = strrchr(host, ':');
	if (!port) {
		fprintf(stderr, "push-client: %s: expected HOST:PORT\n", server);
		return -1;
	}
	*port++ = 0;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r) {
		fprintf(stderr, "push-client: %s: %s\n", server, gai_strerror(r));
		return -1;
	}
	int fd = -1;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		fprintf(stderr, "push-client: cannot connect to %s: %m\n", server);
	return fd;
}

/* Hand fd to brokerd; on failure we still own it and say why. */
static int hand_over(const struct opts *o, const char *id, int fd, const char *context)
{
	broker *b = NULL;   /* broker_open() writes it only on success */
	int r = broker_open(o->control, &b);
	if (r == 0)
		r = broker_register(b, o->app);
	if (r == 0)
		r = broker_transfer(b, id, fd, context, strlen(context), o->keepalive);
	if (r < 0) {
		const char *detail = b ? broker_last_message(b) : "";
		fprintf(stderr, "push-client: cannot hand %s to brokerd: %s%s%s\n", id, broker_strerror(r),
			*detail ? ": " : "", detail);
		close(fd);
	} else {
		printf("push-client: %s handed to brokerd as %s/%s; exiting\n", context, o->app, id);
	}
	broker_close(b);
	return r;
}

/* The server hung up: like the original sample, reconnect from the saved
 * context and hand the new connection over under the same id.  One try;
 * if the server is gone, say so and stop. */
static void reconnect(const struct opts *o, const char *id, int fd, const char *context)
{
	printf("push-client: the server closed the connection\n");
	close(fd);
	if (strncmp(context, "server=", 7) != 0) {
		/* "tls-server=": a held TLS connection; starting one again needs
		 * libbroker-tls, which a woken instance does not load. */
		printf("push-client: start push-client --tls --hold again to reconnect\n");
		return;
	}
	int nfd = dial(context + 7);
	if (nfd < 0) {
		printf("push-client: cannot reconnect to %s; giving up until started again\n", context + 7);
		return;
	}
	printf("push-client: reconnected to %s\n", context + 7);
	send(nfd, "hello again from push-client\n", 29, MSG_NOSIGNAL);
	hand_over(o, id, nfd, context);
}

/* One socket brokerd handed back: serve it, then hand it over again. */
static void serve(const struct opts *o, broker_handback *h, int fd)
{
	char context[512];
	snprintf(context, sizeof(context), "%.*s", (int)h->context_len, (const char *)h->context);
	printf("push-client: woken for %s (%s), context \"%s\"\n", h->id, broker_reason_name(h->reason), context);
	if (strncmp(context, "ws=", 3) == 0) {
		/* A WebSocket: frames, not lines (push-ws.c). */
		fd = push_ws_serve(h->reason, fd, context);
		fflush(stdout);
		if (fd >= 0)
			hand_over(o, h->id, fd, context);
		return;
	}

	switch (h->reason) {
	case BROKER_REASON_SOCKET_ACTIVITY: {
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			printf("push-client: received %zd byte(s): %.*s", n, (int)n, buf);
			if (buf[n - 1] != '\n')
				putchar('\n');
			char reply[64];
			int len = snprintf(reply, sizeof(reply), "ack %zd\n", n);
			send(fd, reply, (size_t)len, MSG_NOSIGNAL);
			break;
		}
		if (n == 0) {
			reconnect(o, h->id, fd, context);
			return;
		}
		break;
	}
	case BROKER_REASON_KEEPALIVE_EXPIRED:
		send(fd, "keep-alive\n", 11, MSG_NOSIGNAL);
		break;
	case BROKER_REASON_SOCKET_CLOSED:
		reconnect(o, h->id, fd, context);
		return;
	default:
		break;
	}
	fflush(stdout);
	hand_over(o, h->id, fd, context);
}

static int woken(const struct opts *o)
{
	broker_activation *a;
	int r = broker_activation_open(&a);
	if (r < 0)
		return r;
	broker_handback *h;
	while ((r = broker_activation_receive(a, 5000, &h)) > 0) {
		int fd = broker_handback_accept(a, h);
		if (fd >= 0)
			serve(o, h, fd);
		else
			fprintf(stderr, "push-client: cannot take %s: %s\n", h->id, broker_strerror(fd));
		broker_handback_free(h);
	}
	broker_activation_close(a);
	return r < 0 && r != -EPIPE ? r : 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "app", required_argument, NULL, 'a' },
		{ "id", required_argument, NULL, 'i' },
		{ "keepalive", required_argument, NULL, 'k' },
		{ "control", required_argument, NULL, 'c' },
		{ "tls", no_argument, NULL, 't' },
		{ "hold", no_argument, NULL, 'H' },
		{ "ca", required_argument, NULL, 'A' },
		{ "client-cert", required_argument, NULL, 'C' },
		{ "client-key", required_argument, NULL, 'K' },
		{ "ws", required_argument, NULL, 'W' },
		{ "protocol", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct opts o = { .app = getenv("BROKER_APP_ID"), .id = "push" };
	int c;
	while ((c = getopt_long(argc, argv, "a:i:k:c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'a': o.app = optarg; break;
		case 'i': o.id = optarg; break;
		case 'k': o.keepalive = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': o.control = optarg; break;
		case 't': o.tls = true; break;
		case 'H': o.tls_opts.hold = true; break;
		case 'A': o.tls_opts.ca = optarg; break;
		case 'C': o.tls_opts.client_cert = optarg; break;
		case 'K': o.tls_opts.client_key = optarg; break;
		case 'W': o.ws_opts.url = optarg; break;
		case 'P': o.ws_opts.protocol = optarg; break;
		case 'h':
			printf("Usage: push-client [--app ID] [--id ID] [--keepalive SEC] [--control PATH]\n"
			       "                   [--tls [--hold] [--ca FILE] [--client-cert CERT [--client-key KEY]]] HOST:PORT\n"
			       "       push-client [--app ID] [--id ID] [--keepalive SEC] [--control PATH]\n"
			       "                   --ws URL [--protocol NAME] [--ca FILE]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (!o.app)
		o.app = "org.example.push";
	if (o.ws_opts.url && o.tls) {
		fprintf(stderr, "push-client: --ws and --tls exclude each other (wss:// is TLS)\n");
		return 2;
	}
	if (!o.ws_opts.url && o.ws_opts.protocol) {
		fprintf(stderr, "push-client: --protocol needs --ws\n");
		return 2;
	}
	if (o.ws_opts.url) {
		o.ws_opts.ca = o.tls_opts.ca;
		if (o.tls_opts.client_cert || o.tls_opts.client_key || o.tls_opts.hold) {
			fprintf(stderr, "push-client: --ws takes no --hold (it always hands over) nor client certificates\n");
			return 2;
		}
	} else if (!o.tls && (o.tls_opts.ca || o.tls_opts.client_cert || o.tls_opts.client_key || o.tls_opts.hold)) {
		fprintf(stderr, "push-client: --hold, --ca, --client-cert and --client-key need --tls\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	int r = woken(&o);
	if (r != -ENOENT) {
		if (r < 0)
			fprintf(stderr, "push-client: activation: %s\n", broker_strerror(r));
		return r < 0 ? 1 : 0;
	}
	/* Not started by brokerd: connect, greet, hand over, exit. */
	if (o.ws_opts.url) {
		int held;
		char context[2200];
		r = push_ws_run(&o.ws_opts, &held, context, sizeof(context));
		if (r || held < 0)
			return r;
		return hand_over(&o, o.id, held, context) < 0 ? 1 : 0;
	}
	if (optind >= argc) {
		fprintf(stderr, "push-client: give the server as HOST:PORT\n");
		return 2;
	}
	o.server = argv[optind];
	if (o.tls) {
		o.tls_opts.server = o.server;
		o.tls_opts.keepalive = o.keepalive;
		int held;
		r = push_tls_run(&o.tls_opts, &held);
		if (r || held < 0)
			return r;
		char context[300];
		snprintf(context, sizeof(context), "tls-server=%s", o.server);
		return hand_over(&o, o.id, held, context) < 0 ? 1 : 0;
	}
	int fd = dial(o.server);
	if (fd < 0)
		return 1;
	send(fd, "hello from push-client\n", 23, MSG_NOSIGNAL);
	char context[300];
	snprintf(context, sizeof(context), "server=%s", o.server);
	return hand_over(&o, o.id, fd, context) < 0 ? 1 : 0;
}
