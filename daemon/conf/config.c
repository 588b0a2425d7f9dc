/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <grp.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>

#include "config.h"
#include "proto.h"

int config_parse_uint(const char *s, unsigned long min, unsigned long max, unsigned *ret)
{
	if (!s || !*s || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno == ERANGE)
		return -ERANGE;
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = (unsigned)v;
	return 0;
}

int config_parse_bool(const char *s, bool *ret)
{
	static const char *yes[] = { "1", "yes", "true", "on" }, *no[] = { "0", "no", "false", "off" };
	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return *ret = true, 0;
		if (strcasecmp(s, no[i]) == 0)
			return *ret = false, 0;
	}
	return -EINVAL;
}

void config_ini_setup(void)
{
#ifdef HAVE_INI_RUNTIME_OPTIONS
	/* Debian's libinih takes these at run time: a line buffer on the
	 * heap that grows up to ini_max_line instead of 200 bytes on the stack. */
	ini_use_stack = false;
	ini_allow_realloc = true;
	ini_max_line = 16384;
#endif
}

static int set_str(char **field, const char *value)
{
	char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	free(*field);
	*field = copy;
	return 0;
}

static int path_join(char **ret, const char *base, const char *tail)
{
	if (!base || base[0] != '/')
		return -ENOENT;
	return asprintf(ret, "%s/%s", base, tail) < 0 ? -ENOMEM : 0;
}

int config_defaults(struct config *c, bool user)
{
	*c = (struct config){
		.user_instance = user,
		.max_held = 16384,
		.max_held_per_app = 1024,
		.max_context = 4096,
		.max_id_len = 128,
		.max_message = BP_MSG_MAX,
		.max_clients = 1024,
		.max_clients_per_uid = 64,
		.max_monitors = 16,
		.max_monitors_per_uid = 4,
		.max_pending_activations = 64,
		.client_timeout_ms = 10000,
		.activation_timeout_ms = 30000,
		.backoff_initial_ms = 1000,
		.backoff_max_ms = 300000,
		.trigger_limit_burst = 20,
		.trigger_limit_interval_ms = 10000,
		.healthy_run_ms = 1000,
		.max_keepalive_sec = 7 * 24 * 3600,
	};
	int r;
	if (!user) {
		c->socket_path = strdup("/run/socket-broker/control");
		c->apps_dir = strdup("/etc/socket-broker/apps.d");
		c->config_path = strdup("/etc/socket-broker/brokerd.conf");
		r = c->socket_path && c->apps_dir && c->config_path ? 0 : -ENOMEM;
	} else {
		const char *rt = getenv("XDG_RUNTIME_DIR"), *cfg = getenv("XDG_CONFIG_HOME");
		const char *home = getenv("HOME");
		char *cfgdir = NULL;
		if (cfg && cfg[0] == '/')
			r = (cfgdir = strdup(cfg)) ? 0 : -ENOMEM;
		else
			r = path_join(&cfgdir, home, ".config");
		if (r == 0)
			r = path_join(&c->socket_path, rt, "socket-broker/control");
		if (r == 0)
			r = path_join(&c->apps_dir, cfgdir, "socket-broker/apps.d");
		if (r == 0)
			r = path_join(&c->config_path, cfgdir, "socket-broker/brokerd.conf");
		free(cfgdir);
	}
	if (r == 0 && !(c->tls_keeper = strdup(KEEPER_EXEC)))
		r = -ENOMEM;
	if (r < 0)
		config_free(c);
	return r;
}

struct limit_key {
	const char *name;
	size_t offset;
	unsigned long min, max;
};

#define LIMIT(n, f, lo, hi) { n, offsetof(struct config, f), lo, hi }
static const struct limit_key limit_keys[] = {
	LIMIT("max-held", max_held, 1, 1000000),
	LIMIT("max-held-per-app", max_held_per_app, 1, 1000000),
	LIMIT("max-context", max_context, 0, BP_MSG_MAX - 1024),
	LIMIT("max-id-length", max_id_len, 1, 255),
	LIMIT("max-message", max_message, 1024, BP_MSG_MAX),
	LIMIT("max-clients", max_clients, 1, 100000),
	LIMIT("max-clients-per-uid", max_clients_per_uid, 1, 100000),
	LIMIT("max-monitors", max_monitors, 0, 1000),
	LIMIT("max-monitors-per-uid", max_monitors_per_uid, 0, 1000),
	LIMIT("max-pending-activations", max_pending_activations, 1, 100000),
	LIMIT("client-timeout-ms", client_timeout_ms, 10, 3600000),
	LIMIT("activation-timeout-ms", activation_timeout_ms, 10, 3600000),
	LIMIT("backoff-initial-ms", backoff_initial_ms, 1, 3600000),
	LIMIT("backoff-max-ms", backoff_max_ms, 1, 86400000),
	LIMIT("trigger-limit-burst", trigger_limit_burst, 1, 1000000),
	LIMIT("trigger-limit-interval-ms", trigger_limit_interval_ms, 0, 86400000),
	LIMIT("healthy-run-ms", healthy_run_ms, 0, 3600000),
	LIMIT("max-keepalive-sec", max_keepalive_sec, 1, 365 * 24 * 3600),
};

struct parse_state {
	struct config *c;
	char *err;
	size_t errlen;
};

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse_state *ps = user;
	struct config *c = ps->c;
	int r = -ENOENT;

	if (strcasecmp(section, "broker") == 0) {
		if (strcasecmp(name, "socket") == 0)
			r = value[0] == '/' ? set_str(&c->socket_path, value) : -EINVAL;
		else if (strcasecmp(name, "apps-dir") == 0)
			r = value[0] == '/' ? set_str(&c->apps_dir, value) : -EINVAL;
		else if (strcasecmp(name, "admin-group") == 0)
			r = *value ? set_str(&c->admin_group, value) : -EINVAL;
		else if (strcasecmp(name, "tls-keeper") == 0 && !*value) {
			free(c->tls_keeper);
			c->tls_keeper = NULL;
			r = 0;
		} else if (strcasecmp(name, "tls-keeper") == 0)
			r = value[0] == '/' ? set_str(&c->tls_keeper, value) : -EINVAL;
	} else if (strcasecmp(section, "limits") == 0) {
		for (size_t i = 0; i < sizeof(limit_keys) / sizeof(limit_keys[0]); i++)
			if (strcasecmp(name, limit_keys[i].name) == 0) {
				unsigned *field = (unsigned *)((char *)c + limit_keys[i].offset);
				r = config_parse_uint(value, limit_keys[i].min, limit_keys[i].max, field);
				break;
			}
	}
	if (r < 0 && !ps->err[0])
		snprintf(ps->err, ps->errlen, "[%s] %s = %s: %s", section, name, value,
			 r == -ENOENT ? "unknown key" : r == -ERANGE ? "out of range" :
			 r == -ENOMEM ? "out of memory" : "invalid value");
	return r == 0;
}

static int finish_parse(int r, const char *what, struct parse_state *ps)
{
	if (r == 0)
		return 0;
	char detail[256];
	snprintf(detail, sizeof(detail), "%s", ps->err[0] ? ps->err : "syntax error");
	if (r > 0)
		snprintf(ps->err, ps->errlen, "%s:%d: %s", what, r, detail);
	else if (r == -2)
		snprintf(ps->err, ps->errlen, "%s: out of memory", what);
	else
		snprintf(ps->err, ps->errlen, "%s: cannot read", what);
	return r == -2 ? -ENOMEM : -EINVAL;
}

int config_load(struct config *c, const char *path, bool must_exist, char *err, size_t errlen)
{
	struct parse_state ps = { c, err, errlen };
	err[0] = 0;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (errno == ENOENT && !must_exist)
			return 0;
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	config_ini_setup();
	int r = ini_parse_file(f, handler, &ps);
	fclose(f);
	r = finish_parse(r, path, &ps);
	if (r == 0)
		r = set_str(&c->config_path, path);
	return r;
}

int config_load_string(struct config *c, const char *text, char *err, size_t errlen)
{
	struct parse_state ps = { c, err, errlen };
	err[0] = 0;
	config_ini_setup();
	return finish_parse(ini_parse_string(text, handler, &ps), "(string)", &ps);
}

int config_finish(struct config *c, char *err, size_t errlen)
{
	if (c->admin_group) {
		struct group *g = getgrnam(c->admin_group);
		if (!g) {
			snprintf(err, errlen, "admin-group %s: no such group", c->admin_group);
			return -ENOENT;
		}
		c->admin_gid = g->gr_gid;
	}
	/* Held sockets are fds: keep room for clients, activations and the
	 * fd store's own use below the hard limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		unsigned long headroom = c->max_clients + c->max_pending_activations * 2 + 64;
		unsigned long room = rl.rlim_cur > headroom + 16 ? rl.rlim_cur - headroom : 16;
		if (c->max_held > room)
			c->max_held = (unsigned)room;
	}
	/* A transfer's context travels in one message with its id. */
	unsigned overhead = sizeof(struct bp_header) + sizeof(struct bp_transfer) + 2 * sizeof(uint32_t) +
			    c->max_id_len + 1;
	if (c->max_context > c->max_message - overhead)
		c->max_context = c->max_message - overhead;
	if (c->max_held_per_app > c->max_held)
		c->max_held_per_app = c->max_held;
	if (c->backoff_max_ms < c->backoff_initial_ms)
		c->backoff_max_ms = c->backoff_initial_ms;
	return 0;
}

void config_free(struct config *c)
{
	free(c->config_path);
	free(c->socket_path);
	free(c->apps_dir);
	free(c->admin_group);
	free(c->tls_keeper);
	c->config_path = c->socket_path = c->apps_dir = c->admin_group = c->tls_keeper = NULL;
}
