/* SPDX-License-Identifier: MIT */
/* brokerctl __complete WHAT: candidates for the bash and zsh completions
 * (tools/completion/), one a line, so that the verbs and options are
 * listed once, here, and app ids and APP/ID come from the running brokerd.
 *   verbs            the verbs
 *   options [VERB]   the options before a verb, or those of VERB
 *   apps             the ids of the apps you may see
 *   sockets          APP/ID of every held socket you may see
 * Silent on every failure: a completion shows nothing rather than an error. */
#include <stdio.h>
#include <string.h>

#include "brokerctl.h"

static const struct option global_options[] = {
	VERB_COMMON_OPTIONS,
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};
static const struct option common_options[] = { VERB_COMMON_OPTIONS, { 0 } };

static void complete_verbs(void)
{
	for (size_t i = 0; i < verbs_count; i++)
		if (verbs[i].args)
			printf("%s\n", verbs[i].name);
}

static void complete_options(const char *verb)
{
	const struct option *o = global_options;
	if (verb) {
		const struct verb *v = verb_find(verb);
		if (!v)
			return;
		o = v->options ? v->options : common_options;
	}
	for (; o->name; o++)
		printf("--%s\n", o->name);
}

static int complete_apps(struct ctl *c)
{
	broker_app **apps;
	int n = broker_list_apps(c->b, &apps);
	if (n < 0)
		return n;
	for (broker_app **a = apps; *a; a++)
		printf("%s\n", (*a)->id);
	broker_app_list_free(apps);
	return 0;
}

static int complete_sockets(struct ctl *c)
{
	broker_info **list;
	int n = list_visible(c->b, &list);
	if (n < 0)
		return n;
	for (broker_info **i = list; *i; i++)
		printf("%s/%s\n", (*i)->app_id, (*i)->id);
	broker_info_list_free(list);
	return 0;
}

int verb_complete(struct ctl *c, int argc, char **argv)
{
	if (verb_common_options(c, argc, argv) != EXIT_OK || optind >= argc)
		return EXIT_USAGE;
	const char *what = argv[optind], *arg = optind + 1 < argc ? argv[optind + 1] : NULL;
	if (strcmp(what, "verbs") == 0) {
		complete_verbs();
		return EXIT_OK;
	}
	if (strcmp(what, "options") == 0) {
		complete_options(arg);
		return EXIT_OK;
	}
	bool apps = strcmp(what, "apps") == 0;
	if (!apps && strcmp(what, "sockets") != 0)
		return EXIT_USAGE;
	/* the connection's own errors must not reach the shell's line */
	if (!freopen("/dev/null", "w", stderr) || ctl_connect(c) != EXIT_OK)
		return EXIT_FAILURE_RUNTIME;
	int r = apps ? complete_apps(c) : complete_sockets(c);
	return r < 0 ? EXIT_FAILURE_RUNTIME : EXIT_OK;
}
