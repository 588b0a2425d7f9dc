/* SPDX-License-Identifier: MIT */
/* push-client's TLS mode (push-tls.c). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct push_tls_opts {
	const char *server;        /* HOST:PORT */
	const char *ca;            /* CA file, NULL: the system trust store */
	const char *client_cert;   /* PEM file or PKCS#11 URI, NULL: none */
	const char *client_key;    /* NULL: in client_cert */
	unsigned keepalive;        /* seconds, 0: none */
	bool hold;                 /* a holdable connection: the TLS keeper keeps the session */
};

/* Load libbroker-tls, connect, greet, and serve the stream in this process
 * until the server closes it; returns the exit code.  With hold: connect
 * through the TLS keeper, greet, and put the keeper's stream (the caller's
 * to hand over) in *ret_fd; returns 0, or the exit code with *ret_fd -1. */
int push_tls_run(const struct push_tls_opts *o, int *ret_fd);

/* A function push-client looks up in a library it loads on demand. */
struct push_sym {
	void **slot;
	const char *name;
};
/* dlopen() soname (for option, named in the messages) and fill every slot;
 * says on stderr what is missing.  0 or -1. */
int push_load(const char *soname, const char *option, const struct push_sym *syms, size_t n);
