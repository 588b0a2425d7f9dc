/* SPDX-License-Identifier: MIT */
/* brokerd's core types, shared by its modules. */
#pragma once

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "broker.h"
#include "config.h"
#include "manifest.h"
#include "proto.h"

struct app;
struct actconn;
struct reglog_entry;
struct store;

/* One held socket.  Allocated once, with its id and context inline and,
 * only for a socket with a keep-alive, its timer in front of them:
 *	data[] = [ev_timer if keepalive_sec] id NUL context
 * brokerd watches held sockets in an epoll set of its own (watch.c), not
 * with libev io watchers, so that it can take a socket out of the set
 * before letting go of it. */
struct held {
	TAILQ_ENTRY(held) all;       /* registry: every held socket, by serial */
	TAILQ_ENTRY(held) queue;     /* app's pending queue, or its conn's in-flight list */
	struct app *app;
	uint64_t serial;             /* unique per transfer; also the fd store name */
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
	_Alignas(8) char data[];
};

/* Where a held socket is in brokerd's epoll set (watch.c). */
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
	struct actconn *conn;        /* activation connection, if any */
	pid_t pid;                   /* broker-started instance, 0 = none */
	ev_child child;
	ev_timer timer;              /* activation timeout or back-off retry */
	ev_timer kick;               /* next loop iteration: deliver what is pending */
	enum broker_app_state state;
	unsigned failures;
	unsigned acked;              /* acks in the current activation */
	uint64_t retry_at;           /* CLOCK_REALTIME usec of the next retry */
	TAILQ_ENTRY(app) link;
};

TAILQ_HEAD(app_list, app);

/* The connection to a running app over which sockets are handed back. */
struct actconn {
	ev_io io;
	struct app *app;
	bool hello;                  /* ACT_HELLO received */
	bool batch_open;             /* handbacks sent since the last BATCH_END */
	bool writing;                /* waiting for the socket to take more */
	struct held_list inflight;   /* HANDING_BACK, waiting for an ack */
	unsigned ninflight;
};

struct client;
TAILQ_HEAD(client_list, client);

/* Everything brokerd has: one of these, in main(). */
struct daemon {
	struct ev_loop *loop;
	struct config cfg;
	struct app_list apps;
	unsigned napps;
	void *app_index;             /* tsearch() root: struct app * by id */
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
	uint64_t started;            /* CLOCK_MONOTONIC usec */
	bool stopping;               /* shutting down: keep the fd store as it is */
	int held_ep;                 /* watch.c: epoll set of the held sockets, */
	ev_io held_io;               /* open while this watcher of it is active */
	struct store *store;         /* store.c: fd store and registry log; NULL = none */
	bool notify;                 /* notify.c: under a service manager */
	ev_timer watchdog;
	ev_timer status_timer;       /* STATUS= goes out at most once a second */
	uint64_t status_sent;        /* CLOCK_MONOTONIC usec */
	ev_signal test_block;        /* testhook.c */
	uint64_t triggers_total, activations_total, handbacks_total;
	/* Separate, because a request's fields point into rbuf while its
	 * replies are encoded into wbuf. */
	uint8_t rbuf[BP_MSG_MAX];    /* the message being handled */
	uint8_t wbuf[BP_MSG_MAX];    /* the message being sent */
};

/* registry.c */
struct app *app_find(struct daemon *d, const char *id);
struct app *app_get(struct daemon *d, const char *id);       /* find or create */
void app_maybe_free(struct daemon *d, struct app *a);        /* if no manifest and no sockets */
struct held *held_find(struct app *a, const char *id);
/* A zeroed held with its id, context and (keepalive_sec > 0) timer in place. */
struct held *held_alloc(const char *id, size_t id_len, const void *ctx, uint32_t ctx_len,
			uint32_t keepalive_sec);
/* Take fd (consumed on success and on failure) and hold it for app under id. */
int held_add(struct daemon *d, struct app *a, const char *id, int fd, const void *ctx,
	     uint32_t ctx_len, uint32_t keepalive_sec, uid_t owner, struct held **ret);
/* What socket_describe() said about a socket. */
struct sock_desc {
	int kind, family, sotype;
};
/* The same, for a caller that has described fd already (a transfer does,
 * to check it): the socket is not asked again. */
int held_add_described(struct daemon *d, struct app *a, const char *id, int fd,
		       const struct sock_desc *desc, const void *ctx, uint32_t ctx_len,
		       uint32_t keepalive_sec, uid_t owner, struct held **ret);
/* Hold fd again as the restored entry e describes (consumed on success and
 * on failure); the caller watches it or queues it. */
int held_restore(struct daemon *d, struct app *a, const struct reglog_entry *e, int fd,
		 struct held **ret);
/* Forget h: stop its watchers, take it off every list, close brokerd's copy. */
void held_remove(struct daemon *d, struct held *h);
unsigned held_count_state(struct daemon *d, int state);
/* Re-read apps.d: new manifests apply, apps that lost theirs keep their
 * sockets until claimed or dropped.  On error the old manifests stay. */
int daemon_reload(struct daemon *d);
/* brokerd is stopping: stop every app, close brokerd's copies of the held
 * sockets (the fd store keeps them), free every app. */
void registry_shutdown(struct daemon *d);
/* Log a manifest that was skipped (manifests_load_dir's reporter). */
void report_manifest(const char *path, const char *message);

/* watch.c */
int held_watch_init(struct daemon *d);                       /* the epoll set; 0 or -errno */
void held_watch_done(struct daemon *d);
int socket_describe(int fd, int *ret_kind, int *ret_family, int *ret_sotype);
int socket_classify(int fd, int kind);
void held_watch(struct daemon *d, struct held *h);
void held_unwatch(struct daemon *d, struct held *h);
void held_forget(struct daemon *d, struct held *h);          /* unwatch, and out of the epoll set */
void held_trigger(struct daemon *d, struct held *h, int reason);
int sockaddr_text(int fd, bool peer, char *buf, size_t size);

/* activate.c */
void app_init(struct daemon *d, struct app *a);
void app_kick(struct daemon *d, struct app *a);              /* deliver pending soon */
void app_withdraw(struct daemon *d, struct held *h);         /* take h out of pending/in-flight */
void app_shutdown(struct daemon *d, struct app *a);          /* stop everything, keep sockets */
/* An activation failed (why: one sentence): log, keep the sockets, retry after back-off. */
void app_failed(struct daemon *d, struct app *a, int error, const char *why);

/* compat.c: listen-fds and inetd hand-offs */
void compat_deliver(struct daemon *d, struct app *a);
void compat_child_exited(struct daemon *d, struct app *a, int status);

/* spawn.c: fork and exec a manifest's command with the sd_listen_fds
 * protocol.  fds[i] becomes fd 3+i named names[i]; stdio_fd (or -1)
 * becomes stdin and stdout.  The caller's fds stay the caller's. */
int spawn_command(struct daemon *d, struct app *a, const int *fds, const char *const *names,
		  unsigned nfds, int stdio_fd, int reason, pid_t *ret_pid);

/* control.c */
int control_open(struct daemon *d);
void control_close(struct daemon *d);
void clients_close_all(struct daemon *d);
void clients_forget_app(struct daemon *d, struct app *a);   /* a is going away */

/* monitor.c */
void monitor_emit(struct daemon *d, int event, const struct app *a, const struct held *h,
		  int reason, int error, pid_t pid, const char *fmt, ...)
	__attribute__((format(printf, 8, 9)));
