/* fuzz_tpl.c - libFuzzer target for the templates' text functions:
 * tpl_utf8_valid, tpl_ussd_length (templates/tpl_encoding.c) and tpl_page
 * (templates/tpl_page.c).
 *
 * Input: byte 0 picks the MORE/BACK labels and back_on_first, byte 1 the
 * screen index; the rest is the text (a NUL ends it for tpl_page).
 * Checks that nothing crashes, leaks or reads out of bounds, and:
 * tpl_utf8_valid agrees with an independent decoder; tpl_ussd_length gives
 * the GSM-7 septets against 182 when tpl_gsm7_encodable, else the UCS-2
 * units against 80; every screen of tpl_page reports the same page count,
 * and with the real labels each screen fits its limit and never splits a
 * character of a valid text. */
#include <string.h>

#include "fuzz_check.h"
#include "tpl.h"

/* 1 when S[0..LEN) is well-formed UTF-8 (reference decoder). */
static int utf8_ok(const unsigned char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        unsigned c = s[i], n, v;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0)
            n = 2, v = c & 0x1F;
        else if ((c & 0xF0) == 0xE0)
            n = 3, v = c & 0x0F;
        else if ((c & 0xF8) == 0xF0)
            n = 4, v = c & 0x07;
        else
            return 0;
        if (len - i < n)
            return 0;
        for (unsigned k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            v = v << 6 | (s[i + k] & 0x3F);
        }
        if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
            v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        i += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The whole input, as (pointer, length): encoding functions. */
    const char *all = (const char *)data;
    FUZZ_CHECK(tpl_utf8_valid(all, size) == utf8_ok(data, size));
    size_t limit = 0, length = tpl_ussd_length(all, size, &limit);
    if (tpl_gsm7_encodable(all, size))
        FUZZ_CHECK(limit == 182 && length == tpl_gsm7_septets(all, size));
    else
        FUZZ_CHECK(limit == 80 && length == tpl_ucs2_units(all, size));

    if (size < 2)
        return 0;
    static const char *const mores[] = {"98 更多", "98 More", NULL, "", "98 ~~~~"};
    static const char *const backs[] = {"0 返回", "0 Back", NULL, "", "0 []"};
    int real = data[0] % 8 < 5;
    const char *more = real ? mores[data[0] % 8] : "x";
    const char *back = real ? backs[data[0] % 8] : "y";
    int back_on_first = (data[0] & 0x80) != 0;
    int index = data[1] < 0xF0 ? data[1] : -(int)(data[1] - 0xEF);
    char *body = malloc(size - 1);
    FUZZ_CHECK(body != NULL);
    memcpy(body, data + 2, size - 2);
    body[size - 2] = '\0';
    size_t blen = strlen(body);
    int body_valid = utf8_ok((const unsigned char *)body, blen);

    char *screen = NULL;
    int pages = tpl_page(body, more, back, back_on_first, index, &screen);
    FUZZ_CHECK(pages >= 1 && screen != NULL);
    FUZZ_CHECK(tpl_page(body, more, back, back_on_first, index, NULL) == pages);
    free(screen);
    /* Every screen in turn (a few at most, to keep executions fast). */
    int last = pages < 12 ? pages : 12;
    for (int i = 0; i < last; i++) {
        FUZZ_CHECK(tpl_page(body, more, back, back_on_first, i, &screen) == pages);
        size_t slen = strlen(screen), lim = 0;
        size_t on_air = tpl_ussd_length(screen, slen, &lim);
        if (real)
            FUZZ_CHECK(on_air <= lim);
        if (body_valid)
            FUZZ_CHECK(utf8_ok((const unsigned char *)screen, slen));
        free(screen);
    }
    free(body);
    return 0;
}
