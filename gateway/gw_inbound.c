/* gw_inbound.c - SMS from residents; see gw_inbound.h.
 *
 * One in_msg per inbound message, from its parsing to its last reply:
 * answered to the carrier once its id is recorded, then looked up, acted
 * on and replied to. It holds a reference per outstanding step and is
 * freed when the last one ends. Runs on the daemon's loop. */
#include "gw_inbound.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "gw_clock.h"
#include "gw_config.h"
#include "gw_form.h"
#include "gw_format.h"
#include "gw_http.h"
#include "gw_keyword.h"
#include "gw_log.h"
#include "gw_metrics.h"
#include "gw_phone.h"
#include "gw_records.h"
#include "gw_redis.h"
#include "gw_sender.h"
#include "gw_texts.h"
#include "q.h"
#include "tpl.h"

extern const char gw_lua_optout_set[];

#define SEEN_TTL_S (2 * 86400)    /* a carrier's repeat of an inbound id is ignored this long */
#define INBOX_MAX 10000
#define TEXT_MAX 2048             /* bytes of an inbound text kept */
#define PEOPLE_MAX 8
#define STATUS_REPLIES_MAX 3      /* a household phone: one status SMS per person, at most */

static gw_redis_script *script_optout;

struct gw_inbound {
    const gw_config *cfg;
    gw_redis *redis;
    gw_records *records;
    tpl_set *const *tpl;
    gw_sender *sender;
};

typedef struct in_msg {
    gw_inbound *in;
    int refs;
    const char *dialect;         /* "africastalking", "twilio", "kannel" */
    char from[GW_PHONE_MAX];     /* E.164, "" when the number is not one */
    char raw_from[64];
    char to[64];
    char id[128];
    char *text;
    gw_keyword kw;
    gw_participant people[PEOPLE_MAX];
    size_t npeople;
} in_msg;

/* ---- small helpers ---- */

static void msg_unref(in_msg *m)
{
    if (--m->refs > 0)
        return;
    free(m->text);
    free(m);
}

static const char *msg_lang(const in_msg *m)
{
    return m->npeople > 0 && strcmp(m->people[0].language, "en") == 0 ? "en" : "zh";
}

static void on_reply_queued(q *q, int64_t first_id, const char *body_id, const char *err,
                            void *arg)
{
    (void)q;
    (void)body_id;
    in_msg *m = arg;
    if (err != NULL)
        gw_error("inbound", "the reply to %s message %s was not queued: %s", m->dialect, m->id,
                 err);
    else
        gw_debug("inbound", "reply to %s message %s queued as %" PRId64, m->dialect, m->id,
                 first_id);
    msg_unref(m);
}

/* Queues TEXT to the sender on the reply lane. */
static void reply_text(in_msg *m, const char *text)
{
    gw_inbound *in = m->in;
    if (text == NULL || m->from[0] == '\0' || in->sender == NULL)
        return;
    m->refs++;
    if (gw_sender_reply(in->sender, m->from, text, on_reply_queued, m) != 0) {
        gw_error("inbound", "the reply to %s message %s was not queued", m->dialect, m->id);
        m->refs--;
    }
}

static void reply_key(in_msg *m, const char *key)
{
    tpl_var v[] = {{"hotline", m->in->cfg->ussd_hotline}};
    char *t = tpl_render(*m->in->tpl, msg_lang(m), key, v, 1);
    reply_text(m, t);
    free(t);
}

/* ---- acting on the keyword ---- */

static void put_in_inbox(in_msg *m)
{
    char when[32];
    time_t now = (time_t)(gw_clock_now_ms() / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *people = json_array();
    for (size_t i = 0; i < m->npeople; i++)
        json_array_append_new(people, json_pack("{s:s, s:s, s:s, s:s}", "id", m->people[i].id,
                                                "name", m->people[i].name, "township",
                                                m->people[i].township, "village",
                                                m->people[i].village));
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "received_at", when, "from",
                          m->from[0] != '\0' ? m->from : m->raw_from, "to", m->to, "text",
                          m->text, "carrier", m->dialect, "carrier_id", m->id, "participants",
                          people);
    char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s == NULL)
        return;
    char max[16];
    snprintf(max, sizeof max, "%d", INBOX_MAX - 1);
    const char *a1[] = {"LPUSH", "gw:inbox", s};
    const char *a2[] = {"LTRIM", "gw:inbox", "0", max};
    if (gw_redis_argv(m->in->redis, NULL, NULL, 3, a1, NULL) != 0 ||
        gw_redis_argv(m->in->redis, NULL, NULL, 4, a2, NULL) != 0)
        gw_error("inbound", "%s message %s did not reach the inbox: Redis is down", m->dialect,
                 m->id);
    free(s);
}

static void after_optout(int status, void *arg)
{
    in_msg *m = arg;
    if (status != 0)
        gw_error("inbound", "the opt-%s of %s message %s was not recorded",
                 m->kw == GW_KW_OPTOUT ? "out" : "in", m->dialect, m->id);
    else
        reply_key(m, m->kw == GW_KW_OPTOUT ? "sms.optout_done" : "sms.optin_done");
    msg_unref(m);
}

static void act(in_msg *m)
{
    gw_metrics_inbound(m->dialect, gw_keyword_name(m->kw));
    switch (m->kw) {
    case GW_KW_OPTOUT:
    case GW_KW_OPTIN: {
        if (m->from[0] == '\0')
            break;
        char channel[32];
        snprintf(channel, sizeof channel, "sms:%s", m->dialect);
        m->refs++;
        /* The list changes before the confirmation is queued. */
        if (gw_optout_set(m->in->redis, m->from, m->kw == GW_KW_OPTOUT, channel, after_optout,
                          m) != 0) {
            m->refs--;
            gw_error("inbound", "the opt-out change of %s message %s was lost: Redis is down",
                     m->dialect, m->id);
        }
        break;
    }
    case GW_KW_STATUS:
        if (m->npeople == 0) {
            reply_key(m, "sms.help");
            break;
        }
        for (size_t i = 0; i < m->npeople && i < STATUS_REPLIES_MAX; i++) {
            const char *lang = strcmp(m->people[i].language, "en") == 0 ? "en" : "zh";
            char *t = gw_text_contribution(*m->in->tpl, lang, &m->people[i], "sms");
            reply_text(m, t);
            free(t);
        }
        break;
    case GW_KW_HELP:
        reply_key(m, "sms.help");
        break;
    case GW_KW_OTHER:
    default:
        put_in_inbox(m);
        reply_key(m, "sms.help");
        break;
    }
}

static void on_people(int status, const gw_participant *list, size_t n, void *arg)
{
    in_msg *m = arg;
    if (status == 0) {
        m->npeople = n < PEOPLE_MAX ? n : PEOPLE_MAX;
        if (m->npeople > 0)
            memcpy(m->people, list, m->npeople * sizeof *list);
    } else {
        gw_warn("inbound", "%s message %s: the records backend failed; replying without them",
                m->dialect, m->id);
    }
    act(m);
    msg_unref(m);
}

static void process(in_msg *m)
{
    m->kw = gw_keyword_match(m->text, strlen(m->text));
    m->refs++;
    if (m->from[0] == '\0' || gw_records_by_phone(m->in->records, m->from, on_people, m) != 0)
        on_people(m->from[0] == '\0' ? 0 : -1, NULL, 0, m);
}

/* ---- receiving ---- */

typedef struct seen_call {
    in_msg *m;
    gw_http_req *req;
} seen_call;

static void answer_ok(gw_http_req *req, const char *dialect)
{
    if (strcmp(dialect, "twilio") == 0) {
        static const char twiml[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>";
        gw_http_reply(req, 200, "text/xml; charset=utf-8", twiml, sizeof twiml - 1);
    } else {
        /* Kannel would send a non-empty answer back as an SMS. */
        gw_http_reply(req, 200, "text/plain; charset=utf-8", "", 0);
    }
}

static void on_seen(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    seen_call *c = arg;
    in_msg *m = c->m;
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        gw_http_error(c->req, 503, "unavailable", "try again later");
    } else if (reply->type == REDIS_REPLY_NIL) {
        gw_metrics_inbound(m->dialect, "duplicate");
        answer_ok(c->req, m->dialect);
    } else {
        answer_ok(c->req, m->dialect);     /* answered first, then the work */
        process(m);
    }
    free(c);
    msg_unref(m);
}

/* Takes a parsed message: records its id, answers, then processes it. */
static void receive(gw_inbound *in, gw_http_req *req, const char *dialect, const char *from,
                    const char *to, const char *text, size_t text_len, const char *id)
{
    char why[96];
    if (from == NULL || from[0] == '\0' || id == NULL || id[0] == '\0' || text == NULL) {
        gw_http_error(req, 400, "bad_request", "from, text and the message id are required");
        return;
    }
    if (strlen(id) >= sizeof ((in_msg *)0)->id || strlen(from) >= 64 ||
        (to != NULL && strlen(to) >= 64) || text_len > TEXT_MAX) {
        gw_http_error(req, 400, "bad_request", "a field is too long");
        return;
    }
    in_msg *m = calloc(1, sizeof *m);
    seen_call *c = calloc(1, sizeof *c);
    if (m == NULL || c == NULL || (m->text = malloc(text_len + 1)) == NULL) {
        free(m);
        free(c);
        gw_http_error(req, 503, "overloaded", "out of memory");
        return;
    }
    m->in = in;
    m->refs = 1;
    m->dialect = dialect;
    memcpy(m->text, text, text_len);
    m->text[text_len] = '\0';
    snprintf(m->raw_from, sizeof m->raw_from, "%s", from);
    snprintf(m->to, sizeof m->to, "%s", to != NULL ? to : "");
    snprintf(m->id, sizeof m->id, "%s", id);
    if (gw_phone_normalize(from, m->from, sizeof m->from, why, sizeof why) != 0)
        m->from[0] = '\0';      /* kept for the inbox as given; no reply possible */
    c->m = m;
    c->req = req;
    char key[200], ttl[16];
    snprintf(key, sizeof key, "gw:in:%s:%s", dialect, id);
    snprintf(ttl, sizeof ttl, "%d", SEEN_TTL_S);
    const char *argv[] = {"SET", key, "1", "NX", "EX", ttl};
    if (gw_redis_argv(in->redis, on_seen, c, 6, argv, NULL) != 0) {
        free(c);
        msg_unref(m);
        gw_http_error(req, 503, "unavailable", "try again later");
    }
}

static gw_form *read_form(gw_http_req *req)
{
    char err[128];
    size_t len;
    const char *body = gw_http_body(req, &len);
    gw_form *f = gw_form_parse(body, len, err, sizeof err);
    if (f == NULL)
        gw_http_error(req, 400, "bad_form", err);
    return f;
}

static void handle_at(gw_http_req *req, void *arg)
{
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    gw_form *f = read_form(req);
    if (f == NULL)
        return;
    const char *text = gw_form_get(f, "text");
    receive(arg, req, "africastalking", gw_form_get(f, "from"), gw_form_get(f, "to"), text,
            text != NULL ? strlen(text) : 0, gw_form_get(f, "id"));
    gw_form_free(f);
}

/* 1 when the request carries a valid X-Twilio-Signature for one of the
 * Twilio accounts with an auth token (the one named by AccountSid when
 * given), or when no Twilio account has a token to check with. */
int gw_twilio_request_ok(const gw_config *cfg, gw_http_req *req, const gw_form *f)
{
    const char *given = gw_http_header(req, "X-Twilio-Signature");
    const char *sid = gw_form_get(f, "AccountSid");
    const char *host = gw_http_header(req, "Host");
    const char *proto = gw_http_header(req, "X-Forwarded-Proto");
    size_t n = gw_form_count(f);
    gw_kv *kv = calloc(n > 0 ? n : 1, sizeof *kv);
    if (kv == NULL)
        return 0;
    for (size_t i = 0; i < n; i++)
        gw_form_pair(f, i, &kv[i].key, &kv[i].value);
    int checked = 0, ok = 0;
    for (const gw_provider_conf *p = cfg->providers; p != NULL && !ok; p = p->next) {
        if (strcmp(p->type, "twilio") != 0 || p->auth_token == NULL || p->auth_token[0] == '\0')
            continue;
        if (sid != NULL && p->account_sid != NULL && strcmp(sid, p->account_sid) != 0)
            continue;
        checked = 1;
        /* The URL Twilio called: behind a proxy its scheme is https. */
        const char *schemes[] = {proto != NULL ? proto : "https", "http"};
        for (int s = 0; s < 2 && !ok && given != NULL && host != NULL; s++) {
            char url[2048];
            const char *query = gw_http_query(req);
            snprintf(url, sizeof url, "%s://%s%s%s%s", schemes[s], host, gw_http_path(req),
                     query[0] != '\0' ? "?" : "", query);
            ok = gw_twilio_signature_ok(p->auth_token, url, kv, n, given);
        }
    }
    if (!checked && sid != NULL) {
        /* No account names this sid, or none has a token: check nothing
         * only when no Twilio account has a token at all. */
        checked = 0;
        for (const gw_provider_conf *p = cfg->providers; p != NULL; p = p->next)
            if (strcmp(p->type, "twilio") == 0 && p->auth_token != NULL && p->auth_token[0])
                checked = 1;
    }
    free(kv);
    return ok || !checked;
}

static void handle_twilio(gw_http_req *req, void *arg)
{
    gw_inbound *in = arg;
    if (gw_http_method(req) != GW_HTTP_POST) {
        gw_http_error(req, 405, "method_not_allowed", "use POST");
        return;
    }
    gw_form *f = read_form(req);
    if (f == NULL)
        return;
    if (!gw_twilio_request_ok(in->cfg, req, f)) {
        gw_metrics_inbound("twilio", "bad_signature");
        gw_warn("inbound", "twilio: a request with a missing or wrong X-Twilio-Signature was "
                "refused");
        gw_http_error(req, 403, "bad_signature", "X-Twilio-Signature does not match");
        gw_form_free(f);
        return;
    }
    const char *text = gw_form_get(f, "Body");
    receive(in, req, "twilio", gw_form_get(f, "From"), gw_form_get(f, "To"), text,
            text != NULL ? strlen(text) : 0, gw_form_get(f, "MessageSid"));
    gw_form_free(f);
}

/* ---- Kannel: the text may be UTF-16BE bytes ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 32);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes S[0..LEN) ('+' is a space) into a malloc'd buffer of
 * *OUTLEN bytes (NUL added). NULL on a bad escape or OOM. */
static char *pct_decode(const char *s, size_t len, size_t *outlen)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%') {
            int hi, lo;
            if (i + 2 >= len || (hi = hex_digit(s[i + 1])) < 0 || (lo = hex_digit(s[i + 2])) < 0)
                goto bad;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* UTF-16BE bytes to a malloc'd UTF-8 string; NULL when malformed. */
static char *utf16be_to_utf8(const unsigned char *s, size_t len, size_t *outlen)
{
    if (len % 2 != 0)
        return NULL;
    char *out = malloc(len * 2 + 1);    /* 2 bytes of UTF-16 give at most 3 of UTF-8; 4 -> 4 */
    size_t o = 0;
    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < len; i += 2) {
        uint32_t cp = (uint32_t)(s[i] << 8 | s[i + 1]);
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (i + 3 >= len)
                goto bad;
            uint32_t lo = (uint32_t)(s[i + 2] << 8 | s[i + 3]);
            if (lo < 0xDC00 || lo > 0xDFFF)
                goto bad;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 2;
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            goto bad;
        }
        if (cp == 0)
            goto bad;
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | cp >> 6);
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | cp >> 12);
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | cp >> 18);
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[o] = '\0';
    *outlen = o;
    return out;
bad:
    free(out);
    return NULL;
}

static int valid_utf8(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = gw_utf8_char((const unsigned char *)s + i, len - i);
        if (n == 0 || s[i] == '\0')
            return 0;
        i += n;
    }
    return 1;
}

static void handle_kannel(gw_http_req *req, void *arg)
{
    size_t blen;
    const char *params = gw_http_query(req);
    if (gw_http_method(req) == GW_HTTP_POST) {
        const char *body = gw_http_body(req, &blen);
        if (blen > 0)
            params = body;
    } else if (gw_http_method(req) != GW_HTTP_GET) {
        gw_http_error(req, 405, "method_not_allowed", "use GET or POST");
        return;
    }
    /* Kannel's own names: from to text id coding charset (the get-url's
     * %p %P %a %I %c %C). Values are raw bytes until the charset says. */
    const char *names[] = {"from", "to", "text", "id", "coding", "charset"};
    char *vals[6] = {0};
    size_t lens[6] = {0};
    int bad = 0;
    for (const char *p = params; *p != '\0' && !bad;) {
        const char *amp = strchr(p, '&');
        size_t plen = amp != NULL ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        if (eq != NULL) {
            for (int k = 0; k < 6; k++) {
                size_t nl = strlen(names[k]);
                if ((size_t)(eq - p) == nl && memcmp(p, names[k], nl) == 0 && vals[k] == NULL) {
                    vals[k] = pct_decode(eq + 1, plen - nl - 1, &lens[k]);
                    bad = vals[k] == NULL;
                }
            }
        }
        p += plen + (amp != NULL);
    }
    char *text = vals[2];
    size_t tlen = lens[2];
    int utf16 = (vals[5] != NULL && (strcasecmp(vals[5], "UTF-16BE") == 0 ||
                                     strcasecmp(vals[5], "UCS-2") == 0 ||
                                     strcasecmp(vals[5], "UTF-16") == 0)) ||
                (vals[5] == NULL && vals[4] != NULL && strcmp(vals[4], "2") == 0);
    if (!bad && text != NULL && utf16) {
        char *u = utf16be_to_utf8((const unsigned char *)text, tlen, &tlen);
        bad = u == NULL;
        free(text);
        text = vals[2] = u;
    }
    for (int k = 0; k < 6 && !bad; k++)
        if (vals[k] != NULL && !valid_utf8(vals[k], k == 2 ? tlen : lens[k]))
            bad = 1;
    if (bad)
        gw_http_error(req, 400, "bad_request", "a parameter is malformed or not in its charset");
    else
        receive(arg, req, "kannel", vals[0], vals[1], text, tlen, vals[3]);
    for (int k = 0; k < 6; k++)
        free(vals[k]);
}

/* ---- the opt-out list ---- */

typedef struct optout_call {
    gw_optout_cb *done;
    void *arg;
} optout_call;

static void on_optout(gw_redis *r, redisReply *reply, void *arg)
{
    (void)r;
    optout_call *c = arg;
    int ok = reply != NULL && reply->type == REDIS_REPLY_INTEGER;
    if (c->done != NULL)
        c->done(ok ? 0 : -1, c->arg);
    free(c);
}

int gw_optout_set(gw_redis *redis, const char *e164, int out, const char *channel,
                  gw_optout_cb *done, void *arg)
{
    optout_call *c = malloc(sizeof *c);
    if (c == NULL || script_optout == NULL) {
        free(c);
        return -1;
    }
    c->done = done;
    c->arg = arg;
    char ms[24];
    snprintf(ms, sizeof ms, "%" PRId64, gw_clock_now_ms());
    const char *argv[] = {e164, out ? "1" : "0", ms, channel};
    if (gw_redis_eval(redis, script_optout, on_optout, c, 0, 4, argv, NULL) != 0) {
        free(c);
        return -1;
    }
    return 0;
}

/* ---- set-up ---- */

gw_inbound *gw_inbound_new(const gw_config *cfg, gw_redis *redis, gw_records *records,
                           tpl_set *const *tpl, gw_sender *sender)
{
    gw_inbound *in = calloc(1, sizeof *in);
    if (in == NULL)
        return NULL;
    in->cfg = cfg;
    in->redis = redis;
    in->records = records;
    in->tpl = tpl;
    in->sender = sender;
    if (script_optout == NULL)
        script_optout = gw_redis_script_add(redis, "optout_set", gw_lua_optout_set);
    if (script_optout == NULL) {
        free(in);
        return NULL;
    }
    return in;
}

int gw_inbound_register(gw_inbound *in, gw_http *carrier)
{
    if (gw_http_route(carrier, "/sms/inbound/africastalking", handle_at, in) != 0 ||
        gw_http_route(carrier, "/sms/inbound/twilio", handle_twilio, in) != 0 ||
        gw_http_route(carrier, "/sms/inbound/kannel", handle_kannel, in) != 0)
        return -1;
    return 0;
}

void gw_inbound_free(gw_inbound *in)
{
    free(in);
}
