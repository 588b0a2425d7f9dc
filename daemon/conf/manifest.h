/* SPDX-License-Identifier: MIT */
/* App manifests: one INI file per app in apps.d/. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

enum activation_method {
	ACTIVATION_EXEC = 0,         /* brokerd spawns the command */
	ACTIVATION_WAKE_SOCKET = 1,  /* brokerd connects to the app's .socket unit */
};

enum handoff_mode {
	HANDOFF_LIBBROKER = 0,       /* activation socket, acknowledged hand-back */
	HANDOFF_LISTEN_FDS = 1,      /* the held sockets themselves as LISTEN_FDS */
	HANDOFF_INETD = 2,           /* one connection as stdin/stdout */
};

/* Capabilities, from the original's manifest, plus one for AF_UNIX. */
enum {
	CAP_INTERNET_CLIENT = 1u << 0,
	CAP_INTERNET_CLIENT_SERVER = 1u << 1,
	CAP_PRIVATE_NETWORK = 1u << 2,
	CAP_LOCAL = 1u << 3,
};

struct manifest {
	char *path;
	char *id;
	char *user;
	uid_t uid;
	gid_t gid;
	char *unit;                  /* NULL = any process of the user */
	unsigned caps;
	enum activation_method activation;
	enum handoff_mode handoff;
	char *command;               /* exec: as written */
	char **argv;                 /* exec: split on blanks */
	char *wake_socket;           /* wake-socket: the .socket unit's path */
	unsigned timeout_ms;         /* 0 = brokerd's activation-timeout-ms */
	bool thaw;                   /* thaw a suspended instance before delivering */
	unsigned max_sockets;        /* 0 = brokerd's max-held-per-app */
	unsigned max_context;        /* 0 = brokerd's max-context */
	unsigned trigger_limit_burst;        /* 0 = brokerd's */
	unsigned trigger_limit_interval_ms;  /* if trigger_interval_set; 0 = no limit */
	bool trigger_interval_set;
	char **environment;          /* exec: "NAME=VALUE", NULL-terminated; NULL if none */
	unsigned nenv;
};

/* Parse one manifest.  lookup_user resolves user names (getpwnam), so
 * tests and fuzzers can parse without touching the user database when
 * lookup_user is false: then only numeric users are accepted.
 * On error returns a negative errno and a sentence naming the file, line
 * and key in err; *ret is untouched. */
int manifest_parse_file(const char *path, bool lookup_user, struct manifest **ret,
			char *err, size_t errlen);
/* Same, from an open file, which it closes. */
int manifest_parse_stream(FILE *f, const char *path, bool lookup_user, struct manifest **ret,
			  char *err, size_t errlen);
int manifest_parse_string(const char *text, const char *name, bool lookup_user,
			  struct manifest **ret, char *err, size_t errlen);

struct manifest *manifest_free(struct manifest *m);

/* Names for the enums and capability bits ("exec", "listen-fds", ...). */
const char *manifest_activation_name(enum activation_method a);
const char *manifest_handoff_name(enum handoff_mode h);
/* The name of one capability bit ("internetClient"), or "unknown". */
const char *manifest_cap_name(unsigned bit);
/* Space-separated capability names of caps into buf. */
void manifest_caps_format(unsigned caps, char *buf, size_t size);

/* manifest-env.c */

#define MANIFEST_ENV_MAX 64       /* variables one manifest may give */
#define MANIFEST_ENV_BYTES 8192   /* their NAME=VALUE text, NULs included */

/* Add environment= value's NAME=VALUE words to m.  On error a negative
 * errno and, for a bad word, a sentence naming it in err (without the key,
 * file and line, which the caller adds); m keeps the words before it. */
int manifest_env_add(struct manifest *m, const char *value, char *err, size_t errlen);
/* Does m give the variable that entry ("NAME=...") sets? */
bool manifest_env_overrides(const struct manifest *m, const char *entry);
void manifest_env_free(struct manifest *m);

/* manifest-dir.c */

/* May brokerd trust a file or directory with this stat (what names it in
 * err)?  Its owner must be root or brokerd's own user, and neither its group
 * nor others may write to it.  0 or -EPERM. */
struct stat;
int manifest_check_trust(const struct stat *st, const char *what, char *err, size_t errlen);

/* Every *.conf in dir, parsed.  The directory and each file must pass
 * manifest_check_trust() (an untrusted directory: -EPERM, nothing loaded).
 * Bad or untrusted files are reported with report(ud, path, message) and
 * skipped; so are all files that declare one id between them.  Returns
 * the number of manifests, with a NULL-terminated array sorted by id in
 * *ret. */
int manifests_load_dir(const char *dir, bool lookup_user,
		       void (*report)(void *ud, const char *path, const char *message), void *ud,
		       struct manifest ***ret);
void manifests_free(struct manifest **list);

/* What a file that could not be used says about itself, as far as it can
 * be read: its [app] id (into id, "" if none) and user (*ret_uid, or
 * (uid_t)-1), so that brokerd can tell the app's user why it is missing. */
void manifest_peek(const char *path, char *id, size_t idlen, uid_t *ret_uid);

/* Can m's exec command run: does it exist, is it a regular file, may the
 * app's user execute it?  0 (also for other activations) or a negative
 * errno with a sentence naming the file, key and program in err. */
int manifest_check_runnable(const struct manifest *m, char *err, size_t errlen);

/* brokerd --check: every manifest in dir parsed and its command checked;
 * each good one printed to stdout, each problem to stderr.  Returns the
 * number of problems, or a negative errno when dir cannot be read. */
int manifests_check_dir(const char *dir);
