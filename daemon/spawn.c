/* SPDX-License-Identifier: MIT */
/* Start a manifest's command with the sd_listen_fds protocol. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "brokerd.h"
#include "log.h"
#include "util.h"

extern char **environ;

static bool inherited_var(const char *e)
{
	static const char *const drop[] = {
		"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "NOTIFY_SOCKET=",
		"WATCHDOG_PID=", "WATCHDOG_USEC=", "BROKER_",
	};
	for (size_t i = 0; i < ARRAY_SIZE(drop); i++)
		if (strncmp(e, drop[i], strlen(drop[i])) == 0)
			return false;
	return true;
}

/* Build the child's environment; the LISTEN_PID entry is left for the
 * child to fill in, since only it knows its pid. */
static char **build_env(struct daemon *d, struct app *a, const char *const *names, unsigned nfds,
			int reason, char **ret_pid_slot)
{
	size_t n = 0;
	for (char **e = environ; *e; e++)
		n++;
	char **env = calloc(n + 8, sizeof(*env));
	if (!env)
		return NULL;
	size_t k = 0;
	for (char **e = environ; *e; e++)
		if (inherited_var(*e))
			env[k++] = strdup(*e);

	size_t namelen = 0;
	for (unsigned i = 0; i < nfds; i++)
		namelen += strlen(names[i]) + 1;
	char *joined = calloc(1, namelen + 1);
	if (joined)
		for (unsigned i = 0; i < nfds; i++) {
			if (i)
				strcat(joined, ":");
			strcat(joined, names[i]);
		}
	size_t first = k;
	if (nfds > 0) {
		asprintf(&env[k++], "LISTEN_FDS=%u", nfds);
		asprintf(&env[k++], "LISTEN_FDNAMES=%s", joined ? joined : "");
		env[k] = calloc(1, 32);   /* LISTEN_PID=, written by the child */
		*ret_pid_slot = env[k++];
	}
	asprintf(&env[k++], "BROKER_APP_ID=%s", a->id);
	asprintf(&env[k++], "BROKER_REASON=%s", broker_reason_name(reason));
	asprintf(&env[k++], "BROKER_SOCKET=%s", d->cfg.socket_path);
	free(joined);
	for (size_t i = 0; i < k; i++)
		if (!env[i] && i >= first) {
			for (size_t j = 0; j < k; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	return env;
}

static void free_env(char **env)
{
	for (char **e = env; e && *e; e++)
		free(*e);
	free(env);
}

/* In the child: report why we could not exec, then go. */
static _Noreturn void child_fail(const char *app, const char *what, int err)
{
	dprintf(STDERR_FILENO, "<3>%s: cannot start: %s: %s\n", app, what, strerror(err));
	_exit(127);
}

static _Noreturn void child(struct daemon *d, struct app *a, const int *fds, unsigned nfds,
			    int stdio_fd, char **env, char *pid_slot)
{
	struct manifest *m = a->m;
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	setsid();

	/* Move the fds out of the way first, so placing them at 3.. cannot
	 * overwrite one that is still to be placed. */
	int base = 3 + (int)nfds + 2;
	int *moved = calloc(nfds + 1, sizeof(int));   /* single-threaded: malloc is safe here */
	if (!moved)
		child_fail(a->id, "calloc", ENOMEM);
	for (unsigned i = 0; i < nfds; i++)
		if ((moved[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, base)) < 0)
			child_fail(a->id, "dup", errno);
	int moved_stdio = -1;
	if (stdio_fd >= 0 && (moved_stdio = fcntl(stdio_fd, F_DUPFD_CLOEXEC, base)) < 0)
		child_fail(a->id, "dup", errno);

	if (moved_stdio >= 0) {
		if (dup2(moved_stdio, STDIN_FILENO) < 0 || dup2(moved_stdio, STDOUT_FILENO) < 0)
			child_fail(a->id, "dup2", errno);
	} else {
		int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (null >= 0 && null != STDIN_FILENO)
			dup2(null, STDIN_FILENO);
	}
	for (unsigned i = 0; i < nfds; i++)
		if (dup2(moved[i], 3 + (int)i) < 0)   /* dup2 clears CLOEXEC on the copy */
			child_fail(a->id, "dup2", errno);
	close_range(3 + nfds, ~0u, 0);

	if (getuid() == 0 && m->uid != 0) {
		if (initgroups(m->user, m->gid) < 0 && setgroups(0, NULL) < 0)
			child_fail(a->id, "setgroups", errno);
		if (setgid(m->gid) < 0)
			child_fail(a->id, "setgid", errno);
		if (setuid(m->uid) < 0)
			child_fail(a->id, "setuid", errno);
	}
	if (pid_slot)
		snprintf(pid_slot, 32, "LISTEN_PID=%d", (int)getpid());
	(void)d;
	execve(m->argv[0], m->argv, env);
	child_fail(a->id, m->argv[0], errno);
}

int spawn_command(struct daemon *d, struct app *a, const int *fds, const char *const *names,
		  unsigned nfds, int stdio_fd, int reason, pid_t *ret_pid)
{
	if (!a->m || !a->m->argv)
		return -ENOEXEC;
	if (getuid() != 0 && a->m->uid != getuid())
		return -EPERM;   /* only root may start an app as another user */
	char *pid_slot = NULL;
	char **env = build_env(d, a, names, nfds, reason, &pid_slot);
	if (!env)
		return -ENOMEM;
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		int r = -errno;
		free_env(env);
		return r;
	}
	if (pid == 0)
		child(d, a, fds, nfds, stdio_fd, env, pid_slot);
	free_env(env);
	*ret_pid = pid;
	return 0;
}
