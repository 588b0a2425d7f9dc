/* SPDX-License-Identifier: MIT */
/*
 * A brokerd of the test's own (temp dir, own config and apps.d), its fd
 * count, a well-behaved libbroker client, and raw protocol access for
 * sending what libbroker never would.  Every helper aborts the test (Check
 * assertions) on an unexpected failure.
 *
 * BROKER_TEST_VALGRIND=1 runs brokerd under valgrind memcheck; sec_stop()
 * then fails the test on any memcheck error or definite leak.
 */
#pragma once

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "broker.h"
#include "proto.h"

struct sec_brokerd {
	pid_t pid;
	char dir[64];          /* mode 0755 so that other users reach the socket */
	char socket[128];
	char conf[128];
	char apps[128];
	char log[128];         /* brokerd's stderr */
	int baseline;          /* fd count once started, before any client */
};

/* Make the temp dir and write brokerd.conf: [broker] paths, then extra
 * (e.g. "[limits]\nmax-held = 4\n"; NULL for none). */
void sec_setup(struct sec_brokerd *b, const char *extra);

/* Write apps.d/<file> with text (mode 0644, owned by the caller). */
void sec_app(struct sec_brokerd *b, const char *file, const char *text);

/* A manifest for id: exec activation of /bin/true, as user uid, with caps. */
void sec_app_simple(struct sec_brokerd *b, const char *id, uid_t uid, const char *caps);

/* Start brokerd and wait until its control socket answers; record the
 * fd baseline. */
void sec_start(struct sec_brokerd *b);

/* The usual frame of a hostile-input test: sec_setup(extra) with the
 * well-behaved app SEC_GOOD_APP (root, localSocket), start, one good client
 * cycle; and at the end another good cycle, brokerd's fds back at the
 * baseline, stop. */
#define SEC_GOOD_APP "com.example.good"
void sec_begin(struct sec_brokerd *b, const char *extra);
void sec_end(struct sec_brokerd *b);

/* Run a Check suite (TAP per CK_TAP_LOG_FILE_NAME); the exit status for main(). */
int sec_run(Suite *s);

/* Run brokerd with these arguments to completion; its exit status, with
 * stderr in out (may be NULL). */
int sec_run_brokerd(const char *const *args, char *out, size_t outlen);

/* Stop brokerd (SIGTERM), check it exited cleanly (and valgrind's
 * verdict), remove the temp dir. */
void sec_stop(struct sec_brokerd *b);

/* Number of fds brokerd has open now. */
int sec_fd_count(const struct sec_brokerd *b);

/* Wait (up to 10 s, polling) until brokerd has exactly want fds open;
 * fails the test otherwise. */
void sec_fds_settle(const struct sec_brokerd *b, int want);

/* Does brokerd's log contain text at least times times (polling up to 5 s)? */
bool sec_log_has(const struct sec_brokerd *b, const char *text, int times);

/* A full cycle of a well-behaved client as app_id (which must grant
 * localSocket): open, register, transfer a socketpair end with a context,
 * list, show, claim it back and prove it is the same socket by its bytes. */
void sec_good_client(const struct sec_brokerd *b, const char *app_id);

/* Raw control connections. */
int sec_raw_connect(const struct sec_brokerd *b);                /* no hello */
int sec_raw_hello(const struct sec_brokerd *b);                  /* after hello */
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
int sec_as_user(uid_t uid, gid_t gid, void (*fn)(const struct sec_brokerd *b, void *arg),
		const struct sec_brokerd *b, void *arg);

/* The same without waiting: fn gets one end of a socketpair to take steps
 * in lockstep with the test (sec_signal/sec_await), the test the other. */
pid_t sec_user_start(uid_t uid, gid_t gid, void (*fn)(const struct sec_brokerd *b, void *arg, int sync),
		     const struct sec_brokerd *b, void *arg, int *ret_sync);
int sec_user_wait(pid_t pid, int sync);
void sec_signal(int sync, char step);
void sec_await(int sync, char step);   /* fails after 20 s */
