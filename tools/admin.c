/* SPDX-License-Identifier: MIT */
/* brokerctl trigger, drop and reload: admin verbs, silent on success. */
#include "brokerctl.h"

/* trigger and drop: one APP/ID each. */
static int on_socket(struct ctl *c, int argc, char **argv,
		     int (*act)(broker *b, const char *app_id, const char *id))
{
	char app[BROKER_ID_MAX + 1], id[BROKER_ID_MAX + 1];
	int r = verb_app_id_argument(c, argc, argv, app, id);
	if (r != EXIT_OK || (r = ctl_connect(c)) != EXIT_OK)
		return r;
	r = act(c->b, app, id);
	return r < 0 ? ctl_fail(c, r, argv[optind]) : EXIT_OK;
}

int verb_trigger(struct ctl *c, int argc, char **argv)
{
	return on_socket(c, argc, argv, broker_trigger);
}

int verb_drop(struct ctl *c, int argc, char **argv)
{
	return on_socket(c, argc, argv, broker_drop);
}

int verb_reload(struct ctl *c, int argc, char **argv)
{
	int r = verb_no_arguments(c, argc, argv);
	if (r != EXIT_OK || (r = ctl_connect(c)) != EXIT_OK)
		return r;
	r = broker_reload(c->b);
	return r < 0 ? ctl_fail(c, r, NULL) : EXIT_OK;
}
