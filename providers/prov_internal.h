/* prov_internal.h - what the carrier files of providers/ share: a growing
 * string buffer with a percent-encoder (for query strings and form bodies),
 * request assembly, and the classification every carrier falls back on
 * (no answer, an HTTP status with nothing carrier-specific in it).
 *
 * Not for use outside providers/. Pure functions of their arguments; no
 * I/O, no global state. */
#ifndef PROV_INTERNAL_H
#define PROV_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "prov.h"

/* ---- the carriers' operation tables (one per file) ---- */

extern const prov_ops prov_africastalking_ops;
extern const prov_ops prov_twilio_ops;
extern const prov_ops prov_kannel_ops;
extern const prov_ops prov_console_ops;

/* ---- string buffer ---- */

/* A NUL-terminated string that grows; after a failed allocation every
 * later call does nothing and prov_buf_take returns NULL. Zero-initialise. */
typedef struct prov_buf {
    char *data;
    size_t len, cap;
    int failed;
} prov_buf;

void prov_buf_add(prov_buf *b, const char *s, size_t n);
void prov_buf_puts(prov_buf *b, const char *s);

/* Appends S (N bytes) percent-encoded: letters, digits and "-._~" as they
 * are, every other byte as %XX (so a space is %20 and '+' is %2B). Right
 * for both query strings and application/x-www-form-urlencoded bodies. */
void prov_buf_escape(prov_buf *b, const char *s, size_t n);

/* Appends "NAME=VALUE" (VALUE NUL-terminated, percent-encoded), preceded by
 * '&' unless B is empty or ends in '?'. */
void prov_buf_param(prov_buf *b, const char *name, const char *value);

/* Like prov_buf_param for a value of LEN bytes. */
void prov_buf_param_n(prov_buf *b, const char *name, const char *value, size_t len);

/* Appends "NAME=VALUE" as prov_buf_param does, VALUE being TMPL with each
 * "%i" replaced by ID percent-encoded (a delivery-report URL template);
 * other %-codes are kept for the carrier to fill. */
void prov_buf_param_template(prov_buf *b, const char *name, const char *tmpl, const char *id);

/* Hands over the string (caller frees), or NULL after a failed allocation
 * (B is freed then). B is empty afterwards. */
char *prov_buf_take(prov_buf *b);

void prov_buf_free(prov_buf *b);

/* ---- requests ---- */

/* The account's base URL (its base_url, else OPS' default; NULL when
 * neither) without trailing slashes; its length in *LEN. */
const char *prov_base_url(const gw_provider_conf *conf, const prov_ops *ops, size_t *len);

/* Adds the header line "NAME: VALUE" to REQ. Returns 0, or -1 (OOM, or
 * more than the 8 slots). */
int prov_req_header(prov_req *req, const char *name, const char *value);

/* Points REQ->http at REQ's strings, with METHOD and the account's
 * timeout_ms. Call after the url, body, userpwd and headers are set. */
void prov_req_finish(prov_req *req, const char *method, const gw_provider_conf *conf);

/* A build that cannot go on: clears REQ, sets RES (OUTCOME and the reason
 * from FMT) and returns -1, for build_request to return. */
int prov_build_failed(prov_req *req, prov_result *res, prov_outcome outcome, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

/* ---- numbers ---- */

/* 1 when A and B are the same number written alike or not: their digits,
 * every other character ignored, are equal and not empty ("+8613800000001"
 * and "8613800000001" are the same). NULL is no number. */
int prov_same_number(const char *a, const char *b);

/* ---- results ---- */

/* Sets RES's outcome and reason. The reason is cut to fit, control
 * characters become spaces, and any run of 7 or more digits (with a '+'
 * before it or not) becomes "***", so a carrier's text that quotes the
 * number never carries it into logs or dead letters. */
void prov_result_set(prov_result *res, prov_outcome outcome, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The same with a va_list. */
void prov_result_vset(prov_result *res, prov_outcome outcome, const char *fmt, va_list ap);

/* Writes into OUT a short readable excerpt of an answer's body: the first
 * line at most, up to OUTLEN - 1 bytes cut on a UTF-8 boundary, blanks
 * trimmed; "" when the body is empty. */
void prov_body_excerpt(const char *body, size_t len, char *out, size_t outlen);

/* Fills RES as THROTTLED: retry_after_ms from RESP's Retry-After (capped at
 * an hour), else 1000; the reason from FMT. */
void prov_result_throttled(prov_result *res, const prov_http_response *resp, const char *fmt,
                           ...) __attribute__((format(printf, 3, 4)));

/* When no HTTP answer came (RESP->ok = 0): RETRY when the request never
 * left (not_sent: refused, unresolved), else UNKNOWN (timed out, or the
 * answer was lost: the carrier may have acted on it). */
void prov_classify_no_answer(const prov_http_response *resp, prov_result *res);

/* What an HTTP status means when the carrier's body said nothing more:
 * 429 (and 503 with Retry-After) THROTTLED; 401, 403, 404, 405, 408, 1xx,
 * 3xx RETRY (this account or its URL is wrong; another may work); other
 * 4xx PERMANENT; 504 UNKNOWN (a gateway gave up waiting on the carrier);
 * other 5xx RETRY; 2xx UNKNOWN (accepted or not, we could not read it).
 * The reason names the status and the body's excerpt. Sets http_status. */
void prov_classify_status(const prov_http_response *resp, prov_result *res);

#endif
