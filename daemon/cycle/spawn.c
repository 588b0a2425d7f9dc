/* SPDX-License-Identifier: MIT */
/*
 * Start a manifest's command with the sd_listen_fds protocol.
 *
 * The child is made with clone(CLONE_VM | CLONE_VFORK), as posix_spawn()
 * does, not with fork(): brokerd's page tables are not copied (a cost that
 * grows with the number of held sockets) and nothing is copied on write
 * afterwards; brokerd waits only until the child has exec'd.  The price is
 * that the child runs in brokerd's memory until then, so everything it
 * needs is prepared here first, and the child itself only makes syscalls:
 * it allocates nothing, uses no stdio, and writes nothing of brokerd's
 * but the LISTEN_PID and LISTEN_PIDFDID entries prepared for it.  All signals are blocked
 * around the clone, so that no handler of brokerd's can run in the child
 * before it has set every disposition back to the default.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "spawn.h"
#include "util.h"

extern char **environ;

/* The child's stack, until it execs.  One child is made at a time. */
static _Alignas(16) char child_stack[64 * 1024];

/* Where the child's fstat()s write: not on its stack, which sanitizers
 * do not follow. */
struct pidfd_scratch {
	struct statfs fs;
	struct stat st;
};

struct child {
	const char *app_id;
	char *const *argv;
	char *const *env;
	char *pid_slot;             /* "LISTEN_PID=" and room for the number, or NULL */
	char **pidfdid_entry;       /* the last entry of env, for LISTEN_PIDFDID, or NULL */
	struct pidfd_scratch *scratch;
	const int *fds;
	int *moved;                 /* nfds ints of scratch */
	unsigned nfds;
	int stdio_fd;
	bool drop_privileges;
	uid_t uid;
	gid_t gid;
	const gid_t *groups;
	int ngroups;
};

static bool inherited_var(const char *e)
{
	static const char *const drop[] = {
		"LISTEN_PID=", "LISTEN_PIDFDID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
		"WATCHDOG_PID=", "WATCHDOG_USEC=", "BROKER_",
	};
	for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
		if (strncmp(e, drop[i], strlen(drop[i])) == 0)
			return false;
	return true;
}

/* The child's environment in one allocation: brokerd's own variables less
 * those the manifest's environment= gives, then the manifest's (both
 * pointed to, not copied), then the activation's, whose text follows the
 * pointer array.  The LISTEN_PID entry, and LISTEN_PIDFDID last of all,
 * are left for the child to fill in, since only it knows its pid. */
static char **build_env(struct daemon *d, struct app *a, const char *const *names, unsigned nfds,
			int reason, char **ret_pid_slot, char ***ret_pidfdid_entry)
{
	size_t n = 0, text = 0;
	for (char **e = environ; *e; e++)
		n++;
	for (unsigned i = 0; i < nfds; i++)
		text += strlen(names[i]) + 1;
	const char *why = broker_reason_name(reason);
	text += 176 + strlen(a->id) + strlen(why) + strlen(d->cfg.socket_path);
	size_t slots = n + a->m->nenv + 8;
	char **env = malloc(slots * sizeof(*env) + text);
	if (!env)
		return NULL;
	char *p = (char *)(env + slots), *end = p + text;
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (inherited_var(*e) && !manifest_env_overrides(a->m, *e))
			env[k++] = *e;
	for (unsigned i = 0; i < a->m->nenv; i++)
		env[k++] = a->m->environment[i];
	if (nfds > 0) {
		env[k++] = p;
		p += snprintf(p, (size_t)(end - p), "LISTEN_FDS=%u", nfds) + 1;
		env[k++] = p;
		p = stpcpy(p, "LISTEN_FDNAMES=");
		for (unsigned i = 0; i < nfds; i++) {
			if (i)
				*p++ = ':';
			p = stpcpy(p, names[i]);
		}
		p++;
		*ret_pid_slot = env[k++] = p;
		p += 32;
	}
	env[k++] = p;
	p += snprintf(p, (size_t)(end - p), "BROKER_APP_ID=%s", a->id) + 1;
	env[k++] = p;
	p += snprintf(p, (size_t)(end - p), "BROKER_REASON=%s", why) + 1;
	env[k++] = p;
	p += snprintf(p, (size_t)(end - p), "BROKER_SOCKET=%s", d->cfg.socket_path) + 1;
	if (nfds > 0) {
		*ret_pidfdid_entry = &env[k];
		env[k++] = p;
	}
	env[k] = NULL;
	return env;
}

/* In the child: report why we could not exec, then go. */
static _Noreturn void child_fail(const struct child *c, const char *what, int err)
{
	const char *desc = strerrordesc_np(err);
	struct iovec iov[] = {
		{ (void *)"<3>", 3 }, { (void *)c->app_id, strlen(c->app_id) },
		{ (void *)": cannot start: ", 16 }, { (void *)what, strlen(what) },
		{ (void *)": ", 2 }, { (void *)(desc ? desc : "error"), strlen(desc ? desc : "error") },
		{ (void *)"\n", 1 },
	};
	writev(STDERR_FILENO, iov, ARRAY_SIZE(iov));
	_exit(127);
}

/* "NAME=<v>", without stdio. */
static void write_number(char *slot, const char *name, uint64_t v)
{
	char digits[24];
	int n = 0;
	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	char *p = stpcpy(slot, name);
	while (n > 0)
		*p++ = digits[--n];
	*p = 0;
}

#ifndef PID_FS_MAGIC
#define PID_FS_MAGIC 0x50494446   /* Linux 6.9; Debian 12's headers predate it */
#endif

/* LISTEN_PIDFDID (systemd v259): the inode number of a pidfd of ours,
 * which names this process for good where pidfds live in pidfs; where
 * they do not, the entry is dropped (it is the last). */
static void write_pidfdid(char **entry, struct pidfd_scratch *s)
{
	int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	bool ok = fd >= 0 && fstatfs(fd, &s->fs) == 0 && s->fs.f_type == PID_FS_MAGIC && fstat(fd, &s->st) == 0;
	if (fd >= 0)
		close(fd);
	if (ok)
		write_number(*entry, "LISTEN_PIDFDID=", (uint64_t)s->st.st_ino);
	else
		*entry = NULL;
}

static int child_main(void *arg)
{
	const struct child *c = arg;
	/* Dispositions first, then the mask brokerd blocked for us. */
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setsid();

	/* Move the fds out of the way first, so placing them at 3.. cannot
	 * overwrite one that is still to be placed. */
	int base = 3 + (int)c->nfds + 2;
	for (unsigned i = 0; i < c->nfds; i++)
		if ((c->moved[i] = fcntl(c->fds[i], F_DUPFD_CLOEXEC, base)) < 0)
			child_fail(c, "dup", errno);
	int moved_stdio = -1;
	if (c->stdio_fd >= 0 && (moved_stdio = fcntl(c->stdio_fd, F_DUPFD_CLOEXEC, base)) < 0)
		child_fail(c, "dup", errno);

	if (moved_stdio >= 0) {
		if (dup2(moved_stdio, STDIN_FILENO) < 0 || dup2(moved_stdio, STDOUT_FILENO) < 0)
			child_fail(c, "dup2", errno);
	} else {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0 && null != STDIN_FILENO)
			dup2(null, STDIN_FILENO);
	}
	for (unsigned i = 0; i < c->nfds; i++)
		if (dup2(c->moved[i], 3 + (int)i) < 0)   /* dup2 clears CLOEXEC on the copy */
			child_fail(c, "dup2", errno);
	close_range(3 + c->nfds, ~0u, 0);

	if (c->drop_privileges) {
		if (setgroups((size_t)c->ngroups, c->groups) < 0 && setgroups(0, NULL) < 0)
			child_fail(c, "setgroups", errno);
		if (setgid(c->gid) < 0)
			child_fail(c, "setgid", errno);
		if (setuid(c->uid) < 0)
			child_fail(c, "setuid", errno);
	}
	if (c->pid_slot)
		write_number(c->pid_slot, "LISTEN_PID=", (uint64_t)getpid());
	if (c->pidfdid_entry)
		write_pidfdid(c->pidfdid_entry, c->scratch);
	execve(c->argv[0], c->argv, c->env);
	child_fail(c, c->argv[0], errno);
}

/* The supplementary groups of the manifest's user, as initgroups() would
 * set them; NULL with *ret_n = 0 if they cannot be found (the child then
 * drops all, as before). */
static gid_t *user_groups(const struct manifest *m, int *ret_n)
{
	int n = 64;
	gid_t *groups = malloc((size_t)n * sizeof(gid_t));
	if (groups && getgrouplist(m->user, m->gid, groups, &n) < 0) {
		gid_t *more = n > 64 ? realloc(groups, (size_t)n * sizeof(gid_t)) : NULL;
		if (!more || getgrouplist(m->user, m->gid, more, &n) < 0) {
			free(more ? more : groups);
			groups = NULL;
		} else {
			groups = more;
		}
	}
	*ret_n = groups ? n : 0;
	return groups;
}

int spawn_command(struct daemon *d, struct app *a, const int *fds, const char *const *names,
		  unsigned nfds, int stdio_fd, int reason, pid_t *ret_pid)
{
	if (!a->m || !a->m->argv)
		return -ENOEXEC;
	if (getuid() != 0 && a->m->uid != getuid())
		return -EPERM;   /* only root may start an app as another user */
	struct child c = {
		.app_id = a->id, .argv = a->m->argv, .fds = fds, .nfds = nfds, .stdio_fd = stdio_fd,
		.drop_privileges = getuid() == 0 && a->m->uid != 0, .uid = a->m->uid, .gid = a->m->gid,
	};
	_cleanup_free_ char **env = build_env(d, a, names, nfds, reason, &c.pid_slot, &c.pidfdid_entry);
	_cleanup_free_ int *moved = calloc(nfds + 1, sizeof(int));
	_cleanup_free_ gid_t *groups = c.drop_privileges ? user_groups(a->m, &c.ngroups) : NULL;
	_cleanup_free_ struct pidfd_scratch *scratch = malloc(sizeof(*scratch));
	if (!env || !moved || !scratch)
		return -ENOMEM;
	c.scratch = scratch;
	c.env = env;
	c.moved = moved;
	c.groups = groups;

	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid_t pid = clone(child_main, child_stack + sizeof(child_stack), CLONE_VM | CLONE_VFORK | SIGCHLD, &c);
	int err = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0)
		return -err;
	instance_begin(&a->inst, pid);
	*ret_pid = pid;
	return 0;
}
