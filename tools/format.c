/* SPDX-License-Identifier: MIT */
/* How brokerctl writes times, bytes and JSON. */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "brokerctl.h"
#include "util.h"

const char *user_name(uid_t uid)
{
	/* a list has many sockets of few users: ask NSS once per user in a row */
	static uid_t last = (uid_t)-1;
	static char name[256];
	static bool known;
	if (uid != last) {
		struct passwd *pw = getpwuid(uid);
		known = pw != NULL;
		snprintf(name, sizeof(name), "%s", pw ? pw->pw_name : "");
		last = uid;
	}
	return known ? name : NULL;
}

uint64_t realtime_usec(void)
{
	return now_usec(CLOCK_REALTIME);
}

void format_time(uint64_t usec, char *buf, size_t size)
{
	time_t t = (time_t)(usec / 1000000u);
	struct tm tm;
	if (usec == 0 || !localtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "-");
}

/* The largest whole unit: "42s", "3m", "5h", "2d". */
static void format_span(uint64_t usec, char *buf, size_t size)
{
	uint64_t s = usec / 1000000u;
	if (s < 60)
		snprintf(buf, size, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, size, "%llum", (unsigned long long)(s / 60));
	else if (s < 86400)
		snprintf(buf, size, "%lluh", (unsigned long long)(s / 3600));
	else
		snprintf(buf, size, "%llud", (unsigned long long)(s / 86400));
}

void format_age(uint64_t usec, uint64_t now, char *buf, size_t size)
{
	char span[32];
	if (usec == 0) {
		snprintf(buf, size, "-");
	} else if (usec <= now) {
		format_span(now - usec, span, sizeof(span));
		snprintf(buf, size, "%s ago", span);
	} else {
		format_span(usec - now, span, sizeof(span));
		snprintf(buf, size, "in %s", span);
	}
}

void format_time_age(uint64_t usec, uint64_t now, char *buf, size_t size)
{
	char t[32], age[32];
	if (usec == 0) {
		snprintf(buf, size, "-");
		return;
	}
	format_time(usec, t, sizeof(t));
	format_age(usec, now, age, sizeof(age));
	snprintf(buf, size, "%s (%s)", t, age);
}

void format_duration(uint64_t usec, char *buf, size_t size)
{
	uint64_t s = usec / 1000000u;
	unsigned long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
	if (d)
		snprintf(buf, size, "%llud %lluh", d, h);
	else if (h)
		snprintf(buf, size, "%lluh %llum", h, m);
	else if (m)
		snprintf(buf, size, "%llum %llus", m, sec);
	else
		snprintf(buf, size, "%llus", sec);
}

/* Printable ASCII as it is, everything else as \xNN; "..." if cut short. */
void format_bytes_escaped(const void *p, size_t len, char *buf, size_t size)
{
	const unsigned char *s = p;
	size_t used = 0;
	buf[0] = 0;
	for (size_t i = 0; i < len; i++) {
		char one[8];
		if (s[i] == '\\')
			snprintf(one, sizeof(one), "\\\\");
		else if (s[i] >= 0x20 && s[i] < 0x7f)
			snprintf(one, sizeof(one), "%c", s[i]);
		else
			snprintf(one, sizeof(one), "\\x%02x", s[i]);
		size_t n = strlen(one);
		if (used + n + 4 > size) {
			snprintf(buf + used, size - used, "...");
			return;
		}
		memcpy(buf + used, one, n + 1);
		used += n;
	}
}

const char *family_name(int family)
{
	switch (family) {
	case AF_INET: return "inet";
	case AF_INET6: return "inet6";
	case AF_UNIX: return "unix";
	default: return "unknown";
	}
}

const char *sotype_name(int sotype)
{
	switch (sotype) {
	case SOCK_STREAM: return "stream";
	case SOCK_DGRAM: return "dgram";
	case SOCK_SEQPACKET: return "seqpacket";
	default: return "unknown";
	}
}

/* Length of the UTF-8 sequence at s (at most n bytes), 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	if (s[0] < 0x80)
		return 1;
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong three/four-byte forms, surrogates, beyond U+10FFFF */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] >= 0xa0) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] >= 0x90))
		return 0;
	return len;
}

/* json-c writes string bytes as they are: bytes that are not UTF-8 would
 * make the document invalid, so they become U+FFFD. */
json_object *json_text(const char *s)
{
	size_t n = strlen(s), i = 0;
	while (i < n) {
		size_t l = utf8_len((const unsigned char *)s + i, n - i);
		if (!l)
			break;
		i += l;
	}
	if (i == n)
		return json_object_new_string(s);

	_cleanup_free_ char *fixed = malloc(n * 3 + 1);
	if (!fixed)
		return NULL;
	size_t o = 0;
	for (i = 0; i < n;) {
		size_t l = utf8_len((const unsigned char *)s + i, n - i);
		if (l) {
			memcpy(fixed + o, s + i, l);
			o += l;
			i += l;
		} else {
			memcpy(fixed + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		}
	}
	return json_object_new_string_len(fixed, (int)o);
}

json_object *json_time(uint64_t usec)
{
	if (usec == 0)
		return NULL;   /* json-c's null */
	time_t t = (time_t)(usec / 1000000u);
	struct tm tm;
	char buf[64], date[40];
	if (!gmtime_r(&t, &tm) || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return NULL;
	snprintf(buf, sizeof(buf), "%s.%06uZ", date, (unsigned)(usec % 1000000u));
	return json_object_new_string(buf);
}

json_object *json_usec(uint64_t usec)
{
	return usec ? json_object_new_uint64(usec) : NULL;
}

int json_print(json_object *o, bool one_line)
{
	int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
		    (one_line ? JSON_C_TO_STRING_PLAIN : JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED);
	const char *s = o ? json_object_to_json_string_ext(o, flags) : NULL;
	int r = !s ? -ENOMEM : puts(s) < 0 ? -EIO : 0;
	json_object_put(o);
	return r;
}
