/* gw_roster.c - the participant roster CSV, parsed as a stream; see gw_roster.h.
 *
 * libcsv splits fields; this file owns line numbers, the header, and the
 * rules of each column. Input is handed to libcsv one line at a time (a
 * piece never extends past a line end: '\n', '\r', or "\r\n" counted once,
 * as libcsv also ends a record at a lone '\r'), so every callback fires
 * while R->line is the line of the byte libcsv is reading; a record that
 * is still open when a piece ends (a quoted field spanning lines, or a
 * chunk ending mid-line) gets its start line then (read from libcsv's
 * public struct: pstate 0 is ROW_NOT_BEGUN, 2 FIELD_BEGUN in libcsv 3.0.x).
 * A record's fields are copied into fixed slots of the parser (no
 * allocation per row or field): a value longer than a slot cannot fit any
 * participant field and is rejected as too long. One parser per import,
 * not thread safe. */
#include "gw_roster.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_format.h"
#include "gw_phone.h"

#define ROSTER_SLOT 256                 /* longest value kept; longer is "too long" */

enum roster_column {
    COL_ID, COL_PHONE, COL_NAME, COL_ID_LAST4, COL_TOWNSHIP, COL_VILLAGE, COL_LANGUAGE,
    COL_YEAR, COL_TIER, COL_PAID, COL_DUE, COL_BALANCE, COL_PENSION, COL_PENSION_LAST,
    COL_MUTUAL_AID, COL_COUNT
};

static const char *const roster_columns[COL_COUNT] = {
    "participant_id", "phone", "name", "id_last4", "township", "village", "language",
    "contribution_year", "contribution_tier_yuan", "contribution_paid_yuan",
    "contribution_due", "account_balance_yuan", "pension_monthly_yuan",
    "pension_last_paid", "mutual_aid_member",
};

struct gw_roster {
    struct csv_parser csv;
    gw_roster_row_cb *row;
    gw_roster_reject_cb *reject;
    void *arg;

    size_t line;                /* line of the byte being read, 1-based */
    int after_cr;               /* the last byte fed was '\r' (a '\n' next is no new line) */
    size_t record_line;         /* where the open record started; 0 = none yet */
    int bom;                    /* BOM bytes matched so far; 3 once settled */
    int header;                 /* 0 not read yet, 1 good, -1 bad */
    int finished;
    int stopped;                /* the row callback asked to stop */
    int column_of[COL_COUNT];   /* field position -> column, from the header */

    size_t nfields;             /* fields of the open record (all, even extra) */
    size_t flen[COL_COUNT];     /* true length of each kept field */
    char field[COL_COUNT][ROSTER_SLOT + 1];
    char error[160];
};

/* ---- text checks ---- */

static int set_err(char *err, size_t errlen, int col, const char *why)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", roster_columns[col], why);
    return -1;
}

/* Returns NULL when S[0..LEN) is well-formed UTF-8 without control
 * characters (C0, DEL, C1), else what is wrong with it. */
static const char *text_problem(const unsigned char *s, size_t len)
{
    for (size_t i = 0, n; i < len; i += n) {
        if ((n = gw_utf8_char(s + i, len - i)) == 0)
            return "invalid UTF-8";
        if ((n == 1 && (s[i] < 0x20 || s[i] == 0x7F)) || (s[i] == 0xC2 && s[i + 1] <= 0x9F))
            return "control character";
    }
    return NULL;
}

static int copy_text(char *dst, size_t cap, const char *s, size_t n, int col, char *err,
                     size_t errlen)
{
    if (n >= cap)
        return set_err(err, errlen, col, "too long");
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

static int ascii_ieq(const char *s, size_t n, const char *word)
{
    size_t wn = strlen(word);
    if (n != wn)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((s[i] | 0x20) != word[i])
            return 0;
    return 1;
}

int gw_participant_id_valid(const char *s, size_t n)
{
    if (n == 0 || n >= GW_PID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- one field ---- */

static int set_money(int64_t *dst, int64_t empty, const char *s, size_t n, int col, char *err,
                     size_t errlen)
{
    if (n == 0) {
        *dst = empty;
        return 0;
    }
    char tmp[40], why[64];
    if (n >= sizeof tmp)
        return set_err(err, errlen, col, "not an amount");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (gw_money_parse(tmp, dst, why, sizeof why) != 0)
        return set_err(err, errlen, col, why);
    return 0;
}

static int set_date(char *dst, const char *s, size_t n, int col, char *err, size_t errlen)
{
    char tmp[GW_DATE_MAX];
    if (n == 0) {
        dst[0] = '\0';
        return 0;
    }
    if (n != 10)
        return set_err(err, errlen, col, "not a date (YYYY-MM-DD)");
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    if (gw_date_parse(tmp, NULL, NULL, NULL) != 0)
        return set_err(err, errlen, col, "not a date (YYYY-MM-DD)");
    memcpy(dst, tmp, sizeof tmp);
    return 0;
}

/* Sets column COL of P from S[0..N) (not NUL-terminated). */
static int roster_set(gw_participant *p, int col, const char *s, size_t n, char *err,
                      size_t errlen)
{
    while (n > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        n--;
    }
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    const char *problem = text_problem((const unsigned char *)s, n);
    if (problem != NULL)
        return set_err(err, errlen, col, problem);

    switch (col) {
    case COL_ID:
        if (n == 0)
            return set_err(err, errlen, col, "required");
        if (n >= GW_PID_MAX)
            return set_err(err, errlen, col, "too long");
        if (!gw_participant_id_valid(s, n))
            return set_err(err, errlen, col, "only letters, digits, '_', '.' and '-' allowed");
        return copy_text(p->id, sizeof p->id, s, n, col, err, errlen);
    case COL_PHONE: {
        char tmp[72], e164[GW_PHONE_MAX], why[64];
        if (n == 0) {
            p->phone[0] = '\0';
            return 0;
        }
        if (n >= sizeof tmp)
            return set_err(err, errlen, col, "too long");
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        if (gw_phone_normalize(tmp, e164, sizeof e164, why, sizeof why) != 0)
            return set_err(err, errlen, col, why);
        memcpy(p->phone, e164, sizeof e164);
        return 0;
    }
    case COL_NAME:
        if (n == 0)
            return set_err(err, errlen, col, "required");
        return copy_text(p->name, sizeof p->name, s, n, col, err, errlen);
    case COL_ID_LAST4:
        if (n == 0) {
            p->id_last4[0] = '\0';
            return 0;
        }
        for (size_t i = 0; i < n; i++)
            if (n != 4 || !((s[i] >= '0' && s[i] <= '9') || s[i] == 'X' || s[i] == 'x'))
                return set_err(err, errlen, col, "must be 4 characters of 0-9 or X");
        for (size_t i = 0; i < 4; i++)
            p->id_last4[i] = s[i] == 'x' ? 'X' : s[i];
        p->id_last4[4] = '\0';
        return 0;
    case COL_TOWNSHIP:
        return copy_text(p->township, sizeof p->township, s, n, col, err, errlen);
    case COL_VILLAGE:
        return copy_text(p->village, sizeof p->village, s, n, col, err, errlen);
    case COL_LANGUAGE:
        if (n == 0 || ascii_ieq(s, n, "zh"))
            memcpy(p->language, "zh", 3);
        else if (ascii_ieq(s, n, "en"))
            memcpy(p->language, "en", 3);
        else
            return set_err(err, errlen, col, "must be zh or en");
        return 0;
    case COL_YEAR: {
        int year = 0;
        if (n == 0) {
            p->contribution_year = 0;
            return 0;
        }
        for (size_t i = 0; i < n; i++) {
            if (n != 4 || s[i] < '0' || s[i] > '9')
                return set_err(err, errlen, col, "must be a year from 1990 to 2100");
            year = year * 10 + (s[i] - '0');
        }
        if (year < 1990 || year > 2100)
            return set_err(err, errlen, col, "must be a year from 1990 to 2100");
        p->contribution_year = year;
        return 0;
    }
    case COL_TIER:
        return set_money(&p->contribution_tier_fen, -1, s, n, col, err, errlen);
    case COL_PAID:
        return set_money(&p->contribution_paid_fen, 0, s, n, col, err, errlen);
    case COL_DUE:
        return set_date(p->contribution_due, s, n, col, err, errlen);
    case COL_BALANCE:
        return set_money(&p->account_balance_fen, -1, s, n, col, err, errlen);
    case COL_PENSION:
        return set_money(&p->pension_monthly_fen, -1, s, n, col, err, errlen);
    case COL_PENSION_LAST:
        return set_date(p->pension_last_paid, s, n, col, err, errlen);
    case COL_MUTUAL_AID:
        if (n == 0 || ascii_ieq(s, n, "no"))
            p->mutual_aid_member = 0;
        else if (ascii_ieq(s, n, "yes"))
            p->mutual_aid_member = 1;
        else
            return set_err(err, errlen, col, "must be yes or no");
        return 0;
    default:
        return -1;
    }
}

void gw_participant_init(gw_participant *p)
{
    memset(p, 0, sizeof *p);
    memcpy(p->language, "zh", 3);
    p->contribution_tier_fen = -1;
    p->contribution_paid_fen = 0;
    p->account_balance_fen = -1;
    p->pension_monthly_fen = -1;
}

int gw_roster_set_field(gw_participant *p, const char *column, const char *value,
                        char *err, size_t errlen)
{
    for (int col = 0; col < COL_COUNT; col++)
        if (column != NULL && strcmp(column, roster_columns[col]) == 0)
            return roster_set(p, col, value != NULL ? value : "",
                              value != NULL ? strlen(value) : 0, err, errlen);
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: unknown column", column != NULL ? column : "(null)");
    return -1;
}

int gw_participant_check(const gw_participant *p, char *err, size_t errlen)
{
    size_t n = strnlen(p->id, sizeof p->id);
    if (n == 0)
        return set_err(err, errlen, COL_ID, "required");
    if (!gw_participant_id_valid(p->id, n))
        return set_err(err, errlen, COL_ID, "only letters, digits, '_', '.' and '-' allowed");
    return 0;
}

/* ---- records ---- */

static void roster_reject(gw_roster *r, size_t line, const char *reason)
{
    if (r->reject != NULL)
        r->reject(line, reason, r->arg);
}

static void roster_header(gw_roster *r, size_t line)
{
    int seen[COL_COUNT] = {0};
    size_t known = 0;
    char why[160] = "";
    size_t kept = r->nfields < COL_COUNT ? r->nfields : COL_COUNT;
    for (size_t i = 0; i < kept; i++) {
        int col = 0;
        while (col < COL_COUNT && strcmp(r->field[i], roster_columns[col]) != 0)
            col++;
        if (col == COL_COUNT) {
            if (why[0] == '\0')
                snprintf(why, sizeof why, "header: unknown column \"%.60s\"", r->field[i]);
            continue;
        }
        known++;
        if (seen[col]++ && why[0] == '\0')
            snprintf(why, sizeof why, "header: column %s given twice", roster_columns[col]);
        r->column_of[i] = col;
    }
    if (known == 0)
        snprintf(why, sizeof why, "header: missing (the first row must name the columns)");
    if (why[0] == '\0' && r->nfields > COL_COUNT)
        snprintf(why, sizeof why, "header: %zu columns, expected %d", r->nfields, COL_COUNT);
    for (int col = 0; why[0] == '\0' && col < COL_COUNT; col++)
        if (!seen[col])
            snprintf(why, sizeof why, "header: missing column %s", roster_columns[col]);
    r->header = why[0] == '\0' ? 1 : -1;
    if (r->header < 0)
        roster_reject(r, line, why);
}

static void roster_record(gw_roster *r, size_t line)
{
    char why[160];
    if (r->header == 0) {
        roster_header(r, line);
        return;
    }
    if (r->header < 0) {
        roster_reject(r, line, "not read: the header row is wrong");
        return;
    }
    if (r->nfields != COL_COUNT) {
        snprintf(why, sizeof why, "expected %d fields, got %zu", COL_COUNT, r->nfields);
        roster_reject(r, line, why);
        return;
    }
    gw_participant p;
    gw_participant_init(&p);
    for (size_t i = 0; i < COL_COUNT; i++) {
        int col = r->column_of[i];
        if (r->flen[i] > ROSTER_SLOT) {
            set_err(why, sizeof why, col, "too long");
            roster_reject(r, line, why);
            return;
        }
        if (roster_set(&p, col, r->field[i], r->flen[i], why, sizeof why) != 0) {
            roster_reject(r, line, why);
            return;
        }
    }
    if (gw_participant_check(&p, why, sizeof why) != 0) {
        roster_reject(r, line, why);
        return;
    }
    if (r->row != NULL && r->row(&p, line, r->arg) != 0) {
        r->stopped = 1;
        snprintf(r->error, sizeof r->error, "import stopped at line %zu", line);
    }
}

static void on_field(void *s, size_t len, void *data)
{
    gw_roster *r = data;
    if (r->nfields < COL_COUNT) {
        size_t keep = len < ROSTER_SLOT ? len : ROSTER_SLOT;
        if (keep > 0)
            memcpy(r->field[r->nfields], s, keep);
        r->field[r->nfields][keep] = '\0';
        r->flen[r->nfields] = len;
    }
    r->nfields++;
}

static void on_record(int term, void *data)
{
    (void)term;
    gw_roster *r = data;
    size_t line = r->record_line != 0 ? r->record_line : r->line;
    if (!r->stopped)
        roster_record(r, line);
    r->record_line = 0;
    r->nfields = 0;
}

/* ---- feeding ---- */

/* Parses S[0..N), all on line R->line but perhaps for a final '\n'. */
static int roster_piece(gw_roster *r, const char *s, size_t n)
{
    if (csv_parse(&r->csv, s, n, on_field, on_record, r) != n) {
        snprintf(r->error, sizeof r->error, "line %zu: %s", r->line,
                 csv_strerror(csv_error(&r->csv)));
        return -1;
    }
    if (r->stopped)
        return -1;
    if (r->csv.pstate != 0 && r->record_line == 0)   /* 0: libcsv's ROW_NOT_BEGUN */
        r->record_line = r->line;
    int eol = s[n - 1] == '\n' || s[n - 1] == '\r';
    if (eol && r->csv.pstate == 2 && r->csv.quoted) {  /* 2: libcsv's FIELD_BEGUN */
        /* A quote opened and not closed on its line: no field may hold a
         * line break, so the row is rejected here rather than swallowing
         * the rows after it up to the next quote; the parser starts over
         * on the next line. */
        roster_reject(r, r->record_line, "a quoted field is not closed on its line (a stray "
                      "\" character?)");
        csv_fini(&r->csv, NULL, NULL, NULL);
        r->record_line = 0;
        r->nfields = 0;
        return r->stopped ? -1 : 0;
    }
    return 0;
}

static const unsigned char utf8_bom[3] = {0xEF, 0xBB, 0xBF};

gw_roster *gw_roster_new(gw_roster_row_cb *row, gw_roster_reject_cb *reject, void *arg)
{
    gw_roster *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    if (csv_init(&r->csv, 0) != 0) {
        free(r);
        return NULL;
    }
    r->row = row;
    r->reject = reject;
    r->arg = arg;
    r->line = 1;
    return r;
}

int gw_roster_feed(gw_roster *r, const char *buf, size_t len)
{
    if (r->error[0] != '\0')
        return -1;
    if (r->finished) {
        snprintf(r->error, sizeof r->error, "fed after the end of the input");
        return -1;
    }
    const char *p = buf, *end = buf + len;
    while (r->bom < 3 && p < end) {
        if ((unsigned char)*p == utf8_bom[r->bom]) {
            r->bom++;
            p++;
        } else {
            int held = r->bom;
            r->bom = 3;
            if (held > 0 && roster_piece(r, (const char *)utf8_bom, (size_t)held) != 0)
                return -1;
        }
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *cr = memchr(p, '\r', (size_t)((nl != NULL ? nl : end) - p));
        const char *eol = cr != NULL ? cr : nl;
        const char *stop = eol != NULL ? eol + 1 : end;
        if (roster_piece(r, p, (size_t)(stop - p)) != 0)
            return -1;
        if (eol != NULL && !(eol == p && *eol == '\n' && r->after_cr))
            r->line++;
        r->after_cr = stop[-1] == '\r';
        p = stop;
    }
    return 0;
}

int gw_roster_finish(gw_roster *r)
{
    if (r->error[0] != '\0')
        return -1;
    if (r->finished)
        return 0;
    if (r->bom < 3) {
        int held = r->bom;
        r->bom = 3;
        if (held > 0 && roster_piece(r, (const char *)utf8_bom, (size_t)held) != 0)
            return -1;
    }
    r->finished = 1;
    if (r->csv.pstate == 2 && r->csv.quoted) {    /* 2: libcsv's FIELD_BEGUN */
        /* The last field opened a quote that never closed: that row runs to
         * the end of the input and is rejected; the rows before it stand. */
        roster_reject(r, r->record_line != 0 ? r->record_line : r->line,
                      "a quoted field is not closed before the end of the file");
        csv_fini(&r->csv, NULL, NULL, NULL);
    } else {
        csv_fini(&r->csv, on_field, on_record, r);
    }
    if (r->stopped)
        return -1;
    if (r->header == 0) {
        r->header = -1;
        roster_reject(r, 1, "header: missing (the roster is empty)");
    }
    return 0;
}

const char *gw_roster_error(const gw_roster *r)
{
    return r->error;
}

void gw_roster_free(gw_roster *r)
{
    if (r == NULL)
        return;
    csv_free(&r->csv);
    free(r);
}
