/* SPDX-License-Identifier: MIT */
/* Streams relayed by the TLS keeper (keeper.h). */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keeper.h"
#include "sockaddr.h"
#include "util.h"

struct keeper_stream {
	uint64_t ino;                /* the app's end */
	pid_t pid;                   /* the keeper: that end's SO_PEERCRED */
	const void *owner;           /* the keeper's control connection */
	struct sock_facts facts;     /* the real TCP connection */
};

/* Does pid run the keeper executable brokerd believes? */
static bool keeper_trusted(const struct daemon *d, pid_t pid)
{
	if (!d->cfg.tls_keeper || pid <= 0)
		return false;
	char link[64], exe[PATH_MAX], want[PATH_MAX];
	snprintf(link, sizeof(link), "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, exe, sizeof(exe) - 1);
	if (n <= 0 || !realpath(d->cfg.tls_keeper, want))
		return false;
	exe[n] = 0;
	return strcmp(exe, want) == 0;
}

static struct keeper_stream *find(struct daemon *d, uint64_t ino, pid_t pid)
{
	for (unsigned i = 0; i < d->nkeeper_streams; i++)
		if (d->keeper_streams[i].ino == ino && d->keeper_streams[i].pid == pid)
			return &d->keeper_streams[i];
	return NULL;
}

static void remove_at(struct daemon *d, unsigned i)
{
	d->keeper_streams[i] = d->keeper_streams[--d->nkeeper_streams];
	if (d->nkeeper_streams == 0) {
		free(d->keeper_streams);
		d->keeper_streams = NULL;
		d->keeper_streams_cap = 0;
	}
}

static int add(struct daemon *d, const struct keeper_stream *ks)
{
	if (d->nkeeper_streams == d->keeper_streams_cap) {
		unsigned cap = d->keeper_streams_cap ? d->keeper_streams_cap * 2 : 16;
		struct keeper_stream *grown = realloc(d->keeper_streams, cap * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		d->keeper_streams = grown;
		d->keeper_streams_cap = cap;
	}
	d->keeper_streams[d->nkeeper_streams++] = *ks;
	return 0;
}

int keeper_note(struct daemon *d, const struct identity *who, const void *owner, uint64_t ino,
		int tcp_fd, char *why, size_t len)
{
	_cleanup_close_ int fd = tcp_fd;
	if (!keeper_trusted(d, who->pid)) {
		snprintf(why, len, "pid %d is not the TLS keeper (%s)", (int)who->pid,
			 d->cfg.tls_keeper ? d->cfg.tls_keeper : "brokerd.conf names none");
		return -EPERM;
	}
	struct keeper_stream *known = find(d, ino, who->pid);
	if (fd < 0) {
		if (!known)
			return -ENOENT;
		remove_at(d, (unsigned)(known - d->keeper_streams));
		return 0;
	}
	struct keeper_stream ks = { .ino = ino, .pid = who->pid, .owner = owner };
	int r = sock_facts_get(fd, &ks.facts);
	if (r < 0)
		return r;
	if ((ks.facts.family != AF_INET && ks.facts.family != AF_INET6) || ks.facts.sotype != SOCK_STREAM ||
	    !ks.facts.connected) {
		snprintf(why, len, "the keeper's socket is not a connected TCP socket");
		return -EPROTOTYPE;
	}
	if (known) {
		*known = ks;
		return 0;
	}
	if (d->nkeeper_streams >= d->cfg.max_held) {
		snprintf(why, len, "brokerd knows %u relayed streams, its limit", d->nkeeper_streams);
		return -ENOSPC;
	}
	return add(d, &ks);
}

void keeper_forget_owner(struct daemon *d, const void *owner)
{
	for (unsigned i = d->nkeeper_streams; i-- > 0;)
		if (d->keeper_streams[i].owner == owner)
			remove_at(d, i);
}

int keeper_facts(struct daemon *d, int fd, struct sock_facts *ret, char *why, size_t len)
{
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct stat st;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || fstat(fd, &st) < 0)
		return 0;
	const struct keeper_stream *ks = find(d, (uint64_t)st.st_ino, cred.pid);
	if (ks) {
		*ret = ks->facts;
		return 1;
	}
	if (!keeper_trusted(d, cred.pid))
		return 0;
	/* The keeper has let go already (the server closed: it forgot the
	 * stream as it closed its end).  What is left leads nowhere. */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP))
		return KEEPER_GONE;
	snprintf(why, len, "the stream leads to the TLS keeper (pid %d), which has not told brokerd "
		 "where its connection goes", (int)cred.pid);
	return -ENOLINK;
}
