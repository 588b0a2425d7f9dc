/* SPDX-License-Identifier: MIT */
/* The registry as a whole: reading apps.d again, and letting go of
 * everything when brokerd stops. */
#pragma once

#include "core.h"

/* Re-read apps.d: new manifests apply, apps that lost theirs keep their
 * sockets until claimed or dropped; EVENT_RELOAD.  On error the old
 * manifests stay.  0 or a negative errno. */
int registry_reload(struct daemon *d);

/* brokerd is stopping (the cycle has let go of its connections and
 * children first): close brokerd's copies of the held sockets (the fd
 * store keeps them), free every app. */
void registry_shutdown(struct daemon *d);

/* Log a manifest that was skipped, and keep what it says of itself
 * (manifests_load_dir's reporter; ud is the daemon, or NULL: log only). */
void registry_report_manifest(void *ud, const char *path, const char *message);

/* The skipped manifest for app id whose user is uid (any user: uid -1), or NULL. */
const struct skipped *registry_skipped(const struct daemon *d, const char *id, uid_t uid);

/* Forget the skipped manifests (a reload begins, or brokerd stops). */
void registry_forget_skipped(struct daemon *d);
