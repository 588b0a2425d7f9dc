/* SPDX-License-Identifier: MIT */
/* Holdable connections: the TLS session lives in the TLS keeper (one per
 * user, libbroker/tls/keeper/), and the handle's fd is the local stream it
 * relays in plaintext.  Here: finding or starting the keeper, the request,
 * and the reply with what was negotiated.  See docs/tls.md. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include "tls.h"
#include "../util.h"
#include "../wire.h"

extern char **environ;

const char *broker_tls_keeper_socket(void)
{
	static __thread char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	const char *env = getenv("BROKER_TLS_KEEPER_SOCKET");
	if (env && *env)
		return env;
	const char *rt = getenv("XDG_RUNTIME_DIR");
	if (!rt || rt[0] != '/')
		return NULL;
	int n = snprintf(path, sizeof(path), "%s/socket-broker/tls-keeper", rt);
	return n < 0 || (size_t)n >= sizeof(path) ? NULL : path;
}

int broker_tls_set_holdable(broker_tls *t, bool holdable)
{
	if (!t)
		return -EINVAL;
	if (t->phase != BT_IDLE)
		return -EBUSY;
	if (holdable && t->level == BROKER_TLS_LEVEL_PLAIN)
		return -EINVAL;   /* a plain stream can be handed over as it is */
	t->holdable = holdable;
	return 0;
}

/* Start the keeper ourselves (no systemd socket unit answered): it binds
 * the socket, then its first process exits, so waiting for that process
 * is waiting for the socket.  Two apps racing start two; the second finds
 * the first's lock and leaves. */
static int spawn_keeper(const char *path)
{
	const char *exe = getenv("BROKER_TLS_KEEPER");
	if (!exe || !*exe)
		exe = KEEPER_EXEC;
	char *argv[] = { (char *)exe, (char *)"--listen", (char *)path, (char *)"--daemon", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int err = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err)
		return -err;
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 0;   /* SIGCHLD ignored, say: the connect loop waits instead */
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

static int connect_keeper(broker_tls *t)
{
	const char *path = broker_tls_keeper_socket();
	if (!path)
		return bt_fail(t, BROKER_TLS_UNKNOWN, "no place for the TLS keeper's socket: "
			       "set XDG_RUNTIME_DIR or BROKER_TLS_KEEPER_SOCKET");
	int fd = bp_connect_unix_timeout(path, SOCK_SEQPACKET, 1000);
	if (fd == -ENOENT || fd == -ECONNREFUSED) {
		int r = spawn_keeper(path);
		if (r < 0)
			return bt_fail(t, BROKER_TLS_UNKNOWN, "cannot start the TLS keeper: %s", strerror(-r));
		for (int i = 0; i < 200 && (fd == -ENOENT || fd == -ECONNREFUSED); i++) {
			fd = bp_connect_unix_timeout(path, SOCK_SEQPACKET, 1000);
			if (fd < 0)
				poll(NULL, 0, 10);
		}
	}
	if (fd < 0)
		return bt_fail(t, BROKER_TLS_UNKNOWN, "cannot reach the TLS keeper at %s: %s", path, strerror(-fd));
	return fd;
}

static struct bp_field str_field(const char *s)
{
	return (struct bp_field){ s ? s : "", s ? (uint32_t)strlen(s) : 0 };
}

int bt_keeper_start(broker_tls *t, const char *host, const char *service, int fd)
{
	int k = connect_keeper(t);
	if (k < 0) {
		if (fd >= 0)
			close(fd);
		return k;
	}
	t->keeper_fd = k;
	struct bp_keeper_connect req = {
		.level = t->level, .flags = fd >= 0 ? BP_KEEPER_UPGRADE : 0,
		.connect_ms = t->connect_ms, .ignorable = t->ignorable,
	};
	/* Relative paths mean the app's working directory, not the keeper's. */
	char *ca = t->ca_file ? realpath(t->ca_file, NULL) : NULL;
	const struct bp_field f[] = {
		str_field(host), str_field(service), str_field(ca ? ca : t->ca_file),
		str_field(t->client_cert), str_field(t->client_key), str_field(t->verify_name),
	};
	uint8_t buf[8192];
	int r = bp_send_msg(k, buf, sizeof(buf), BP_KEEPER_CONNECT, 1, &req, sizeof(req), f, 6,
			    fd >= 0 ? &fd : NULL, fd >= 0, MSG_DONTWAIT);
	free(ca);
	if (fd >= 0)
		close(fd);   /* the keeper has its own copy now (or there is none to have) */
	if (r < 0)
		return bt_fail(t, BROKER_TLS_UNKNOWN,
			       "cannot ask the TLS keeper: %s", strerror(-r));
	t->phase = BT_KEEPER;
	/* The keeper keeps connect_ms; a little more here, for its answer. */
	if (t->connect_ms >= 0)
		t->deadline_usec = now_usec(CLOCK_MONOTONIC) + ((uint64_t)t->connect_ms + 2000) * 1000;
	return -EAGAIN;
}

static int replace_str(char **field, const struct bp_msg *m, unsigned i)
{
	char *copy = strdup(bp_msg_str(m, i));
	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

/* What the keeper's handshake found, kept as the handle's info. */
static int take_reply(broker_tls *t, const struct bp_msg *m)
{
	const struct bp_keeper_reply *rep = &m->u.keeper_reply;
	t->k_version = rep->version;
	t->k_flags = rep->flags;
	t->cert_problems = rep->cert_problems;
	t->addresses_tried = rep->addresses_tried;
	snprintf(t->peer_address, sizeof(t->peer_address), "%s", bp_msg_str(m, 6));
	if (replace_str(&t->k_protocol, m, 1) < 0 || replace_str(&t->k_cipher, m, 2) < 0 ||
	    replace_str(&t->description, m, 3) < 0 || replace_str(&t->peer_subject, m, 4) < 0 ||
	    replace_str(&t->verify_name, m, 5) < 0)
		return -ENOMEM;
	return 0;
}

int bt_keeper_step(broker_tls *t)
{
	uint8_t buf[8192];
	struct bp_msg m;
	int r = bp_recv(t->keeper_fd, buf, sizeof(buf), MSG_DONTWAIT, &m, NULL, NULL);
	if (r == -EAGAIN)
		return -EAGAIN;
	if (r == 0 || r < 0 || m.type != BP_KEEPER_REPLY) {
		if (r > 0)
			bp_msg_close_fds(&m);
		return bt_fail(t, BROKER_TLS_UNKNOWN, "the TLS keeper %s", r == 0 ? "closed the connection" :
			       r < 0 ? strerror(-r) : "sent something else than its reply");
	}
	close(TAKE_FD(t->keeper_fd));
	const struct bp_keeper_reply *rep = &m.u.keeper_reply;
	int fd = bp_msg_take_fd(&m);
	if (take_reply(t, &m) < 0) {
		if (fd >= 0)
			close(fd);
		return bt_fail(t, BROKER_TLS_UNKNOWN, "out of memory");
	}
	if (rep->error < 0 || rep->status != BROKER_TLS_OK || fd < 0) {
		if (fd >= 0)
			close(fd);
		enum broker_tls_status s = rep->status > BROKER_TLS_UNKNOWN || rep->status == BROKER_TLS_OK
						   ? BROKER_TLS_UNKNOWN : rep->status;
		return bt_fail(t, s, "%s", bp_msg_str(&m, 0));
	}
	int flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	t->fd = fd;
	t->relayed = true;
	t->established = true;
	return bt_opened(t);
}

void bt_keeper_free(broker_tls *t)
{
	if (t->keeper_fd >= 0)
		close(TAKE_FD(t->keeper_fd));
	free(t->client_cert);
	free(t->client_key);
	free(t->k_protocol);
	free(t->k_cipher);
}
