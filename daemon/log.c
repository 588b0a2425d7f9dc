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

void log_full(int prio, const char *app_id, const char *sock_id, int reason, const char *fmt, ...)
{
	if (prio >= LOG_DEBUG && !verbose)
		return;
	int saved = errno;
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	char where[600] = "";
	if (app_id && sock_id)
		snprintf(where, sizeof(where), "%s/%s: ", app_id, sock_id);
	else if (app_id)
		snprintf(where, sizeof(where), "%s: ", app_id);
	char why[64] = "";
	if (reason)
		snprintf(why, sizeof(why), " [%s]", broker_reason_name(reason));

	if (journal) {
		char message[1700];
		snprintf(message, sizeof(message), "MESSAGE=%s%s%s", where, text, why);
		if (to_journal(prio, app_id, sock_id, reason, message)) {
			errno = saved;
			return;
		}
	}
	if (prefix)
		fprintf(stderr, "<%d>%s%s%s\n", prio, where, text, why);
	else
		fprintf(stderr, "brokerd: %s%s%s\n", where, text, why);
	errno = saved;
}
