/* SPDX-License-Identifier: MIT */
/*
 * For the security suites, on top of the end-to-end harness (a brokerd of
 * the test's own, its fd count, valgrind mode): manifests with chosen users
 * and capabilities, a well-behaved libbroker client, raw protocol access
 * for sending what libbroker never would, and other users.  Every helper
 * aborts the test (Check assertions) on an unexpected failure.  Suites run
 * with hb_run_suite().
 */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <socket-broker/broker.h>
#include "harness.h"   /* tests/e2e */
#include "proto.h"

/* Make the scenario directory (tests/e2e/harness.h: hb_init) reachable by
 * other users, with brokerd.conf extra (e.g. "[limits]\nmax-held = 4\n";
 * NULL for none).  Named after the test function. */
#define sec_setup(b, extra) sec_setup_named((b), __func__, (extra))
void sec_setup_named(struct hb *b, const char *name, const char *extra);

/* Write apps.d/<file> with text (mode 0644, owned by the caller). */
void sec_app(struct hb *b, const char *file, const char *text);

/* A manifest for id: exec activation of /bin/true, as user uid, with caps. */
void sec_app_simple(struct hb *b, const char *id, uid_t uid, const char *caps);

/* The usual frame of a hostile-input test: sec_setup(extra) with the
 * well-behaved app SEC_GOOD_APP (root, localSocket), hb_start(), one good
 * client cycle; and at the end another good cycle, brokerd's fds back at
 * b->base_fds, hb_finish(). */
#define SEC_GOOD_APP "com.example.good"
#define sec_begin(b, extra) sec_begin_named((b), __func__, (extra))
void sec_begin_named(struct hb *b, const char *name, const char *extra);
void sec_end(struct hb *b);

/* Run brokerd with these arguments to completion (under valgrind if
 * BROKER_TEST_VALGRIND asks); its exit status, with its output in out
 * (may be NULL). */
int sec_run_brokerd(const char *const *args, char *out, size_t outlen);

/* Does brokerd's log contain text at least times times (polling up to 5 s)? */
bool sec_log_has(const struct hb *b, const char *text, int times);

/* A full cycle of a well-behaved client as app_id (which must grant
 * localSocket): open, register, transfer a socketpair end with a context,
 * list, show, claim it back and prove it is the same socket by its bytes. */
void sec_good_client(const struct hb *b, const char *app_id);

/* Raw control connections. */
int sec_raw_connect(const struct hb *b);                /* no hello */
int sec_raw_hello(const struct hb *b);                  /* after hello */
int sec_raw_registered(const struct hb *b, const char *app);   /* after hello and REGISTER */
/* Send one packet as is, with fds. */
void sec_raw_send(int fd, const void *buf, size_t len, const int *fds, size_t nfds);
/* Encode and send a message; the header may then be patched by the caller
 * via sec_encode() instead. */
void sec_raw_msg(int fd, unsigned type, uint32_t seq, const void *fixed, size_t fixed_size,
		 const struct bp_field *fields, unsigned nfields, const int *fds, unsigned nfds);
size_t sec_encode(void *buf, size_t cap, unsigned type, uint32_t seq, const void *fixed, size_t fixed_size,
		  const struct bp_field *fields, unsigned nfields, unsigned nfds);
/* Receive one message (up to 5 s); returns bp_recv()'s result.  Fields
 * point into a static buffer valid until the next call. */
int sec_raw_recv(int fd, struct bp_msg *m);
/* Expect an ERROR for seq with error err; returns its text (static). */
const char *sec_expect_error(int fd, uint32_t seq, int err);
/* Expect the peer to close (EOF), draining anything before it (up to 10 s). */
void sec_expect_eof(int fd);

/* A socketpair; sv[1] is what gets sent, sv[0] stays to watch. */
void sec_pair(int type, int sv[2]);
/* Close our sv[1] and sv[0], after checking that brokerd has closed every
 * copy of sv[1] it received. */
void sec_expect_released(int sv[2]);
/* Has the other end of sv0 gone (every copy of it closed)?  Polls up to 5 s. */
bool sec_peer_closed(int sv0);

/* Fork a child that runs fn as uid/gid (setresgid/setresuid, no
 * supplementary groups); returns its exit status (0 = its checks passed). */
int sec_as_user(uid_t uid, gid_t gid, void (*fn)(const struct hb *b, void *arg),
		const struct hb *b, void *arg);

/* The same without waiting: fn gets one end of a socketpair to take steps
 * in lockstep with the test (sec_signal/sec_await), the test the other. */
pid_t sec_user_start(uid_t uid, gid_t gid, void (*fn)(const struct hb *b, void *arg, int sync),
		     const struct hb *b, void *arg, int *ret_sync);
int sec_user_wait(pid_t pid, int sync);
void sec_signal(int sync, char step);
void sec_await(int sync, char step);   /* fails after 20 s */
