/* prov.h - the carriers: one file per carrier API behind a const table of
 * operations (prov_ops), the registry of configured accounts ([provider
 * NAME] sections), their order of preference, circuit breaking and the
 * sending of one message through one account.
 *
 * Carrier files: prov_africastalking.c (POST /version1/messaging),
 * prov_twilio.c (POST /2010-04-01/Accounts/{sid}/Messages.json, Basic auth),
 * prov_kannel.c (GET /cgi-bin/sendsms, UCS-2 as coding=2) and
 * prov_console.c (appends each message to a file or stdout; no HTTP).
 * Adding a carrier is one file and one line in prov_ops_table (prov.c).
 *
 * Every HTTP call goes through prov_http (curl multi on the libevent loop):
 * nothing here blocks, and every request has the account's timeout_ms.
 * Runs on the loop of the prov_http given to prov_registry_new; not thread
 * safe. */
#ifndef PROV_H
#define PROV_H

#include <stddef.h>
#include <stdint.h>

#include "gw_config.h"
#include "prov_http.h"

/* What a carrier's answer means for the message. */
typedef enum prov_outcome {
    PROV_ACCEPTED = 0, /* the carrier took it; carrier_id holds its id when given */
    PROV_RETRY,        /* a temporary failure (5xx, refused connection, auth
                          failure of this account): try again later, maybe
                          through another account; counts for the breaker */
    PROV_UNKNOWN,      /* the request may have reached the carrier but no
                          answer came (timeout, connection lost mid-answer):
                          retried, and counted as a possible duplicate */
    PROV_THROTTLED,    /* 429 or the carrier's throttle answer: pause the
                          account for retry_after_ms; not a failed attempt */
    PROV_PERMANENT,    /* will never succeed (invalid number, rejected text) */
} prov_outcome;

/* "accepted", "retry", "unknown", "throttled", "permanent". */
const char *prov_outcome_name(prov_outcome o);

/* One message as a carrier sees it. */
typedef struct prov_msg {
    const char *id;        /* our message id (Kannel's dlr-url carries it) */
    const char *to;        /* E.164, "+8613800000001" */
    const char *text;      /* UTF-8, signature included, ready to send */
    size_t text_len;
    int ucs2;              /* 1: must go as UCS-2 (16-bit); 0: GSM-7 */
    int segments;          /* parts it will take on the air (>= 1) */
    const char *dlr_url;   /* NULL, or where the carrier should report delivery:
                              a URL in which "%i" stands for our id (Kannel's
                              dlr-url, Twilio's StatusCallback); other %-codes
                              are left for the carrier to fill */
} prov_msg;

typedef struct prov_result {
    prov_outcome outcome;
    long http_status;       /* 0 when no HTTP answer (or console) */
    long retry_after_ms;    /* THROTTLED: the carrier's Retry-After (at most an
                               hour), else 1000 */
    char carrier_id[128];   /* ACCEPTED: the carrier's message id ("" if none) */
    char reason[200];       /* short, for logs and dead letters; no phone numbers */
    int recipient_blocked;  /* the carrier refuses this number because the resident
                               asked it to (a blacklist or unsubscribe answer):
                               the number joins the opt-out list */
} prov_result;

/* A built HTTP request; strings owned by the prov_req (prov_req_clear). */
typedef struct prov_req {
    prov_http_request http;    /* points into the fields below */
    char *url;
    char *body;
    char *userpwd;
    char *headers[8];          /* "Name: value" lines */
    const char *header_ptrs[9];/* NULL-terminated view of headers */
} prov_req;

void prov_req_clear(prov_req *req);

/* One carrier API. Slots a carrier does not use are NULL. */
typedef struct prov_ops {
    const char *type;             /* "africastalking", "twilio", "kannel", "console" */
    const char *default_base_url; /* used when the account has no base_url; NULL: none */

    /* Builds the HTTP request that submits MSG through account CONF (its
     * base_url, credentials, sender, timeout_ms). Returns 0, or -1 with a
     * reason in RES and REQ cleared: outcome PROV_PERMANENT when MSG can
     * never go this way, PROV_RETRY when the account lacks something or
     * memory ran out. */
    int (*build_request)(const gw_provider_conf *conf, const prov_msg *msg, prov_req *req,
                         prov_result *res);

    /* Classifies the carrier's answer RESP (ok = 0: no answer) into RES. */
    void (*parse_response)(const gw_provider_conf *conf, const prov_msg *msg,
                           const prov_http_response *resp, prov_result *res);

    /* Carriers without HTTP (console): delivers MSG at once and fills RES. */
    void (*deliver_local)(const gw_provider_conf *conf, const prov_msg *msg, prov_result *res);

    /* Carriers that take one text to many numbers in one request (Africa's
     * Talking: "to" is a comma-separated list; the answer lists each
     * recipient). MAX_RECIPIENTS > 1 enables prov_send_batch for them; 0 or
     * 1 means one message per request. */
    int max_recipients;

    /* Builds one request for MSGS[0..N) (1 <= N <= max_recipients), which
     * share one text and coding and have distinct numbers. Returns 0, or -1
     * with one reason in RES (applies to all N) and REQ cleared. */
    int (*build_batch)(const gw_provider_conf *conf, const prov_msg *msgs, size_t n,
                       prov_req *req, prov_result *res);

    /* Classifies the answer for each message: RES[i] for MSGS[i]. A
     * recipient the answer does not mention is PROV_UNKNOWN (the carrier
     * may have sent it). */
    void (*parse_batch)(const gw_provider_conf *conf, const prov_msg *msgs, size_t n,
                        const prov_http_response *resp, prov_result *res);

    /* Checks what the carrier needs of account CONF beyond the config
     * loader's checks (e.g. a base_url where there is no public default).
     * Returns 0, or -1 with a reason in ERR. */
    int (*check_conf)(const gw_provider_conf *conf, char *err, size_t errlen);
} prov_ops;

/* The operations of carrier TYPE, or NULL. */
const prov_ops *prov_ops_find(const char *type);

/* ---- the registry of accounts ---- */

typedef struct prov_registry prov_registry;

/* Builds the accounts of CFG in order of preference: [sms] default_provider
 * first, then ascending priority, then file order. With no [provider]
 * section a "console" account writing to stdout is used (and logged).
 * CFG and HTTP (required) must outlive the registry: the accounts point
 * into CFG. Returns NULL with a reason in ERR (unknown type, an account
 * its carrier cannot use, e.g. kannel without base_url; OOM). */
prov_registry *prov_registry_new(const gw_config *cfg, prov_http *http, char *err,
                                 size_t errlen);

/* Cancels sends in flight (their callbacks are not called) and frees. */
void prov_registry_free(prov_registry *r);

size_t prov_registry_count(const prov_registry *r);

/* Account I's configuration (name, type, max_tps, ...). */
const gw_provider_conf *prov_registry_conf(const prov_registry *r, size_t i);

/* The first account in order of preference that may send now: not paused
 * and its circuit not open (a half-open circuit lets one probe through at a
 * time). Returns its index, or -1 with *WAIT_MS (may be NULL) set to the
 * time until one may send. */
int prov_registry_pick(prov_registry *r, int64_t now_ms, int64_t *wait_ms);

/* Pauses account I until UNTIL_MS (a throttle answer, here or seen in Redis
 * from another daemon). A later pause extends, an earlier one is ignored. */
void prov_registry_pause(prov_registry *r, size_t i, int64_t until_ms);

/* The circuit breaker: RETRY and UNKNOWN outcomes in a row open account I's
 * circuit (5 in a row: skipped for 30 s, doubling up to 5 min while probes
 * keep failing); ACCEPTED and PERMANENT close it; THROTTLED does not count.
 * prov_send calls this itself; exposed for tests. */
void prov_registry_note(prov_registry *r, size_t i, prov_outcome o, int64_t now_ms);

/* 1 while account I's circuit is open (or half-open with its probe out). */
int prov_registry_broken(const prov_registry *r, size_t i, int64_t now_ms);

/* Called once per prov_send, from the loop, with the classified result. */
typedef void prov_send_cb(prov_registry *r, size_t account, const prov_result *res,
                          void *arg);

/* Sends MSG through account I (MSG is copied as needed). Returns 0 (CB is
 * called later from the loop, never inside prov_send), or -1 when the
 * request cannot be built or started (CB is not called; RES, when not NULL,
 * says why). Before CB runs, the outcome is noted for the breaker
 * (prov_registry_note, at gw_clock_now_ms()) and a THROTTLED answer pauses
 * the account for its retry_after_ms. CB may free the registry. Sending
 * through a half-open account makes that send its probe. */
int prov_send(prov_registry *r, size_t i, const prov_msg *msg, prov_send_cb *cb, void *arg,
              prov_result *res);

/* Messages one request through account I may carry (>= 1). */
size_t prov_registry_max_recipients(const prov_registry *r, size_t i);

/* Called once per prov_send_batch, from the loop: RES[i] for MSGS[i]. */
typedef void prov_batch_cb(prov_registry *r, size_t account, const prov_result *res, size_t n,
                           void *arg);

/* Sends MSGS[0..N) (one text, distinct numbers, N <= max_recipients)
 * through account I in one request (N == 1, or a carrier without
 * build_batch: exactly prov_send). The breaker notes one outcome per
 * request: ACCEPTED when any message was accepted, else PERMANENT when all
 * were refused for good, else THROTTLED when any was throttled (which also
 * pauses the account), else RETRY/UNKNOWN. Returns 0 (CB later from
 * the loop), or -1 (CB not called; RES, when not NULL, holds one reason). */
int prov_send_batch(prov_registry *r, size_t i, const prov_msg *msgs, size_t n,
                    prov_batch_cb *cb, void *arg, prov_result *res);

/* Sends in flight. */
size_t prov_registry_pending(const prov_registry *r);

#endif
