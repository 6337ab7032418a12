/* fuzz_phone.cc - libFuzzer target for gw_phone_normalize
 * (gateway/gw_phone.cc, over libphonenumber).
 *
 * The input (as a NUL-terminated string) is normalised. Checks that nothing
 * crashes, throws out of the C face, leaks or trips a sanitizer; that a
 * refusal has a reason; that a success is "+86" and 11 digits starting
 * with 1 and normalises to itself again (the memoised fast path and the
 * full libphonenumber path agree); and that gw_phone_mask of the result
 * hides its middle digits. A too-small output buffer (size from the input)
 * must be refused, never overrun. */
#include <cstring>

#include "fuzz_check.h"
#include "gw_phone.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = static_cast<char *>(malloc(size + 1));
    FUZZ_CHECK(s != nullptr);
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';

    char out[32], err[64] = "";
    memset(out, 'Z', sizeof out);
    if (gw_phone_normalize(s, out, sizeof out, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != nullptr);
        free(s);
        return 0;
    }
    FUZZ_CHECK(strlen(out) == 14 && memcmp(out, "+861", 4) == 0);
    for (size_t i = 1; i < 14; i++)
        FUZZ_CHECK(out[i] >= '0' && out[i] <= '9');

    char again[32];
    FUZZ_CHECK(gw_phone_normalize(out, again, sizeof again, nullptr, 0) == 0);
    FUZZ_CHECK(strcmp(again, out) == 0);
    /* "+86 138 1234 5678" spelled with spaces takes the same way again. */
    char spaced[32];
    snprintf(spaced, sizeof spaced, "+86 %.3s %.4s %.4s", out + 3, out + 6, out + 10);
    FUZZ_CHECK(gw_phone_normalize(spaced, again, sizeof again, nullptr, 0) == 0);
    FUZZ_CHECK(strcmp(again, out) == 0);

    char masked[32];
    gw_phone_mask(out, masked, sizeof masked);
    FUZZ_CHECK(strlen(masked) == 14 && memcmp(masked, out, 6) == 0 &&
               memcmp(masked + 6, "****", 4) == 0 && memcmp(masked + 10, out + 10, 4) == 0);

    /* Too small a buffer is refused and not written past its end. */
    size_t small = size > 0 ? data[0] % 15 : 0;
    char tiny[16];
    memset(tiny, 'Z', sizeof tiny);
    FUZZ_CHECK(gw_phone_normalize(s, small > 0 ? tiny : nullptr, small, err, sizeof err) != 0);
    for (size_t i = small; i < sizeof tiny; i++)
        FUZZ_CHECK(tiny[i] == 'Z');
    free(s);
    return 0;
}
