/* SPDX-License-Identifier: MIT */
/*
 * wss: a WebSocket push cycle, held by brokerd.
 *   push cycle  the server sends a one-byte text message on a held
 *               connection; brokerd starts bench-ws-app, which adopts the
 *               stream with libbroker-ws, reads the message and answers
 *               with a one-byte binary message; the server gets it.  A
 *               wss:// connection whose TLS session the keeper holds,
 *               against the same work on a plaintext held ws://
 *               connection, samples alternating.  Target: at most 1.5x.
 *   memory      the keeper's RSS per held wss:// connection.
 * The servers are children of this process, on GnuTLS and libwslay's frame
 * API, with the PKI of tests/tls/make-pki.sh.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include <socket-broker/broker-ws.h>
#include "bench.h"
#include "ws.h"   /* ws_accept_for() */

#define APP_ID "bench.ws"

/* One server connection: TLS (s) or plain (fd). */
struct conn {
	gnutls_session_t s;
	int fd;
};

static ssize_t conn_read(struct conn *c, void *buf, size_t len)
{
	return c->s ? gnutls_record_recv(c->s, buf, len) : read(c->fd, buf, len);
}

static ssize_t conn_write(struct conn *c, const void *buf, size_t len)
{
	return c->s ? gnutls_record_send(c->s, buf, len) : write(c->fd, buf, len);
}

static ssize_t frame_send(const uint8_t *data, size_t len, int flags, void *user)
{
	ssize_t n = conn_write(user, data, len);
	return n > 0 ? n : -1;
}

static ssize_t frame_recv(uint8_t *buf, size_t len, int flags, void *user)
{
	ssize_t n = conn_read(user, buf, len);
	return n > 0 ? n : -1;
}

static int frame_mask(uint8_t *buf, size_t len, void *user)
{
	return getrandom(buf, len, 0) == (ssize_t)len ? 0 : -1;
}

/* The server's half of the opening handshake: the request up to its empty
 * line (libbroker-ws sends the key in this spelling), then 101. */
static void upgrade(struct conn *c)
{
	char req[4096];
	size_t n = 0;
	while (n < sizeof(req) - 1 && (n < 4 || memcmp(req + n - 4, "\r\n\r\n", 4) != 0))
		if (conn_read(c, req + n++, 1) != 1)
			_exit(7);
	req[n] = 0;
	const char *k = strstr(req, "\r\nSec-WebSocket-Key: ");
	if (!k)
		_exit(8);
	char key[WS_KEY_LEN + 1], accept[WS_ACCEPT_LEN + 1], resp[256];
	memcpy(key, k + 21, WS_KEY_LEN);
	key[WS_KEY_LEN] = 0;
	ws_accept_for(key, accept);
	int len = snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			   "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
	if (conn_write(c, resp, (size_t)len) != len)
		_exit(9);
}

/* Accept, handshake and upgrade each connection; with go >= 0, wait for a
 * byte on go, time one message out and the answer back (microseconds on
 * report) and close; without, keep every connection open (memory). */
static _Noreturn void ws_server(int listener, bool tls, int go, int report)
{
	gnutls_certificate_credentials_t cred;
	gnutls_certificate_allocate_credentials(&cred);
	if (tls && gnutls_certificate_set_x509_key_file(cred, keeper_pki_file("server.pem"),
							keeper_pki_file("server.key"), GNUTLS_X509_FMT_PEM) < 0)
		_exit(2);
	static const struct wslay_frame_callbacks cbs = { frame_send, frame_recv, frame_mask };
	for (;;) {
		struct conn *c = calloc(1, sizeof(*c));
		if (!c || (c->fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC)) < 0)
			_exit(3);
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (tls) {
			gnutls_init(&c->s, GNUTLS_SERVER);
			gnutls_set_default_priority(c->s);
			gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, cred);
			gnutls_transport_set_int(c->s, c->fd);
			if (gnutls_handshake(c->s) < 0)
				_exit(4);
		}
		upgrade(c);
		if (go < 0)
			continue;   /* held open: the keeper's memory per connection */
		wslay_frame_context_ptr f;
		if (wslay_frame_context_init(&f, &cbs, c) != 0)
			_exit(5);
		char g;
		if (read(go, &g, 1) != 1)
			_exit(0);
		uint64_t t0 = mono_ns();
		struct wslay_frame_iocb out = { .fin = 1, .opcode = WSLAY_TEXT_FRAME, .payload_length = 1,
						.data = (const uint8_t *)"x", .data_length = 1 };
		/* wslay writes the header and the payload apart: one record, one
		 * segment, as a real server sends a frame. */
		if (c->s)
			gnutls_record_cork(c->s);
		if (wslay_frame_send(f, &out) != 1 || (c->s && gnutls_record_uncork(c->s, GNUTLS_RECORD_WAIT) < 0))
			_exit(6);
		struct wslay_frame_iocb in;
		uint64_t got = 0;
		do {
			memset(&in, 0, sizeof(in));
			ssize_t r = wslay_frame_recv(f, &in);
			if (r < 0 && r != WSLAY_ERR_WANT_READ)
				_exit(10);
			got += r > 0 ? (uint64_t)r : 0;
		} while (got < 1 || in.opcode != WSLAY_BINARY_FRAME);
		double us = (double)(mono_ns() - t0) / 1e3;
		if (write(report, &us, sizeof(us)) != sizeof(us))
			_exit(11);
		wslay_frame_context_free(f);
		if (c->s) {
			gnutls_bye(c->s, GNUTLS_SHUT_WR);
			gnutls_deinit(c->s);
		}
		close(c->fd);
		free(c);
	}
}

struct server {
	pid_t pid;
	uint16_t port;
	int go, report;   /* ours: -1 for a memory server */
};

static void server_start(struct server *s, bool tls, bool timed)
{
	int listener = tcp_listener(&s->port), go[2] = { -1, -1 }, report[2] = { -1, -1 };
	if (timed && (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0))
		die("pipe: %m");
	if ((s->pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (timed) {
			close(go[1]);
			close(report[0]);
		}
		ws_server(listener, tls, go[0], report[1]);
	}
	if (timed) {
		close(go[0]);
		close(report[1]);
	}
	close(listener);
	s->go = go[1];
	s->report = report[0];
}

static void server_stop(struct server *s)
{
	if (s->go >= 0) {
		close(s->go);
		close(s->report);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
}

static broker_ws *dial(const char *scheme, uint16_t port)
{
	char url[64];
	snprintf(url, sizeof(url), "%s://localhost:%u/", scheme, port);
	broker_ws *w;
	if (broker_ws_new(BROKER_WS_MESSAGE, &w) < 0 || broker_ws_set_ca_file(w, keeper_pki_file("ca.pem")) < 0 ||
	    broker_ws_set_holdable(w, true) < 0)
		die("broker_ws setup");
	if (broker_ws_connect(w, url) < 0)
		die("connect %s: %s", url, broker_ws_get_detail(w));
	return w;
}

static double once(broker *b, const char *scheme, struct server *s)
{
	broker_ws *w = dial(scheme, s->port);
	int r = broker_transfer(b, scheme, broker_ws_take_fd(w), NULL, 0, 0);
	broker_ws_free(w);
	if (r < 0)
		die("transfer: %s (%s)", broker_strerror(r), broker_last_message(b));
	double us;
	if (write(s->go, "g", 1) != 1 || read(s->report, &us, sizeof(us)) != sizeof(us))
		die("the %s server failed", scheme);
	bd_wait_idle(b, APP_ID, 10000);
	return us;
}

void run_wss(void)
{
	note("wss: WebSocket push cycles, keeper memory per connection");
	struct bd d;
	char app[512];
	snprintf(app, sizeof(app), "%s", BENCH_WS_APP);
	pid_t keeper = keeper_setup(&d, APP_ID, app);
	broker *b = bd_connect(&d, APP_ID);
	struct server plain, tls;
	server_start(&plain, false, true);
	server_start(&tls, true, true);

	unsigned n = B.quick ? 20 : 200, warm = 5;
	struct samples s[2] = { { 0 }, { 0 } };
	for (unsigned i = 0; i < n + warm; i++) {
		double p = once(b, "ws", &plain), k = once(b, "wss", &tls);
		if (i >= warm) {
			samples_add(&s[0], p);
			samples_add(&s[1], k);
		}
	}
	const char *names[] = { "ws:// held, push cycle", "wss:// keeper-held, push cycle" };
	const char *files[] = { "wss-plain.dat", "wss-keeper.dat" };
	samples_report_pair_ms(s, "wss", names, files, "wss:// keeper-held / ws:// held", "<= 1.5");
	server_stop(&plain);
	server_stop(&tls);

	/* The keeper's memory per held wss:// connection. */
	struct server mem;
	server_start(&mem, true, false);
	unsigned m = B.quick ? 20 : 200;
	broker_ws **w = calloc(m, sizeof(*w));
	if (!w)
		die("out of memory");
	long before = proc_status(keeper, "VmRSS");
	for (unsigned i = 0; i < m; i++)
		w[i] = dial("wss", mem.port);
	long after = proc_status(keeper, "VmRSS");
	result("wss", "keeper RSS per held wss:// connection", "memory", (double)(after - before) * 1024 / m, "B",
	       NULL);
	for (unsigned i = 0; i < m; i++)
		broker_ws_free(w[i]);
	free(w);
	server_stop(&mem);

	kill(keeper, SIGTERM);
	waitpid(keeper, NULL, 0);
	broker_close(b);
	bd_stop(&d);
	bd_cleanup(&d);
}
