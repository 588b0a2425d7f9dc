/* SPDX-License-Identifier: MIT */
/*
 * An app's running instance, tracked whole: the process brokerd started
 * and every process that came of it, whether it is still a descendant or
 * an orphan that came back to brokerd (a child subreaper).  An instance is
 * over only when its last process is gone, and an app has at most one.
 *
 * Without a cgroup to ask, membership is worked out from /proc: a
 * descendant of a member is a member; an orphan (a child of brokerd that
 * brokerd did not start) belongs to the instance whose member named its
 * session or process group, else to the app its environment names
 * (BROKER_APP_ID, which brokerd sets).  instance_scan() looks again; the
 * cycle calls it whenever a child of brokerd is reaped, since that is
 * when processes are reparented.  (libev feeds one watcher for any pid
 * once per loop iteration, however many children it reaped: so the main
 * process has a watcher of its own, and the other one only rescans.)
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

struct daemon;

enum instance_kind {
	INSTANCE_NONE = 0,           /* no instance */
	INSTANCE_EXEC,               /* a command brokerd started, and what came of it */
};

#define INSTANCE_PROCS_MAX 64    /* processes listed per instance; more are counted */
#define INSTANCE_SEEN_MAX 32     /* session and group ids known to be the instance's */

struct instance {
	enum instance_kind kind;
	pid_t main;                  /* the process brokerd started; 0 once it was reaped */
	int main_status;             /* its wait status, once reaped */
	bool stopping;               /* brokerd asked it to stop: its end is no failure */
	unsigned nprocs;             /* processes alive at the last scan */
	pid_t procs[INSTANCE_PROCS_MAX];
	unsigned nseen;              /* a ring once full */
	pid_t seen[INSTANCE_SEEN_MAX];
};

/* Make the calling process (brokerd) a child subreaper.  0 or a negative
 * errno. */
int instance_init(void);

/* in is a new EXEC instance whose one process is main. */
void instance_begin(struct instance *in, pid_t main);
static inline bool instance_alive(const struct instance *in)
{
	return in->kind != INSTANCE_NONE;
}
/* Alive, but its last process is gone: the caller ends it (instance_end). */
static inline bool instance_over(const struct instance *in)
{
	return in->kind == INSTANCE_EXEC && in->main == 0 && in->nprocs == 0;
}
void instance_end(struct instance *in);

/* The main process of in was reaped with status; every instance is
 * scanned again. */
void instance_main_reaped(struct daemon *d, struct instance *in, int status);

/* Look again at the processes of every instance (after any child of
 * brokerd was reaped: its orphans are brokerd's now). */
void instance_scan(struct daemon *d);

/* Send sig to every process of in (scanned first).  Returns how many. */
unsigned instance_kill(struct daemon *d, struct instance *in, int sig);

/* The command name of pid (/proc/PID/comm, at most 15 bytes and a NUL)
 * into comm; "?" if it is gone. */
void instance_comm(pid_t pid, char comm[16]);
