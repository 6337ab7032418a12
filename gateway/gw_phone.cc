/* gw_phone.cc - Chinese mobile numbers to E.164 through libphonenumber; see gw_phone.h.
 *
 * A C face over the C++ PhoneNumberUtil singleton (thread safe, owned by
 * the library). No state of its own. The input is first folded to ASCII
 * (full-width digits, plus, hyphen, parentheses and the ideographic space)
 * and checked for characters no written phone number has, so letters are
 * never read as vanity digits. Every C++ exception stops at this file's
 * boundary: the extern "C" functions never throw.
 *
 * Roster imports normalise a million numbers, and libphonenumber takes
 * about 20 us per number. Numbers written as 11 digits starting with 1
 * (with optional separators and +86 / 0086 / 86) are therefore answered
 * from a memo of libphonenumber's own verdict per 7-digit number block
 * (号段: CN metadata decides mobile validity on at most the first 5 digits).
 * The memo only ever holds "valid mobile" or "not": anything not memoised
 * as valid goes through the full Parse path, so reasons are unchanged.
 * Entries are relaxed atomics written with idempotent values: thread safe. */
#include "gw_phone.h"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include <phonenumbers/phonenumber.pb.h>
#include <phonenumbers/phonenumberutil.h>

using i18n::phonenumbers::PhoneNumber;
using i18n::phonenumbers::PhoneNumberUtil;

#define PHONE_INPUT_MAX 64

static int phone_fail(char *err, size_t errlen, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s", why);
    return -1;
}

/* Folds INPUT to ASCII into OUT (at least PHONE_INPUT_MAX + 1 bytes: folding
 * only shrinks). Returns 0, or -1 when a character cannot be part of a
 * written phone number. */
static int phone_fold(const char *input, char *out)
{
    const unsigned char *s = (const unsigned char *)input;
    size_t n = 0;
    while (*s != '\0') {
        unsigned char c = s[0];
        if (c == 0xEF && s[1] == 0xBC && s[2] >= 0x90 && s[2] <= 0x99) {
            out[n++] = (char)('0' + (s[2] - 0x90));       /* U+FF10..FF19 */
            s += 3;
        } else if (c == 0xEF && s[1] == 0xBC &&
                   (s[2] == 0x8B || s[2] == 0x8D || s[2] == 0x88 || s[2] == 0x89)) {
            out[n++] = s[2] == 0x8B ? '+' : s[2] == 0x8D ? '-' : s[2] == 0x88 ? '(' : ')';
            s += 3;
        } else if (c == 0xE3 && s[1] == 0x80 && s[2] == 0x80) {
            out[n++] = ' ';                                /* U+3000 */
            s += 3;
        } else if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == ' ' || c == '\t' ||
                   c == '(' || c == ')' || c == '.' || c == '/') {
            out[n++] = c == '\t' ? ' ' : (char)c;
            s++;
        } else {
            return -1;
        }
    }
    out[n] = '\0';
    return 0;
}

/* ---- fast path for the common written forms ---- */

enum { BLOCK_UNKNOWN = 0, BLOCK_MOBILE = 1, BLOCK_OTHER = 2 };
static std::atomic<unsigned char> phone_blocks[1000000]; /* 1xxxxxx -> verdict */

/* GetNumberType answers UNKNOWN for an invalid number (IsValidNumber is
 * "type is not UNKNOWN" inside libphonenumber), so one call decides both. */
static bool phone_is_mobile(const PhoneNumberUtil *util, const PhoneNumber &number)
{
    PhoneNumberUtil::PhoneNumberType type = util->GetNumberType(number);
    return type == PhoneNumberUtil::MOBILE || type == PhoneNumberUtil::FIXED_LINE_OR_MOBILE;
}

/* Writes "+86" and the 11 national digits to OUT when FOLDED is a Chinese
 * mobile number in a common form and its block is known valid. Returns 0,
 * or -1 when the full path must decide. */
static int phone_fast(const PhoneNumberUtil *util, const char *folded, char *out, size_t outlen)
{
    char d[20];
    size_t n = 0;
    for (const char *s = folded; *s != '\0'; s++) {
        if (*s == ' ' || *s == '-' || *s == '(' || *s == ')')
            continue;
        if (n == sizeof d - 1 || ((*s < '0' || *s > '9') && !(*s == '+' && n == 0)))
            return -1;
        d[n++] = *s;
    }
    d[n] = '\0';
    const char *nat = d;
    if (n == 14 && memcmp(d, "+86", 3) == 0)
        nat = d + 3;
    else if (n == 15 && memcmp(d, "0086", 4) == 0)
        nat = d + 4;
    else if (n == 13 && memcmp(d, "86", 2) == 0)
        nat = d + 2;
    else if (n != 11)
        return -1;
    if (nat[0] != '1' || outlen < 15)
        return -1;

    uint64_t national = 0;
    for (int i = 0; i < 11; i++)
        national = national * 10 + (uint64_t)(nat[i] - '0');
    size_t block = (size_t)(national / 10000 % 1000000);
    unsigned char verdict = phone_blocks[block].load(std::memory_order_relaxed);
    if (verdict == BLOCK_UNKNOWN) {
        PhoneNumber number;
        number.set_country_code(86);
        number.set_national_number(national);
        verdict = phone_is_mobile(util, number) ? BLOCK_MOBILE : BLOCK_OTHER;
        phone_blocks[block].store(verdict, std::memory_order_relaxed);
    }
    if (verdict != BLOCK_MOBILE)
        return -1;
    memcpy(out, "+86", 3);
    memcpy(out + 3, nat, 12);
    return 0;
}

/* ---- the full path ---- */

static int phone_normalize(const char *input, char *out, size_t outlen, char *err, size_t errlen)
{
    if (input == NULL || input[0] == '\0')
        return phone_fail(err, errlen, "empty");
    if (strlen(input) > PHONE_INPUT_MAX)
        return phone_fail(err, errlen, "too long");
    char folded[PHONE_INPUT_MAX + 1];
    if (phone_fold(input, folded) != 0)
        return phone_fail(err, errlen, "not a number");

    const PhoneNumberUtil *util = PhoneNumberUtil::GetInstance();
    if (phone_fast(util, folded, out, outlen) == 0)
        return 0;
    PhoneNumber number;
    switch (util->Parse(folded, "CN", &number)) {
    case PhoneNumberUtil::NO_PARSING_ERROR: break;
    case PhoneNumberUtil::INVALID_COUNTRY_CODE_ERROR: return phone_fail(err, errlen, "not a Chinese number");
    case PhoneNumberUtil::TOO_SHORT_AFTER_IDD:
    case PhoneNumberUtil::TOO_SHORT_NSN: return phone_fail(err, errlen, "too short");
    case PhoneNumberUtil::TOO_LONG_NSN: return phone_fail(err, errlen, "too long");
    default: return phone_fail(err, errlen, "not a number");
    }
    if (number.country_code() != 86)
        return phone_fail(err, errlen, "not a Chinese number");
    if (!util->IsValidNumber(number)) {
        PhoneNumberUtil::ValidationResult why = util->IsPossibleNumberWithReason(number);
        return phone_fail(err, errlen, why == PhoneNumberUtil::TOO_SHORT ? "too short"
                                       : why == PhoneNumberUtil::TOO_LONG ? "too long"
                                                                          : "not a valid number");
    }
    PhoneNumberUtil::PhoneNumberType type = util->GetNumberType(number);
    if (type != PhoneNumberUtil::MOBILE && type != PhoneNumberUtil::FIXED_LINE_OR_MOBILE)
        return phone_fail(err, errlen, "not a mobile number");

    std::string e164;
    util->Format(number, PhoneNumberUtil::E164, &e164);
    if (out == NULL || e164.size() + 1 > outlen)
        return phone_fail(err, errlen, "output buffer too small");
    memcpy(out, e164.c_str(), e164.size() + 1);
    return 0;
}

extern "C" int gw_phone_normalize(const char *input, char *out, size_t outlen,
                                  char *err, size_t errlen)
{
    try {
        return phone_normalize(input, out, outlen, err, errlen);
    } catch (...) {
        return phone_fail(err, errlen, "not a valid number");
    }
}

extern "C" void gw_phone_mask(const char *e164, char *out, size_t outlen)
{
    if (out == NULL || outlen == 0)
        return;
    size_t len = e164 != NULL ? strlen(e164) : 0;
    int ok = len >= 12 && len <= 16 && e164[0] == '+';
    for (size_t i = 1; ok && i < len; i++)
        ok = e164[i] >= '0' && e164[i] <= '9';
    if (!ok) {
        snprintf(out, outlen, "***");
        return;
    }
    /* "+86" and three digits, the hidden middle, the last four digits. */
    char buf[20];
    memcpy(buf, e164, 6);
    memset(buf + 6, '*', len - 10);
    memcpy(buf + len - 4, e164 + len - 4, 4);
    buf[len] = '\0';
    snprintf(out, outlen, "%s", buf);
}
