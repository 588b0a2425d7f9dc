/* SPDX-License-Identifier: MIT */
/* brokerd.conf: paths, admin group, limits. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct config {
	bool user_instance;
	char *config_path;          /* the file read, or NULL */
	char *socket_path;
	char *apps_dir;
	char *admin_group;          /* NULL = root only */
	char *tls_keeper;           /* the TLS keeper executable brokerd believes; NULL = none */
	gid_t admin_gid;

	/* limits; docs/security.md has the defaults and why */
	unsigned max_held;              /* all apps together, clamped below RLIMIT_NOFILE */
	unsigned max_held_per_app;      /* default for manifests that set none */
	unsigned max_context;           /* bytes */
	unsigned max_id_len;
	unsigned max_message;           /* bytes, <= BP_MSG_MAX */
	unsigned max_clients;
	unsigned max_clients_per_uid;
	unsigned max_monitors;
	unsigned max_monitors_per_uid;  /* not for admins */
	unsigned max_pending_activations; /* apps starting at once */
	unsigned client_timeout_ms;     /* hello, and draining a reply */
	unsigned activation_timeout_ms; /* hello and every ack from a started app */
	unsigned backoff_initial_ms;
	unsigned backoff_max_ms;
	unsigned trigger_limit_burst;   /* starts of one app ... */
	unsigned trigger_limit_interval_ms;   /* ... within this, then THROTTLED; 0: no limit */
	unsigned healthy_run_ms;        /* an instance up this long (and served) ran healthy */
	unsigned max_keepalive_sec;
};

/* Fill in the defaults for the system or user instance (paths from
 * XDG_CONFIG_HOME / XDG_RUNTIME_DIR for the user one). */
int config_defaults(struct config *c, bool user);

/* Read an INI file over the defaults.  A missing file is fine when
 * !must_exist.  Errors name the file and line in err. */
int config_load(struct config *c, const char *path, bool must_exist, char *err, size_t errlen);

/* Same, from a string (for tests and fuzzing). */
int config_load_string(struct config *c, const char *text, char *err, size_t errlen);

/* Resolve admin_group and clamp max_held below RLIMIT_NOFILE with headroom. */
int config_finish(struct config *c, char *err, size_t errlen);

void config_free(struct config *c);

/* Shared by the INI readers: let libinih read long lines (a manifest's
 * command easily passes the 200 bytes Debian's build reads by default). */
void config_ini_setup(void);

/* Shared by the INI readers: a decimal in [min, max], or -EINVAL/-ERANGE. */
int config_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *ret);
int config_parse_bool(const char *s, bool *ret);
