/* SPDX-License-Identifier: MIT */
/*
 * Under systemd, with stderr connected to the journal ($JOURNAL_STREAM names
 * its device and inode), each message goes to the journal with structured
 * fields: the caller's CODE_FILE/CODE_LINE/CODE_FUNC, MESSAGE_ID and ERRNO
 * where known, and APP_ID, SOCKET_ID and REASON where they apply, so that
 * `journalctl APP_ID=org.example.push` shows one app's story.  Otherwise
 * lines on stderr: plain on a terminal, behind a timestamp in a regular file
 * (nothing else would date them), and behind sd-daemon <N> prefixes on
 * anything else (a service manager's pipe, which dates them itself).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* The call site comes from our macros, not from sd-journal's. */
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include <socket-broker/broker.h>
#include "log.h"
#include "util.h"

static bool verbose;
static enum { TO_TTY, TO_FILE, TO_PIPE } target;
static bool journal;

static bool stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return false;
	return st.st_dev == dev && st.st_ino == ino;
}

void log_setup(bool v)
{
	struct stat st;
	verbose = v;
	journal = stderr_is_journal();
	if (isatty(STDERR_FILENO))
		target = TO_TTY;
	else if (fstat(STDERR_FILENO, &st) == 0 && S_ISREG(st.st_mode))
		target = TO_FILE;
	else
		target = TO_PIPE;
}

/* "../daemon/verbs.c" (meson builds from a subdirectory) as "daemon/verbs.c". */
static const char *source_path(const char *file)
{
	while (strncmp(file, "../", 3) == 0)
		file += 3;
	return file;
}

/* Returns false if the journal did not take it. */
static bool to_journal(const char *file, int line, const char *func, int prio, int error,
		       const char *message_id, const char *app_id, const char *sock_id, int reason,
		       const char *message)
{
	enum { FIELDS = 10 };
	char f[FIELDS][320];
	struct iovec iov[FIELDS + 1];
	int n = 0;
	snprintf(f[n++], sizeof(f[0]), "PRIORITY=%d", prio);
	snprintf(f[n++], sizeof(f[0]), "SYSLOG_IDENTIFIER=brokerd");
	snprintf(f[n++], sizeof(f[0]), "CODE_FILE=%s", source_path(file));
	snprintf(f[n++], sizeof(f[0]), "CODE_LINE=%d", line);
	snprintf(f[n++], sizeof(f[0]), "CODE_FUNC=%s", func);
	if (message_id)
		snprintf(f[n++], sizeof(f[0]), "MESSAGE_ID=%s", message_id);
	if (error)
		snprintf(f[n++], sizeof(f[0]), "ERRNO=%d", abs(error));
	if (app_id)
		snprintf(f[n++], sizeof(f[0]), "APP_ID=%s", app_id);
	if (sock_id)
		snprintf(f[n++], sizeof(f[0]), "SOCKET_ID=%s", sock_id);
	if (reason)
		snprintf(f[n++], sizeof(f[0]), "REASON=%s", broker_reason_name(reason));
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){ f[i], strlen(f[i]) };
	iov[n++] = (struct iovec){ (void *)message, strlen(message) };
	return sd_journal_sendv(iov, n) >= 0;
}

/* Append s to buf at *n, within cap (always leaving room for a NUL). */
static void put(char *buf, size_t cap, size_t *n, const char *s)
{
	size_t len = strnlen(s, cap - 1 - *n);
	memcpy(buf + *n, s, len);
	*n += len;
}

/* The head of a line on stderr; returns its length (< size). */
static int line_head(int prio, char *buf, size_t size)
{
	static const char *const level[] = { "emerg", "alert", "crit", "error", "warning", "notice",
					     "info", "debug" };
	if (target == TO_PIPE)
		return snprintf(buf, size, "<%d>", prio);
	if (target == TO_TTY)
		return snprintf(buf, size, "brokerd: ");
	/* The date changes once a second: format it only then (localtime_r
	 * and strftime cost more than the rest of a log line). */
	static time_t sec = -1;
	static char date[40], zone[8];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != sec) {
		struct tm tm = { 0 };
		sec = ts.tv_sec;
		date[0] = zone[0] = 0;
		if (localtime_r(&ts.tv_sec, &tm)) {
			strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
			strftime(zone, sizeof(zone), "%z", &tm);
		}
	}
	int n = snprintf(buf, size, "%s.%06ld%s brokerd[%d] %s: ", date, ts.tv_nsec / 1000, zone,
			 (int)getpid(), level[prio & 7]);
	return n < 0 || (size_t)n >= size ? (int)size - 1 : n;
}

void log_emit(const char *file, int line, const char *func, int prio, int error, const char *message_id,
	      const char *app_id, const char *sock_id, int reason, const char *fmt, ...)
{
	if (prio >= LOG_DEBUG && !verbose)
		return;
	int saved = errno;
	/* Every held socket's events are logged: the message is put together
	 * once, in one buffer, behind room for whichever head it gets
	 * ("MESSAGE=" for the journal, a timestamp, "<N>" or "brokerd: " on
	 * stderr). */
	enum { HEAD = 80, TEXT_MAX = 1023 };
	char text[HEAD + 1700];
	size_t n = HEAD, cap = sizeof(text) - 1;   /* the last byte for '\n' */
	if (app_id) {
		put(text, cap, &n, app_id);
		if (sock_id) {
			put(text, cap, &n, "/");
			put(text, cap, &n, sock_id);
		}
		put(text, cap, &n, ": ");
	}
	va_list ap;
	va_start(ap, fmt);
	errno = error ? abs(error) : saved;   /* for %m */
	int len = vsnprintf(text + n, TEXT_MAX + 1, fmt, ap);
	va_end(ap);
	n += len < 0 ? 0 : (size_t)len > TEXT_MAX ? TEXT_MAX : (size_t)len;
	if (reason) {
		put(text, cap, &n, " [");
		put(text, cap, &n, broker_reason_name(reason));
		put(text, cap, &n, "]");
	}
	text[n] = 0;

	if (journal) {
		char *message = text + HEAD - 8;
		memcpy(message, "MESSAGE=", 8);
		if (to_journal(file, line, func, prio, error, message_id, app_id, sock_id, reason, message)) {
			errno = saved;
			return;
		}
	}
	char head[HEAD];
	int hl = line_head(prio, head, sizeof(head));
	char *start = text + HEAD - hl;
	memcpy(start, head, (size_t)hl);
	text[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, start, (size_t)(text + n - start));
	(void)w;
	errno = saved;
}

/* A few uids at a time is what one machine has; the longest quiet one
 * makes room for a new one. */
static struct uid_budget {
	uid_t uid;
	bool used;
	unsigned count, suppressed;
	uint64_t since;
} budgets[32];

bool log_ratelimit_uid(uid_t uid, unsigned *ret_suppressed)
{
	uint64_t now = now_usec(CLOCK_MONOTONIC);
	struct uid_budget *b = NULL, *oldest = &budgets[0];
	for (size_t i = 0; i < ARRAY_SIZE(budgets) && !b; i++) {
		if (budgets[i].used && budgets[i].uid == uid)
			b = &budgets[i];
		else if (!budgets[i].used || (oldest->used && budgets[i].since < oldest->since))
			oldest = &budgets[i];
	}
	if (!b) {
		b = oldest;
		*b = (struct uid_budget){ .uid = uid, .used = true, .since = now };
	}
	if (now - b->since >= LOG_INTERVAL_USEC) {
		b->since = now;
		b->count = 0;
	}
	if (b->count >= LOG_BURST) {
		b->suppressed++;
		return false;
	}
	b->count++;
	*ret_suppressed = b->suppressed;
	b->suppressed = 0;
	return true;
}
