/* SPDX-License-Identifier: MIT */
/*
 * The s6-fdholder peer: Debian's s6-fdholder-daemon, driven through its
 * own client library (libs6), store then retrieve-and-delete of one socket
 * per round, over one connection, as brokerd's transfer then claim.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

#ifdef HAVE_S6
#include <s6/fdholder.h>
#include <skalibs/tai.h>

struct s6peer {
	char dir[64];
	char sock[96];
	pid_t pid;
	s6_fdholder_t a;
	bool connected;
};

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	if (!f)
		die("%s: %m", path);
	fputs(text, f);
	fclose(f);
}

/* The access rules: this uid may store and retrieve any id. */
static void make_rules(const char *dir)
{
	char p[256];
	unsigned uid = (unsigned)getuid();
	snprintf(p, sizeof(p), "%s/rules", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/rules/uid", dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/rules/uid/%u", dir, uid);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/rules/uid/%u/env", dir, uid);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/rules/uid/%u/allow", dir, uid);
	write_file(p, "");
	snprintf(p, sizeof(p), "%s/rules/uid/%u/env/S6_FDHOLDER_STORE_REGEX", dir, uid);
	write_file(p, ".\n");
	snprintf(p, sizeof(p), "%s/rules/uid/%u/env/S6_FDHOLDER_RETRIEVE_REGEX", dir, uid);
	write_file(p, ".\n");
}

int s6_peer_start(struct s6peer **ret)
{
	struct s6peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	snprintf(p->dir, sizeof(p->dir), "/tmp/broker-bench-s6-XXXXXX");
	if (!mkdtemp(p->dir))
		die("mkdtemp: %m");
	make_rules(p->dir);
	char rules[128];
	snprintf(rules, sizeof(rules), "%s/rules", p->dir);
	snprintf(p->sock, sizeof(p->sock), "%s/s", p->dir);

	int ready[2];
	if (pipe2(ready, O_CLOEXEC) < 0)
		die("pipe: %m");
	pid_t parent = getpid();
	p->pid = fork();
	if (p->pid < 0)
		die("fork: %m");
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
		dup2(ready[1], STDOUT_FILENO);
		execlp("s6-fdholder-daemon", "s6-fdholder-daemon", "-1", "-v", "0", "-i", rules, p->sock,
		       (char *)NULL);
		_exit(127);
	}
	close(ready[1]);
	char nl;
	bool up = wait_readable(ready[0], 10000) && read(ready[0], &nl, 1) == 1;
	close(ready[0]);
	if (!up) {
		s6_peer_stop(p);
		return -ECONNREFUSED;
	}
	tain deadline;
	tain_now_set_stopwatch_g();
	tain_add_g(&deadline, &tain_infinite_relative);
	if (!s6_fdholder_start_g(&p->a, p->sock, &deadline)) {
		int r = -errno;
		s6_peer_stop(p);
		return r;
	}
	p->connected = true;
	*ret = p;
	return 0;
}

/* A connection per operation, as s6-fdholder-store and -retrieve do. */
static int store_alone(struct s6peer *p, int fd, const tain *limit, const tain *deadline)
{
	s6_fdholder_t a = S6_FDHOLDER_ZERO;
	if (!s6_fdholder_start_g(&a, p->sock, deadline))
		die("s6 connect: %m");
	int ok = s6_fdholder_store_g(&a, fd, "bench", limit, deadline);
	s6_fdholder_end(&a);
	return ok;
}

static int retrieve_alone(struct s6peer *p, const tain *deadline)
{
	s6_fdholder_t a = S6_FDHOLDER_ZERO;
	if (!s6_fdholder_start_g(&a, p->sock, deadline))
		die("s6 connect: %m");
	int fd = s6_fdholder_retrieve_delete_g(&a, "bench", deadline);
	s6_fdholder_end(&a);
	return fd;
}

double s6_peer_round(struct s6peer *p, int *fdp, unsigned n, bool conn_per_op)
{
	int fd = *fdp;
	tain deadline, limit;
	tain_now_g();
	tain_add_g(&deadline, &tain_infinite_relative);
	tain_add_g(&limit, &tain_infinite_relative);
	uint64_t t0 = mono_ns();
	for (unsigned i = 0; i < n; i++) {
		int ok = conn_per_op ? store_alone(p, fd, &limit, &deadline)
				     : s6_fdholder_store_g(&p->a, fd, "bench", &limit, &deadline);
		if (!ok)
			die("s6 store: %m");
		close(fd);
		fd = conn_per_op ? retrieve_alone(p, &deadline)
				 : s6_fdholder_retrieve_delete_g(&p->a, "bench", &deadline);
		if (fd < 0)
			die("s6 retrieve: %m");
	}
	*fdp = fd;
	return (double)(mono_ns() - t0) / 1e3 / n;
}

void s6_peer_stop(struct s6peer *p)
{
	if (!p)
		return;
	if (p->connected)
		s6_fdholder_end(&p->a);
	if (p->pid > 0) {
		kill(p->pid, SIGTERM);
		waitpid(p->pid, NULL, 0);
	}
	rm_tree(p->dir);
	free(p);
}

#else

int s6_peer_start(struct s6peer **ret)
{
	(void)ret;
	return -EOPNOTSUPP;
}

double s6_peer_round(struct s6peer *p, int *fdp, unsigned n, bool conn_per_op)
{
	(void)p;
	(void)fdp;
	(void)n;
	(void)conn_per_op;
	return -1;
}

void s6_peer_stop(struct s6peer *p)
{
	(void)p;
}

#endif
