/* SPDX-License-Identifier: MIT */
/*
 * push-client --tls: the same app over TLS.
 *
 * Why dlopen: brokerd starts push-client on every activation, and a program
 * linked with GnuTLS takes ~3.6 ms longer to start, whether it uses TLS or
 * not.  So push-client links only libbroker and loads libbroker-tls (and
 * with it GnuTLS) here, only when --tls is given.  A second binary would do
 * as well; one binary with one set of options is simpler to deploy and
 * shows the pattern an app with an optional TLS mode can copy.
 *
 * Why it stays connected: the TLS session's keys and sequence numbers live
 * in this process, and without kernel TLS (which the kernels we run on lack)
 * they cannot travel with the fd, so brokerd cannot hold the stream
 * (broker_transfer() refuses it with -EBADFD).  push-client says so and
 * serves the connection itself.  With --hold it asks for a holdable
 * connection instead: the TLS keeper keeps the session, push-client hands
 * the keeper's local stream to brokerd and exits, and the instance brokerd
 * wakes reads and writes that stream like a plain one, without loading
 * libbroker-tls at all.  See docs/tls.md.
 */
#include <dlfcn.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include <socket-broker/broker-tls.h>
#include "push-tls.h"

/* The functions used, typed from the header that libbroker-tls implements. */
static struct {
	__typeof__(broker_tls_new) *new_;
	__typeof__(broker_tls_free) *free_;
	__typeof__(broker_tls_set_ca_file) *set_ca_file;
	__typeof__(broker_tls_set_client_cert) *set_client_cert;
	__typeof__(broker_tls_connect) *connect_;
	__typeof__(broker_tls_get_info) *get_info;
	__typeof__(broker_tls_get_status) *get_status;
	__typeof__(broker_tls_get_detail) *get_detail;
	__typeof__(broker_tls_get_fd) *get_fd;
	__typeof__(broker_tls_status_name) *status_name;
	__typeof__(broker_tls_status_message) *status_message;
	__typeof__(broker_tls_status_retry_may_help) *retry_may_help;
	__typeof__(broker_tls_read) *read_;
	__typeof__(broker_tls_pending) *pending;
	__typeof__(broker_tls_write) *write_;
	__typeof__(broker_tls_shutdown) *shutdown_;
	__typeof__(broker_tls_set_holdable) *set_holdable;
	__typeof__(broker_tls_take_fd) *take_fd;
} tls;

int push_load(const char *soname, const char *option, const struct push_sym *syms, size_t n)
{
	void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "push-client: %s needs %s: %s\n", option, soname, dlerror());
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!(*syms[i].slot = dlsym(h, syms[i].name))) {
			fprintf(stderr, "push-client: %s lacks %s\n", soname, syms[i].name);
			return -1;
		}
	return 0;   /* h stays open for the life of the process */
}

static int load(void)
{
	const struct push_sym syms[] = {
#define SYM(field, name) { (void **)&tls.field, #name }
		SYM(new_, broker_tls_new), SYM(free_, broker_tls_free),
		SYM(set_ca_file, broker_tls_set_ca_file), SYM(set_client_cert, broker_tls_set_client_cert),
		SYM(connect_, broker_tls_connect), SYM(get_info, broker_tls_get_info),
		SYM(get_status, broker_tls_get_status), SYM(get_detail, broker_tls_get_detail),
		SYM(get_fd, broker_tls_get_fd), SYM(status_name, broker_tls_status_name),
		SYM(status_message, broker_tls_status_message),
		SYM(retry_may_help, broker_tls_status_retry_may_help), SYM(read_, broker_tls_read),
		SYM(pending, broker_tls_pending), SYM(write_, broker_tls_write),
		SYM(shutdown_, broker_tls_shutdown), SYM(set_holdable, broker_tls_set_holdable),
		SYM(take_fd, broker_tls_take_fd),
#undef SYM
	};
	return push_load("libbroker-tls.so.1", "--tls", syms, sizeof(syms) / sizeof(syms[0]));
}

static int report(broker_tls *t, const char *what)
{
	int s = tls.get_status(t);
	fprintf(stderr, "push-client: %s: %s: %s (%s)%s\n", what, tls.status_name(s), tls.status_message(s),
		tls.get_detail(t), tls.retry_may_help(s) ? "; a later retry may succeed" : "");
	return 1;
}

static int send_text(broker_tls *t, const char *text)
{
	return tls.write_(t, text, strlen(text)) < 0 ? report(t, "write") : 0;
}

/* Print what arrives and answer "ack N"; keep-alives when idle. */
static int serve(broker_tls *t, unsigned keepalive)
{
	for (;;) {
		if (tls.pending(t) == 0) {
			struct pollfd p = { .fd = tls.get_fd(t), .events = POLLIN };
			int n = poll(&p, 1, keepalive ? (int)keepalive * 1000 : -1);
			if (n == 0) {
				if (send_text(t, "keep-alive\n"))
					return 1;
				continue;
			}
		}
		char buf[4096];
		ssize_t n = tls.read_(t, buf, sizeof(buf));
		if (n == 0) {
			printf("push-client: the server closed the connection\n");
			return 0;
		}
		if (n < 0)
			return report(t, "read");
		printf("push-client: received %zd byte(s): %.*s%s", n, (int)n, buf, buf[n - 1] == '\n' ? "" : "\n");
		char reply[64];
		snprintf(reply, sizeof(reply), "ack %zd\n", n);
		if (send_text(t, reply))
			return 1;
	}
}

int push_tls_run(const struct push_tls_opts *o, int *ret_fd)
{
	*ret_fd = -1;
	if (load() < 0)
		return 1;
	char host[256];
	snprintf(host, sizeof(host), "%s", o->server);
	char *port = strrchr(host, ':');
	if (!port) {
		fprintf(stderr, "push-client: %s: expected HOST:PORT\n", o->server);
		return 2;
	}
	*port++ = 0;

	broker_tls *t;
	int r = tls.new_(BROKER_TLS_LEVEL_TLS, &t);
	if (r == 0 && o->ca && (r = tls.set_ca_file(t, o->ca)) < 0)
		fprintf(stderr, "push-client: --ca %s: %s\n", o->ca, strerror(-r));
	if (r == 0 && o->hold && (r = tls.set_holdable(t, true)) < 0)
		fprintf(stderr, "push-client: --hold: %s\n", strerror(-r));
	if (r == 0 && o->client_cert && (r = tls.set_client_cert(t, o->client_cert, o->client_key)) < 0)
		fprintf(stderr, "push-client: --client-cert: %s (%s)\n", strerror(-r), tls.get_detail(t));
	if (r < 0) {
		tls.free_(t);
		return 1;
	}
	if (tls.connect_(t, host, port) < 0) {
		r = report(t, o->server);
		tls.free_(t);
		return r;
	}
	broker_tls_info i;
	tls.get_info(t, &i);
	printf("push-client: connected to %s with %s, %s; server %s%s\n", o->server, i.protocol, i.cipher,
	       i.peer_verified ? "verified: " : "NOT verified: ", i.peer_subject);
	if (i.client_cert_requested)
		printf("push-client: the server asked for a client certificate; %s\n",
		       i.client_cert_sent ? "sent" : "none sent");
	if (o->hold) {
		r = send_text(t, "hello from push-client\n");
		if (r == 0)
			printf("push-client: the TLS keeper holds the session; handing its stream to brokerd\n");
		*ret_fd = r == 0 ? tls.take_fd(t) : -1;
		tls.free_(t);
		return *ret_fd >= 0 ? 0 : 1;
	}
	printf("push-client: not handing the connection to brokerd: its TLS session lives in this process "
	       "and cannot move without kernel TLS; serving it here\n");
	fflush(stdout);
	r = send_text(t, "hello from push-client\n");
	if (r == 0)
		r = serve(t, o->keepalive);
	if (r == 0)
		tls.shutdown_(t);
	tls.free_(t);
	return r;
}
