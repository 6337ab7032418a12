/* gw_config_internal.h - value parsers shared by gw_config.c and its
 * neighbour gw_config_parse.c. */
#ifndef GW_CONFIG_INTERNAL_H
#define GW_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "gw_config.h"

bool gw_cfg_parse_long(const char *s, size_t len, long min, long max, long *out);

bool gw_cfg_next_item(const char **p, const char **item, size_t *len);

bool gw_cfg_has_control(const char *s);

bool gw_cfg_all_chars(const char *s, size_t len, const char *extra);

bool gw_cfg_is_http_url(const char *v);

const char *gw_cfg_parse_hostport(const char *s, size_t len, bool numeric, bool port_required,
                                  char *host, size_t hostlen, int *port);

const char *gw_cfg_parse_redis_url(const char *v, gw_config *cfg);

bool gw_cfg_parse_hhmm(const char *s, int *min);

#endif
