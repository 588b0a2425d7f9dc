/* SPDX-License-Identifier: MIT */
/* For the suites of held TLS through the TLS keeper: a brokerd that
 * believes the built keeper (the e2e harness), the keeper started by the
 * test, holdable connections and what the test app reports. */
#pragma once

#include <check.h>
#include <stddef.h>
#include <sys/types.h>

#include <socket-broker/broker-tls.h>
#include "harness.h"

#define APP "org.test.tls"
#define SUBJECT "CN=localhost,O=socket-broker tests"

/* The keeper keeper_start() started. */
extern pid_t keeper_pid;

/* brokerd.conf lines naming $BROKER_TLS_KEEPER as tls-keeper=, for hb_init(). */
const char *keeper_conf(void);
/* $BROKER_SOCKET and $BROKER_TLS_KEEPER_SOCKET for b, for this process and
 * what it starts. */
void keeper_env(const struct hb *b);
/* Start the keeper for b (it dies with the test) and wait until it
 * listens; it tells the brokerd at broker_socket. */
void keeper_start_with(const struct hb *b, const char *broker_socket);
void keeper_start(const struct hb *b);
/* SIGKILL it and reap it. */
void keeper_kill(void);
/* A holdable TLS connection to host:port trusting the run's CA; fails the
 * test if it does not connect. */
broker_tls *held_dial(const char *host, int port, unsigned ignorable);
/* broker_tls_take_fd(), checked to be a local stream. */
int take_stream(broker_tls *t);
/* How often text occurs in the file at path. */
int occurrences(const char *path, const char *text);
/* The reason of the last handback in the report, "" if none. */
const char *last_reason(const char *rep);
/* main(): the tests as one suite of that name, with the run's PKI (peer.h)
 * and the harness's scenario directories around it; the exit code. */
int keeper_run_suite(const char *name, const TTest *const *tests, size_t n);
