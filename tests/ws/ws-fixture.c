/* SPDX-License-Identifier: MIT */
#include <check.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ws-fixture.h"

void wsp_start(struct wsp *s, bool tls, ...)
{
	const char *argv[24] = { getenv("WS_SERVER"), "@PORT@" };
	size_t n = 2;
	ck_assert_ptr_nonnull(argv[0]);
	if (tls) {
		argv[n++] = "--cert";
		argv[n++] = pki("server.pem");
		argv[n++] = "--key";
		argv[n++] = pki("server.key");
	}
	va_list ap;
	va_start(ap, tls);
	const char *a;
	while ((a = va_arg(ap, const char *)) && n < 22)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	snprintf(s->log, sizeof(s->log), "/tmp/ws-server.XXXXXX");
	int out = mkstemp(s->log);
	ck_assert_int_ge(out, 0);
	int p[2];
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	peer_start_io(&s->peer, argv, p[0], out);
	close(p[0]);
	close(out);
	s->cmd = p[1];
	wsp_expect(s, "listening");
	snprintf(s->url, sizeof(s->url), "%s://localhost:%d/", tls ? "wss" : "ws", s->peer.port);
}

void wsp_stop(struct wsp *s)
{
	close(s->cmd);
	peer_stop(&s->peer);
	unlink(s->log);
}

void wsp_command(struct wsp *s, const char *line)
{
	size_t n = strlen(line);
	ck_assert_int_eq(write(s->cmd, line, n), (ssize_t)n);
	ck_assert_int_eq(write(s->cmd, "\n", 1), 1);
}

static bool log_has(const char *path, const char *text)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return false;
	char *buf = NULL;
	size_t size = 0;
	ssize_t n = getdelim(&buf, &size, 0, f);   /* the whole file: it has no NUL */
	fclose(f);
	bool found = n > 0 && strstr(buf, text);
	free(buf);
	return found;
}

void wsp_expect(struct wsp *s, const char *text)
{
	for (int i = 0; i < 1000 && !log_has(s->log, text); i++)
		nanosleep(&(struct timespec){ .tv_nsec = 10000000 }, NULL);
	ck_assert_msg(log_has(s->log, text), "the server never said \"%s\"", text);
}

broker_ws *ws_handle(enum broker_ws_mode mode)
{
	broker_ws *w;
	ck_assert_int_eq(broker_ws_new(mode, &w), 0);
	ck_assert_int_eq(broker_ws_set_timeouts(w, 10000, 10000), 0);
	ck_assert_int_eq(broker_ws_set_ca_file(w, pki("ca.pem")), 0);
	return w;
}

void ws_expect_failure(broker_ws *w, int r, int err, enum broker_tls_status status)
{
	ck_assert_msg(r == err, "got %d (%s), wanted %d; %s", r, r < 0 ? strerror(-r) : "ok", err,
		      broker_ws_get_detail(w));
	ck_assert_msg(broker_ws_get_status(w) == status, "status %s, wanted %s: %s",
		      broker_ws_status_name(broker_ws_get_status(w)), broker_ws_status_name(status),
		      broker_ws_get_detail(w));
}
