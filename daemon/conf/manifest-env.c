/* SPDX-License-Identifier: MIT */
/*
 * [activation] environment=: variables an exec'd app gets on top of
 * brokerd's environment.  Blank-separated NAME=VALUE words (no quoting, as
 * for command=); the key may be given more than once, and its words add up.
 * Variables brokerd sets or removes for the sd_listen_fds protocol are not
 * the manifest's to give.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"
#include "util.h"

/* The prefixes of what spawn.c sets or takes out of brokerd's environment. */
static const char *const reserved[] = {
	"LISTEN_", "BROKER_", "NOTIFY_SOCKET=", "WATCHDOG_PID=", "WATCHDOG_USEC=",
};

/* Length of NAME in "NAME=VALUE", or 0 if NAME is not [A-Za-z_][A-Za-z0-9_]*. */
static size_t name_len(const char *word)
{
	size_t n = 0;
	for (; word[n] && word[n] != '='; n++) {
		char c = word[n];
		bool alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
		if (!alpha && !(n > 0 && c >= '0' && c <= '9'))
			return 0;
	}
	return word[n] == '=' ? n : 0;
}

static bool is_reserved(const char *word, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(reserved); i++) {
		size_t r = strlen(reserved[i]);
		bool whole = reserved[i][r - 1] == '=';
		if (whole ? len == r - 1 && strncmp(word, reserved[i], len) == 0 : strncmp(word, reserved[i], r) == 0)
			return true;
	}
	return false;
}

static const char *find(char *const *env, unsigned n, const char *word, size_t len)
{
	for (unsigned i = 0; i < n; i++)
		if (strncmp(env[i], word, len + 1) == 0)
			return env[i];
	return NULL;
}

/* One word, checked and appended; on error a sentence in err. */
static int add_word(struct manifest *m, const char *word, char *err, size_t errlen)
{
	size_t len = name_len(word);
	if (len == 0) {
		snprintf(err, errlen, "'%.64s' is not NAME=VALUE with a name of "
			 "letters, digits and _", word);
		return -EINVAL;
	}
	if (is_reserved(word, len)) {
		snprintf(err, errlen, "%.*s is brokerd's to set, not the manifest's",
			 (int)len, word);
		return -EINVAL;
	}
	if (find(m->environment, m->nenv, word, len)) {
		snprintf(err, errlen, "%.*s given twice", (int)len, word);
		return -EINVAL;
	}
	size_t bytes = strlen(word) + 1;
	for (unsigned i = 0; i < m->nenv; i++)
		bytes += strlen(m->environment[i]) + 1;
	if (m->nenv >= MANIFEST_ENV_MAX || bytes > MANIFEST_ENV_BYTES) {
		snprintf(err, errlen, "more than %u variables or %u bytes",
			 MANIFEST_ENV_MAX, MANIFEST_ENV_BYTES);
		return -EINVAL;
	}
	char **grown = realloc(m->environment, (m->nenv + 2) * sizeof(*grown));
	if (!grown)
		return -ENOMEM;
	m->environment = grown;
	if (!(grown[m->nenv] = strdup(word)))
		return -ENOMEM;
	grown[++m->nenv] = NULL;
	return 0;
}

int manifest_env_add(struct manifest *m, const char *value, char *err, size_t errlen)
{
	_cleanup_free_ char *copy = strdup(value);
	if (!copy)
		return -ENOMEM;
	char *save = NULL;
	int r = -EINVAL, words = 0;
	for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save), words++)
		if ((r = add_word(m, w, err, errlen)) < 0)
			return r;
	if (words == 0)
		snprintf(err, errlen, "empty (give NAME=VALUE words)");
	return words ? 0 : -EINVAL;
}

bool manifest_env_overrides(const struct manifest *m, const char *entry)
{
	const char *eq = strchr(entry, '=');
	return eq && m && find(m->environment, m->nenv, entry, (size_t)(eq - entry));
}

void manifest_env_free(struct manifest *m)
{
	for (unsigned i = 0; i < m->nenv; i++)
		free(m->environment[i]);
	free(m->environment);
	m->environment = NULL;
	m->nenv = 0;
}
