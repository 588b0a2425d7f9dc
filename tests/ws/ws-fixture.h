/* SPDX-License-Identifier: MIT */
/* For the ws suites: python3-websockets (ws-server.py) as the server,
 * with its stdin for commands and its stdout in a file. */
#pragma once

#include <stdbool.h>

#include <socket-broker/broker-ws.h>
#include "peer.h"

struct wsp {
	struct peer peer;
	int cmd;            /* its stdin */
	char log[64];       /* its stdout */
	char url[96];       /* ws[s]://localhost:PORT/ */
};

/* Start ws-server.py ($WS_SERVER) with the extra arguments (NULL-ended);
 * tls: with the run's server certificate, and a wss:// URL. */
void wsp_start(struct wsp *s, bool tls, ...);
void wsp_stop(struct wsp *s);
/* Send a command line ("push TEXT", "ping x", "close"). */
void wsp_command(struct wsp *s, const char *line);
/* Wait (10 s) until the log holds text. */
void wsp_expect(struct wsp *s, const char *text);

/* A handle in mode with 10 s timeouts trusting the run's CA. */
broker_ws *ws_handle(enum broker_ws_mode mode);
/* Assert a failed connect: its errno and status. */
void ws_expect_failure(broker_ws *w, int r, int err, enum broker_tls_status status);
