/* SPDX-License-Identifier: MIT */
/* brokerd's connection to its service manager (bus.h). */
#include <errno.h>

#include "bus.h"

#define BUS_TIMEOUT_USEC (5ull * 1000000ull)

sd_bus *bus_get(struct daemon *d)
{
	if (d->bus)
		return d->bus;
	sd_bus *bus = NULL;
	int r = d->cfg.user_instance ? sd_bus_open_user(&bus) : sd_bus_open_system(&bus);
	if (r < 0)
		return NULL;
	sd_bus_set_method_call_timeout(bus, BUS_TIMEOUT_USEC);
	return d->bus = bus;
}

void bus_check(struct daemon *d, int r)
{
	if (r == -ECONNRESET || r == -ENOTCONN || r == -ETIMEDOUT)
		bus_close(d);
}

void bus_close(struct daemon *d)
{
	d->bus = sd_bus_flush_close_unref(d->bus);
}
