/* SPDX-License-Identifier: MIT */
/*
 * Held TLS through the TLS keeper (broker-tls-keeper):
 *   push cycle  a TLS server sends one byte on a held holdable connection;
 *               brokerd starts bench-app, which reads it from the keeper's
 *               stream and answers; the server gets the answer.  Against the
 *               same cycle on a plaintext held TCP connection (bd_exchange),
 *               samples alternating.  Target: at most 1.5x.
 *   memory      the keeper's RSS with 0 and N held sessions: per session.
 *   cpu         the keeper's CPU time per MB it relays (both directions
 *               counted), echoing 32 MiB through gnutls-serv --echo.
 * The server of the push cycle is a child process of this one with GnuTLS
 * and the PKI that tests/tls/make-pki.sh makes at run time.
 */
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <socket-broker/broker-tls.h>
#include "bench.h"

#define APP_ID "bench.tls"

static char pki[128];

const char *keeper_pki_file(const char *name)
{
	static char path[4][192];
	static unsigned next;
	char *p = path[next++ % 4];
	snprintf(p, sizeof(path[0]), "%s/%s", pki, name);
	return p;
}

pid_t keeper_child(char *const argv[])
{
	pid_t parent = getpid(), pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		dup2(null, 1);
		if (!getenv("BENCH_KEEPER_STDERR"))
			dup2(null, 2);
		execvp(argv[0], argv);
		_exit(127);
	}
	return pid;
}

/* The push server: for each connection, handshake, wait for a byte on
 * go, then time one byte out and the answer back; microseconds on report. */
static _Noreturn void push_server(int listener, int go, int report)
{
	gnutls_certificate_credentials_t cred;
	gnutls_certificate_allocate_credentials(&cred);
	if (gnutls_certificate_set_x509_key_file(cred, keeper_pki_file("server.pem"), keeper_pki_file("server.key"),
						 GNUTLS_X509_FMT_PEM) < 0)
		_exit(2);
	for (;;) {
		int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			_exit(3);
		gnutls_session_t s;
		gnutls_init(&s, GNUTLS_SERVER);
		gnutls_set_default_priority(s);
		gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
		gnutls_transport_set_int(s, fd);
		if (gnutls_handshake(s) < 0)
			_exit(4);
		char c;
		if (read(go, &c, 1) != 1)
			_exit(0);
		uint64_t t0 = mono_ns();
		if (gnutls_record_send(s, "x", 1) != 1 || gnutls_record_recv(s, &c, 1) != 1)
			_exit(5);
		double us = (double)(mono_ns() - t0) / 1e3;
		if (write(report, &us, sizeof(us)) != sizeof(us))
			_exit(6);
		gnutls_bye(s, GNUTLS_SHUT_WR);
		gnutls_deinit(s);
		close(fd);
	}
}

static broker_tls *dial(uint16_t port)
{
	broker_tls *t;
	char service[8];
	snprintf(service, sizeof(service), "%u", port);
	if (broker_tls_new(BROKER_TLS_LEVEL_TLS13, &t) < 0 || broker_tls_set_ca_file(t, keeper_pki_file("ca.pem")) < 0 ||
	    broker_tls_set_holdable(t, true) < 0)
		die("broker_tls setup");
	if (broker_tls_connect(t, "localhost", service) < 0)
		die("holdable connect: %s", broker_tls_get_detail(t));
	return t;
}

static double once_keeper(broker *b, uint16_t port, int go, int report)
{
	broker_tls *t = dial(port);
	int r = broker_transfer(b, "tls", broker_tls_take_fd(t), NULL, 0, 0);
	broker_tls_free(t);
	if (r < 0)
		die("transfer: %s (%s)", broker_strerror(r), broker_last_message(b));
	double us;
	if (write(go, "g", 1) != 1 || read(report, &us, sizeof(us)) != sizeof(us))
		die("push server failed");
	bd_wait_idle(b, APP_ID, 10000);
	return us;
}

static void push_cycles(broker *b, uint16_t tls_port, int go, int report)
{
	unsigned n = B.quick ? 20 : 200, warm = 5;
	uint16_t port;
	int listener = tcp_listener(&port);
	struct samples plain = { 0 }, held = { 0 };
	for (unsigned i = 0; i < n + warm; i++) {
		int c;
		double p = bd_exchange(b, listener, port, "plain", &c);
		expect_close(c, "plain");
		bd_wait_idle(b, APP_ID, 10000);
		double k = once_keeper(b, tls_port, go, report);
		if (i >= warm) {
			samples_add(&plain, p);
			samples_add(&held, k);
		}
	}
	double pm = samples_quantile(&plain, 0.5), km = samples_quantile(&held, 0.5);
	result("keeper", "plaintext held, push cycle median", "time", pm / 1e3, "ms", NULL);
	result("keeper", "TLS keeper-held, push cycle median", "time", km / 1e3, "ms", NULL);
	result("keeper", "TLS keeper-held / plaintext held, median", "ratio", km / pm, "x", "<= 1.5");
	samples_write(&held, "keeper-push.dat");
	samples_free(&plain);
	samples_free(&held);
	close(listener);
}

/* RSS per session, and CPU per relayed MB, against gnutls-serv --echo. */
static void keeper_costs(pid_t keeper)
{
	uint16_t port = free_port();
	char p[8];
	snprintf(p, sizeof(p), "%u", port);
	char *argv[] = { "gnutls-serv", "--echo", "--port", p, "--x509certfile", (char *)keeper_pki_file("server.pem"),
			 "--x509keyfile", (char *)keeper_pki_file("server.key"), NULL };
	pid_t srv = keeper_child(argv);
	for (int i = 0; i < 2000; i++) {
		int c = tcp_connect(port);
		if (c >= 0) {
			close(c);
			break;
		}
		sleep_ms(5);
	}
	unsigned n = B.quick ? 50 : 500;
	broker_tls **t = calloc(n, sizeof(*t));
	long before = proc_status(keeper, "VmRSS");
	for (unsigned i = 0; i < n; i++) {
		int st;
		if (waitpid(keeper, &st, WNOHANG) == keeper)
			die("the keeper ended (status %#x) after %u sessions", st, i);
		t[i] = dial(port);
	}
	long after = proc_status(keeper, "VmRSS");
	result("keeper", "keeper RSS per held session", "memory", (double)(after - before) * 1024 / n, "B", NULL);
	for (unsigned i = 1; i < n; i++)
		broker_tls_free(t[i]);

	/* Echo 32 MiB: the keeper relays each byte twice. */
	size_t total = B.quick ? 4u << 20 : 32u << 20, sent = 0, got = 0;
	static char buf[65536];
	memset(buf, 'x', sizeof(buf));
	for (size_t i = 1023; i < sizeof(buf); i += 1024)
		buf[i] = '\n';   /* gnutls-serv echoes lines */
	broker_tls_set_nonblocking(t[0], true);
	long cpu0 = proc_cpu_ticks(keeper);
	uint64_t t0 = mono_ns();
	while (got < total) {
		if (sent < total) {
			size_t len = total - sent < 16384 ? total - sent : 16384;
			ssize_t w = broker_tls_write(t[0], buf, len);
			if (w > 0)
				sent += (size_t)w;
			else if (w != -EAGAIN)
				die("relay write: %s", broker_tls_get_detail(t[0]));
		}
		ssize_t r = broker_tls_read(t[0], buf, sizeof(buf));
		if (r > 0)
			got += (size_t)r;
		else if (r != -EAGAIN)
			die("relay read: %zd %s", r, broker_tls_get_detail(t[0]));
		else {
			struct pollfd pfd = { broker_tls_get_fd(t[0]), POLLIN | (sent < total ? POLLOUT : 0) };
			poll(&pfd, 1, 1000);
		}
	}
	double secs = (double)(mono_ns() - t0) / 1e9;
	long ticks = proc_cpu_ticks(keeper) - cpu0;
	double mb = 2.0 * (double)total / (1 << 20);
	result("keeper", "keeper CPU per relayed MB", "cpu", (double)ticks * 1000 / sysconf(_SC_CLK_TCK) / mb,
	       "ms", NULL);
	result("keeper", "echo throughput through the keeper", "rate", (double)total / (1 << 20) / secs, "MB/s",
	       NULL);
	broker_tls_free(t[0]);
	free(t);
	kill(srv, SIGKILL);
	waitpid(srv, NULL, 0);
}

pid_t keeper_setup(struct bd *d, const char *app_id, const char *app_command)
{
	char extra[512];
	/* Hundreds of starts in a row are the point here, not a fault.
	 * brokerd.conf's [limits] comes last: this opens [broker] again. */
	snprintf(extra, sizeof(extra), "trigger-limit-interval-ms = 0\n[broker]\ntls-keeper = %s", BENCH_KEEPER);
	bd_init(d, extra);
	snprintf(pki, sizeof(pki), "%s/pki", d->dir);
	mkdir(pki, 0700);
	char *mk[] = { "sh", BENCH_MAKE_PKI, pki, NULL };
	if (run_wait(mk) != 0)
		die("%s failed", BENCH_MAKE_PKI);
	char act[512];
	snprintf(act, sizeof(act), "method = exec\ncommand = %s", app_command);
	bd_app(d, app_id, act);
	bd_start(d, NULL, 10000);

	char ksock[sizeof(((struct sockaddr_un *)0)->sun_path)];
	snprintf(ksock, sizeof(ksock), "%s/keeper", d->dir);
	setenv("BROKER_SOCKET", d->sock, 1);
	setenv("BROKER_TLS_KEEPER_SOCKET", ksock, 1);
	char *kargv[] = { BENCH_KEEPER, "--listen", ksock, "--idle-exit", "0", NULL };
	pid_t keeper = keeper_child(kargv);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", ksock);
	for (int i = 0;; i++) {
		int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		close(fd);
		if (r == 0)
			break;
		if (i == 2000)
			die("the keeper does not listen on %s", ksock);
		sleep_ms(5);
	}
	return keeper;
}

void run_keeper(void)
{
	note("keeper: push cycles, memory, CPU");
	struct bd d;
	pid_t keeper = keeper_setup(&d, APP_ID, bench_app);
	broker *b = bd_connect(&d, APP_ID);

	uint16_t tls_port;
	int listener = tcp_listener(&tls_port), go[2], report[2];
	if (pipe2(go, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
		die("pipe: %m");
	pid_t server = fork();
	if (server == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(go[1]);
		close(report[0]);
		push_server(listener, go[0], report[1]);
	}
	close(go[0]);
	close(report[1]);
	close(listener);

	push_cycles(b, tls_port, go[1], report[0]);
	keeper_costs(keeper);

	close(go[1]);
	close(report[0]);
	kill(server, SIGKILL);
	waitpid(server, NULL, 0);
	kill(keeper, SIGTERM);
	waitpid(keeper, NULL, 0);
	broker_close(b);
	bd_stop(&d);
	bd_cleanup(&d);
}
