/*
 * log: leveled logging to stderr, one line per message:
 *   2026-11-25T20:14:45.123Z INFO  message
 * The level is set once from the configuration.
 */
#ifndef PISTON_LOG_H
#define PISTON_LOG_H

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_SILENT } log_level;

void log_set_level(log_level level);
/* Parses DEBUG/INFO/WARN(ING)/ERROR/SILENT (any case); -1 if unknown. */
int log_level_parse(const char *s);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
