/* SPDX-License-Identifier: MIT */
/* push-client's TLS mode (push-tls.c). */
#pragma once

struct push_tls_opts {
	const char *server;        /* HOST:PORT */
	const char *ca;            /* CA file, NULL: the system trust store */
	const char *client_cert;   /* PEM file or PKCS#11 URI, NULL: none */
	const char *client_key;    /* NULL: in client_cert */
	unsigned keepalive;        /* seconds, 0: none */
};

/* Load libbroker-tls, connect, greet, and serve the stream in this process
 * until the server closes it.  Returns the exit code. */
int push_tls_run(const struct push_tls_opts *o);
