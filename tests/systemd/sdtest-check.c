/* SPDX-License-Identifier: MIT */
/* Checks shared by the systemd suite's cases: fd counts, the fd store, the
 * journal, and small sets of held sockets. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sdtest.h"
#include "testutil.h"

struct fd_wait {
	pid_t pid;
	int want, got;
};

static bool fds_are(void *ud)
{
	struct fd_wait *w = ud;
	w->got = count_fds_of(w->pid);
	return w->got == w->want;
}

/* brokerd's fd count settles (clients it has not seen close yet) at want. */
void expect_fds(pid_t pid, int want)
{
	struct fd_wait w = { pid, want, 0 };
	ck_assert_msg(sd_wait(fds_are, &w, 10000), "brokerd has %d fds open, expected %d", w.got, want);
}

int store_fds(unsigned held)
{
	ck_assert_uint_le(held, 253);
	return held ? 2 : 0;
}

/* brokerd's fds when it is idle: no notification or client in flight. */
int idle_fds(pid_t pid)
{
	int prev = -1;
	for (int i = 0; i < 100; i++) {
		int n = count_fds_of(pid);
		if (n == prev)
			return n;
		prev = n;
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	ck_abort_msg("brokerd's fd count does not settle");
}

/* What the manager stores for held sockets in buckets of up to 253 (and
 * the registry): exactly one bucket per 253 while nothing has been taken
 * out; removals may leave a few sparse ones, never more than a quarter
 * full each, but the open bucket.  Under a user's own manager (the
 * unprivileged cases) at most 512 go in buckets, the rest are stored on
 * their own (brokerd's audit checks the exact count). */
bool store_count_fits(unsigned long long manager, unsigned held)
{
	const char *as = getenv("SDTEST_AS");
	if (as && *as && held > 512)
		return manager >= 1ull + (held - 512) + 3 && manager <= 1ull + held;
	unsigned least = (held + 252) / 253;
	return manager >= 1ull + least && manager <= 1ull + least + (held > 253 ? held / 63 + 1 : 0);
}

struct stored_wait {
	unsigned held;
	unsigned long long manager;
};

static bool stored_fits(void *ud)
{
	struct stored_wait *w = ud;
	w->manager = sd_prop_num("brokerd.service", "NFileDescriptorStore");
	return store_count_fits(w->manager, w->held);
}

void expect_store_holds(unsigned held)
{
	struct stored_wait w = { .held = held };
	ck_assert_msg(sd_wait(stored_fits, &w, 10000), "the manager stores %llu fd(s) for %u held socket(s) "
		      "in buckets of 253 and the registry", w.manager, held);
}

void fill(void *p, size_t n, unsigned seed)
{
	unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		b[i] = (unsigned char)((i * 31 + seed * 7) ^ (i >> 5));
}

struct journal_wait {
	const char *matches, *text;
};

static bool journal_shows(void *ud)
{
	struct journal_wait *w = ud;
	return sd_journal_has(w->matches, w->text);
}

void expect_journal(const char *matches, const char *text)
{
	struct journal_wait w = { matches, text };
	ck_assert_msg(sd_wait(journal_shows, &w, 30000), "no '%s' in the journal for '%s'", text, matches);
}

void hold(const char *app, struct tsock *t, int n)
{
	for (int i = 0; i < n; i++) {
		int sv[2];
		sd_tcp_pair(sv);
		snprintf(t[i].ctx, sizeof(t[i].ctx), "context of %s", t[i].id);
		ck_assert_int_eq(sd_transfer(app, t[i].id, sv[0], t[i].ctx, strlen(t[i].ctx), 0), 0);
		t[i].peer = sv[1];
		t[i].serial = sd_wait_watching(app, t[i].id, 0);
	}
}

/* Exactly these held, watched, contexts intact; returns how many kept their serial. */
int check_held(const char *app, struct tsock *t, int n)
{
	sd_wait_all_watching((unsigned)n);
	broker_info **list = sd_list();
	int same = 0;
	for (int i = 0; i < n; i++) {
		broker_info *in = sd_find(list, app, t[i].id);
		ck_assert_msg(in != NULL, "%s/%s is not held", app, t[i].id);
		ck_assert_uint_eq(in->context_len, strlen(t[i].ctx));
		ck_assert(memcmp(in->context, t[i].ctx, in->context_len) == 0);
		same += in->serial == t[i].serial;
		t[i].serial = in->serial;
	}
	broker_info_list_free(list);
	return same;
}

int journal_count(const char *text)
{
	char out[32];
	sd_sh(out, sizeof(out), "journalctl --no-pager -o cat | grep -cF -- '%s'", text);
	return atoi(out);
}

pid_t sd_restart_torn(pid_t bpid, const char *what)
{
	sd_arm_tear(what);
	SD_OK("systemctl --user restart brokerd.service");
	return sd_wait_brokerd(bpid);
}

pid_t sd_wait_crash_restart(pid_t bpid, unsigned long long restarts)
{
	pid_t now = sd_wait_brokerd(bpid);
	ck_assert_uint_eq(sd_prop_num("brokerd.service", "NRestarts"), restarts + 1);
	return now;
}

pid_t sd_kill_brokerd(pid_t bpid)
{
	SD_OK("systemctl --user kill -s KILL brokerd.service");
	return sd_wait_brokerd(bpid);
}

bool sd_in_prestart(void *ud)
{
	(void)ud;
	char state[64], sub[64];
	sd_prop("brokerd.service", "ActiveState", state, sizeof(state));
	sd_prop("brokerd.service", "SubState", sub, sizeof(sub));
	return strcmp(state, "activating") == 0 && strcmp(sub, "start-pre") == 0;
}

const broker_app *sd_app_entry(const char *id, broker_app ***ret_list)
{
	broker *b = NULL;
	ck_assert_int_eq(broker_open(NULL, &b), 0);
	ck_assert_int_ge(broker_list_apps(b, ret_list), 0);
	broker_close(b);
	for (broker_app **a = *ret_list; *a; a++)
		if (strcmp((*a)->id, id) == 0)
			return *a;
	return NULL;
}

void sd_expect_prestart(int timeout_ms)
{
	if (sd_wait(sd_in_prestart, NULL, timeout_ms))
		return;
	/* Say where it stuck: the unit's states, and what its main process does. */
	char state[64], sub[64], wchan[64] = "-", stat[256] = "-", path[64];
	sd_prop("brokerd.service", "ActiveState", state, sizeof(state));
	sd_prop("brokerd.service", "SubState", sub, sizeof(sub));
	unsigned long long pid = sd_prop_num("brokerd.service", "MainPID");
	snprintf(path, sizeof(path), "/proc/%llu/wchan", pid);
	FILE *f = pid ? fopen(path, "re") : NULL;
	if (f) {
		if (!fgets(wchan, sizeof(wchan), f))
			snprintf(wchan, sizeof(wchan), "?");
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%llu/stat", pid);
	f = pid ? fopen(path, "re") : NULL;
	if (f) {
		if (!fgets(stat, sizeof(stat), f))
			snprintf(stat, sizeof(stat), "?");
		fclose(f);
	}
	fflush(stderr);
	if (system("ps -eo pid,ppid,stat,wchan:24,stime,time,comm >&2") != 0)
		fprintf(stderr, "(ps failed)\n");
	ck_abort_msg("brokerd.service not in start-pre after %d ms: %s/%s, main pid %llu, wchan %s, stat %s",
		     timeout_ms, state, sub, pid, wchan, stat);
}
