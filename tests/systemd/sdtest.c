/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sdtest-sum.h"
#include "sdtest.h"
#include "testutil.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);
	ck_assert_msg(v && *v, "%s is not set: run this under tests/systemd/ns-run.sh", name);
	return v;
}

int sd_sh(char *out, size_t outlen, const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	va_start(ap, fmt);
	ck_assert_int_ge(vasprintf(&cmd, fmt, ap), 0);
	va_end(ap);
	FILE *p = popen(cmd, "re");
	ck_assert_ptr_nonnull(p);
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, p);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	int status = pclose(p);
	free(cmd);
	if (out)
		snprintf(out, outlen, "%s", buf);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

void sd_prop(const char *unit, const char *prop, char *out, size_t outlen)
{
	ck_assert_int_eq(sd_sh(out, outlen, "systemctl --user show -P %s %s", prop, unit), 0);
}

unsigned long long sd_prop_num(const char *unit, const char *prop)
{
	char v[64];
	sd_prop(unit, prop, v, sizeof(v));
	return strtoull(v, NULL, 10);
}

bool sd_wait(bool (*cond)(void *ud), void *ud, int timeout_ms)
{
	for (int waited = 0;; waited += 20) {
		if (cond(ud))
			return true;
		if (waited >= timeout_ms)
			return false;
		nanosleep(&(struct timespec){ 0, 20 * 1000 * 1000 }, NULL);
	}
}

void sd_setup(const struct brokerd_opts *o)
{
	const char *units = env("SDTEST_UNITS"), *dir = env("SDTEST_DIR"), *cfg = env("XDG_CONFIG_HOME");
	/* root's default is the system instance's socket: name the user one */
	char control[512];
	snprintf(control, sizeof(control), "%s/socket-broker/control", env("XDG_RUNTIME_DIR"));
	setenv("BROKER_SOCKET", control, 1);
	SD_OK("cp %s %s/brokerd.service && cp %s %s/brokerd.socket", env("SDTEST_BROKERD_SERVICE"), units,
	      env("SDTEST_BROKERD_SOCKET"), units);
	SD_OK("mkdir -p %s/brokerd.service.d %s/brokerd.socket.d %s/hooks %s/socket-broker/apps.d",
	      units, units, dir, cfg);
	char path[512];
	/* Test-only: any uid may reach the control socket, so that the
	 * identity test can run a client as nobody. */
	snprintf(path, sizeof(path), "%s/brokerd.socket.d/test.conf", units);
	write_text(path, "[Unit]\nDefaultDependencies=no\n[Socket]\nSocketMode=0666\nDirectoryMode=0755\n");
	snprintf(path, sizeof(path), "%s/brokerd.service.d/test.conf", units);
	char gate[512] = "";
	if (o->gate) {
		snprintf(gate, sizeof(gate), "ExecStartPre=+/bin/sh -c 'while [ ! -e %s/hooks/gate ]; do sleep 0.02; done'\n", dir);
		sd_open_gate();
	}
	/* A build tree under /tmp or /var/tmp (a CI checkout, say) is out of
	 * sight of a service with PrivateTmp=yes, and brokerd runs from it
	 * here: only then does the test let the service share /tmp. */
	const char *bin = env("SDTEST_BROKERCTL");
	bool tmp_tree = strncmp(bin, "/tmp/", 5) == 0 || strncmp(bin, "/var/tmp/", 9) == 0;
	write_text(path,
		   "[Unit]\nDefaultDependencies=no\nStartLimitIntervalSec=0\n"
		   "[Service]\n%s%s%s"
		   "LimitCORE=0\n"
		   "Environment=BROKER_TEST_TEAR=%s/hooks/tear BROKER_TEST_BLOCK_SIGNAL=1\n"
		   "ReadWritePaths=%s/hooks\n%s%s%s",
		   o->watchdog ? "WatchdogSec=" : "", o->watchdog ? o->watchdog : "", o->watchdog ? "\n" : "",
		   dir, dir, gate,
		   /* LeakSanitizer stops the process's threads with ptrace at exit.
		    * The SIGCONT systemd sends after its SIGTERM can land after
		    * that ptrace stop was queued and cancel it: the check then
		    * hangs, brokerd spinning in sched_yield.  So under sanitizers
		    * the stop is a SIGTERM of the test's own, waited out. */
		   getenv("SDTEST_SANITIZE") ? "SystemCallFilter=@debug\n"
					       "ExecStop=-/bin/sh -c '[ -n \"${MAINPID}\" ] || exit 0; "
					       "kill -TERM ${MAINPID}; "
					       "while kill -0 ${MAINPID} 2>/dev/null; do sleep 0.02; done'\n" : "",
		   tmp_tree ? "PrivateTmp=no\n" : "");
	snprintf(path, sizeof(path), "%s/socket-broker/brokerd.conf", cfg);
	/* Unprivileged (SDTEST_AS), the test is admin through its group. */
	struct group *g = getuid() ? getgrgid(getgid()) : NULL;
	write_text(path, "[broker]\n%s%s\n[limits]\nbackoff-initial-ms = 200\nbackoff-max-ms = 1000\n%s\n",
		   g ? "admin-group = " : "", g ? g->gr_name : "", o->extra_conf ? o->extra_conf : "");

	snprintf(path, sizeof(path), "%s/sdtest-app@.socket", units);
	write_text(path, "[Unit]\nDefaultDependencies=no\n[Socket]\n"
		   "ListenSequentialPacket=%%t/sdtest-wake/%%i\nAccept=no\nFileDescriptorName=socket-broker\n"
		   "Service=sdtest-app@%%i.service\nSocketMode=0600\nDirectoryMode=0700\n"
		   "TriggerLimitIntervalSec=0\n");
	snprintf(path, sizeof(path), "%s/sdtest-app@.service", units);
	write_text(path, "[Unit]\nDefaultDependencies=no\nStartLimitIntervalSec=0\n[Service]\n"
		   "Environment=BROKER_SOCKET=%%t/socket-broker/control\n"
		   "EnvironmentFile=-%s/app-%%i.env\nExecStart=%s --idle-exit 120 $SDTEST_APP_ARGS\n",
		   dir, env("SDTEST_APP"));
	SD_OK("systemctl --user daemon-reload");
}

pid_t sd_start_brokerd(void)
{
	SD_OK("systemctl --user start brokerd.socket brokerd.service");
	return sd_wait_brokerd(0);
}

struct brokerd_wait {
	pid_t old, now;
};

static bool brokerd_up(void *ud)
{
	struct brokerd_wait *w = ud;
	char state[64];
	sd_prop("brokerd.service", "ActiveState", state, sizeof(state));
	w->now = (pid_t)sd_prop_num("brokerd.service", "MainPID");
	return strcmp(state, "active") == 0 && w->now > 0 && w->now != w->old;
}

pid_t sd_wait_brokerd(pid_t old)
{
	struct brokerd_wait w = { .old = old };
	ck_assert_msg(sd_wait(brokerd_up, &w, 30000), "brokerd.service did not come (back) up");
	return w.now;
}

void sd_close_gate(void)
{
	SD_OK("rm -f %s/hooks/gate", env("SDTEST_DIR"));
}

void sd_open_gate(void)
{
	SD_OK("touch %s/hooks/gate", env("SDTEST_DIR"));
}

void sd_arm_tear(const char *what)
{
	SD_OK("echo %s >%s/hooks/tear", what, env("SDTEST_DIR"));
}

void sd_manifest(const char *app, const char *unit, const char *activation, const char *extra)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/socket-broker/apps.d/%s.conf", env("XDG_CONFIG_HOME"), app);
	struct passwd *pw = getpwuid(getuid());   /* the user the tests run as */
	ck_assert_ptr_nonnull(pw);
	write_text(path, "[app]\nid = %s\nuser = %s\n%s%s%s"
		   "capabilities = internetClient privateNetworkClientServer localSocket\n"
		   "[activation]\n%s\n%s\n",
		   app, pw->pw_name, unit ? "unit = " : "", unit ? unit : "", unit ? "\n" : "", activation,
		   extra ? extra : "");
	char state[64];
	sd_prop("brokerd.service", "ActiveState", state, sizeof(state));
	if (strcmp(state, "active") == 0)
		SD_OK("systemctl --user reload brokerd.service");
}

const char *sd_wake_path(const char *instance)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/sdtest-wake/%s", env("XDG_RUNTIME_DIR"), instance);
	return path;
}

void sd_wake_app(const char *instance, const char *app, const char *args)
{
	sd_wake_app_extra(instance, app, args, NULL);
}

void sd_wake_app_extra(const char *instance, const char *app, const char *args, const char *more)
{
	char path[512], extra[1024];
	snprintf(path, sizeof(path), "%s/app-%s.env", env("SDTEST_DIR"), instance);
	write_text(path, "SDTEST_APP_ARGS=%s\n", args ? args : "");
	snprintf(extra, sizeof(extra), "socket = %s\ntimeout-ms = 3000%s%s", sd_wake_path(instance),
		 more ? "\n" : "", more ? more : "");
	sd_manifest(app, NULL, "method = wake-socket", extra);
	SD_OK("systemctl --user start sdtest-app@%s.socket", instance);
}

void sd_tcp_pair(int sv[2])
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	ck_assert_int_ge(l, 0);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(sv[1], 0);
	close(l);
}

int sd_transfer(const char *app, const char *id, int fd, const void *ctx, size_t ctx_len, uint32_t keepalive)
{
	broker *b = NULL;
	int r = broker_open(NULL, &b);
	if (r == 0)
		r = broker_register(b, app);
	if (r == 0)
		r = broker_transfer(b, id, fd, ctx, ctx_len, keepalive);
	if (r < 0)
		fprintf(stderr, "# transfer %s/%s: %s: %s\n", app, id, broker_strerror(r), b ? broker_last_message(b) : "");
	broker_close(b);
	return r;
}

void sd_send_payload(int fd, const void *p, size_t n, unsigned chunks)
{
	uint32_t be = htonl((uint32_t)n);
	ck_assert_int_eq(write(fd, &be, sizeof(be)), (ssize_t)sizeof(be));
	const uint8_t *b = p;
	for (unsigned i = 0; i < chunks; i++) {
		size_t part = i + 1 == chunks ? n : n / chunks;
		ck_assert_int_eq(write(fd, b, part), (ssize_t)part);
		b += part;
		n -= part;
	}
}

int sd_read_answer(int fd, char *line, size_t size, int timeout_ms)
{
	size_t n = 0;
	while (n < size - 1 && (n == 0 || line[n - 1] != '\n')) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) != 1)
			return -1;
		if (read(fd, line + n, 1) != 1)
			return 0;
		n++;
	}
	line[n ? n - 1 : 0] = 0;
	return 1;
}

int sd_answer_prefix(char *buf, size_t size, const char *app, const char *id, const char *reason,
		     const void *ctx, size_t ctx_len, const void *payload, size_t len)
{
	return snprintf(buf, size, "ok app=%s id=%s reason=%s ctxlen=%zu ctxsum=%08x len=%zu sum=%08x pid=",
			app, id, reason, ctx_len, sdtest_sum(ctx, ctx_len), len, sdtest_sum(payload, len));
}

void sd_expect_answer(int fd, const char *app, const char *id, const char *reason, const void *ctx,
		      size_t ctx_len, const void *payload, size_t len, pid_t *ret_pid)
{
	sd_expect_answer_within(30000, fd, app, id, reason, ctx, ctx_len, payload, len, ret_pid);
}

void sd_expect_answer_within(int timeout_ms, int fd, const char *app, const char *id, const char *reason,
			     const void *ctx, size_t ctx_len, const void *payload, size_t len, pid_t *ret_pid)
{
	char line[512];
	int r = sd_read_answer(fd, line, sizeof(line), timeout_ms);
	ck_assert_msg(r != -1, "%s/%s: no answer from the app within %d ms", app, id, timeout_ms);
	ck_assert_msg(r != 0, "%s/%s: the peer saw the connection end", app, id);
	char want[512];
	int w = sd_answer_prefix(want, sizeof(want), app, id, reason, ctx, ctx_len, payload, len);
	ck_assert_msg(strncmp(line, want, (size_t)w) == 0, "answer '%s', expected '%s...'", line, want);
	if (ret_pid)
		*ret_pid = (pid_t)atoi(line + w);
}

broker_info **sd_list(void)
{
	broker *b = NULL;
	broker_info **list;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_ge(broker_list(b, NULL, &list), 0);
	broker_close(b);
	return list;
}

broker_info *sd_find(broker_info **list, const char *app, const char *id)
{
	for (; *list; list++)
		if (strcmp((*list)->app_id, app) == 0 && strcmp((*list)->id, id) == 0)
			return *list;
	return NULL;
}

struct watch_wait {
	const char *app, *id;
	uint64_t min_serial, serial;
	unsigned n;
};

static bool is_watching(void *ud)
{
	struct watch_wait *w = ud;
	broker_info **list = sd_list();
	broker_info *i = sd_find(list, w->app, w->id);
	bool ok = i && i->state == BROKER_STATE_WATCHING && i->serial > w->min_serial;
	if (ok)
		w->serial = i->serial;
	broker_info_list_free(list);
	return ok;
}

uint64_t sd_wait_watching(const char *app, const char *id, uint64_t min_serial)
{
	struct watch_wait w = { app, id, min_serial, 0, 0 };
	ck_assert_msg(sd_wait(is_watching, &w, 30000), "%s/%s is not held and watched again", app, id);
	return w.serial;
}

static bool all_watching(void *ud)
{
	struct watch_wait *w = ud;
	broker_info **list = sd_list();
	unsigned n = 0;
	bool ok = true;
	for (broker_info **i = list; *i; i++, n++)
		ok = ok && (*i)->state == BROKER_STATE_WATCHING;
	broker_info_list_free(list);
	return ok && n == w->n;
}

void sd_wait_all_watching(unsigned n)
{
	struct watch_wait w = { .n = n };
	ck_assert_msg(sd_wait(all_watching, &w, 30000), "brokerd does not hold %u watched sockets", n);
}

bool sd_journal_has(const char *matches, const char *text)
{
	return sd_sh(NULL, 0, "journalctl --no-pager -o cat %s | grep -qF -- '%s'", matches, text) == 0;
}

struct store_wait {
	unsigned held, stored, lost;
	unsigned long long manager;
};

static bool store_whole(void *ud)
{
	struct store_wait *w = ud;
	broker *b = NULL;
	broker_status st;
	if (broker_open(NULL, &b) < 0 || broker_get_status(b, &st) < 0) {
		broker_close(b);
		return false;
	}
	broker_close(b);
	w->held = st.held;
	w->stored = st.stored;
	w->lost = st.store_lost;
	w->manager = sd_prop_num("brokerd.service", "NFileDescriptorStore");
	return st.stored == st.held && store_count_fits(w->manager, st.held) && st.store_lost == 0;
}

void sd_expect_store_whole(void)
{
	struct store_wait w = { 0 };
	ck_assert_msg(sd_wait(store_whole, &w, 15000), "brokerd holds %u socket(s), counts %u stored, the "
		      "manager stores %llu fd(s) (want its buckets + 1), the audit found %u missing", w.held, w.stored, w.manager,
		      w.lost);
	/* The audit could ask the manager, and found nothing missing. */
	ck_assert(!sd_journal_has("", "cannot ask the service manager what it stores"));
	ck_assert(!sd_journal_has("", "brokerd put in"));
}

void sd_case_done(void)
{
	char state[64];
	sd_prop("brokerd.service", "ActiveState", state, sizeof(state));
	if (strcmp(state, "active") == 0)
		sd_expect_store_whole();
	sd_no_sanitizer_reports();
}

void sd_no_sanitizer_reports(void)
{
	char found[1024];
	sd_sh(found, sizeof(found), "journalctl --no-pager -o cat | grep -E "
	      "'ERROR: (Address|Leak)Sanitizer|Sanitizer has encountered a fatal error|runtime error:|"
	      "SUMMARY: (Address|Undefined)' | head -5");
	ck_assert_msg(found[0] == 0, "sanitizer report in the journal: %s", found);
}
