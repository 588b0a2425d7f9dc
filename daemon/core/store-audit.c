/* SPDX-License-Identifier: MIT */
/*
 * The fd store's invariant: every held socket is stored, once, in a
 * bucket (store-bucket.c).  Two checks:
 *   brokerd's books   stored (sockets brokerd put in and did not take out)
 *                     equals held;
 *   the manager's     NFileDescriptorStore of brokerd's unit equals the
 *                     buckets plus the registry's memfd (plus any socket
 *                     still stored on its own by a brokerd before buckets).
 * systemd accepts an FDSTORE=1 and may still drop the fd without a word
 * (a duplicate, a full store), so only the second check sees that.  It runs
 * once after every restore and, where the build audits (debug builds, the
 * store_audit option), after every burst of store operations: 200 ms after
 * the last one.  A shortfall is said loudly, and every held socket is
 * stored again: systemd drops the copies it has, keeps the ones it lost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-login.h>

#include "core.h"
#include "log.h"
#include "store-private.h"
#include "util.h"

#define AUDIT_QUIET 0.2         /* s after the last store operation */
#define AUDIT_RECHECK 1.0       /* s before a shortfall counts, or before asking again */
#define AUDIT_TRIES 3           /* asks of a manager that does not answer, an audit */

/* The manager's count of brokerd's stored fds, or a negative errno. */
static int manager_count(struct store *s)
{
	if (!s->bus) {
		char *unit = NULL;
		bool user = sd_pid_get_user_unit(0, &unit) >= 0;
		if (!user && sd_pid_get_unit(0, &unit) < 0)
			return -ENXIO;
		int r = user ? sd_bus_open_user(&s->bus) : sd_bus_open_system(&s->bus);
		if (r >= 0)
			r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &s->unit_path);
		free(unit);
		if (r < 0) {
			s->bus = sd_bus_flush_close_unref(s->bus);
			return r;
		}
		(void)sd_bus_set_method_call_timeout(s->bus, 2000000);
	}
	sd_bus_error error = SD_BUS_ERROR_NULL;
	uint32_t n = 0;
	int r = sd_bus_get_property_trivial(s->bus, "org.freedesktop.systemd1", s->unit_path,
					    "org.freedesktop.systemd1.Service", "NFileDescriptorStore",
					    &error, 'u', &n);
	sd_bus_error_free(&error);
	if (r < 0) {   /* the connection may be gone: a new one next time */
		s->bus = sd_bus_flush_close_unref(s->bus);
		free(s->unit_path);
		s->unit_path = NULL;
		return r;
	}
	return (int)n;
}

/* FDSTORE=1 of every bucket again. */
static void store_buckets_again(struct store *s)
{
	for (unsigned i = 0; i < s->table_size; i++)
		if (s->buckets[i])
			(void)bucket_pair_store(s->buckets[i]->rfd, s->buckets[i]->gen);
}

/* Held sockets still stored on their own (not moved into a bucket). */
static unsigned count_alone(struct daemon *d)
{
	unsigned n = 0;
	struct held *h;
	TAILQ_FOREACH(h, &d->all, all)
		n += h->stored_as && !h->bucket;
	return n;
}

/* Store every bucket, lone socket and the registry again (FDSTORE with the
 * same name): the manager drops what it has, keeps what it had lost. */
static void store_all_again(struct daemon *d)
{
	struct store *s = d->store;
	struct held *h;
	char name[12], text[64];
	store_buckets_again(s);
	TAILQ_FOREACH(h, &d->all, all) {
		if (!h->stored_as || h->bucket)
			continue;
		store_fdname(h->stored_as, name);
		snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0", name);
		(void)store_notify(text, held_fd(h));
	}
	(void)store_notify("FDSTORE=1\nFDNAME=" STORE_REGISTRY_NAME "\nFDPOLL=0", s->log.fd);
}

static void audit(struct daemon *d, bool recheck)
{
	struct store *s = d->store;
	if (s->stored != d->nheld)
		log_crit("fd store: brokerd counts %u stored socket(s) for %u held: a brokerd bug",
			 s->stored, d->nheld);
	int n = manager_count(s);
	if (n < 0 && n != -ENXIO && ++s->ask_tries < AUDIT_TRIES) {
		/* a manager too busy to answer within the call's 2 s (a loaded
		 * machine, a burst of its own work): ask again in a second */
		ev_timer_stop(d->loop, &s->audit);
		ev_timer_set(&s->audit, AUDIT_RECHECK, 0.);
		s->audit_recheck = recheck;
		ev_timer_start(d->loop, &s->audit);
		return;
	}
	unsigned tries = s->ask_tries;
	s->ask_tries = 0;
	if (n < 0) {
		if (!s->no_manager_count)
			log_notice("fd store: cannot ask the service manager what it stores (%s, %u time(s)); "
				   "not audited", strerror(-n), tries ? tries : 1);
		s->no_manager_count = true;
		return;
	}
	s->manager_stored = (unsigned)n;
	unsigned want = s->nbuckets + count_alone(d) + 1;
	if ((unsigned)n >= want) {
		if ((unsigned)n > want)
			log_warning("fd store: the service manager stores %d fd(s), brokerd %u", n, want);
		return;
	}
	if (!recheck) {   /* the manager may not have read every notification yet */
		ev_timer_stop(d->loop, &s->audit);
		ev_timer_set(&s->audit, AUDIT_RECHECK, 0.);
		s->audit_recheck = true;
		ev_timer_start(d->loop, &s->audit);
		return;
	}
	s->lost += want - (unsigned)n;
	log_crit("fd store: the service manager stores %d fd(s), brokerd put in %u: held socket(s) would "
		 "not survive a restart; storing every bucket again", n, want);
	store_all_again(d);
	n = manager_count(s);
	if (n >= 0 && (unsigned)n < want)
		log_crit("fd store: still %u fd(s) short after storing again (FileDescriptorStoreMax=?)",
			 want - (unsigned)n);
	if (n >= 0)
		s->manager_stored = (unsigned)n;
}

static void on_audit(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct daemon *d = ev_userdata(loop);
	struct store *s = d->store;
	(void)w;
	(void)revents;
	bool recheck = s->audit_recheck;
	s->audit_recheck = false;
	audit(d, recheck);
}

void store_audit_init(struct daemon *d)
{
	ev_init(&d->store->audit, on_audit);
}

void store_audit_now(struct daemon *d)
{
	if (d->store && d->store->ready)
		audit(d, false);
}

void store_audit_soon(struct daemon *d)
{
#if BROKER_STORE_AUDIT
	struct store *s = d->store;
	if (!s || !s->ready || s->audit_recheck)
		return;
	ev_timer_stop(d->loop, &s->audit);
	ev_timer_set(&s->audit, AUDIT_QUIET, 0.);
	ev_timer_start(d->loop, &s->audit);
#else
	(void)d;
#endif
}

void store_audit_done(struct daemon *d)
{
	struct store *s = d->store;
	ev_timer_stop(d->loop, &s->audit);
	s->bus = sd_bus_flush_close_unref(s->bus);
	free(s->unit_path);
	s->unit_path = NULL;
}
