/* gw_phone.h - Chinese phone numbers to E.164, through libphonenumber.
 *
 * A small C face over the C++ library (gw_phone.cc). Thread safe as
 * libphonenumber's PhoneNumberUtil singleton is; no state of its own. */
#ifndef GW_PHONE_H
#define GW_PHONE_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Normalises INPUT, a Chinese mobile number in any common written form
 * ("13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678",
 * "0086 13812345678", "86-138...", full-width digits "１３８…"), to E.164
 * ("+8613812345678") in OUT.
 * Returns 0 on success; -1 when INPUT is not a valid Chinese mobile number,
 * with a short English reason in ERR ("not a number", "too short",
 * "not a valid number", "not a mobile number", "not a Chinese number").
 * OUT needs at least 20 bytes. */
int gw_phone_normalize(const char *input, char *out, size_t outlen,
                       char *err, size_t errlen);

/* Writes a masked form of an E.164 number for logs: "+86138****5678".
 * Anything that is not E.164 is masked whole ("***"). */
void gw_phone_mask(const char *e164, char *out, size_t outlen);

#ifdef __cplusplus
}
#endif
#endif
