/* SPDX-License-Identifier: MIT */
/* brokerctl internals: the verb table, error reporting and output helpers.
 * brokerctl talks to brokerd only through include/socket-broker/broker.h. */
#pragma once

#include <getopt.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <socket-broker/broker.h>

/* Exit codes, documented in brokerctl(1) and --help. */
enum {
	EXIT_OK = 0,
	EXIT_FAILURE_RUNTIME = 1,   /* brokerd refused, is not there, or a system call failed */
	EXIT_USAGE = 2,             /* bad command line */
	EXIT_DENIED = 4,            /* brokerd said EPERM: not root/admin group, or not this app's user */
};

struct ctl {
	const char *socket;   /* --socket, or NULL for libbroker's default */
	bool json;
	bool no_legend;       /* tables without their header, and no "No ..." line */
	bool no_pager;
	bool quiet;           /* no "No ..." lines or notes, only results and errors */
	bool full;            /* tables as wide as their cells, whatever the terminal */
	int timeout_ms;       /* --timeout: for every call to brokerd; -1 = none */
	const char *verb;     /* the verb's name, for messages */
	const struct verb *v;
	broker *b;            /* opened by ctl_connect() */
};

struct verb {
	const char *name;
	const char *args;     /* usage after the verb name; NULL: hidden from --help */
	const char *summary;
	int (*run)(struct ctl *c, int argc, char **argv);
	const struct option *options;   /* its longopts, if more than the common ones */
	bool paged;           /* its output goes through the pager on a terminal */
};

/* Options of every verb, before the verb or after it. */
enum { OPT_NO_LEGEND = 0x100, OPT_NO_PAGER, OPT_VERSION, OPT_TIMEOUT };
#define VERB_COMMON_OPTIONS \
	{ "json", no_argument, NULL, 'j' }, \
	{ "socket", required_argument, NULL, 's' }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ "quiet", no_argument, NULL, 'q' }, \
	{ "full", no_argument, NULL, 'l' }, \
	{ "no-legend", no_argument, NULL, OPT_NO_LEGEND }, \
	{ "no-pager", no_argument, NULL, OPT_NO_PAGER }, \
	{ "timeout", required_argument, NULL, OPT_TIMEOUT }
/* A verb's shortopts start with this (the ':' lets us tell a missing
 * argument from an unknown option). */
#define VERB_COMMON_SHORT ":hjs:ql"

/* getopt_long over a verb's arguments (argv[0] is the verb).  Handles the
 * common options itself; returns any other option character, -1 at the end
 * of the options, or '?' after saying, in one line, what was wrong. */
int verb_getopt(struct ctl *c, int argc, char **argv, const char *shortopts,
		const struct option *longopts);

/* Parse only the common options; EXIT_OK with optind at the first
 * argument, or EXIT_USAGE after saying what was wrong. */
int verb_common_options(struct ctl *c, int argc, char **argv);

/* The options of transfer and listen, for their verbs and for completion. */
extern const struct option transfer_options[], listen_options[];

/* For verbs without arguments of their own: EXIT_OK, or EXIT_USAGE after
 * saying what was wrong. */
int verb_no_arguments(struct ctl *c, int argc, char **argv);

/* For verbs whose one argument is APP/ID: fills app and id (buffers of
 * BROKER_ID_MAX + 1) and returns EXIT_OK, or a usage error's exit code. */
int verb_app_id_argument(struct ctl *c, int argc, char **argv, char *app, char *id);

/* Report an error and return the exit code that goes with it. */
int ctl_usage(struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ctl_fail(struct ctl *c, int r, const char *what);   /* r: negative errno; what may be NULL */
int ctl_exit_code(int r);

/* Connect to brokerd (once); returns 0 or an exit code after reporting. */
int ctl_connect(struct ctl *c);

int parse_u32(const char *s, uint32_t *ret);

/* format.c: time, text and JSON helpers. */
void format_time(uint64_t usec, char *buf, size_t size);             /* local "YYYY-MM-DD HH:MM:SS" */
void format_age(uint64_t usec, uint64_t now, char *buf, size_t size); /* "3m ago" */
void format_time_age(uint64_t usec, uint64_t now, char *buf, size_t size);
void format_duration(uint64_t usec, char *buf, size_t size);          /* "2h 5m" */
void format_bytes_escaped(const void *p, size_t len, char *buf, size_t size);
uint64_t realtime_usec(void);
const char *user_name(uid_t uid);   /* NULL if the uid has no name */
const char *family_name(int family);
const char *sotype_name(int sotype);

json_object *json_text(const char *s);       /* valid JSON even for non-UTF-8 input */
json_object *json_time(uint64_t usec);       /* RFC 3339 UTC string, null for 0 */
json_object *json_usec(uint64_t usec);       /* the number, null for 0 */
int json_print(json_object *o, bool one_line);   /* consumes o; 0, -ENOMEM or -EIO */

/* table.c: a column of a table of records; cell() writes rec's cell
 * ("" shows as "-").  A table grows by a line in its column array.
 * width: libsmartcols' hint (below 1: a share of the terminal); squeeze:
 * the column may be cut to make the table fit the terminal; drop: 0, or
 * the column may be left out where even cut columns do not fit, the
 * highest drop first. */
struct column {
	const char *header;
	void (*cell)(const void *rec, uint64_t now, char *buf, size_t size);
	double width;
	bool squeeze;
	unsigned drop;
};

/* A cell that formats fields of a record r of type T. */
#define DEFINE_CELL(name, T, fmt, ...) \
	static void name(const void *rec, uint64_t now, char *buf, size_t size) \
	{ \
		const T *r = rec; \
		snprintf(buf, size, fmt, __VA_ARGS__); \
	}

/* Print a NULL-terminated list of records: as a JSON array (c->json), else
 * as a table, or the line none when there are no records (unless --quiet
 * or --no-legend).  Starts the pager. */
int records_print(const struct ctl *c, void *const *list, const struct column *cols, unsigned ncols,
		  json_object *(*to_json)(const void *rec), const char *none);

/* How many columns a table may take: the terminal's (or $COLUMNS), or 0
 * for no limit (--full, or not a terminal).  Ask before the pager starts. */
unsigned table_width(const struct ctl *c);

/* pager.c: on a terminal, and unless --no-pager, send stdout through
 * $SYSTEMD_PAGER, $PAGER or less from now on (as systemctl does). */
void pager_open(const struct ctl *c);
/* Flush stdout, end the pager's input and wait for it to quit. */
void pager_close(void);

/* complete.c: the hidden verb behind the shell completions. */
int verb_complete(struct ctl *c, int argc, char **argv);
/* sockets.c: every socket this connection may see; returns their number. */
int list_visible(broker *b, broker_info ***ret);
/* The verb table, for completion. */
extern const struct verb verbs[];
extern const size_t verbs_count;

/* units.c: the service manager's view of the units manifests name. */
struct units {
	struct sd_bus *bus;   /* NULL when no manager is reachable */
	int error;            /* why not */
	bool user;            /* the user manager, else the system manager */
};
/* Connect to the manager that runs the brokerd at control (socket path).
 * Returns 0, or a negative errno (kept in u->error): no manager reachable. */
int units_open(struct units *u, const char *control);
/* The unit's ActiveState ("active", "failed", ...), or its LoadState when
 * it is not loaded ("not-found", ...).  Returns 0 or a negative errno. */
int units_state(struct units *u, const char *unit, char *buf, size_t size);
void units_close(struct units *u);

/* Verbs, each in the file that suits it. */
int verb_status(struct ctl *c, int argc, char **argv);
int verb_apps(struct ctl *c, int argc, char **argv);
int verb_list(struct ctl *c, int argc, char **argv);
int verb_show(struct ctl *c, int argc, char **argv);
int verb_monitor(struct ctl *c, int argc, char **argv);
int verb_trigger(struct ctl *c, int argc, char **argv);
int verb_drop(struct ctl *c, int argc, char **argv);
int verb_reload(struct ctl *c, int argc, char **argv);
int verb_transfer(struct ctl *c, int argc, char **argv);
int verb_listen(struct ctl *c, int argc, char **argv);

const struct verb *verb_find(const char *name);
