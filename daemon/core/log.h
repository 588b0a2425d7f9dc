/* SPDX-License-Identifier: MIT */
/* brokerd's log: the journal, with structured fields, where stderr is the
 * journal; otherwise lines on stderr (see log.c for their form). */
#pragma once

#include <stdbool.h>
#include <sys/types.h>
#include <syslog.h>

/* MESSAGE_ID= of the events an admin looks for (`journalctl MESSAGE_ID=...`),
 * each explained in docs/catalog/socket-broker.catalog.  Made once with
 * `systemd-id128 new`; never change one. */
#define MSGID_TRANSFER_REFUSED   "0c7f3be7d8ee4155af6c27620d3be1be"
#define MSGID_TRIGGER            "8ecd033faf2d4e8d86cee12b4ea83bfc"
#define MSGID_ACTIVATION_FAILED  "3e43b7a790f449748ab4b1e532c58ab3"
#define MSGID_THROTTLED          "0bed14e0608348efbb7a34315ceff9de"
#define MSGID_RESTORED           "c843338821134f5486ceb7e3d295a503"
#define MSGID_THAW               "601756e2dd824c49bd0db6876ff142e1"

void log_setup(bool verbose);

/* The one entry point, through the macros below, which pass the call site
 * (CODE_FILE, CODE_LINE, CODE_FUNC).  error: a negative or positive errno
 * (ERRNO=, and what %m prints), 0 for none; message_id: a MSGID_ or NULL;
 * app_id, sock_id: NULL or the APP_ID= and SOCKET_ID= fields (a prefix of
 * the text off the journal); reason: a broker_reason, 0 for none.  errno is
 * left as it was. */
void log_emit(const char *file, int line, const char *func, int prio, int error, const char *message_id,
	      const char *app_id, const char *sock_id, int reason, const char *fmt, ...)
	__attribute__((format(printf, 10, 11)));

#define LOG_SITE __FILE__, __LINE__, __func__

#define log_full(prio, app_id, sock_id, reason, ...) \
	log_emit(LOG_SITE, prio, 0, NULL, app_id, sock_id, reason, __VA_ARGS__)
#define log_full_errno(prio, error, app_id, sock_id, reason, ...) \
	log_emit(LOG_SITE, prio, error, NULL, app_id, sock_id, reason, __VA_ARGS__)
/* An event with a MESSAGE_ID. */
#define log_event(prio, message_id, error, app_id, sock_id, reason, ...) \
	log_emit(LOG_SITE, prio, error, message_id, app_id, sock_id, reason, __VA_ARGS__)

#define log_crit(...) log_full(LOG_CRIT, NULL, NULL, 0, __VA_ARGS__)
#define log_error(...) log_full(LOG_ERR, NULL, NULL, 0, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, NULL, NULL, 0, __VA_ARGS__)
#define log_notice(...) log_full(LOG_NOTICE, NULL, NULL, 0, __VA_ARGS__)
#define log_info(...) log_full(LOG_INFO, NULL, NULL, 0, __VA_ARGS__)
#define log_debug(...) log_full(LOG_DEBUG, NULL, NULL, 0, __VA_ARGS__)
#define log_error_errno(error, ...) log_full_errno(LOG_ERR, error, NULL, NULL, 0, __VA_ARGS__)
#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, error, NULL, NULL, 0, __VA_ARGS__)

/* For messages a client can cause at will: true if one more for this uid
 * may be logged now (at most LOG_BURST per LOG_INTERVAL_USEC for each uid).
 * *ret_suppressed: how many were refused since the last one let through. */
#define LOG_BURST 10u
#define LOG_INTERVAL_USEC (30ull * 1000000ull)
bool log_ratelimit_uid(uid_t uid, unsigned *ret_suppressed);
