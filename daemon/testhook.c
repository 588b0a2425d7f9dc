/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core.h"
#include "log.h"
#include "reglog.h"
#include "store.h"
#include "testhook.h"

static void on_block(struct ev_loop *loop, ev_signal *w, int revents)
{
	(void)loop;
	(void)w;
	(void)revents;
	log_warning("test hook: SIGUSR2, blocking the event loop");
	for (;;)
		pause();
}

/* One-shot: the file goes away, so the restarted brokerd does not tear again. */
static void arm_tear(const char *path)
{
	char what[32] = "";
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	if (!fgets(what, sizeof(what), f))
		what[0] = 0;
	fclose(f);
	what[strcspn(what, " \n")] = 0;
	int kind = reglog_write_from_name(what);
	if (unlink(path) < 0) {
		log_error("test hook: cannot delete %s (%m); not tearing", path);
		return;
	}
	if (kind < 0 && store_bucket_tear(what) == 0) {
		log_warning("test hook: the next bucket rewrite dies at %s", what);
		return;
	}
	if (kind < 0) {
		log_error("test hook: %s: unknown write '%s'", path, what);
		return;
	}
	log_warning("test hook: the next %s write to the registry log is torn", what);
	reglog_tear((enum reglog_write)kind);
}

void testhook_setup(struct daemon *d)
{
	const char *tear = getenv("BROKER_TEST_TEAR");
	if (tear && *tear)
		arm_tear(tear);
	if (getenv("BROKER_TEST_BLOCK_SIGNAL")) {
		ev_signal_init(&d->test_block, on_block, SIGUSR2);
		ev_signal_start(d->loop, &d->test_block);
	}
}
