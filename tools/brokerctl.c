/* SPDX-License-Identifier: MIT */
/* brokerctl: inspect and script brokerd.  Global options, verb dispatch,
 * and the one way errors are reported. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "brokerctl.h"
#include "util.h"

static const struct verb verbs[] = {
	{ "status", "", "brokerd's counters and limits", verb_status },
	{ "apps", "", "the apps brokerd knows, and their activation state", verb_apps },
	{ "list", "[APP]", "held sockets (of APP, or of every app you may see)", verb_list },
	{ "show", "APP/ID", "everything about one held socket", verb_show },
	{ "monitor", "", "stream live events until interrupted", verb_monitor },
	{ "trigger", "APP/ID", "wake the app for this socket now (admin)", verb_trigger },
	{ "drop", "APP/ID", "close a held socket (admin)", verb_drop },
	{ "reload", "", "re-read the manifests, as SIGHUP does (admin)", verb_reload },
	{ "transfer", "APP ID FD [--context STR | --context-file PATH] [--keepalive SEC]",
	  "hand inherited fd FD to brokerd as APP's socket ID", verb_transfer },
	{ "listen", "ADDR APP ID [--backlog N]",
	  "bind a new listener (or datagram socket) at ADDR and hand it to brokerd", verb_listen },
};

const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: brokerctl [--socket PATH] [--json] VERB [ARGS]\n"
		   "Inspect and script brokerd, the socket broker.\n\nVerbs:\n");
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		char call[128];
		snprintf(call, sizeof(call), "%s %s", verbs[i].name, verbs[i].args);
		if (strlen(call) < 20)
			fprintf(f, "  %-20s %s\n", call, verbs[i].summary);
		else
			fprintf(f, "  %s\n  %-20s %s\n", call, "", verbs[i].summary);
	}
	fprintf(f,
		"\nOptions:\n"
		"  -s, --socket PATH  brokerd's control socket (default: $BROKER_SOCKET, else\n"
		"                     /run/socket-broker/control for root and\n"
		"                     $XDG_RUNTIME_DIR/socket-broker/control for others)\n"
		"  -j, --json         JSON output (one object per line for monitor)\n"
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
	fprintf(f, "Usage: brokerctl [--socket PATH] [--json] %s%s%s\n%s.\n", v->name,
		*v->args ? " " : "", v->args, v->summary);
}

int verb_getopt(struct ctl *c, int argc, char **argv, const char *shortopts,
		const struct option *longopts)
{
	for (;;) {
		int o = getopt_long(argc, argv, shortopts, longopts, NULL);
		if (o == 'j' || o == 's') {
			if (o == 'j')
				c->json = true;
			else
				c->socket = optarg;
			continue;
		}
		if (o == 'h') {
			verb_usage(stdout, c->v);
			exit(EXIT_OK);
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
	fprintf(stderr, "brokerctl: %s: %s%s%s%s%s\n", c->verb, what ? what : "", what ? ": " : "",
		sentence, adds ? ": " : "", adds ? said : "");
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
	int r = broker_open(path, &c->b);
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
	enum { OPT_VERSION = 256 };
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	struct ctl c = { 0 };
	int o;
	/* '+': global options end at the verb */
	while ((o = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (o) {
		case 's': c.socket = optarg; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return EXIT_OK;
		case OPT_VERSION: printf("brokerctl %s\n", PACKAGE_VERSION); return EXIT_OK;
		default: return ctl_usage(&c, "bad option");
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

	/* The verb parses the rest; getopt's own messages read "brokerctl: VERB: ...". */
	char name[64];
	snprintf(name, sizeof(name), "brokerctl: %s", v->name);
	char **vargv = argv + optind;
	vargv[0] = name;
	optind = 0;   /* glibc: start afresh on the new argv */
	int r = v->run(&c, argc - (int)(vargv - argv), vargv);
	broker_close(c.b);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "brokerctl: %s: cannot write the output: %m\n", v->name);
		return r ? r : EXIT_FAILURE_RUNTIME;
	}
	return r;
}
