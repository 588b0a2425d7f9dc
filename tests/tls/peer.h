/* SPDX-License-Identifier: MIT */
/* Helpers for the TLS tests: the run's PKI, real peer processes on
 * loopback, plain listeners, fd counting. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include <socket-broker/broker-tls.h>

/* Create the PKI (tests/tls/make-pki.sh, path in $TLS_MAKE_PKI) in a fresh
 * temporary directory; pki_cleanup() removes it.  Call from main(). */
void pki_setup(void);
void pki_cleanup(void);
/* Path of a file in the PKI directory ("ca.pem", "server.key", ...).  The
 * result stays valid for the next 7 calls. */
const char *pki(const char *file);

/* A peer process listening on a free loopback port.  Every "@PORT@" inside
 * an argument is replaced by the port.  Returns once the port is in LISTEN
 * state (checked in /proc/net/tcp{,6}); picks another port if the peer
 * could not bind its port.  The peer dies with the test process. */
struct peer {
	pid_t pid;
	int port;
	char port_text[8];
};
void peer_start(struct peer *p, const char *const *argv);
/* The same with the peer's stdin and stdout on in and out (-1: /dev/null;
 * the caller keeps its fds). */
void peer_start_io(struct peer *p, const char *const *argv, int in, int out);
void peer_stop(struct peer *p);

/* A TCP socket on 127.0.0.1, port chosen by the kernel.  listen_backlog < 0:
 * bound but not listening (connections to it are refused). */
int tcp_socket(int listen_backlog, int *ret_port);

/* Open fds of this process. */
int fd_count(void);

/* Run the suite the Check way (TAP as the environment asks) with the
 * run's PKI around it; the exit code for main(). */
#include <check.h>
int run_suite(Suite *s);

/* A new handle at level with 10 s timeouts, trusting ca (NULL: the system
 * store). */
broker_tls *tls_handle(enum broker_tls_level level, const char *ca);

/* port as a service string (valid for the next 3 calls). */
const char *service(int port);

/* Drive a non-blocking connect or upgrade that returned r to its end the
 * way an event loop would, checking the fd, events and timeout the handle
 * names on the way.  Returns the final result. */
int step_until_done(broker_tls *t, int r);

/* Connect at level to host:port trusting ca (NULL: the system store),
 * optionally with a client certificate.  *ret gets the result. */
broker_tls *dial(enum broker_tls_level level, const char *host, int port, const char *ca,
		 const char *client, int *ret);

/* Assert a failed connect: exactly status, and its errno. */
void expect_failure(broker_tls *t, int r, enum broker_tls_status status);

/* Assert what an established TLS connection negotiated. */
void expect_tls(broker_tls *t, unsigned version, const char *subject);

/* Write line, read the peer's answer and compare it to expect. */
void exchange(broker_tls *t, const char *line, const char *expect);
