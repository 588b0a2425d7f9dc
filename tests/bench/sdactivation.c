/* SPDX-License-Identifier: MIT */
/*
 * Activation latency through systemd, run by tests/bench/systemd-bench.sh
 * inside the systemd suite's namespace (a real user manager and dbus-daemon):
 *   native  a .socket unit (Accept=no) listening on 127.0.0.1:PORT starts
 *           bench-app listen3, which accepts the peer and answers (the
 *           peer's clock starts before connect());
 *   wake    brokerd holds the peer's connection; on data it connects to the
 *           app's wake socket (a SOCK_SEQPACKET .socket unit, Accept=no),
 *           systemd starts bench-app, which takes the hand-back and answers.
 * Same manager, same app binary, samples alternating; each service is
 * inactive again (asked over D-Bus) before the next sample.
 */
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include "bench.h"

#define WAKE_APP "bench.wake"

static sd_bus *bus;

static void wait_inactive(const char *unit)
{
	char *path = NULL;
	if (sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit, &path) < 0)
		die("path for %s", unit);
	uint64_t deadline = mono_ns() + 20000000000ull;
	for (;;) {
		sd_bus_error err = SD_BUS_ERROR_NULL;
		char *state = NULL;
		int r = sd_bus_get_property_string(bus, "org.freedesktop.systemd1", path,
						   "org.freedesktop.systemd1.Unit", "ActiveState", &err, &state);
		sd_bus_error_free(&err);
		bool done = r >= 0 && (strcmp(state, "inactive") == 0 || strcmp(state, "failed") == 0);
		free(state);
		if (done)
			break;
		if (mono_ns() > deadline)
			die("%s did not become inactive", unit);
		sleep_ms(1);
	}
	free(path);
}

/* After the answer: the app closes, its service goes, brokerd is idle. */
static void settle(int c, const char *unit, broker *b)
{
	expect_close(c, unit);
	wait_inactive(unit);
	if (b)
		bd_wait_idle(b, WAKE_APP, 20000);
}

static double once_native(uint16_t port)
{
	uint64_t t0 = mono_ns();
	int c = tcp_connect(port);
	if (c < 0)
		die("connect to the native .socket on port %u: %m", port);
	if (write(c, "x", 1) != 1)
		die("write: %m");
	expect_answer(c, "native");
	uint64_t t1 = mono_ns();
	settle(c, "bench-native.service", NULL);
	return (double)(t1 - t0) / 1e3;
}

static double once_wake(broker *b, int listener, uint16_t port)
{
	int c;
	double us = bd_exchange(b, listener, port, "wake", &c);
	settle(c, "bench-wake.service", b);
	return us;
}

void run_sd_activation(int argc, char **argv)
{
	if (argc < 2)
		die("sd-activation PORT WAKE-SOCKET");
	uint16_t native_port = (uint16_t)atoi(argv[0]);
	const char *wake = argv[1];
	unsigned n = B.quick ? 15 : 200, warm = 3;
	note("systemd activation: %u samples each", n);
	int r = sd_bus_open_user(&bus);
	if (r < 0)
		die("user bus: %s", strerror(-r));

	/* Back-to-back starts are the point here, as in the activation
	 * scenario: brokerd's trigger limit (20 starts within 10 s by default)
	 * would throttle the app, and the throttles in a row grow past the
	 * peer's 20 s wait for an answer. */
	struct bd d;
	bd_init(&d, "trigger-limit-interval-ms = 0");
	char act[256];
	snprintf(act, sizeof(act), "method = wake-socket\nsocket = %s", wake);
	bd_app(&d, WAKE_APP, act);
	bd_start(&d, NULL, 10000);
	broker *b = bd_connect(&d, WAKE_APP);
	uint16_t port;
	int listener = tcp_listener(&port);

	struct samples s[2] = { 0 };
	for (unsigned i = 0; i < n + warm; i++)
		for (unsigned k = 0; k < 2; k++) {
			unsigned v = (i + k) % 2;
			double us = v == 0 ? once_native(native_port) : once_wake(b, listener, port);
			if (i >= warm)
				samples_add(&s[v], us);
		}

	static const char *const names[2] = { "native .socket", "brokerd wake-socket" };
	static const char *const files[2] = { "sd-native.dat", "sd-wake.dat" };
	samples_report_pair_ms(s, "systemd", names, files, "wake-socket / native", "<= 1.15");

	close(listener);
	broker_close(b);
	bd_cleanup(&d);
	sd_bus_unref(bus);
}
