/* gw_records_internal.h - what the records backends share inside gateway/. */
#ifndef GW_RECORDS_INTERNAL_H
#define GW_RECORDS_INTERNAL_H

#include "gw_records.h"

int gw_records_redis_by_phone(struct gw_redis *redis, const char *e164, gw_records_cb *cb,
                              void *arg);

typedef struct gw_records_http gw_records_http;
gw_records_http *gw_records_http_new(const char *url, int timeout_ms, struct prov_http *http);
void gw_records_http_free(gw_records_http *h);
int gw_records_http_by_phone(gw_records_http *h, const char *e164, gw_records_cb *cb, void *arg);

/* Parses an agency system's answer (a JSON array of participants, or an
 * object with a "participants" array; keys are the roster's column names,
 * values strings or numbers) into a malloc'd list sorted by id. Returns the
 * count (>= 0), or -1 with a reason in ERR. */
int gw_records_parse_json(const char *body, size_t len, gw_participant **out,
                          char *err, size_t errlen);

#endif
