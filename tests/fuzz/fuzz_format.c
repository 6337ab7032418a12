/* fuzz_format.c - libFuzzer target for gw_money_parse, gw_date_parse and
 * gw_name_mask (gateway/gw_format.c).
 *
 * The input (as a NUL-terminated string) goes to all three. Checks that
 * none crashes or reads past the string, and: a parsed amount is
 * 0..100,000,000 yuan in fen and survives gw_money_format and a second
 * parse; a parsed date is in 1900..2199 with a real day and prints back as
 * the input; a masked name always ends inside its buffer (sizes taken from
 * the input, 1..128 bytes) and never grows the name, and for valid UTF-8 it
 * is valid UTF-8 (no character split). */
#include <string.h>

#include "fuzz_check.h"
#include "gw_format.h"

/* 1 when S is well-formed UTF-8 (reference decoder, independent of the
 * code under test). */
static int utf8_ok(const unsigned char *s)
{
    while (*s != '\0') {
        unsigned c = *s, n, v;
        if (c < 0x80) {
            s++;
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
        for (unsigned i = 1; i < n; i++) {
            if ((s[i] & 0xC0) != 0x80)
                return 0;
            v = v << 6 | (s[i] & 0x3F);
        }
        if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800) || (n == 4 && v < 0x10000) ||
            v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        s += n;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    FUZZ_CHECK(s != NULL);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';

    int64_t fen = -2;
    char err[64] = "";
    if (gw_money_parse(s, &fen, err, sizeof err) == 0) {
        FUZZ_CHECK(fen >= 0 && fen <= 100000000LL * 100);
        char text[32];
        int64_t again = -2;
        FUZZ_CHECK(gw_money_format(fen, text, sizeof text) > 0);
        FUZZ_CHECK(gw_money_parse(text, &again, NULL, 0) == 0 && again == fen);
    } else {
        FUZZ_CHECK(err[0] != '\0');
    }

    int y = 0, m = 0, d = 0;
    if (gw_date_parse(s, &y, &m, &d) == 0) {
        FUZZ_CHECK(y >= 1900 && y <= 2199 && m >= 1 && m <= 12 && d >= 1 && d <= 31);
        char text[16];
        snprintf(text, sizeof text, "%04d-%02d-%02d", y, m, d);
        FUZZ_CHECK(strcmp(text, s) == 0);
    }

    size_t outlen = size > 0 ? 1 + data[0] % 128 : 1;
    char *out = malloc(outlen);
    FUZZ_CHECK(out != NULL);
    gw_name_mask(s, out, outlen);
    size_t olen = strnlen(out, outlen);
    FUZZ_CHECK(olen < outlen);
    FUZZ_CHECK(olen <= strlen(s));
    if (utf8_ok((const unsigned char *)s))
        FUZZ_CHECK(utf8_ok((const unsigned char *)out));
    free(out);
    free(s);
    return 0;
}
