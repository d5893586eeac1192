#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static log_level current_level = LOG_INFO;

void log_set_level(log_level level) { current_level = level; }

int log_level_parse(const char *s)
{
	static const struct { const char *name; log_level level; } names[] = {
		{"DEBUG", LOG_DEBUG}, {"INFO", LOG_INFO}, {"WARN", LOG_WARN},
		{"WARNING", LOG_WARN}, {"ERROR", LOG_ERROR}, {"SILENT", LOG_SILENT},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcasecmp(s, names[i].name))
			return (int)names[i].level;
	return -1;
}

void log_msg(log_level level, const char *fmt, ...)
{
	static const char *const tags[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
	if (level < current_level || level >= LOG_SILENT)
		return;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	struct tm tm;
	gmtime_r(&ts.tv_sec, &tm);
	char line[2048];
	int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
	                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, tags[level]);
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof line)
		vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
