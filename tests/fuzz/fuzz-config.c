/* SPDX-License-Identifier: MIT */
/* libFuzzer: the brokerd.conf parser on any text, then the clamps. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = 0;
	struct config c;
	char err[512];
	if (config_defaults(&c, false) == 0) {
		int r = config_load_string(&c, text, err, sizeof(err));
		if (r < 0 && !err[0])
			__builtin_trap();   /* a refusal says why */
		if (r == 0) {
			free(c.admin_group);   /* no group database lookups here */
			c.admin_group = NULL;
			if (config_finish(&c, err, sizeof(err)) < 0 || !c.socket_path || c.socket_path[0] != '/' ||
			    c.max_message > BP_MSG_MAX || c.max_held_per_app > c.max_held ||
			    c.max_context + c.max_id_len + 33 > c.max_message)
				__builtin_trap();
		}
		config_free(&c);
	}
	free(text);
	return 0;
}
