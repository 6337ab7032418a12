/* gw_log.h - one-line log records to stderr.
 *
 * Records look like `2026-11-22T07:40:01.123Z INFO  ussd: message`. Personal
 * data never goes to the log unmasked: use gw_phone_mask() for numbers and
 * never log ID digits or names. Not thread safe (the daemon has one loop). */
#ifndef GW_LOG_H
#define GW_LOG_H

enum gw_log_level { GW_LOG_DEBUG, GW_LOG_INFO, GW_LOG_WARN, GW_LOG_ERROR };

/* Records below LEVEL are dropped. Default INFO; GW_LOG_LEVEL=debug in the
 * environment lowers it. */
void gw_log_set_level(enum gw_log_level level);

void gw_log(enum gw_log_level level, const char *area, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define gw_debug(area, ...) gw_log(GW_LOG_DEBUG, area, __VA_ARGS__)
#define gw_info(area, ...) gw_log(GW_LOG_INFO, area, __VA_ARGS__)
#define gw_warn(area, ...) gw_log(GW_LOG_WARN, area, __VA_ARGS__)
#define gw_error(area, ...) gw_log(GW_LOG_ERROR, area, __VA_ARGS__)

#endif
