/* SPDX-License-Identifier: MIT */
/* brokerctl: inspect and script brokerd.  Global options, verb dispatch,
 * and the one way errors are reported. */
#include <errno.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerctl.h"
#include "util.h"

const struct verb verbs[] = {
	{ "status", "", "brokerd's counters and limits", verb_status, .paged = true },
	{ "apps", "", "the apps brokerd knows, and their activation state", verb_apps, .paged = true },
	{ "list", "[APP]", "held sockets (of APP, or of every app you may see)", verb_list, .paged = true },
	{ "show", "APP/ID", "everything about one held socket", verb_show, .paged = true },
	{ "monitor", "", "stream live events until interrupted", verb_monitor },
	{ "trigger", "APP/ID", "wake the app for this socket now (admin)", verb_trigger },
	{ "drop", "APP/ID", "close a held socket (admin)", verb_drop },
	{ "reload", "", "re-read the manifests, as SIGHUP does (admin)", verb_reload },
	{ "transfer", "APP ID FD [--context STR | --context-file PATH] [--keepalive SEC]",
	  "hand inherited fd FD to brokerd as APP's socket ID", verb_transfer, transfer_options },
	{ "listen", "ADDR APP ID [--backlog N]",
	  "bind a new listener (or datagram socket) at ADDR and hand it to brokerd", verb_listen,
	  listen_options },
	/* for the shell completions: brokerctl __complete WHAT */
	{ "__complete", NULL, "", verb_complete },
};
const size_t verbs_count = ARRAY_SIZE(verbs);

const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: brokerctl [OPTIONS] VERB [ARGS]\n"
		   "Inspect and script brokerd, the socket broker.\n\nVerbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (!verbs[i].args)
			continue;
		char call[128];
		snprintf(call, sizeof(call), "%s %s", verbs[i].name, verbs[i].args);
		if (strlen(call) < 20)
			fprintf(f, "  %-20s %s\n", call, verbs[i].summary);
		else
			fprintf(f, "  %s\n  %-20s %s\n", call, "", verbs[i].summary);
	}
	fprintf(f,
		"\nOptions (before or after the verb):\n"
		"  -s, --socket PATH  brokerd's control socket (default: $BROKER_SOCKET, else\n"
		"                     /run/socket-broker/control for root and\n"
		"                     $XDG_RUNTIME_DIR/socket-broker/control for others)\n"
		"  -j, --json         JSON output (one object per line for monitor)\n"
		"      --no-legend    tables without their header line\n"
		"      --no-pager     never send the output through a pager\n"
		"  -l, --full         do not cut table cells to fit the terminal\n"
		"  -q, --quiet        no notes and no \"No ...\" lines, only results and errors\n"
		"      --timeout SEC  wait at most SEC seconds for brokerd in each call\n"
		"                     (default 10; 0: wait for ever)\n"
		"  -h, --help         this text; VERB --help shows the verb's usage\n"
		"      --version      print the version\n"
		"\nADDR for listen: tcp:HOST:PORT, udp:HOST:PORT (IPv6 as tcp:[::1]:PORT,\n"
		"port 0 picks a free one), unix:/path, seqpacket:/path, unixgram:/path\n"
		"(a leading @ names an abstract socket).\n"
		"\nExit status: 0 success, 1 failure (brokerd refused, is not running, or a\n"
		"system call failed), 2 usage error, 4 permission denied by brokerd.\n"
		"\nSee brokerctl(1).\n");
}

static void verb_usage(FILE *f, const struct verb *v)
{
	fprintf(f, "Usage: brokerctl [OPTIONS] %s%s%s\n%s.\n", v->name,
		*v->args ? " " : "", v->args, v->summary);
}

/* The options every verb takes; false for any other. */
static bool common_option(struct ctl *c, int o)
{
	switch (o) {
	case 'j': c->json = true; return true;
	case 's': c->socket = optarg; return true;
	case 'q': c->quiet = true; return true;
	case 'l': c->full = true; return true;
	case OPT_NO_LEGEND: c->no_legend = true; return true;
	case OPT_NO_PAGER: c->no_pager = true; return true;
	case OPT_TIMEOUT: {
		char *end;
		errno = 0;
		double s = strtod(optarg, &end);
		if (errno || end == optarg || *end || !(s >= 0 && s <= 86400))
			exit(ctl_usage(c, "--timeout takes seconds from 0 (wait for ever) to 86400, not '%s'", optarg));
		c->timeout_ms = s == 0 ? -1 : s * 1000 < 1 ? 1 : (int)(s * 1000);
		return true;
	}
	default: return false;
	}
}

/* getopt returned '?' or ':' (opterr is 0): say what was wrong, once. */
static int bad_option(struct ctl *c, int argc, char **argv, const char *shortopts, int o)
{
	/* a missing argument is always the last word's; an unknown short
	 * option is a letter shortopts lacks; otherwise a long option */
	const char *word = o == ':' ? argv[argc - 1] : argv[optind - 1];
	char name[64];
	bool is_short = o == ':' ? strncmp(word, "--", 2) != 0
				 : optopt > 0 && optopt < 0x100 && !strchr(shortopts + 1, optopt);
	size_t len = strcspn(word, "=");
	if (is_short)
		snprintf(name, sizeof(name), "-%c", optopt);
	else
		snprintf(name, sizeof(name), "%.*s", (int)(len < 60 ? len : 60), word);
	if (o == ':')
		return ctl_usage(c, "option '%s' needs an argument", name);
	if (!is_short && optopt)
		return ctl_usage(c, "option '%s' takes no argument", name);
	return ctl_usage(c, "unknown option '%s'", name);
}

int verb_getopt(struct ctl *c, int argc, char **argv, const char *shortopts,
		const struct option *longopts)
{
	opterr = 0;
	for (;;) {
		int o = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (common_option(c, o))
			continue;
		if (o == 'h') {
			verb_usage(stdout, c->v);
			exit(EXIT_OK);
		}
		if (o == '?' || o == ':') {
			bad_option(c, argc, argv, shortopts, o);
			return '?';
		}
		return o;
	}
}

static int parse_app_id(const char *s, char *app, char *id)
{
	const char *slash = strchr(s, '/');
	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return -EINVAL;
	size_t alen = (size_t)(slash - s), ilen = strlen(slash + 1);
	if (alen > BROKER_ID_MAX || ilen > BROKER_ID_MAX)
		return -ENAMETOOLONG;
	memcpy(app, s, alen);
	app[alen] = 0;
	memcpy(id, slash + 1, ilen + 1);
	return 0;
}

int verb_common_options(struct ctl *c, int argc, char **argv)
{
	static const struct option common_only[] = { VERB_COMMON_OPTIONS, { 0 } };
	int o;
	while ((o = verb_getopt(c, argc, argv, VERB_COMMON_SHORT, common_only)) != -1)
		if (o == '?')
			return EXIT_USAGE;
	return EXIT_OK;
}

int verb_no_arguments(struct ctl *c, int argc, char **argv)
{
	if (verb_common_options(c, argc, argv) != EXIT_OK)
		return EXIT_USAGE;
	if (optind < argc)
		return ctl_usage(c, "unexpected argument '%s'", argv[optind]);
	return EXIT_OK;
}

int verb_app_id_argument(struct ctl *c, int argc, char **argv, char *app, char *id)
{
	if (verb_common_options(c, argc, argv) != EXIT_OK)
		return EXIT_USAGE;
	if (argc - optind != 1)
		return ctl_usage(c, "give one APP/ID");
	if (parse_app_id(argv[optind], app, id) < 0)
		return ctl_usage(c, "'%s' is not APP/ID", argv[optind]);
	return EXIT_OK;
}

int ctl_usage(struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "brokerctl: %s%s", c->verb ? c->verb : "", c->verb ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see brokerctl %s%s--help)\n", c->verb ? c->verb : "", c->verb ? " " : "");
	return EXIT_USAGE;
}

int ctl_exit_code(int r)
{
	if (r >= 0)
		return EXIT_OK;
	return r == -EPERM ? EXIT_DENIED : EXIT_FAILURE_RUNTIME;
}

int ctl_fail(struct ctl *c, int r, const char *what)
{
	const char *said = c->b ? broker_last_message(c->b) : "";
	const char *sentence = broker_strerror(r);
	/* brokerd repeats our sentence when it has nothing to add */
	bool adds = *said && strcmp(said, sentence) != 0;
	const char *prefix = what ? what : "", *sep = what ? ": " : "";
	if (!adds) {
		fprintf(stderr, "brokerctl: %s: %s%s%s\n", c->verb, prefix, sep, sentence);
		return ctl_exit_code(r);
	}
	/* One sentence: brokerd's own words (which say exactly what was
	 * refused), after the gist of the error ("not allowed") where our
	 * sentence starts with one. */
	const char *colon = strstr(sentence, ": ");
	int gist = colon ? (int)(colon - sentence) : 0;
	fprintf(stderr, "brokerctl: %s: %s%s%.*s%s%s\n", c->verb, prefix, sep, gist, sentence, colon ? ": " : "", said);
	return ctl_exit_code(r);
}

int ctl_connect(struct ctl *c)
{
	if (c->b)
		return EXIT_OK;
	const char *path = c->socket ? c->socket : broker_default_socket();
	if (!path) {
		fprintf(stderr, "brokerctl: %s: no control socket to use: give --socket, or set "
				"$BROKER_SOCKET or $XDG_RUNTIME_DIR\n", c->verb);
		return EXIT_FAILURE_RUNTIME;
	}
	int r = broker_open_timeout(path, c->timeout_ms, &c->b);
	if (r == -ETIMEDOUT) {
		fprintf(stderr, "brokerctl: %s: brokerd at %s did not answer within %g s (is it stopped or "
			"overloaded? --timeout waits longer)\n", c->verb, path, c->timeout_ms / 1000.);
		return EXIT_FAILURE_RUNTIME;
	}
	if (r < 0) {
		fprintf(stderr, "brokerctl: %s: cannot talk to brokerd at %s: %s\n", c->verb, path,
			r == -ENOENT ? "no such socket (is brokerd running?)" : broker_strerror(r));
		return EXIT_FAILURE_RUNTIME;
	}
	return EXIT_OK;
}

int parse_u32(const char *s, uint32_t *ret)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v > UINT32_MAX)
		return -ERANGE;
	*ret = (uint32_t)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		VERB_COMMON_OPTIONS,
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct ctl c = { .timeout_ms = BROKER_DEFAULT_TIMEOUT_MS };
	int o;
	/* Table widths count characters, in the user's encoding. */
	setlocale(LC_CTYPE, "");
	opterr = 0;
	/* '+': global options end at the verb */
	while ((o = getopt_long(argc, argv, "+" VERB_COMMON_SHORT, opts, NULL)) != -1) {
		if (common_option(&c, o))
			continue;
		switch (o) {
		case 'h': usage(stdout); return EXIT_OK;
		case OPT_VERSION: printf("brokerctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: return bad_option(&c, argc, argv, "+" VERB_COMMON_SHORT, o);
		}
	}
	if (optind >= argc)
		return ctl_usage(&c, "give a verb");
	c.verb = argv[optind];
	if (strcmp(c.verb, "help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	const struct verb *v = c.v = verb_find(c.verb);
	if (!v) {
		c.verb = NULL;
		return ctl_usage(&c, "unknown verb '%s'", argv[optind]);
	}

	/* The verb parses the rest. */
	char name[64];
	snprintf(name, sizeof(name), "brokerctl: %s", v->name);
	char **vargv = argv + optind;
	vargv[0] = name;
	optind = 0;   /* glibc: start afresh on the new argv */
	int r = v->run(&c, argc - (int)(vargv - argv), vargv);
	broker_close(c.b);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "brokerctl: %s: cannot write the output: %m\n", v->name);
		r = r ? r : EXIT_FAILURE_RUNTIME;
	}
	pager_close();
	return r;
}
