/* SPDX-License-Identifier: MIT */
/*
 * Under systemd, with stderr connected to the journal ($JOURNAL_STREAM names
 * its device and inode), each message goes to the journal with structured
 * fields: APP_ID, SOCKET_ID and REASON where they apply, so that
 * `journalctl APP_ID=org.example.push` shows one app's story.  Otherwise
 * plain lines on stderr, with sd-daemon <N> prefixes unless it is a terminal.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

static bool verbose;
static bool prefix;
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
	verbose = v;
	journal = stderr_is_journal();
	/* A terminal gets plain lines; a journal or a file gets <N> prefixes. */
	prefix = !isatty(STDERR_FILENO);
}

/* Returns false if the journal did not take it. */
static bool to_journal(int prio, const char *app_id, const char *sock_id, int reason, const char *text)
{
	char f[6][320];
	struct iovec iov[6];
	int n = 0;
	snprintf(f[n++], sizeof(f[0]), "PRIORITY=%d", prio);
	snprintf(f[n++], sizeof(f[0]), "SYSLOG_IDENTIFIER=brokerd");
	if (app_id)
		snprintf(f[n++], sizeof(f[0]), "APP_ID=%s", app_id);
	if (sock_id)
		snprintf(f[n++], sizeof(f[0]), "SOCKET_ID=%s", sock_id);
	if (reason)
		snprintf(f[n++], sizeof(f[0]), "REASON=%s", broker_reason_name(reason));
	for (int i = 0; i < n; i++)
		iov[i] = (struct iovec){ f[i], strlen(f[i]) };
	iov[n++] = (struct iovec){ (void *)text, strlen(text) };
	return sd_journal_sendv(iov, n) >= 0;
}

/* Append s to buf at *n, within cap (always leaving room for a NUL). */
static void put(char *buf, size_t cap, size_t *n, const char *s)
{
	size_t len = strnlen(s, cap - 1 - *n);
	memcpy(buf + *n, s, len);
	*n += len;
}

void log_full(int prio, const char *app_id, const char *sock_id, int reason, const char *fmt, ...)
{
	if (prio >= LOG_DEBUG && !verbose)
		return;
	int saved = errno;
	/* Every held socket's events are logged: the message is put together
	 * once, in one buffer, behind room for whichever head it gets
	 * ("MESSAGE=" for the journal, "<N>" or "brokerd: " on stderr). */
	enum { HEAD = 16, TEXT_MAX = 1023 };
	char line[HEAD + 1700];
	size_t n = HEAD, cap = sizeof(line) - 1;   /* the last byte for '\n' */
	if (app_id) {
		put(line, cap, &n, app_id);
		if (sock_id) {
			put(line, cap, &n, "/");
			put(line, cap, &n, sock_id);
		}
		put(line, cap, &n, ": ");
	}
	va_list ap;
	va_start(ap, fmt);
	int len = vsnprintf(line + n, TEXT_MAX + 1, fmt, ap);
	va_end(ap);
	n += len < 0 ? 0 : (size_t)len > TEXT_MAX ? TEXT_MAX : (size_t)len;
	if (reason) {
		put(line, cap, &n, " [");
		put(line, cap, &n, broker_reason_name(reason));
		put(line, cap, &n, "]");
	}
	line[n] = 0;

	if (journal) {
		char *message = line + HEAD - 8;
		memcpy(message, "MESSAGE=", 8);
		if (to_journal(prio, app_id, sock_id, reason, message)) {
			errno = saved;
			return;
		}
	}
	char head[HEAD];
	int hl = prefix ? snprintf(head, sizeof(head), "<%d>", prio) : snprintf(head, sizeof(head), "brokerd: ");
	char *start = line + HEAD - hl;
	memcpy(start, head, (size_t)hl);
	line[n++] = '\n';
	ssize_t w = write(STDERR_FILENO, start, (size_t)(line + n - start));
	(void)w;
	errno = saved;
}
