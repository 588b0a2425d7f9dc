/* SPDX-License-Identifier: MIT */
/* The pager, as systemctl has it: only when stdout is a terminal; the
 * command in $SYSTEMD_PAGER, else $PAGER, else less, else more ("" or "cat"
 * for none); less gets LESS=FRSXMK (quit when the output fits one screen,
 * colours, chopped lines, no screen clearing) unless $SYSTEMD_LESS or $LESS
 * says otherwise. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "brokerctl.h"

static pid_t pager_pid;

static const char *pager_command(void)
{
	const char *p = getenv("SYSTEMD_PAGER");
	if (!p)
		p = getenv("PAGER");
	return p;
}

/* In the child: the pager, or a plain copy if there is none to run. */
static void __attribute__((noreturn)) pager_exec(const char *cmd)
{
	const char *less = getenv("SYSTEMD_LESS");
	setenv("LESS", less ? less : "FRSXMK", less != NULL);
	setenv("LESSCHARSET", "utf-8", 0);
	if (cmd && *cmd)
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	else {
		execlp("less", "less", (char *)NULL);
		execlp("more", "more", (char *)NULL);
	}
	char buf[4096];
	ssize_t n;
	while ((n = read(STDIN_FILENO, buf, sizeof(buf))) > 0)
		if (write(STDOUT_FILENO, buf, (size_t)n) != n)
			break;
	_exit(n < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
}

void pager_open(const struct ctl *c)
{
	if (pager_pid || c->no_pager || !isatty(STDOUT_FILENO))
		return;
	const char *cmd = pager_command();
	if (cmd && (!*cmd || strcmp(cmd, "cat") == 0))
		return;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return;   /* then without one */
	fflush(stdout);
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return;
	}
	if (pid == 0) {
		/* the pager goes when brokerctl does, and reads what it writes */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(EXIT_FAILURE);
		dup2(p[0], STDIN_FILENO);
		close(p[1]);
		pager_exec(cmd);
	}
	dup2(p[1], STDOUT_FILENO);
	close(p[0]);
	close(p[1]);
	pager_pid = pid;
}

void pager_close(void)
{
	if (!pager_pid)
		return;
	fflush(stdout);
	/* the pager sees the end of its input once our copy is gone */
	fclose(stdout);
	while (waitpid(pager_pid, NULL, 0) < 0 && errno == EINTR)
		;
	pager_pid = 0;
}
