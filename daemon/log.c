/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "broker.h"
#include "log.h"

static bool verbose;
static bool prefix;

void log_setup(bool v)
{
	verbose = v;
	/* A terminal gets plain lines; a journal or a file gets <N> prefixes. */
	prefix = !isatty(STDERR_FILENO);
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

	if (prefix)
		fprintf(stderr, "<%d>%s%s%s\n", prio, where, text, why);
	else
		fprintf(stderr, "brokerd: %s%s%s\n", where, text, why);
	errno = saved;
}
