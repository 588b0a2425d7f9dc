/* SPDX-License-Identifier: MIT */
/* brokerctl monitor: brokerd's events, one per line, until SIGINT/SIGTERM
 * or until brokerd closes the connection. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>

#include "brokerctl.h"
#include "util.h"

static json_object *event_json(const broker_event *ev)
{
	json_object *o = json_object_new_object();
	json_object_object_add(o, "time", json_time(ev->time_usec));
	json_object_object_add(o, "time_usec", json_object_new_uint64(ev->time_usec));
	json_object_object_add(o, "event", json_object_new_string(broker_event_name(ev->type)));
	json_object_object_add(o, "app", *ev->app_id ? json_text(ev->app_id) : NULL);
	json_object_object_add(o, "id", *ev->id ? json_text(ev->id) : NULL);
	json_object_object_add(o, "reason", ev->reason ? json_object_new_string(broker_reason_name(ev->reason)) : NULL);
	json_object_object_add(o, "kind", ev->kind ? json_object_new_string(broker_kind_name(ev->kind)) : NULL);
	json_object_object_add(o, "pid", ev->pid ? json_object_new_int64(ev->pid) : NULL);
	json_object_object_add(o, "error", ev->error ? json_object_new_int(ev->error) : NULL);
	json_object_object_add(o, "error_text", ev->error ? json_object_new_string(broker_strerror(ev->error)) : NULL);
	json_object_object_add(o, "detail", *ev->detail ? json_text(ev->detail) : NULL);
	return o;
}

/* "2024-11-28 10:36:02.123 trigger org.example.push/push reason=socket-activity kind=stream: detail" */
static int event_text(const broker_event *ev)
{
	char when[32];
	format_time(ev->time_usec, when, sizeof(when));
	printf("%s.%03u %s%s%s%s%s", when, (unsigned)(ev->time_usec / 1000 % 1000), broker_event_name(ev->type),
	       *ev->app_id ? " " : "", ev->app_id, *ev->id ? "/" : "", ev->id);
	if (ev->reason)
		printf(" reason=%s", broker_reason_name(ev->reason));
	if (ev->kind)
		printf(" kind=%s", broker_kind_name(ev->kind));
	if (ev->pid)
		printf(" pid=%d", (int)ev->pid);
	if (ev->error)
		printf(" error=\"%s\"", broker_strerror(ev->error));
	if (*ev->detail)
		printf(": %s", ev->detail);
	return putchar('\n') == EOF ? -EIO : 0;
}

/* Print what has arrived; 1 when brokerd has closed the connection. */
static int drain(struct ctl *c)
{
	broker_event *ev;
	int r;
	while ((r = broker_next_event(c->b, 0, &ev)) > 0) {
		r = c->json ? json_print(event_json(ev), true) : event_text(ev);
		broker_event_free(ev);
		if (r < 0)
			return r;
		/* one line at a time, for whoever reads the pipe */
		if (fflush(stdout) != 0)
			return -EIO;
	}
	return r == -EPIPE ? 1 : r;
}

int verb_monitor(struct ctl *c, int argc, char **argv)
{
	int r = verb_no_arguments(c, argc, argv);
	if (r != EXIT_OK || (r = ctl_connect(c)) != EXIT_OK)
		return r;

	/* Signals arrive as readable data, so the loop below ends cleanly. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return ctl_fail(c, -errno, "blocking signals");
	_cleanup_close_ int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		return ctl_fail(c, -errno, "signalfd");

	r = broker_monitor(c->b);
	if (r < 0)
		return ctl_fail(c, r, NULL);
	for (;;) {
		struct pollfd p[2] = {
			{ .fd = broker_get_fd(c->b), .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return ctl_fail(c, -errno, "poll");
		}
		if (p[0].revents) {
			r = drain(c);
			if (r < 0)
				return ctl_fail(c, r, NULL);
			if (r > 0)
				return EXIT_OK;
		}
		if (p[1].revents)
			return EXIT_OK;
	}
}
