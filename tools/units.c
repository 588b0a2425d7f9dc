/* SPDX-License-Identifier: MIT */
/*
 * The service manager's view of the apps' units, for `brokerctl apps`: the
 * ActiveState of each unit a manifest names, from the manager that runs
 * brokerd (the user manager when brokerd's control socket is in
 * $XDG_RUNTIME_DIR, else the system manager).  Its private socket is tried
 * first, which needs no D-Bus daemon, then the bus.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>

#include "brokerctl.h"
#include "util.h"

static void bus_unrefp(sd_bus **b)
{
	sd_bus_flush_close_unref(*b);
}

static int open_private(const char *path, sd_bus **ret)
{
	_cleanup_(bus_unrefp) sd_bus *b = NULL;
	char address[4200];
	snprintf(address, sizeof(address), "unix:path=%s", path);
	int r = sd_bus_new(&b);
	if (r >= 0)
		r = sd_bus_set_address(b, address);
	if (r >= 0)
		r = sd_bus_start(b);
	if (r < 0)
		return r;
	*ret = TAKE_PTR(b);
	return 0;
}

/* Which manager runs the brokerd that control (a socket path) belongs to. */
static bool user_manager(const char *control)
{
	const char *rt = getenv("XDG_RUNTIME_DIR");
	size_t n = rt ? strlen(rt) : 0;
	return n && control && strncmp(control, rt, n) == 0 && control[n] == '/';
}

int units_open(struct units *u, const char *control)
{
	u->user = user_manager(control);
	u->bus = NULL;
	char path[4096];
	if (u->user)
		snprintf(path, sizeof(path), "%s/systemd/private", getenv("XDG_RUNTIME_DIR"));
	else
		snprintf(path, sizeof(path), "/run/systemd/private");
	sd_bus *b = NULL;
	int r = open_private(path, &b);   /* the private socket needs no D-Bus daemon */
	if (r < 0)
		r = u->user ? sd_bus_open_user(&b) : sd_bus_open_system(&b);
	u->error = r < 0 ? r : 0;
	if (r >= 0)
		u->bus = b;
	return u->error;
}

int units_state(struct units *u, const char *unit, char *buf, size_t size)
{
	if (!u->bus)
		return u->error;
	_cleanup_free_ char *path = NULL;
	int r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path);
	if (r < 0)
		return r;
	static const char *const props[] = { "LoadState", "ActiveState" };
	char *v[2] = { NULL, NULL };
	for (int i = 0; i < 2 && r >= 0; i++) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		r = sd_bus_get_property_string(u->bus, "org.freedesktop.systemd1", path, "org.freedesktop.systemd1.Unit",
					       props[i], &e, &v[i]);
		sd_bus_error_free(&e);
	}
	if (r >= 0)   /* a unit the manager has no file for says so */
		snprintf(buf, size, "%s", strcmp(v[0], "loaded") == 0 ? v[1] : v[0]);
	free(v[0]);
	free(v[1]);
	return r < 0 ? r : 0;
}

void units_close(struct units *u)
{
	bus_unrefp(&u->bus);
	u->bus = NULL;
}
