/* SPDX-License-Identifier: MIT */
/*
 * End-to-end test harness: a real brokerd per scenario, in its own
 * temporary directory, plus loopback sockets and polling helpers.
 *
 * Meant for Check suites.  Helpers that set things up fail the running test
 * (ck_abort_msg) instead of returning errors, so a scenario reads as a
 * script.  Waiting helpers poll a condition until it holds or a timeout
 * passes and return whether it held; they never sleep blindly.
 *
 * Environment (meson sets both): BROKERD and TESTAPP, absolute paths of the
 * daemon and of the test app (testapp.c, report format in report.h).
 * BROKER_TEST_VALGRIND=1 runs brokerd under valgrind memcheck: any memcheck
 * error or definitely lost block makes it exit with HB_VALGRIND_STATUS,
 * which hb_stop() fails (tools/test.sh does one such run).
 *
 * A scenario:
 *
 *	struct hb b;
 *	hb_init(&b, "tcp-data", NULL);            // temp dir, brokerd.conf
 *	hb_testapp(&b, "org.test.app", "--answer pong");   // apps.d manifest
 *	hb_start(&b);                             // brokerd up, fds counted
 *	... hb_transfer(), peers, hb_report_wait() ...
 *	hb_assert_fds(&b, b.base_fds);            // no fd leaked
 *	hb_finish(&b);                            // SIGTERM, clean exit, rm -r
 *
 * Cleanup on failure: Check ends a failed test with _exit(), so nothing in
 * the test process runs afterwards.  brokerd is therefore started with
 * PR_SET_PDEATHSIG (it dies with the test), and hb_run_suite() keeps every
 * scenario directory under one root: after the run it prints the brokerd
 * log and app reports of each scenario that did not finish (a failed or
 * timed-out test) to stderr, then removes the root.  With HB_KEEP set in
 * the environment every directory is kept, for looking at by hand.
 */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <check.h>

#include <socket-broker/broker.h>

#define HB_WAIT_MS 10000     /* default patience for any condition */
#define HB_LINE_MAX 4096     /* longest report line the helpers read */

struct hb {
	char name[64];
	char dir[PATH_MAX - 128];  /* the scenario's directory */
	char socket[108];          /* brokerd's control socket */
	char conf[PATH_MAX];       /* brokerd.conf */
	char log[PATH_MAX];        /* brokerd's stdout and stderr */
	pid_t pid;                 /* brokerd; 0 when not running */
	int base_fds;              /* brokerd's open fds, idle, right after hb_start() */
};

/* Run a Check suite (CK_ENV, so TAP when the environment asks for it) with
 * every scenario directory under one fresh root; dump what failed scenarios
 * left behind, remove the root.  Returns main()'s exit status. */
int hb_run_suite(Suite *s);

/* A TAP diagnostic line ("# " + text) on stdout, written at once (the
 * test runs in a forked child that shares stdout's buffer with Check). */
void hb_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- one brokerd ---------------------------------------------------- */

/* Make the scenario directory (named after name) and brokerd.conf in it:
 * socket and apps.d inside the directory, test-friendly limits
 * (activation-timeout-ms 5000, backoff-initial-ms 100, backoff-max-ms 400),
 * then conf_extra verbatim if not NULL (start it with a [section] line;
 * keys given again override). */
void hb_init(struct hb *b, const char *name, const char *conf_extra);

/* Write apps.d/<id>.conf: user = this uid, every capability, exec
 * activation with handoff (libbroker, listen-fds, inetd) and command. */
void hb_app(struct hb *b, const char *id, const char *handoff, const char *command);

/* hb_app() for the test app: command "$TESTAPP --report <id>.report OPTIONS",
 * where OPTIONS is printf-formatted (no blanks inside values).  brokerd and
 * so the app run in the scenario directory: give files by relative name
 * ("--wait-file go"). */
void hb_testapp(struct hb *b, const char *id, const char *options_fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* hb_app() for Debian's lighttpd (listen-fds) serving www/index.html,
 * "hello from lighttpd\n", with -D unless daemonize.  Returns the path of
 * its configuration (hb_path's buffer). */
const char *hb_lighttpd_app(struct hb *b, const char *id, bool daemonize);

/* A path inside the scenario directory.  Returns one of a few rotating
 * static buffers: use it before calling hb_path() many more times. */
const char *hb_path(const struct hb *b, const char *rel);
/* The test app's report file for app id. */
const char *hb_report(const struct hb *b, const char *app_id);

/* Write a file (printf-formatted contents), e.g. another manifest. */
void hb_write(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Create an empty file: the go signal for --wait-file and --stay-until. */
void hb_touch(const char *path);

#define HB_VALGRIND_STATUS 99
#define HB_STR(x) HB_STR_(x)
#define HB_STR_(x) #x

/* In a child: exec $BROKERD with args (NULL-terminated, without argv[0]),
 * under valgrind when BROKER_TEST_VALGRIND asks; never returns. */
_Noreturn void hb_exec_brokerd(const char *const *args);

/* Start brokerd (--config, --verbose, stderr to b->log, working directory
 * the scenario directory) and wait until it
 * answers a hello; then record base_fds with no client connected. */
void hb_start(struct hb *b);

/* Send sig and wait for brokerd to exit; fails the test unless it exits
 * with status 0 within HB_WAIT_MS (a sanitizer report counts as unclean). */
void hb_stop(struct hb *b, int sig);

/* hb_stop(SIGTERM) if still running, then remove the directory. */
void hb_finish(struct hb *b);

/* brokerd's log to stderr (also done for unfinished scenarios by hb_run_suite). */
void hb_dump(const struct hb *b);

/* brokerd's open fds now (/proc/PID/fd), or -1. */
int hb_fds(const struct hb *b);
/* Wait for brokerd's fd count to become n; fails the test (with the log
 * dumped) if it does not within HB_WAIT_MS. */
void hb_assert_fds(const struct hb *b, int n);

/* A libbroker connection to this brokerd, registered as app_id unless it
 * is NULL.  Fails the test on error.  Close with broker_close(). */
broker *hb_open(const struct hb *b, const char *app_id);

/* Hand fd to brokerd for app_id under id (own short-lived connection).
 * fd is consumed; fails the test on error. */
void hb_transfer(const struct hb *b, const char *app_id, const char *id, int fd,
		 const void *ctx, size_t ctx_len, uint32_t keepalive_sec);

/* Admin verbs on app_id/id through libbroker; fail the test on error. */
void hb_drop(const struct hb *b, const char *app_id, const char *id);
void hb_trigger(const struct hb *b, const char *app_id, const char *id);

/* The held socket app_id/id (admin view), or NULL if not held. */
broker_info *hb_show(const struct hb *b, const char *app_id, const char *id);
/* Does brokerd hold no socket app_id/id (hb_show() gives NULL)? */
bool hb_gone(const struct hb *b, const char *app_id, const char *id);
/* Its state (enum broker_state), or 0 if it is not held. */
int hb_held_state(const struct hb *b, const char *app_id, const char *id);
/* app_id's entry in brokerd's list of apps (admin view), failing the test
 * if it is not listed; free *ret_list with broker_app_list_free(). */
broker_app *hb_app_entry(const struct hb *b, const char *app_id, broker_app ***ret_list);

/* Its state (enum broker_app_state), its instance's pid, and brokerd's
 * activations so far (broker_get_status). */
int hb_app_state(const struct hb *b, const char *app_id);
pid_t hb_app_pid(const struct hb *b, const char *app_id);
uint64_t hb_activations(const struct hb *b);

/* A monitor connection (broker_monitor() done).  Close with broker_close()
 * before counting brokerd's fds. */
broker *hb_monitor(const struct hb *b);
/* Read events from mon, adding one to counts[type] per event (counts has
 * HB_EVENT_TYPES entries), until counts[until] reaches times.  False if it
 * does not within HB_WAIT_MS.  Events of different sources (an instance's
 * exit, its acks on the activation) may come in either order: wait for
 * each count you check. */
#define HB_EVENT_TYPES 16
bool hb_events_until(broker *mon, int until, unsigned times, unsigned counts[HB_EVENT_TYPES]);

/* ---- the test app's reports ------------------------------------------ */

/* Lines of kind ("start", "handback", ...) in a report so far. */
int hb_report_count(const char *report, const char *kind);
/* Wait for the index-th (0-based) line of kind; copy it to line (size
 * HB_LINE_MAX).  Returns false on timeout. */
bool hb_report_wait(const char *report, const char *kind, int index, char *line);
/* The same, failing the test on timeout. */
void hb_report_get(const char *report, const char *kind, int index, char *line);
/* Value of key in a report line, in a rotating static buffer; NULL if the
 * key is missing. */
const char *hb_field(const char *line, const char *key);
/* Fail the test unless line has key=want. */
#define hb_expect(line, key, want) do {                                         \
	const char *_got = hb_field((line), (key)), *_want = (want);            \
	ck_assert_msg(_got && strcmp(_got, _want) == 0, "%s=%s, expected %s in: %s", \
		      (key), _got ? _got : "(missing)", _want, (line));         \
} while (0)
/* report_escape() into a rotating static buffer: what the report shows for
 * these bytes.  hb_rec() adds the [ ] of one record. */
const char *hb_esc(const void *data, size_t len);
const char *hb_rec(const void *data, size_t len);

/* ---- waiting ---------------------------------------------------------- */

/* Poll cond (an expression) every 2 ms for up to ms milliseconds; evaluates
 * to whether it held. */
#define HB_WAIT(cond, ms) ({                                            \
	uint64_t _end = hb_now_ms() + (uint64_t)(ms);                   \
	bool _ok;                                                       \
	while (!(_ok = (cond)) && hb_now_ms() < _end)                   \
		hb_nap();                                               \
	_ok;                                                            \
})
uint64_t hb_now_ms(void);
uint64_t hb_now_us(void);
void hb_nap(void);   /* 2 ms: the polling interval, nothing else */

bool hb_exists(const char *path);
/* Whether the file at path contains text (e.g. a line in brokerd's log). */
bool hb_file_contains(const char *path, const char *text);

/* ---- loopback sockets (all CLOEXEC, blocking) -------------------------- */

/* A TCP listener on 127.0.0.1, port chosen by the kernel. */
int hb_tcp_listener(uint16_t *ret_port);
int hb_tcp_connect(uint16_t port);
/* A connected TCP pair: *ret_a connected to *ret_b (accepted). */
void hb_tcp_pair(int *ret_a, int *ret_b);
/* *ret_held: UDP bound to 127.0.0.1:0, not connected.  *ret_peer: UDP
 * connected to it (so send() reaches held, and held's answers reach it). */
void hb_udp_pair(int *ret_held, int *ret_peer);
/* An AF_UNIX socketpair of type (SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM). */
void hb_unix_pair(int type, int *ret_a, int *ret_b);
/* This process's fd limit raised to its hard limit, failing the test if
 * that is below at_least. */
void hb_raise_nofile(unsigned at_least);
/* A listening AF_UNIX socket of type at path. */
int hb_unix_listener(int type, const char *path);
int hb_unix_connect(int type, const char *path);

uint16_t hb_local_port(int fd);

/* Enter a network namespace of this process's own with lo up and addresses
 * that count as public on it: 203.0.113.7 and 2001:db8::7 (usable once
 * this returns).  Check runs each test in its own process, so only that
 * test is in it. */
void hb_public_netns(void);

/* Send all of len bytes (one datagram/record for those types); fails the test otherwise. */
void hb_send(int fd, const void *data, size_t len);
/* Wait up to ms for fd to be readable. */
bool hb_readable(int fd, int ms);
/* Receive exactly len bytes (stream) within ms; false on timeout/EOF/error. */
bool hb_recv_exact(int fd, void *buf, size_t len, int ms);
/* Receive one datagram/record within ms into buf (cap bytes); its length, or -1. */
ssize_t hb_recv_record(int fd, void *buf, size_t cap, int ms);
/* Fail the test unless exactly the bytes of string want arrive on fd
 * (stream: that many bytes; datagram/record: one record) within HB_WAIT_MS. */
#define hb_expect_recv(fd, want) do {                                           \
	const char *_w = (want);                                                \
	ck_assert_msg(hb_recv_is((fd), _w, strlen(_w)), "did not receive \"%s\"", _w); \
} while (0)
bool hb_recv_is(int fd, const void *want, size_t len);
/* One HTTP/1.0 GET / on 127.0.0.1:port; fails the test unless the answer
 * is a 200.  Copies its body into body (size bytes) and returns how long
 * the answer took, in ms. */
uint64_t hb_http_get(uint16_t port, char *body, size_t size);
/* Wait up to ms for end of stream (read returns 0 or a reset) with no data before it. */
bool hb_eof(int fd, int ms);
