/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <gnutls/gnutls.h>
#include <signal.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "peer.h"
#include "tiny-server.h"

/* Read until "\n" (plaintext); exact lines only. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;
	while (n + 1 < size) {
		ssize_t r = read(fd, buf + n, 1);
		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

static int say(int fd, const char *text)
{
	size_t len = strlen(text);
	return write(fd, text, len) == (ssize_t)len ? 0 : -1;
}

static gnutls_session_t tls_accept(int fd, bool require_client_cert)
{
	gnutls_certificate_credentials_t cred;
	gnutls_session_t s;
	if (gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, pki("server.pem"), pki("server.key"), GNUTLS_X509_FMT_PEM) < 0 ||
	    gnutls_certificate_set_x509_trust_file(cred, pki("ca.pem"), GNUTLS_X509_FMT_PEM) != 1 ||
	    gnutls_init(&s, GNUTLS_SERVER) < 0 || gnutls_set_default_priority(s) < 0 ||
	    gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred) < 0)
		_exit(10);
	if (require_client_cert) {
		gnutls_certificate_server_set_request(s, GNUTLS_CERT_REQUIRE);
		gnutls_session_set_verify_cert(s, NULL, 0);
	}
	gnutls_transport_set_int(s, fd);
	int r;
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0) {
		/* Tell the client why, as real servers do, and read what it still
		 * sends until it hangs up: closing with unread data would reset
		 * the connection and could destroy the alert in flight. */
		gnutls_alert_send_appropriate(s, r);
		shutdown(fd, SHUT_WR);
		char buf[4096];
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		_exit(11);
	}
	return s;
}

static int tls_echo(gnutls_session_t s, int lines)
{
	char buf[4096];
	for (int i = 0; lines < 0 || i < lines; i++) {
		ssize_t n = gnutls_record_recv(s, buf, sizeof(buf));
		if (n == 0)
			return 0;
		if (n < 0 || gnutls_record_send(s, buf, (size_t)n) != n)
			return 12;
	}
	gnutls_bye(s, GNUTLS_SHUT_WR);
	return 0;
}

static int play(int fd, enum tiny_script script)
{
	char buf[4096];
	switch (script) {
	case TINY_PLAIN_ECHO:
		for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;)
			if (write(fd, buf, (size_t)n) != n)
				return 1;
		return 0;
	case TINY_RESET: {
		if (read(fd, buf, sizeof(buf)) <= 0)   /* the ClientHello */
			return 1;
		struct linger l = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		return 0;   /* exit closes it: RST */
	}
	case TINY_CLOSE:
		if (read(fd, buf, sizeof(buf)) <= 0)
			return 1;
		shutdown(fd, SHUT_WR);
		return 0;
	case TINY_STARTTLS:
		if (say(fd, "220 ready\r\n") < 0 || read_line(fd, buf, sizeof(buf)) < 0 ||
		    strcmp(buf, "STARTTLS\r\n") != 0 || say(fd, "220 go ahead\r\n") < 0)
			return 2;
		return tls_echo(tls_accept(fd, false), 1);
	case TINY_GARBAGE:
		tls_accept(fd, false);
		return say(fd, "this is not a TLS record\n") < 0 ? 3 : 0;
	case TINY_TLS_ECHO:
		return tls_echo(tls_accept(fd, false), -1);
	case TINY_SINK:
	case TINY_TLS_SINK: {
		/* Small reads, so the client's writes fill the socket buffers and wait. */
		gnutls_session_t s = script == TINY_TLS_SINK ? tls_accept(fd, false) : NULL;
		if (tiny_sink_gate >= 0 && read(tiny_sink_gate, buf, 1) != 1)
			return 6;
		size_t total = 0;
		while (total < TINY_SINK_BYTES) {
			ssize_t n = s ? gnutls_record_recv(s, buf, 1024) : read(fd, buf, 1024);
			if (n <= 0)
				return 7;
			total += (size_t)n;
		}
		int len = snprintf(buf, sizeof(buf), "got %zu\n", total);
		if ((s ? gnutls_record_send(s, buf, (size_t)len) : write(fd, buf, (size_t)len)) != len)
			return 8;
		if (s)
			gnutls_bye(s, GNUTLS_SHUT_WR);
		return 0;
	}
	case TINY_PUSH: {
		gnutls_session_t s = tls_accept(fd, true);
		static const char hello[] = "hello from push-client\n", ack[] = "ack 7\n";
		size_t got = 0;
		while (got < sizeof(hello) - 1) {
			ssize_t n = gnutls_record_recv(s, buf + got, sizeof(hello) - 1 - got);
			if (n <= 0)
				return 4;
			got += (size_t)n;
		}
		if (memcmp(buf, hello, got) != 0 || gnutls_record_send(s, "news 1\n", 7) != 7)
			return 5;
		ssize_t n = gnutls_record_recv(s, buf, sizeof(buf));
		if (n != sizeof(ack) - 1 || memcmp(buf, ack, (size_t)n) != 0)
			return 6;
		gnutls_bye(s, GNUTLS_SHUT_WR);
		return 0;
	}
	}
	return 9;
}

int tiny_sink_gate = -1;

pid_t tiny_server(int listen_fd, enum tiny_script script)
{
	pid_t parent = getpid(), pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid > 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	signal(SIGPIPE, SIG_IGN);   /* a client that hung up is an exit code, not a signal */
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	_exit(fd < 0 ? 100 : play(fd, script));
}

int tiny_server_wait(pid_t pid)
{
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void tiny_start(struct tiny *x, enum tiny_script script, bool small_rcvbuf)
{
	x->fds = fd_count();
	x->listen_fd = tcp_socket(-1, &x->port);
	int size = 16384;
	if (small_rcvbuf)
		ck_assert_int_eq(setsockopt(x->listen_fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)), 0);
	ck_assert_int_eq(listen(x->listen_fd, 2), 0);
	x->pid = tiny_server(x->listen_fd, script);
}

void tiny_finish(struct tiny *x, int expected_exit)
{
	ck_assert_int_eq(tiny_server_wait(x->pid), expected_exit);
	close(x->listen_fd);
	ck_assert_int_eq(fd_count(), x->fds);
}
