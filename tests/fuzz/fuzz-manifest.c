/* SPDX-License-Identifier: MIT */
/* libFuzzer: the manifest parser on any text (numeric users only: no
 * user database lookups). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct manifest *m = NULL;
	char err[512];
	if (manifest_parse_string(text, "fuzz.conf", false, &m, err, sizeof(err)) == 0) {
		/* what brokerd reads from a parsed manifest */
		char caps[128];
		manifest_caps_format(m->caps, caps, sizeof(caps));
		if (!m->id || !m->user || strlen(m->id) > 255)
			__builtin_trap();
		if (m->activation == ACTIVATION_EXEC && (!m->argv || !m->argv[0] || m->argv[0][0] != '/'))
			__builtin_trap();
		if (m->activation == ACTIVATION_WAKE_SOCKET && (!m->wake_socket || m->environment))
			__builtin_trap();
		/* environment=: bounded, NAME=VALUE each, none of brokerd's own */
		size_t bytes = 0;
		if (m->nenv > MANIFEST_ENV_MAX || (m->nenv && m->environment[m->nenv]))
			__builtin_trap();
		for (unsigned i = 0; i < m->nenv; i++) {
			const char *e = m->environment[i];
			bytes += strlen(e) + 1;
			if (!strchr(e, '=') || e[0] == '=' || strncmp(e, "LISTEN_", 7) == 0 ||
			    strncmp(e, "BROKER_", 7) == 0 || !manifest_env_overrides(m, e))
				__builtin_trap();
		}
		if (bytes > MANIFEST_ENV_BYTES)
			__builtin_trap();
		manifest_free(m);
	} else if (m || !err[0]) {
		__builtin_trap();   /* failure leaves *ret alone and says why */
	}
	free(text);
	return 0;
}
