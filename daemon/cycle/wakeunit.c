/* SPDX-License-Identifier: MIT */
/* The .socket unit behind a wake socket, after a failed activation (wakeunit.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "util.h"
#include "wakeunit.h"

#define SD_DEST "org.freedesktop.systemd1"
#define SD_PATH "/org/freedesktop/systemd1"
#define SD_MANAGER "org.freedesktop.systemd1.Manager"
#define SD_UNIT "org.freedesktop.systemd1.Unit"
#define SD_SOCKET "org.freedesktop.systemd1.Socket"

/* Does the socket unit at object path listen on path (a Listen= entry)? */
static bool listens_on(sd_bus *bus, const char *obj, const char *path)
{
	sd_bus_message *reply = NULL;
	const char *type, *addr;
	bool found = false;
	int r = sd_bus_get_property(bus, SD_DEST, obj, SD_SOCKET, "Listen", NULL, &reply, "a(ss)");
	if (r >= 0)
		r = sd_bus_message_enter_container(reply, 'a', "(ss)");
	while (r > 0 && !found && (r = sd_bus_message_read(reply, "(ss)", &type, &addr)) > 0)
		found = strcmp(addr, path) == 0;
	sd_bus_message_unref(reply);
	return found;
}

/* The .socket unit that listens on path: its id and object path, which
 * the caller frees.  0, -ENOENT if no loaded unit does, or -errno. */
static int socket_unit(sd_bus *bus, const char *path, char **ret_id, char **ret_obj)
{
	sd_bus_message *reply = NULL;
	const char *id, *obj;
	int r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ListUnitsByPatterns", NULL, &reply,
				   "asas", 0, 1, "*.socket");
	if (r >= 0)
		r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
	while (r > 0 && (r = sd_bus_message_read(reply, "(ssssssouso)", &id, NULL, NULL, NULL, NULL, NULL, &obj,
						 NULL, NULL, NULL)) > 0)
		if (listens_on(bus, obj, path))
			break;
	if (r > 0) {
		*ret_id = strdup(id);
		*ret_obj = strdup(obj);
		if (!*ret_id || !*ret_obj) {
			free(*ret_id);
			free(*ret_obj);
			r = -ENOMEM;
		}
	}
	sd_bus_message_unref(reply);
	return r > 0 ? 0 : r < 0 ? r : -ENOENT;
}

/* systemd's rate limits, which brokerd's own limits replace. */
static bool rate_limited(const char *result)
{
	return strcmp(result, "trigger-limit-hit") == 0 || strcmp(result, "service-start-limit-hit") == 0;
}

/* Reset unit (a failed socket) and the units it triggers (its service), then
 * start it.  0, or -errno with the manager's words in e. */
static int restart(sd_bus *bus, const char *unit, const char *obj, sd_bus_error *e)
{
	char **triggers = NULL;
	int r = sd_bus_get_property_strv(bus, SD_DEST, obj, SD_UNIT, "Triggers", e, &triggers);
	for (char **t = triggers; r >= 0 && t && *t; t++)
		r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ResetFailedUnit", e, NULL, "s", *t);
	for (char **t = triggers; t && *t; t++)
		free(*t);
	free(triggers);
	if (r >= 0)
		r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "ResetFailedUnit", e, NULL, "s", unit);
	if (r >= 0)
		r = sd_bus_call_method(bus, SD_DEST, SD_PATH, SD_MANAGER, "StartUnit", e, NULL, "ss", unit, "replace");
	return r < 0 ? r : 0;
}

void wakeunit_explain(struct daemon *d, const struct app *a, char *why, size_t len)
{
	sd_bus *bus = bus_get(d);
	if (!bus || !a->m || !a->m->wake_socket)
		return;
	_cleanup_free_ char *unit = NULL, *obj = NULL, *state = NULL, *result = NULL;
	int r = socket_unit(bus, a->m->wake_socket, &unit, &obj);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, SD_DEST, obj, SD_UNIT, "ActiveState", NULL, &state);
	if (r >= 0)
		r = sd_bus_get_property_string(bus, SD_DEST, obj, SD_SOCKET, "Result", NULL, &result);
	bus_check(d, r);
	if (r < 0 || strcmp(state, "failed") != 0)
		return;
	size_t n = strlen(why);
	if (!rate_limited(result)) {
		snprintf(why + n, len - n, "; its unit %s is failed (%s), which brokerd leaves to the admin "
			 "(systemctl%s reset-failed %s)", unit, result, d->cfg.user_instance ? " --user" : "", unit);
		return;
	}
	sd_bus_error e = SD_BUS_ERROR_NULL;
	r = restart(bus, unit, obj, &e);
	bus_check(d, r);
	if (r < 0)
		snprintf(why + n, len - n, "; its unit %s is failed (%s: a systemd rate limit), and the service "
			 "manager refused to reset and start it: %s", unit, result, e.message ? e.message : strerror(-r));
	else
		snprintf(why + n, len - n, "; its unit %s was failed (%s: a systemd rate limit): brokerd reset it "
			 "and started it again", unit, result);
	sd_bus_error_free(&e);
}
