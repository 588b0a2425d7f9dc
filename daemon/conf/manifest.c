/* SPDX-License-Identifier: MIT */
/* App manifests (manifest.h): one INI file per app, parsed with libinih,
 * every value checked; the user it names resolved to a uid and gid. */
#include <errno.h>
#include <ini.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "manifest.h"
#include "util.h"

static const struct {
	const char *name;
	unsigned bit;
} cap_names[] = {
	{ "internetClient", CAP_INTERNET_CLIENT },
	{ "internetClientServer", CAP_INTERNET_CLIENT_SERVER },
	{ "privateNetworkClientServer", CAP_PRIVATE_NETWORK },
	{ "localSocket", CAP_LOCAL },
};

const char *manifest_activation_name(enum activation_method a)
{
	return a == ACTIVATION_WAKE_SOCKET ? "wake-socket" : "exec";
}

const char *manifest_handoff_name(enum handoff_mode h)
{
	return h == HANDOFF_LISTEN_FDS ? "listen-fds" : h == HANDOFF_INETD ? "inetd" : "libbroker";
}

const char *manifest_cap_name(unsigned bit)
{
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (cap_names[i].bit == bit)
			return cap_names[i].name;
	return "unknown";
}

void manifest_caps_format(unsigned caps, char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < ARRAY_SIZE(cap_names); i++)
		if (caps & cap_names[i].bit) {
			int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", cap_names[i].name);
			if (n < 0 || (size_t)n >= size - used)
				return;
			used += (size_t)n;
		}
}

static int parse_caps(const char *value, unsigned *ret, char *why, size_t whylen)
{
	unsigned caps = 0;
	char *copy = strdup(value), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int r = 0;
	for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save)) {
		size_t i;
		for (i = 0; i < ARRAY_SIZE(cap_names); i++)
			if (strcasecmp(w, cap_names[i].name) == 0)
				break;
		if (i == ARRAY_SIZE(cap_names)) {
			snprintf(why, whylen, "unknown capability '%.40s' (known: internetClient, "
				 "internetClientServer, privateNetworkClientServer, localSocket)", w);
			r = -EINVAL;
			break;
		}
		caps |= cap_names[i].bit;
	}
	free(copy);
	if (r == 0)
		*ret = caps;
	return r;
}

/* Split on blanks; no quoting, no expansion (socket-broker-manifest(5) says so). */
static int split_argv(const char *command, char ***ret)
{
	size_t n = 0, cap = 4;
	char **argv = calloc(cap, sizeof(*argv));
	char *copy = strdup(command), *save = NULL;
	int r = 0;
	if (!argv || !copy) {
		r = -ENOMEM;
		goto out;
	}
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
		if (n + 2 > cap) {
			char **grown = realloc(argv, (cap *= 2) * sizeof(*argv));
			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			argv = grown;
		}
		if (!(argv[n++] = strdup(w))) {
			r = -ENOMEM;
			goto out;
		}
		argv[n] = NULL;
	}
	if (n == 0 || argv[0][0] != '/')
		r = -EINVAL;   /* the program must be an absolute path */
out:
	free(copy);
	if (r < 0) {
		for (size_t i = 0; argv && i < n; i++)
			free(argv[i]);
		free(argv);
		return r;
	}
	*ret = argv;
	return 0;
}

struct mparse {
	struct manifest *m;
	bool lookup_user;
	char *err;
	size_t errlen;
	bool have_activation;
	char why[160];               /* what a key's parser said is wrong, if more than "invalid" */
};

static int set_str(char **field, const char *value)
{
	if (*field)
		return -EEXIST;
	return (*field = strdup(value)) ? 0 : -ENOMEM;
}

static int resolve_user(struct manifest *m, const char *value, bool lookup)
{
	unsigned num;
	if (config_parse_uint(value, 0, 0xfffffffe, &num) == 0) {
		m->uid = num;
		m->gid = num;
		if (lookup) {
			struct passwd *pw = getpwuid(num);
			if (pw)
				m->gid = pw->pw_gid;
		}
		return set_str(&m->user, value);
	}
	if (!lookup)
		return -ENOENT;
	struct passwd *pw = getpwnam(value);
	if (!pw)
		return -ENOENT;
	m->uid = pw->pw_uid;
	m->gid = pw->pw_gid;
	return set_str(&m->user, value);
}

static int app_key(struct mparse *p, const char *name, const char *value)
{
	struct manifest *m = p->m;
	if (strcasecmp(name, "id") == 0)
		return bp_check_id(value, 255) < 0 ? -EINVAL : set_str(&m->id, value);
	if (strcasecmp(name, "user") == 0)
		return m->user ? -EEXIST : resolve_user(m, value, p->lookup_user);
	if (strcasecmp(name, "unit") == 0)
		return *value ? set_str(&m->unit, value) : -EINVAL;
	if (strcasecmp(name, "capabilities") == 0)
		return parse_caps(value, &m->caps, p->why, sizeof(p->why));
	return -ENOENT;
}

static int activation_key(struct mparse *p, const char *name, const char *value)
{
	struct manifest *m = p->m;
	if (strcasecmp(name, "method") == 0 || strcasecmp(name, "activation") == 0) {
		if (p->have_activation)
			return -EEXIST;
		p->have_activation = true;
		if (strcasecmp(value, "exec") == 0)
			m->activation = ACTIVATION_EXEC;
		else if (strcasecmp(value, "wake-socket") == 0)
			m->activation = ACTIVATION_WAKE_SOCKET;
		else
			return -EINVAL;
		return 0;
	}
	if (strcasecmp(name, "command") == 0) {
		if (m->command)
			return -EEXIST;
		int r = split_argv(value, &m->argv);
		return r < 0 ? r : set_str(&m->command, value);
	}
	if (strcasecmp(name, "socket") == 0)
		return value[0] == '/' ? set_str(&m->wake_socket, value) : -EINVAL;
	if (strcasecmp(name, "handoff") == 0) {
		if (strcasecmp(value, "libbroker") == 0)
			m->handoff = HANDOFF_LIBBROKER;
		else if (strcasecmp(value, "listen-fds") == 0)
			m->handoff = HANDOFF_LISTEN_FDS;
		else if (strcasecmp(value, "inetd") == 0)
			m->handoff = HANDOFF_INETD;
		else
			return -EINVAL;
		return 0;
	}
	if (strcasecmp(name, "timeout-ms") == 0)
		return config_parse_uint(value, 10, 3600000, &m->timeout_ms);
	if (strcasecmp(name, "environment") == 0)
		return manifest_env_add(m, value, p->why, sizeof(p->why));
	if (strcasecmp(name, "thaw") == 0)
		return config_parse_bool(value, &m->thaw);
	return -ENOENT;
}

static int limits_key(struct mparse *p, const char *name, const char *value)
{
	if (strcasecmp(name, "max-sockets") == 0)
		return config_parse_uint(value, 1, 1000000, &p->m->max_sockets);
	if (strcasecmp(name, "max-context") == 0)
		return config_parse_uint(value, 0, 65536, &p->m->max_context);
	if (strcasecmp(name, "trigger-limit-burst") == 0)
		return config_parse_uint(value, 1, 1000000, &p->m->trigger_limit_burst);
	if (strcasecmp(name, "trigger-limit-interval-ms") == 0) {
		p->m->trigger_interval_set = true;
		return config_parse_uint(value, 0, 86400000, &p->m->trigger_limit_interval_ms);
	}
	return -ENOENT;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct mparse *p = user;
	int r = -ENOENT;
	if (strcasecmp(section, "app") == 0)
		r = app_key(p, name, value);
	else if (strcasecmp(section, "activation") == 0)
		r = activation_key(p, name, value);
	else if (strcasecmp(section, "limits") == 0)
		r = limits_key(p, name, value);
	if (r < 0 && !p->err[0]) {
		if (p->why[0])
			snprintf(p->err, p->errlen, "[%s] %s: %s", section, name, p->why);
		else {
			bool nouser = r == -ENOENT && strcasecmp(name, "user") == 0, show = r != -ENOENT || nouser;
			snprintf(p->err, p->errlen, "[%s] %s: %s%s%.64s%s", section, name,
				 nouser ? "no such user" : r == -ENOENT ? "unknown key" : r == -EEXIST ? "given twice" :
				 r == -ERANGE ? "out of range" : r == -ENOMEM ? "out of memory" : "invalid value",
				 show ? " '" : "", show ? value : "", show ? "'" : "");
		}
	}
	return r == 0;
}

static int check_complete(struct manifest *m, char *err, size_t errlen)
{
	const char *missing = !m->id ? "[app] id" : !m->user ? "[app] user" : NULL;
	if (!missing && m->activation == ACTIVATION_EXEC && !m->argv)
		missing = "[activation] command (exec needs one)";
	if (!missing && m->activation == ACTIVATION_WAKE_SOCKET && !m->wake_socket)
		missing = "[activation] socket (wake-socket needs one)";
	if (missing) {
		snprintf(err, errlen, "missing %s", missing);
		return -EINVAL;
	}
	if (m->activation == ACTIVATION_WAKE_SOCKET && m->environment) {
		snprintf(err, errlen, "environment needs activation exec (systemd starts a wake-socket app)");
		return -EINVAL;
	}
	if (m->activation == ACTIVATION_WAKE_SOCKET && m->handoff != HANDOFF_LIBBROKER) {
		snprintf(err, errlen, "handoff %s needs activation exec", manifest_handoff_name(m->handoff));
		return -EINVAL;
	}
	return 0;
}

static int finish(int r, struct mparse *p, const char *name, struct manifest **ret)
{
	char detail[256];
	snprintf(detail, sizeof(detail), "%s", p->err[0] ? p->err : "syntax error");
	if (r > 0)
		snprintf(p->err, p->errlen, "%s:%d: %s", name, r, detail);
	else if (r < 0)
		snprintf(p->err, p->errlen, "%s: %s", name, r == -2 ? "out of memory" : "cannot read");
	else if (check_complete(p->m, detail, sizeof(detail)) < 0) {
		snprintf(p->err, p->errlen, "%s: %s", name, detail);
		r = 1;
	}
	if (r == 0 && !(p->m->path = strdup(name))) {
		snprintf(p->err, p->errlen, "%s: out of memory", name);
		r = -2;
	}
	if (r != 0) {
		manifest_free(p->m);
		return r == -2 ? -ENOMEM : -EINVAL;
	}
	*ret = p->m;
	return 0;
}

int manifest_parse_string(const char *text, const char *name, bool lookup_user,
			  struct manifest **ret, char *err, size_t errlen)
{
	struct mparse p = { calloc(1, sizeof(struct manifest)), lookup_user, err, errlen, false };
	err[0] = 0;
	if (!p.m)
		return -ENOMEM;
	config_ini_setup();
	return finish(ini_parse_string(text, handler, &p), &p, name, ret);
}

int manifest_parse_stream(FILE *f, const char *path, bool lookup_user, struct manifest **ret,
			  char *err, size_t errlen)
{
	struct mparse p = { calloc(1, sizeof(struct manifest)), lookup_user, err, errlen, false };
	err[0] = 0;
	if (!p.m) {
		fclose(f);
		return -ENOMEM;
	}
	config_ini_setup();
	int r = ini_parse_file(f, handler, &p);
	fclose(f);
	return finish(r, &p, path, ret);
}

int manifest_parse_file(const char *path, bool lookup_user, struct manifest **ret,
			char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	return manifest_parse_stream(f, path, lookup_user, ret, err, errlen);
}

struct manifest *manifest_free(struct manifest *m)
{
	if (!m)
		return NULL;
	if (m->argv)
		for (char **a = m->argv; *a; a++)
			free(*a);
	free(m->argv);
	free(m->path);
	free(m->id);
	free(m->user);
	free(m->unit);
	free(m->command);
	free(m->wake_socket);
	manifest_env_free(m);
	free(m);
	return NULL;
}

void manifests_free(struct manifest **list)
{
	if (!list)
		return;
	for (struct manifest **m = list; *m; m++)
		manifest_free(*m);
	free(list);
}
