/* gw_keyword.h - what an inbound SMS asks for (SPEC.md, Inbound SMS
 * keywords), and the checks of carriers' inbound requests.
 *
 * A keyword is the whole message: trimmed (ASCII and Unicode spaces,
 * including the ideographic space U+3000), full-width forms folded to ASCII
 * (Ｔ Ｄ ？ -> T D ?), case ignored. "退订" and "TD" opt out; "please stop
 * sending" does not. Pure functions; no allocation. */
#ifndef GW_KEYWORD_H
#define GW_KEYWORD_H

#include <stddef.h>

typedef enum gw_keyword {
    GW_KW_OTHER = 0,    /* anything else: the help text, and the coordinators' inbox */
    GW_KW_OPTOUT,       /* TD, T, 退订, STOP */
    GW_KW_OPTIN,        /* START, 订阅 */
    GW_KW_HELP,         /* HELP, 帮助, ? */
    GW_KW_STATUS,       /* CX, 查询, BAL */
} gw_keyword;

/* "other", "optout", "optin", "help", "status" (metric labels). */
const char *gw_keyword_name(gw_keyword k);

/* Folds TEXT[0..LEN) into OUT (at most OUTLEN-1 bytes, NUL-terminated):
 * trimmed, full-width ASCII forms (U+FF01..U+FF5E) and U+3000 turned into
 * their ASCII counterparts, ASCII letters upper-cased; other characters
 * kept. Returns the length written, or -1 when TEXT is not valid UTF-8 or
 * OUT is too small. */
int gw_keyword_fold(const char *text, size_t len, char *out, size_t outlen);

/* The keyword TEXT[0..LEN) is, GW_KW_OTHER when none (or invalid UTF-8). */
gw_keyword gw_keyword_match(const char *text, size_t len);

/* ---- Twilio's request signature ---- */

typedef struct gw_kv {
    const char *key;
    const char *value;
} gw_kv;

/* Twilio's X-Twilio-Signature for a POST to URL (the full URL Twilio used,
 * with scheme, host, path and query) with form PARAMS[0..N): base64 of
 * HMAC-SHA1(AUTH_TOKEN, URL followed by each parameter's name and value,
 * sorted by name). Writes the base64 text (28 characters) into OUT
 * (OUTLEN >= 29). Returns 0, or -1 on a failure of the crypto library. */
int gw_twilio_signature(const char *auth_token, const char *url, const gw_kv *params,
                        size_t n, char *out, size_t outlen);

/* 1 when GIVEN equals the signature of the request, compared in constant
 * time; 0 otherwise (also for a NULL or malformed GIVEN). */
int gw_twilio_signature_ok(const char *auth_token, const char *url, const gw_kv *params,
                           size_t n, const char *given);

#endif
