/* SPDX-License-Identifier: MIT */
/* brokerd's log: sd-daemon priority prefixes on stderr. */
#pragma once

#include <stdbool.h>
#include <syslog.h>

void log_setup(bool verbose);

/* app_id, sock_id may be NULL; reason 0 = none.  They become structured
 * fields where the journal is used, and a prefix in the text otherwise. */
void log_full(int prio, const char *app_id, const char *sock_id, int reason, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

#define log_crit(...) log_full(LOG_CRIT, NULL, NULL, 0, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, NULL, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, NULL, NULL, 0, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, NULL, NULL, 0, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, NULL, NULL, 0, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, NULL, NULL, 0, __VA_ARGS__)
