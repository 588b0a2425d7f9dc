/* SPDX-License-Identifier: MIT */
/* Helpers for the systemd suite: brokerd and the test apps as units of the
 * user manager that ns-run.sh started, and the peers of held sockets. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <check.h>

#include <socket-broker/broker.h>

/* How the test wants brokerd.service (a drop-in over the shipped unit). */
struct brokerd_opts {
	const char *watchdog;        /* WatchdogSec=, NULL = the unit's */
	bool gate;                   /* ExecStartPre waits for sd_open_gate() */
	const char *extra_conf;      /* more lines for brokerd.conf's [limits] */
};

/* Write brokerd's units, drop-ins and configuration, and the test app
 * templates.  Call once per test, before anything else. */
void sd_setup(const struct brokerd_opts *o);

/* Start brokerd.service and wait until it is ready; returns its pid. */
pid_t sd_start_brokerd(void);
/* Wait until brokerd.service is active again with a main pid other than
 * old (0: any); returns the new pid. */
pid_t sd_wait_brokerd(pid_t old);

/* Hold brokerd's restart in ExecStartPre until sd_open_gate() (needs .gate). */
void sd_close_gate(void);
void sd_open_gate(void);
/* Arm BROKER_TEST_TEAR for brokerd's next start: "put", "update", ... */
void sd_arm_tear(const char *what);

/* Run a shell command; its stdout (trimmed) goes to out if not NULL.
 * Returns its exit status. */
int sd_sh(char *out, size_t outlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define SD_OK(...) ck_assert_int_eq(sd_sh(NULL, 0, __VA_ARGS__), 0)
/* A unit's property (systemctl --user show -P). */
void sd_prop(const char *unit, const char *prop, char *out, size_t outlen);
unsigned long long sd_prop_num(const char *unit, const char *prop);
/* Poll cond every 20 ms for up to timeout_ms. */
bool sd_wait(bool (*cond)(void *ud), void *ud, int timeout_ms);

/* A manifest in apps.d; extra is more [activation] lines.  Reloads a
 * running brokerd. */
void sd_manifest(const char *app, const char *unit, const char *activation, const char *extra);
/* A wake-socket app: manifest for app whose wake socket is
 * sdtest-app@instance.socket (started here); args go to sdtest-app. */
void sd_wake_app(const char *instance, const char *app, const char *args);
/* The same with more [activation] lines. */
void sd_wake_app_extra(const char *instance, const char *app, const char *args, const char *more);
const char *sd_wake_path(const char *instance);

/* A connected loopback TCP pair: [0] to hand to brokerd, [1] the peer. */
void sd_tcp_pair(int sv[2]);
/* Hand fd to brokerd as app (the test runs as root, outside any unit).
 * Returns 0 (fd closed) or a negative errno (fd still ours). */
int sd_transfer(const char *app, const char *id, int fd, const void *ctx, size_t ctx_len, uint32_t keepalive);
/* Write a payload (length-prefixed) in chunks, as it would trickle in. */
void sd_send_payload(int fd, const void *p, size_t n, unsigned chunks);
/* The app's answer line on fd, without its newline: 1, or 0 when the peer
 * saw the connection end, or -1 after timeout_ms. */
int sd_read_answer(int fd, char *line, size_t size, int timeout_ms);
/* What the answer to this payload starts with, into buf; its length. */
int sd_answer_prefix(char *buf, size_t size, const char *app, const char *id, const char *reason,
		     const void *ctx, size_t ctx_len, const void *payload, size_t len);
/* Wait for the app's answer line on fd and check it. */
void sd_expect_answer(int fd, const char *app, const char *id, const char *reason, const void *ctx,
		      size_t ctx_len, const void *payload, size_t len, pid_t *ret_pid);
/* The same, within timeout_ms instead of 30 s. */
void sd_expect_answer_within(int timeout_ms, int fd, const char *app, const char *id, const char *reason,
			     const void *ctx, size_t ctx_len, const void *payload, size_t len, pid_t *ret_pid);

/* Held sockets, as brokerd lists them (admin view). */
broker_info **sd_list(void);
broker_info *sd_find(broker_info **list, const char *app, const char *id);
/* Wait until app/id is held in state WATCHING with a serial above min_serial. */
uint64_t sd_wait_watching(const char *app, const char *id, uint64_t min_serial);
/* Wait until brokerd holds n sockets, all watching. */
void sd_wait_all_watching(unsigned n);
/* Does the journal have a message containing text, for these matches
 * ("FIELD=value ...", may be "")? */
bool sd_journal_has(const char *matches, const char *text);
/* Fail if a sanitizer reported anything in the journal. */
void sd_no_sanitizer_reports(void);
/* The fd store is whole: brokerd counts every held socket stored, the
 * manager stores the registry and the buckets of the held sockets, the audit
 * found no loss. */
void sd_expect_store_whole(void);
/* The end of every case: the store is whole (if brokerd runs), no
 * sanitizer reports. */
void sd_case_done(void);

/* sdtest-check.c */
/* brokerd's fd count settles (clients it has not seen close yet) at want. */
void expect_fds(pid_t pid, int want);
/* brokerd's fds when it is idle: no notification or client in flight. */
int idle_fds(pid_t pid);
/* brokerd.service's fd store holds n fds. */
/* The manager stores the registry and the buckets of held sockets
 * (waits up to 10 s for a rewrite to settle). */
void expect_store_holds(unsigned held);
/* brokerd's own fds for the fd store's buckets when it holds up to 253
 * sockets: one bucket, its receiving and its sending end. */
int store_fds(unsigned held);
bool store_count_fits(unsigned long long manager, unsigned held);
/* n bytes of a pattern that depends on seed. */
void fill(void *p, size_t n, unsigned seed);
/* The journal shows text for matches within 30 s; how often it shows text. */
void expect_journal(const char *matches, const char *text);
int journal_count(const char *text);

/* A held socket of a test: its id, context ("context of ID") and peer. */
struct tsock {
	const char *id;
	char ctx[64];
	int peer;
	uint64_t serial;
};
/* Hand n sockets to brokerd as app, each one watched before the next. */
void hold(const char *app, struct tsock *t, int n);
/* Exactly these n held, watched, contexts intact; returns how many kept
 * their serial (were not transferred again), and records the new ones. */
int check_held(const char *app, struct tsock *t, int n);

/* brokerd restarts with BROKER_TEST_TEAR armed; returns its new pid. */
pid_t sd_restart_torn(pid_t bpid, const char *what);
/* brokerd killed itself (a torn write) and systemd started it again. */
pid_t sd_wait_crash_restart(pid_t bpid, unsigned long long restarts);
/* For sd_wait(): brokerd.service is held back in ExecStartPre (the gate). */
bool sd_in_prestart(void *ud);
/* The app id as brokerd's app list gives it (NULL if not listed); the
 * list into *ret_list, for broker_app_list_free(). */
const broker_app *sd_app_entry(const char *id, broker_app ***ret_list);
/* Wait for sd_in_prestart(); on a timeout fail with where brokerd.service stuck. */
void sd_expect_prestart(int timeout_ms);
/* kill -9 brokerd; returns the pid systemd started again. */
pid_t sd_kill_brokerd(pid_t bpid);

/* The cases, by file; test-systemd.c registers them. */
void sd_add_case(Suite *s, const char *name, const TTest *test);
void sd_add_case_timeout(Suite *s, const char *name, const TTest *test, double seconds);
void sd_wake_cases(Suite *s);
void sd_limit_cases(Suite *s);
void sd_restart_cases(Suite *s);
void sd_crash_cases(Suite *s);
void sd_fdstore_cases(Suite *s);
void sd_journal_cases(Suite *s);
void sd_instance_cases(Suite *s);
void sd_freeze_cases(Suite *s);
void sd_bucket_cases(Suite *s);
