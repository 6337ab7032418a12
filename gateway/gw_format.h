/* gw_format.h - parsing and formatting of money, dates and names.
 *
 * Pure functions, no allocation. The words around the numbers ("元",
 * "yuan", "年") are texts in templates/, not here: these functions produce
 * the numeric parts that the templates place. */
#ifndef GW_FORMAT_H
#define GW_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/* Parses a yuan amount with at most two decimals ("100", "100.5",
 * "1234.56", "0") into fen. Leading/trailing spaces are allowed; signs,
 * exponents, thousands separators, three decimals, empty strings and values
 * above 100,000,000 yuan are rejected.
 * Returns 0 and sets *FEN, or -1 with a reason in ERR. */
int gw_money_parse(const char *s, int64_t *fen, char *err, size_t errlen);

/* Formats FEN (>= 0) as "100" when whole yuan, else "1234.56" (always two
 * decimals: 10050 fen -> "100.50"). Returns the length written, or -1 if
 * OUT is too small. */
int gw_money_format(int64_t fen, char *out, size_t outlen);

/* Validates "YYYY-MM-DD" as a real calendar date (leap years included,
 * years 1900..2199). Returns 0 and fills *Y *M *D, or -1. */
int gw_date_parse(const char *s, int *y, int *m, int *d);

/* What gw_date_entry_parse found wrong with a typed date. */
#define GW_DATE_ENTRY_FORMAT (-1)       /* not 8 digits nor 4 digits */
#define GW_DATE_ENTRY_NO_SUCH_DAY (-2)  /* the digits name no calendar day */

/* Parses a date typed on a phone keypad: 8 digits YYYYMMDD ("20260928"),
 * or 4 digits MMDD ("0928") meaning that day of THIS_YEAR. Nothing else is
 * accepted (no separators, no spaces). Returns 0 and fills *Y *M *D, or
 * GW_DATE_ENTRY_FORMAT, or GW_DATE_ENTRY_NO_SUCH_DAY ("20260230", "1301",
 * a year outside 1900..2199 as for gw_date_parse). */
int gw_date_entry_parse(const char *s, int this_year, int *y, int *m, int *d);

/* Parses an RFC 3339 time ("2026-12-01T08:00:00+08:00", "...Z", with or
 * without fractional seconds; 't' and 'z' accepted) into Unix milliseconds.
 * Returns 0, or -1 when it is not one (a missing offset is an error: the
 * caller must say which zone it means). */
int gw_rfc3339_parse(const char *s, int64_t *ms);

/* Days since 1970-01-01 of the proleptic Gregorian date Y-M-D. */
int64_t gw_days_from_civil(int y, int m, int d);

/* Masks a person's name for a household list: keeps the first character
 * and, for names of three or more characters, the last; every other
 * character becomes '*' ("张三" -> "张*", "王小明" -> "王*明",
 * "欧阳小明" -> "欧**明"). Latin names mask each word after its first
 * letter ("John Smith" -> "J*** S****"). Works on UTF-8 characters, never
 * splits one. Always NUL-terminates OUT. */
void gw_name_mask(const char *name, char *out, size_t outlen);

/* The length (1..4) of the well-formed UTF-8 character at S[0..LEN), or 0
 * when it is not one (overlongs, surrogates and values above U+10FFFF are
 * not). LEN must be at least 1. */
size_t gw_utf8_char(const unsigned char *s, size_t len);

/* Writes N in decimal at OUT, which has room for 20 characters; no NUL.
 * Returns the number of characters. For hot paths where snprintf's
 * generality costs more than the work. */
size_t gw_uint_format(char *out, uint64_t n);

#endif
