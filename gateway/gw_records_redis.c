/* gw_records_redis.c - participants kept in Redis: the roster store and the
 * `redis` records backend.
 *
 * A participant is a record, its 14 fields joined by \x1f, in one of three
 * hashes by contribution class, and a copy in the phone index (see
 * lua/lib_participant.lua); amounts are integer fen as decimal strings, "-1"
 * for empty. One Lua script writes them all, so a reader never sees half an
 * update. */
#include "gw_records.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "gw_log.h"
#include "gw_redis.h"

extern const char gw_lua_participant_upsert[];
extern const char gw_lua_participant_get[];

#define NFIELDS 14

static gw_redis_script *script_upsert, *script_get;
static gw_store_reminder_hook *reminder_hook;
static void *reminder_arg;

void gw_store_set_reminder_hook(gw_store_reminder_hook *hook, void *arg)
{
    reminder_hook = hook;
    reminder_arg = arg;
}

static gw_redis *store_redis;
static struct event *flush_ev;
static void flush_batch(void);
static void on_flush(evutil_socket_t fd, short what, void *arg);

int gw_store_init(struct event_base *base, gw_redis *redis)
{
    store_redis = redis;
    script_upsert = gw_redis_script_add(redis, "participant_upsert", gw_lua_participant_upsert);
    script_get = gw_redis_script_add(redis, "participant_get", gw_lua_participant_get);
    flush_ev = event_new(base, -1, 0, on_flush, NULL);
    return script_upsert != NULL && script_get != NULL && flush_ev != NULL ? 0 : -1;
}

void gw_store_shutdown(void)
{
    flush_batch();
    if (flush_ev != NULL)
        event_free(flush_ev);
    flush_ev = NULL;
}

/* ---- fields <-> struct ---- */

static void copy_field(char *dst, size_t cap, const char *src, size_t len)
{
    if (len >= cap)
        len = cap - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static int64_t field_i64(const redisReply *v, int64_t dflt)
{
    char buf[24], *end;
    if (v == NULL || v->type != REDIS_REPLY_STRING || v->len == 0 || v->len >= sizeof buf)
        return dflt;
    memcpy(buf, v->str, v->len);     /* values may point into a larger string */
    buf[v->len] = '\0';
    long long n = strtoll(buf, &end, 10);
    return *end == '\0' ? (int64_t)n : dflt;
}

#define STR_FIELD(dst, v)                                                   \
    do {                                                                    \
        if ((v) != NULL && (v)->type == REDIS_REPLY_STRING)                 \
            copy_field((dst), sizeof(dst), (v)->str, (v)->len);             \
    } while (0)

/* Fills P from the 14 values at V (in the scripts' field order). */
static void participant_from_values(gw_participant *p, const char *id, size_t idlen,
                                    redisReply **v)
{
    memset(p, 0, sizeof *p);
    copy_field(p->id, sizeof p->id, id, idlen);
    STR_FIELD(p->phone, v[0]);
    STR_FIELD(p->name, v[1]);
    STR_FIELD(p->id_last4, v[2]);
    STR_FIELD(p->township, v[3]);
    STR_FIELD(p->village, v[4]);
    STR_FIELD(p->language, v[5]);
    if (p->language[0] == '\0')
        memcpy(p->language, "zh", 3);
    p->contribution_year = (int)field_i64(v[6], 0);
    p->contribution_tier_fen = field_i64(v[7], -1);
    p->contribution_paid_fen = field_i64(v[8], 0);
    STR_FIELD(p->contribution_due, v[9]);
    p->account_balance_fen = field_i64(v[10], -1);
    p->pension_monthly_fen = field_i64(v[11], -1);
    STR_FIELD(p->pension_last_paid, v[12]);
    p->mutual_aid_member = field_i64(v[13], 0) == 1;
}

/* ---- upsert ---- */

/* Upserts go to Redis in batches of up to UPSERT_BATCH rows, one Lua call
 * each (lua/participant_upsert.lua): a batch is sent when full or at the end
 * of the loop turn in which its first row came. The rows' arguments are
 * packed in one buffer, each NUL-terminated. */
#define UPSERT_BATCH 128

typedef struct upsert_row {
    gw_store_upsert_cb *cb;
    void *arg;
} upsert_row;

typedef struct upsert_batch {
    struct upsert_batch *next;    /* full ones waiting for the flush */
    upsert_row rows[UPSERT_BATCH];
    size_t nrows;
    char *buf;                    /* every argument, NUL-terminated, one after another */
    size_t len, cap;
    size_t nargs;
} upsert_batch;

static upsert_batch *batch;       /* the one being filled, or NULL */
static upsert_batch *full, **full_tail = &full;   /* full ones, sent by on_flush */

static void on_upsert(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    upsert_batch *b = arg;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        gw_error("store", "upsert: %s", reply->str);
    for (size_t i = 0; i < b->nrows; i++) {
        int result = -1;
        if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && i < reply->elements &&
            reply->element[i]->type == REDIS_REPLY_INTEGER)
            result = (int)reply->element[i]->integer;
        b->rows[i].cb(result, b->rows[i].arg);
    }
    free(b->buf);
    free(b);
}

/* Sends batch B. */
static void send_batch(upsert_batch *b)
{
    const char **argv = malloc((b->nargs + 1) * sizeof *argv);
    char count[16];
    snprintf(count, sizeof count, "%zu", b->nrows);
    if (argv != NULL) {
        argv[0] = count;
        size_t k = 1;
        for (size_t off = 0; off < b->len && k <= b->nargs; off += strlen(b->buf + off) + 1)
            argv[k++] = b->buf + off;
        if (gw_redis_eval(store_redis, script_upsert, on_upsert, b, 0, (int)k, argv, NULL) == 0) {
            free(argv);
            return;
        }
        free(argv);
    }
    on_upsert(store_redis, NULL, b);    /* Redis went away (or memory): every row failed */
}

/* Sends the full batches, then the one being filled. Rows' callbacks run
 * from here or later, never inside gw_store_upsert. */
static void flush_batch(void)
{
    while (full != NULL) {
        upsert_batch *b = full;
        full = b->next;
        if (full == NULL)
            full_tail = &full;
        send_batch(b);
    }
    upsert_batch *b = batch;
    batch = NULL;
    if (b != NULL)
        send_batch(b);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    flush_batch();
}

static int batch_add(upsert_batch *b, const char *s)
{
    size_t n = strlen(s) + 1;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16384;
        while (cap < b->len + n)
            cap *= 2;
        char *nb = realloc(b->buf, cap);
        if (nb == NULL)
            return -1;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->nargs++;
    return 0;
}

/* The contribution class the place indexes are split by (as
 * participant_class in lua/lib_participant.lua). */
static const char *contribution_class(const gw_participant *p)
{
    if (p->contribution_year <= 0)
        return "o";
    return p->contribution_paid_fen > 0 ? "p" : "u";
}

int gw_store_upsert(gw_redis *redis, const gw_participant *p, gw_store_upsert_cb *cb, void *arg)
{
    if (!gw_redis_up(redis) || flush_ev == NULL)
        return -1;
    char rec[sizeof *p + 64];
    int reclen = snprintf(rec, sizeof rec,
                          "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%d\x1f%" PRId64 "\x1f%" PRId64
                          "\x1f%s\x1f%" PRId64 "\x1f%" PRId64 "\x1f%s\x1f%s",
                          p->phone, p->name, p->id_last4, p->township, p->village, p->language,
                          p->contribution_year, p->contribution_tier_fen,
                          p->contribution_paid_fen, p->contribution_due,
                          p->account_balance_fen, p->pension_monthly_fen,
                          p->pension_last_paid, p->mutual_aid_member ? "1" : "0");
    if (reclen < 0 || (size_t)reclen >= sizeof rec)
        return -1;
    /* automatic reminders are for the unpaid of a contribution year only
     * (the marks that they are queued exist for those alone) */
    int reminded = contribution_class(p)[0] == 'u' && p->phone[0] != '\0' &&
                   p->contribution_due[0] != '\0';
    const char *argv[6 + 1 + GW_STORE_REMINDERS_MAX] = {
        p->id, rec, p->phone, contribution_class(p), p->contribution_due, reminded ? "1" : "0",
    };
    /* then the automatic reminders: their segments and due seconds */
    int64_t times[GW_STORE_REMINDERS_MAX];
    char tbuf[GW_STORE_REMINDERS_MAX][24], segbuf[16];
    int segments = 1;
    size_t nt = reminded && reminder_hook != NULL
                    ? reminder_hook(p, times, &segments, reminder_arg) : 0;
    if (nt > GW_STORE_REMINDERS_MAX)
        nt = GW_STORE_REMINDERS_MAX;
    size_t n = 6;
    if (nt > 0) {
        snprintf(segbuf, sizeof segbuf, "%d", segments);
        argv[n++] = segbuf;
        for (size_t i = 0; i < nt; i++) {
            snprintf(tbuf[i], sizeof tbuf[i], "%" PRId64, times[i] / 1000);
            argv[n++] = tbuf[i];
        }
    }
    if (batch == NULL) {
        if ((batch = calloc(1, sizeof *batch)) == NULL)
            return -1;
        event_active(flush_ev, EV_TIMEOUT, 0);    /* sent at the end of this loop turn */
    }
    char count[16];
    snprintf(count, sizeof count, "%zu", n);
    size_t len = batch->len, nargs = batch->nargs;
    int rc = batch_add(batch, count);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = batch_add(batch, argv[i]);
    if (rc != 0) {
        batch->len = len;                          /* this row is not in it */
        batch->nargs = nargs;
        return -1;
    }
    batch->rows[batch->nrows++] = (upsert_row){cb, arg};
    if (batch->nrows == UPSERT_BATCH) {
        *full_tail = batch;          /* sent at the end of this loop turn */
        full_tail = &batch->next;
        batch = NULL;
    }
    return 0;
}

/* ---- look-ups ---- */

typedef struct lookup_ctx {
    gw_records_cb *cb;
    void *arg;
    char id[GW_PID_MAX];
} lookup_ctx;

static int by_participant_id(const void *a, const void *b)
{
    return strcmp(((const gw_participant *)a)->id, ((const gw_participant *)b)->id);
}

/* Splits one phone-index record ("f1\x1ff2...\x1ff14") into its fields as
 * replies, so participant_from_values reads it like an HMGET answer. */
static int split_record(const char *s, size_t len, redisReply *cells, redisReply **v)
{
    const char *end = s + len;
    for (int i = 0; i < NFIELDS; i++) {
        const char *sep = memchr(s, '\x1f', (size_t)(end - s));
        if (sep == NULL)
            sep = end;
        if (i < NFIELDS - 1 && sep == end)
            return -1;
        cells[i].type = REDIS_REPLY_STRING;
        cells[i].str = (char *)s;
        cells[i].len = (size_t)(sep - s);
        v[i] = &cells[i];
        s = sep < end ? sep + 1 : end;
    }
    return 0;
}

/* Appends the participant with id ID and record REC to L (of *N, room for
 * *CAP), unless one with that id is in it already. */
static int list_add(gw_participant **l, size_t *n, size_t *cap, const char *id, size_t idlen,
                    const char *rec, size_t reclen)
{
    redisReply cells[NFIELDS], *v[NFIELDS];
    if (idlen == 0 || idlen >= GW_PID_MAX || split_record(rec, reclen, cells, v) != 0) {
        gw_error("records", "damaged phone index entry");
        return 0;
    }
    for (size_t i = 0; i < *n; i++)
        if (strlen((*l)[i].id) == idlen && memcmp((*l)[i].id, id, idlen) == 0)
            return 0;
    if (*n == *cap) {
        size_t nc = *cap ? 2 * *cap : 4;
        gw_participant *nl = realloc(*l, nc * sizeof *nl);
        if (nl == NULL)
            return -1;
        *l = nl;
        *cap = nc;
    }
    participant_from_values(&(*l)[(*n)++], id, idlen, v);
    return 0;
}

/* The entries of a phone index value ("ID\x1fRECORD" joined by \x1e). */
static int add_entries(gw_participant **l, size_t *n, size_t *cap, const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING)
        return r->type == REDIS_REPLY_NIL ? 0 : -1;
    const char *s = r->str, *end = r->str + r->len;
    while (s < end) {
        const char *e = memchr(s, '\x1e', (size_t)(end - s));
        if (e == NULL)
            e = end;
        const char *sep = memchr(s, '\x1f', (size_t)(e - s));
        if (sep == NULL) {
            gw_error("records", "damaged phone index entry");
        } else if (list_add(l, n, cap, s, (size_t)(sep - s), sep + 1, (size_t)(e - sep - 1)) != 0) {
            return -1;
        }
        s = e < end ? e + 1 : end;
    }
    return 0;
}

/* An older version's phone hash (id -> record), while one may be left. */
static int add_old_entries(gw_participant **l, size_t *n, size_t *cap, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *id = r->element[i], *rec = r->element[i + 1];
        if (id->type == REDIS_REPLY_STRING && rec->type == REDIS_REPLY_STRING &&
            list_add(l, n, cap, id->str, id->len, rec->str, rec->len) != 0)
            return -1;
    }
    return 0;
}

static int old_left = 1;          /* an older version's phone hashes may be left */

void gw_store_old_moved(void)
{
    old_left = 0;
}

static void on_by_phone(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    lookup_ctx *c = arg;
    gw_participant *list = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
        rc = add_entries(&list, &n, &cap, reply->element[0]) == 0 &&
             add_old_entries(&list, &n, &cap, reply->element[1]) == 0 ? 0 : -1;
    else if (reply != NULL && reply->type != REDIS_REPLY_ARRAY && reply->type != REDIS_REPLY_ERROR)
        rc = add_entries(&list, &n, &cap, reply);
    if (rc != 0) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            gw_error("records", "by phone: %s", reply->str);
        c->cb(-1, NULL, 0, c->arg);
    } else {
        if (n > 1)
            qsort(list, n, sizeof *list, by_participant_id);
        c->cb(0, list, n, c->arg);
    }
    free(list);
    free(c);
}

int gw_records_redis_by_phone(gw_redis *redis, const char *e164, gw_records_cb *cb, void *arg)
{
    lookup_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->cb = cb;
    c->arg = arg;
    const char *hget[3] = {"HGET", GW_KEY_PHONES, e164};
    int rc;
    if (!old_left) {
        rc = gw_redis_argv(redis, on_by_phone, c, 3, hget, NULL);
    } else {
        /* both forms at one moment: a move between two reads would hide one */
        char key[GW_PHONE_MAX + 16];
        snprintf(key, sizeof key, "gw:{ph:%s}", e164);
        const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"}, *hall[2] = {"HGETALL", key};
        rc = gw_redis_argv(redis, NULL, NULL, 1, multi, NULL);
        if (rc == 0)
            rc = gw_redis_argv(redis, NULL, NULL, 3, hget, NULL);
        if (rc == 0)
            rc = gw_redis_argv(redis, NULL, NULL, 2, hall, NULL);
        if (rc == 0)
            rc = gw_redis_argv(redis, on_by_phone, c, 1, exec, NULL);
        else
            gw_redis_argv(redis, NULL, NULL, 1, (const char *[]){"DISCARD"}, NULL);
    }
    if (rc != 0) {
        free(c);
        return -1;
    }
    return 0;
}

static void on_get(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    lookup_ctx *c = arg;
    redisReply cells[NFIELDS], *v[NFIELDS];
    if (reply != NULL && reply->type == REDIS_REPLY_NIL) {
        c->cb(0, NULL, 0, c->arg);    /* no such participant */
    } else if (reply == NULL || reply->type != REDIS_REPLY_STRING ||
               split_record(reply->str, reply->len, cells, v) != 0) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            gw_error("records", "participant %s: %s", c->id, reply->str);
        c->cb(-1, NULL, 0, c->arg);
    } else {
        gw_participant p;
        participant_from_values(&p, c->id, strlen(c->id), v);
        c->cb(0, &p, 1, c->arg);
    }
    free(c);
}

int gw_store_get(gw_redis *redis, const char *id, gw_records_cb *cb, void *arg)
{
    lookup_ctx *c = malloc(sizeof *c);
    if (c == NULL)
        return -1;
    c->cb = cb;
    c->arg = arg;
    snprintf(c->id, sizeof c->id, "%s", id);
    const char *argv[1] = {c->id};
    if (gw_redis_eval(redis, script_get, on_get, c, 0, 1, argv, NULL) != 0) {
        free(c);
        return -1;
    }
    return 0;
}
