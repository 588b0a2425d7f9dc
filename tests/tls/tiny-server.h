/* SPDX-License-Identifier: MIT */
/* Small servers written in the tests, for what no ready-made peer does:
 * a STARTTLS exchange, a reset or a close mid-handshake, bytes that are
 * not TLS after the handshake, a plain echo. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

enum tiny_script {
	TINY_PLAIN_ECHO,       /* echo bytes until EOF, without TLS */
	TINY_RESET,            /* read the ClientHello, then reset the connection */
	TINY_CLOSE,            /* read the ClientHello, then close cleanly (FIN) */
	TINY_STARTTLS,         /* "220 ready", "STARTTLS" -> "220 go ahead", TLS, echo one line, bye */
	TINY_GARBAGE,          /* TLS handshake, then raw bytes that are no TLS record */
	TINY_TLS_ECHO,         /* TLS handshake, echo until close_notify */
	TINY_SINK,             /* read TINY_SINK_BYTES slowly, answer "got N\n" (plain) */
	TINY_TLS_SINK,         /* the same over TLS, then bye */
	TINY_PUSH,             /* TLS with a required client certificate from ca.pem; expects
				* push-client's greeting, sends "news 1", expects "ack 7", bye */
};

/* Fork a child that accepts one connection on listen_fd, plays script (TLS
 * with server.pem from the run's PKI) and exits; it dies with the test
 * process.  Returns its pid; tiny_server_wait() reaps it and returns its
 * exit status (0: it saw exactly what it expected). */
pid_t tiny_server(int listen_fd, enum tiny_script script);
#define TINY_SINK_BYTES (16u << 20)
/* If >= 0 when a sink is forked, it reads nothing before a byte arrives on
 * this fd (the read end of a pipe), so a client's writes must wait. */
extern int tiny_sink_gate;
int tiny_server_wait(pid_t pid);

/* The usual test around one tiny server: count fds, listen on a free
 * loopback port (with a small receive buffer if small_rcvbuf, so that a
 * client's big writes must wait), fork the server; tiny_finish() expects
 * its exit status, closes the listener and checks that no fd leaked. */
struct tiny {
	int fds, listen_fd, port;
	pid_t pid;
};
void tiny_start(struct tiny *x, enum tiny_script script, bool small_rcvbuf);
void tiny_finish(struct tiny *x, int expected_exit);
