/* gw_records.c - picks the records backend named in the configuration. */
#include "gw_records.h"

#include <stdlib.h>
#include <string.h>

#include "gw_config.h"
#include "gw_records_internal.h"

struct gw_records {
    struct gw_redis *redis;
    gw_records_http *http;    /* NULL for the redis backend */
};

gw_records *gw_records_new(const gw_config *cfg, struct gw_redis *redis, struct prov_http *http)
{
    gw_records *rec = calloc(1, sizeof *rec);
    if (rec == NULL)
        return NULL;
    rec->redis = redis;
    if (strcmp(cfg->records_backend, "http") == 0) {
        rec->http = gw_records_http_new(cfg->records_url, cfg->records_timeout_ms, http);
        if (rec->http == NULL) {
            free(rec);
            return NULL;
        }
    }
    return rec;
}

void gw_records_free(gw_records *rec)
{
    if (rec == NULL)
        return;
    gw_records_http_free(rec->http);
    free(rec);
}

int gw_records_by_phone(gw_records *rec, const char *e164, gw_records_cb *cb, void *arg)
{
    if (rec->http != NULL)
        return gw_records_http_by_phone(rec->http, e164, cb, arg);
    return gw_records_redis_by_phone(rec->redis, e164, cb, arg);
}
