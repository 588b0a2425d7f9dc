/* SPDX-License-Identifier: MIT */
/* brokerd's types: held sockets, apps, the daemon.  Each module's functions
 * are declared in its own header (app.h, held.h, lifecycle.h, event.h, ...).
 * Who may write what is in docs/architecture.md: state, queues and
 * counters only through lifecycle.c. */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include <socket-broker/broker.h>
#include "config.h"
#include "instance.h"
#include "manifest.h"
#include "proto.h"

struct app;
struct actconn;                  /* cycle/handback.h */
struct reglog_entry;
struct store;

/* One held socket.  Allocated once, with its id and context inline and,
 * only for a socket with a keep-alive, its timer in front of them:
 *	data[] = [ev_timer if keepalive_sec] id NUL context
 * brokerd watches held sockets in an epoll set of its own (pollset.c), not
 * with libev io watchers, so that it can take a socket out of the set
 * before letting go of it. */
struct held {
	TAILQ_ENTRY(held) all;       /* registry: every held socket, by serial */
	TAILQ_ENTRY(held) queue;     /* its app's pending or in-flight queue */
	struct app *app;
	uint64_t serial;             /* unique per transfer */
	uint64_t stored_as;          /* serial whose name it has in the fd store, 0 = not stored */
	uint64_t ino;                /* the socket's inode: one per socket, like its open file */
	uint64_t held_since;         /* CLOCK_REALTIME usec */
	uint64_t last_trigger;       /* CLOCK_REALTIME usec, 0 = never */
	uint64_t deadline;           /* keep-alive deadline, CLOCK_MONOTONIC usec, 0 = none */
	int fd;                      /* brokerd's copy of the socket */
	uint32_t keepalive_sec;      /* fixed for the life of the struct: it places data[] */
	uid_t owner;
	uint32_t ctx_len;
	uint8_t kind;                /* enum broker_kind */
	uint8_t state;               /* enum broker_state */
	uint8_t reason;              /* last reason, enum broker_reason */
	uint8_t sotype;
	uint8_t spurious;            /* readiness that peeking could not explain */
	uint8_t poll;                /* enum held_poll: where fd is in the epoll set */
	uint16_t family;
	uint16_t id_len;
	uint32_t bucket;             /* store-bucket.c: index + 1 of its bucket, 0 = none */
	_Alignas(8) char data[];
};

/* Where a held socket is in brokerd's epoll set (pollset.c). */
enum held_poll {
	POLL_NONE = 0,               /* not in the set */
	POLL_ARMED,                  /* in the set, waiting for an event */
	POLL_FIRED,                  /* in the set, disarmed by its one event */
};

/* Is brokerd waiting for activity on h? */
static inline bool held_watched(const struct held *h)
{
	return h->state == BROKER_STATE_WATCHING && h->poll == POLL_ARMED;
}

static inline size_t held_timer_size(uint32_t keepalive_sec)
{
	return keepalive_sec ? sizeof(ev_timer) : 0;
}
/* The keep-alive timer, or NULL for a socket without one. */
static inline ev_timer *held_timer(struct held *h)
{
	return h->keepalive_sec ? (ev_timer *)(void *)h->data : NULL;
}
static inline const char *held_id(const struct held *h) { return h->data + held_timer_size(h->keepalive_sec); }
static inline const void *held_ctx(const struct held *h) { return held_id(h) + h->id_len + 1; }
static inline int held_fd(const struct held *h) { return h->fd; }

TAILQ_HEAD(held_list, held);

/* An app: its manifest and its runtime state.  Apps live as long as they
 * have a manifest or hold sockets. */
struct app {
	char *id;
	struct manifest *m;          /* NULL once the manifest went away on reload */
	void *index;                 /* tsearch() root: struct held * by id */
	unsigned nheld;
	struct held_list pending;    /* TRIGGERED, waiting to go to the app */
	unsigned npending;
	struct held_list inflight;   /* HANDING_BACK, waiting for the app's ack */
	void *inflight_index;        /* tsearch() root: the same struct held * by serial */
	unsigned ninflight;
	struct actconn *conn;        /* cycle's activation connection, if any */
	pid_t pid;                   /* the main process of its instance, 0 = none or reaped */
	pid_t attached;              /* attached instance (broker_attach()), 0 = none */
	bool suspended_said;         /* the journal said why a delivery waits for a suspended instance */
	ev_child child;              /* its main process (cycle/activate.c) */
	struct instance inst;        /* instance.h: every process of it */
	ev_timer timer;              /* activation timeout or back-off retry */
	ev_timer kick;               /* next loop iteration: deliver what is pending */
	ev_timer suspended;          /* the instance is suspended: look again in a while */
	enum broker_app_state state;
	unsigned failures;
	unsigned acked;              /* acks in the current activation */
	uint64_t retry_at;           /* CLOCK_REALTIME usec of the next retry */
	uint64_t backoff_ms;         /* the wait before that retry */
	uint64_t started_at;         /* CLOCK_MONOTONIC usec of the last start */
	uint64_t window_start;       /* CLOCK_MONOTONIC usec: the trigger limit's window */
	unsigned window_starts;      /* starts in it */
	unsigned throttles;          /* throttled in a row (each wait longer) */
	bool throttled_in_window;
	uint64_t trigger_second;     /* journal.c: CLOCK_MONOTONIC start of the second counted, */
	unsigned trigger_lines;      /* and its trigger lines so far */
	/* Hand-backs of the same socket (by inode) in the trigger limit's
	 * window: a running app that hands a still-readable socket straight
	 * back would get it again at once, in a loop. */
	uint64_t handback_window_start;   /* CLOCK_MONOTONIC usec */
	struct app_handbacks {
		uint64_t ino;
		unsigned count;
	} handbacks[4];
	TAILQ_ENTRY(app) link;
};

TAILQ_HEAD(app_list, app);

/* Who asks, as the control socket saw it (SO_PEERCRED, cgroup unit). */
struct identity {
	uid_t uid;
	pid_t pid;
	const char *unit;            /* NULL: none known */
	bool admin;                  /* root, brokerd's own user or the admin group */
};

/* A manifest file the last reload skipped, and what it says of itself. */
struct skipped {
	char *id;                    /* its [app] id, or NULL if it has none readable */
	uid_t uid;                   /* its [app] user, or (uid_t)-1 */
	char *why;                   /* the reload's sentence about it */
};

struct daemon;
struct event;
/* A subscriber to brokerd's events (event.h); mask: 1u << type it wants. */
typedef void event_fn(struct daemon *d, const struct event *ev);
struct event_sub {
	event_fn *fn;
	uint64_t mask;
};
#define EVENT_SUBS_MAX 8
/* The poll set reports a held socket ready (pollset.h). */
typedef void pollset_ready_fn(struct daemon *d, struct held *h);

struct client;
TAILQ_HEAD(client_list, client);
struct keeper_stream;

/* Everything brokerd has: one of these, in main(). */
struct daemon {
	struct ev_loop *loop;
	struct config cfg;
	struct app_list apps;
	unsigned napps;
	void *app_index;             /* tsearch() root: struct app * by id */
	void *file_index;            /* tsearch() root: struct held * by ino */
	struct held_list all;        /* every held socket, ascending serial */
	unsigned nheld;
	uint64_t next_serial;
	struct client_list clients;
	unsigned nclients;
	unsigned nmonitors;
	unsigned nstarting;          /* apps in BROKER_APP_STARTING */
	int control_fd;
	bool control_owned;          /* we bound it (unlink on exit) */
	ev_io control_io;
	ev_timer accept_pause;       /* out of fds: accept again a little later */
	ev_signal sigterm, sigint, sighup;
	ev_child reaper;             /* cycle/activate.c: any child of brokerd reaped */
	uint64_t started;            /* CLOCK_MONOTONIC usec */
	bool stopping;               /* shutting down: keep the fd store as it is */
	int held_ep;                 /* pollset.c: epoll set of the held sockets, */
	ev_io held_io;               /* open while this watcher of it is active */
	pollset_ready_fn *held_ready;   /* called for each socket the set reports */
	struct event_sub subs[EVENT_SUBS_MAX];   /* event.c */
	unsigned nsubs;
	struct store *store;         /* store.c: fd store and registry log; NULL = none */
	bool notify;                 /* notify.c: under a service manager */
	ev_timer watchdog;
	ev_timer status_timer;       /* STATUS= goes out at most once a second */
	uint64_t status_sent;        /* CLOCK_MONOTONIC usec */
	ev_signal test_block;        /* testhook.c */
	uint64_t triggers_total, activations_total, handbacks_total;
	uint64_t thaws_total, thaws_held;
	void *bus;                   /* cycle/bus.c: sd_bus to the service manager, NULL = not yet */
	struct skipped *skipped;     /* registry.c: manifests the last reload could not use */
	unsigned nskipped;
	uint64_t dropped[64];        /* SO_COOKIEs of the last sockets an admin dropped (held.c) */
	unsigned ndropped;
	struct keeper_stream *keeper_streams;   /* cycle/keeper.c: where relayed streams go */
	unsigned nkeeper_streams, keeper_streams_cap;
	/* Separate, because a request's fields point into rbuf while its
	 * replies are encoded into wbuf. */
	uint8_t rbuf[BP_MSG_MAX];    /* the message being handled */
	uint8_t wbuf[BP_MSG_MAX];    /* the message being sent */
};
