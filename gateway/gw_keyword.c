/* gw_keyword.c - inbound SMS keywords and Twilio's request signature; see
 * gw_keyword.h.
 *
 * Keywords: a message is folded (trimmed, full-width forms to ASCII, upper
 * case) and the result compared whole against a table. Folding only keeps or
 * shrinks characters, so a message whose fold does not fit a small buffer is
 * longer than any keyword and is GW_KW_OTHER.
 *
 * Signatures: HMAC-SHA1 through OpenSSL's EVP_MAC, fed the URL and then the
 * parameters one by one in sorted order, so nothing is concatenated or
 * allocated here (OpenSSL allocates its own context). The order is found by
 * selection, quadratic in the number of parameters: carriers' forms are
 * small (gw_form accepts at most 64 pairs).
 *
 * Pure functions, safe from any thread. */
#include "gw_keyword.h"
#include "gw_format.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

/* ---- UTF-8 and folding ---- */

/* Decodes the character at S[0..LEN) (LEN >= 1) into *CP. Returns its
 * length in bytes, or 0 when it is not well-formed UTF-8. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t n = gw_utf8_char(s, len);
    switch (n) {
    case 1:
        *cp = s[0];
        break;
    case 2:
        *cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
        break;
    case 3:
        *cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
        break;
    case 4:
        *cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
              (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
        break;
    default:
        break;
    }
    return n;
}

/* 1 for the characters trimmed around a message: Unicode's White_Space set
 * (ASCII tab..CR and space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000), plus the invisible U+200B (zero-width
 * space) and U+FEFF (byte order mark) that phones and copy-paste leave
 * around a word. */
static int is_space(uint32_t cp)
{
    if (cp == ' ' || (cp >= '\t' && cp <= '\r'))
        return 1;
    if (cp < 0x85)
        return 0;
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200B) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 ||
           cp == 0xFEFF;
}

int gw_keyword_fold(const char *text, size_t len, char *out, size_t outlen)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t start = 0, end = 0, w = 0;
    int seen = 0;
    uint32_t cp = 0;

    if ((text == NULL && len > 0) || out == NULL || outlen == 0)
        return -1;
    /* One pass over the whole text: it must all be valid UTF-8, and the
     * first and last characters that are not spaces bound what is kept. */
    for (size_t i = 0; i < len;) {
        size_t n = utf8_decode(s + i, len - i, &cp);
        if (n == 0)
            return -1;
        if (!is_space(cp)) {
            if (!seen)
                start = i;
            seen = 1;
            end = i + n;
        }
        i += n;
    }
    for (size_t i = start; i < end;) {
        size_t n = utf8_decode(s + i, end - i, &cp);
        const unsigned char *copy = s + i;
        size_t ncopy = n;
        unsigned char ascii;
        if (cp >= 0xFF01 && cp <= 0xFF5E)
            cp = cp - 0xFF01 + 0x21;   /* full-width ！..～ -> ASCII !..~ */
        else if (cp == 0x3000)
            cp = ' ';                  /* ideographic space inside the text */
        if (cp < 0x80) {
            ascii = (unsigned char)(cp >= 'a' && cp <= 'z' ? cp - 'a' + 'A' : cp);
            copy = &ascii;
            ncopy = 1;
        }
        if (ncopy > outlen - 1 - w)
            return -1;
        memcpy(out + w, copy, ncopy);
        w += ncopy;
        i += n;
    }
    if (w > INT_MAX)
        return -1;
    out[w] = '\0';
    return (int)w;
}

/* ---- keywords ---- */

/* Every keyword in folded form. */
static const struct {
    const char *folded;
    gw_keyword kw;
} keywords[] = {
    {"TD", GW_KW_OPTOUT},    {"T", GW_KW_OPTOUT},     {"退订", GW_KW_OPTOUT},
    {"STOP", GW_KW_OPTOUT},  {"START", GW_KW_OPTIN},  {"订阅", GW_KW_OPTIN},
    {"HELP", GW_KW_HELP},    {"帮助", GW_KW_HELP},    {"?", GW_KW_HELP},
    {"CX", GW_KW_STATUS},    {"查询", GW_KW_STATUS},  {"BAL", GW_KW_STATUS},
};

/* Room for the longest folded keyword ("退订" and its kin: 6 bytes) with
 * margin; a fold that does not fit is no keyword. */
#define KEYWORD_FOLD_MAX 32

const char *gw_keyword_name(gw_keyword k)
{
    switch (k) {
    case GW_KW_OPTOUT:
        return "optout";
    case GW_KW_OPTIN:
        return "optin";
    case GW_KW_HELP:
        return "help";
    case GW_KW_STATUS:
        return "status";
    case GW_KW_OTHER:
    default:
        return "other";
    }
}

gw_keyword gw_keyword_match(const char *text, size_t len)
{
    char folded[KEYWORD_FOLD_MAX];
    int n = gw_keyword_fold(text, len, folded, sizeof folded);
    if (n <= 0)
        return GW_KW_OTHER;
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strlen(keywords[i].folded) == (size_t)n && memcmp(keywords[i].folded, folded, (size_t)n) == 0)
            return keywords[i].kw;
    return GW_KW_OTHER;
}

/* ---- Twilio's request signature ---- */

#define SHA1_LEN 20
#define SIGNATURE_LEN 28   /* base64 of 20 bytes */

/* Order of the signed parameters: by name in byte order (Twilio sorts
 * "case-sensitive, Unix-style"), a name given twice by value, and equal
 * pairs by their position so that each is fed exactly once. */
static int param_before(const gw_kv *params, size_t a, size_t b)
{
    int c = strcmp(params[a].key, params[b].key);
    if (c == 0)
        c = strcmp(params[a].value, params[b].value);
    return c < 0 || (c == 0 && a < b);
}

/* Feeds URL and the sorted pairs into CTX, already keyed. Returns 0 or -1. */
static int twilio_feed(EVP_MAC_CTX *ctx, const char *url, const gw_kv *params, size_t n)
{
    size_t prev = SIZE_MAX;

    if (!EVP_MAC_update(ctx, (const unsigned char *)url, strlen(url)))
        return -1;
    /* Each round picks the smallest pair that comes after the previous
     * one: N rounds of N comparisons, no buffer needed. */
    for (size_t round = 0; round < n; round++) {
        size_t next = SIZE_MAX;
        for (size_t i = 0; i < n; i++) {
            if (prev != SIZE_MAX && !param_before(params, prev, i))
                continue;
            if (next == SIZE_MAX || param_before(params, i, next))
                next = i;
        }
        if (next == SIZE_MAX)
            return -1;   /* cannot happen: the N pairs are totally ordered */
        if (!EVP_MAC_update(ctx, (const unsigned char *)params[next].key, strlen(params[next].key)) ||
            !EVP_MAC_update(ctx, (const unsigned char *)params[next].value,
                            strlen(params[next].value)))
            return -1;
        prev = next;
    }
    return 0;
}

int gw_twilio_signature(const char *auth_token, const char *url, const gw_kv *params,
                        size_t n, char *out, size_t outlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    /* A non-NULL key even for an empty token: EVP_MAC_init skips a NULL key
     * and would then have none to finish with. */
    static const unsigned char empty_key[1] = {0};
    char digest[] = "SHA1";
    OSSL_PARAM mac_params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end(),
    };
    EVP_MAC *hmac = NULL;
    EVP_MAC_CTX *ctx = NULL;
    size_t maclen = 0;
    int rc = -1;

    if (auth_token == NULL || url == NULL || (params == NULL && n > 0) || out == NULL ||
        outlen < SIGNATURE_LEN + 1)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (params[i].key == NULL || params[i].value == NULL)
            return -1;

    hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
    if (hmac == NULL)
        goto done;
    ctx = EVP_MAC_CTX_new(hmac);
    if (ctx == NULL)
        goto done;
    if (!EVP_MAC_init(ctx, auth_token[0] != '\0' ? (const unsigned char *)auth_token : empty_key,
                      strlen(auth_token), mac_params))
        goto done;
    if (twilio_feed(ctx, url, params, n) != 0)
        goto done;
    if (!EVP_MAC_final(ctx, mac, &maclen, sizeof mac) || maclen != SHA1_LEN)
        goto done;
    /* EVP_EncodeBlock writes 4 characters per 3 bytes and a NUL: 28 + 1. */
    if (EVP_EncodeBlock((unsigned char *)out, mac, SHA1_LEN) != SIGNATURE_LEN)
        goto done;
    rc = 0;
done:
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(hmac);
    OPENSSL_cleanse(mac, sizeof mac);
    return rc;
}

int gw_twilio_signature_ok(const char *auth_token, const char *url, const gw_kv *params,
                           size_t n, const char *given)
{
    char expected[SIGNATURE_LEN + 1];

    /* The length is public (every signature has 28 characters), so it is
     * checked first; the bytes are then compared in constant time. */
    if (given == NULL || strnlen(given, SIGNATURE_LEN + 1) != SIGNATURE_LEN)
        return 0;
    if (gw_twilio_signature(auth_token, url, params, n, expected, sizeof expected) != 0)
        return 0;
    return CRYPTO_memcmp(expected, given, SIGNATURE_LEN) == 0;
}
