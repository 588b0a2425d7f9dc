/* SPDX-License-Identifier: MIT */
/* Subscribing to brokerd's events; event_emit() is inline in event.h. */
#include <errno.h>

#include "event.h"

int event_subscribe(struct daemon *d, event_fn *fn, uint64_t mask)
{
	if (d->nsubs >= EVENT_SUBS_MAX)
		return -ENOSPC;
	d->subs[d->nsubs++] = (struct event_sub){ .fn = fn, .mask = mask };
	return 0;
}
