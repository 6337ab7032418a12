/* gw_calendar.c - the business calendar loaded from yearly TSV files; see
 * gw_calendar.h.
 *
 * A calendar owns one array of listed dates, sorted by day number (days
 * since 1970-01-01), each with its kind, its holiday name and where it was
 * read; lookups are binary searches. It also owns the ascending list of the
 * years its dates fall in. Every date is checked while loading (a real date,
 * "off" or "workday", three columns, a UTF-8 name, a "workday" only on a
 * Saturday or Sunday, no date listed twice), so the lookups need no errors.
 *
 * Loading reads files and allocates; once returned a calendar is never
 * changed, so any number of threads may read it at once. Date arithmetic is
 * pure: day numbers come from gw_days_from_civil and go back through its
 * inverse below. */
#include "gw_calendar.h"
#include "gw_format.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a listed date says. */
typedef enum cal_kind {
    CAL_OFF,      /* a holiday: a rest day whatever the weekday */
    CAL_WORKDAY,  /* an adjusted working day (调休): a weekend day worked */
} cal_kind;

/* One listed date. FILE points into the caller's path list and is used only
 * while loading (to name both lines of a duplicate). */
typedef struct cal_entry {
    int64_t day;       /* days since 1970-01-01 */
    cal_kind kind;
    char *name;        /* owned */
    const char *file;  /* where it was read, for errors */
    size_t file_index; /* order of FILE in the list, for a stable sort */
    unsigned long line;
} cal_entry;

struct gw_calendar {
    cal_entry *entries; /* ascending by day, no day twice */
    size_t n;
    int *years; /* the years of the entries, ascending, each once */
    size_t nyears;
};

/* ---- date arithmetic ---- */

/* The civil date of day number Z (days since 1970-01-01): the inverse of
 * gw_days_from_civil, H. Hinnant's civil_from_days. */
static gw_date civil_from_days(int64_t z)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;                                       /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* [0, 399] */
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);                /* [0, 365] */
    int64_t mp = (5 * doy + 2) / 153;                                     /* [0, 11], March first */
    gw_date out;
    out.d = (int)(doy - (153 * mp + 2) / 5 + 1);
    out.m = (int)(mp < 10 ? mp + 3 : mp - 9);
    out.y = (int)(yoe + era * 400 + (out.m <= 2));
    return out;
}

static int64_t day_number(gw_date d)
{
    return gw_days_from_civil(d.y, d.m, d.d);
}

/* 0 Sunday .. 6 Saturday of day number Z; 1970-01-01 was a Thursday (4). */
static int weekday_of_day(int64_t z)
{
    return (int)((z % 7 + 11) % 7);
}

gw_date gw_date_add_days(gw_date d, int n)
{
    return civil_from_days(day_number(d) + n);
}

int gw_date_weekday(gw_date d)
{
    return weekday_of_day(day_number(d));
}

int gw_date_cmp(gw_date a, gw_date b)
{
    if (a.y != b.y)
        return a.y < b.y ? -1 : 1;
    if (a.m != b.m)
        return a.m < b.m ? -1 : 1;
    if (a.d != b.d)
        return a.d < b.d ? -1 : 1;
    return 0;
}

/* ---- lookups ---- */

/* The entry for day number Z, or NULL when it is not listed (or CAL is NULL). */
static const cal_entry *find_entry(const gw_calendar *cal, int64_t z)
{
    if (cal == NULL)
        return NULL;
    size_t lo = 0, hi = cal->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cal->entries[mid].day < z)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cal->n && cal->entries[lo].day == z ? &cal->entries[lo] : NULL;
}

int gw_calendar_is_rest_day(const gw_calendar *cal, gw_date d)
{
    int64_t z = day_number(d);
    const cal_entry *e = find_entry(cal, z);
    if (e != NULL)
        return e->kind == CAL_OFF;
    int wd = weekday_of_day(z);
    return wd == 0 || wd == 6;
}

const char *gw_calendar_name(const gw_calendar *cal, gw_date d)
{
    const cal_entry *e = find_entry(cal, day_number(d));
    return e != NULL ? e->name : NULL;
}

int gw_calendar_has_year(const gw_calendar *cal, int year)
{
    if (cal == NULL)
        return 0;
    size_t lo = 0, hi = cal->nyears;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cal->years[mid] < year)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < cal->nyears && cal->years[lo] == year;
}

unsigned long long gw_calendar_fingerprint(const gw_calendar *cal)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a, 64 bits */
    for (size_t i = 0; cal != NULL && i < cal->n; i++) {
        uint64_t v = (uint64_t)cal->entries[i].day * 2 + (cal->entries[i].kind == CAL_OFF);
        for (int b = 0; b < 8; b++) {
            h ^= (v >> (8 * b)) & 0xff;
            h *= 1099511628211ULL;
        }
    }
    return h;
}

size_t gw_calendar_years(const gw_calendar *cal, int *years, size_t max)
{
    if (cal == NULL)
        return 0;
    size_t n = cal->nyears < max ? cal->nyears : max;
    for (size_t i = 0; i < n; i++)
        years[i] = cal->years[i];
    return n;
}

gw_date gw_claim_deadline(const gw_calendar *cal, gw_date occurred, int days)
{
    /* Civil Code art. 203: a period whose last day is a rest day ends on the
     * first working day after the rest. Terminates: past the listed dates
     * only weekends rest. */
    gw_date d = gw_date_add_days(occurred, days);
    while (gw_calendar_is_rest_day(cal, d))
        d = gw_date_add_days(d, 1);
    return d;
}

/* ---- loading ---- */

void gw_calendar_free(gw_calendar *cal)
{
    if (cal == NULL)
        return;
    for (size_t i = 0; i < cal->n; i++)
        free(cal->entries[i].name);
    free(cal->entries);
    free(cal->years);
    free(cal);
}

/* Appends E to CAL's entries. Returns 0, or -1 when out of memory. */
static int push_entry(gw_calendar *cal, size_t *cap, const cal_entry *e)
{
    if (cal->n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        cal_entry *p = realloc(cal->entries, ncap * sizeof *p);
        if (p == NULL)
            return -1;
        cal->entries = p;
        *cap = ncap;
    }
    cal->entries[cal->n++] = *e;
    return 0;
}

/* 1 when S[0..LEN) is well-formed UTF-8 without control characters. */
static int name_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        size_t n = gw_utf8_char(p + i, len - i);
        if (n == 0 || (n == 1 && (p[i] < 0x20 || p[i] == 0x7F)))
            return 0;
        i += n;
    }
    return 1;
}

/* 1 when LINE (no newline) holds nothing but spaces and tabs, or is a
 * comment: its first other character is '#'. */
static int skippable(const char *line)
{
    line += strspn(line, " \t");
    return *line == '\0' || *line == '#';
}

static const char *const weekday_names[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                             "Thursday", "Friday", "Saturday"};

/* Parses LINE (newline removed) of FILE into *E, the name newly allocated.
 * Returns 0, or -1 with "FILE:LINENO: reason" in ERR. */
static int parse_line(char *line, const char *file, unsigned long lineno, cal_entry *e, char *err,
                      size_t errlen)
{
    char *col[3];
    size_t ncol = 0;
    for (char *p = line;;) {
        char *tab = strchr(p, '\t');
        if (ncol < 3)
            col[ncol] = p;
        ncol++;
        if (tab == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    if (ncol != 3) {
        snprintf(err, errlen, "%s:%lu: %zu column%s, want 3 separated by tabs (date, kind, name)",
                 file, lineno, ncol, ncol == 1 ? "" : "s");
        return -1;
    }
    int y, m, d;
    if (gw_date_parse(col[0], &y, &m, &d) != 0) {
        snprintf(err, errlen, "%s:%lu: bad date \"%.40s\" (YYYY-MM-DD)", file, lineno, col[0]);
        return -1;
    }
    cal_kind kind;
    if (strcmp(col[1], "off") == 0) {
        kind = CAL_OFF;
    } else if (strcmp(col[1], "workday") == 0) {
        kind = CAL_WORKDAY;
    } else {
        snprintf(err, errlen, "%s:%lu: bad kind \"%.40s\" (off or workday)", file, lineno, col[1]);
        return -1;
    }
    size_t namelen = strlen(col[2]);
    if (namelen == 0 || !name_ok(col[2], namelen)) {
        snprintf(err, errlen, "%s:%lu: bad name \"%.40s\" (non-empty UTF-8 text)", file, lineno,
                 col[2]);
        return -1;
    }
    int64_t day = gw_days_from_civil(y, m, d);
    int wd = weekday_of_day(day);
    /* A weekday is worked anyway: "workday" on one is a mistyped date, which
     * would otherwise leave the intended weekend day a rest day. */
    if (kind == CAL_WORKDAY && wd != 0 && wd != 6) {
        snprintf(err, errlen, "%s:%lu: %s is a %s; workday is only for a Saturday or Sunday",
                 file, lineno, col[0], weekday_names[wd]);
        return -1;
    }
    e->day = day;
    e->kind = kind;
    e->file = file;
    e->line = lineno;
    e->name = strdup(col[2]);
    if (e->name == NULL) {
        snprintf(err, errlen, "%s:%lu: out of memory", file, lineno);
        return -1;
    }
    return 0;
}

/* Reads FILE (number FILE_INDEX in the list) into CAL. Returns 0, or -1
 * with "FILE:LINE: reason" in ERR (line 0 when it cannot be opened). */
static int load_file(gw_calendar *cal, size_t *cap, const char *file, size_t file_index,
                     char *err, size_t errlen)
{
    FILE *fp = fopen(file, "r");
    if (fp == NULL) {
        snprintf(err, errlen, "%s:0: cannot open: %s", file, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t linecap = 0;
    unsigned long lineno = 0;
    int rc = 0;
    ssize_t len;
    while ((len = getline(&line, &linecap, fp)) != -1) {
        lineno++;
        /* Files edited elsewhere may end lines in CRLF. */
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if ((size_t)len != strlen(line)) {
            snprintf(err, errlen, "%s:%lu: NUL byte in line", file, lineno);
            rc = -1;
            break;
        }
        if (skippable(line))
            continue;
        cal_entry e;
        if (parse_line(line, file, lineno, &e, err, errlen) != 0) {
            rc = -1;
            break;
        }
        e.file_index = file_index;
        if (push_entry(cal, cap, &e) != 0) {
            free(e.name);
            snprintf(err, errlen, "%s:%lu: out of memory", file, lineno);
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(fp)) {
        snprintf(err, errlen, "%s:%lu: read error: %s", file, lineno + 1, strerror(errno));
        rc = -1;
    }
    free(line);
    fclose(fp);
    return rc;
}

/* By day, then in reading order, so a duplicate names its later line. */
static int entry_cmp(const void *a, const void *b)
{
    const cal_entry *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    if (x->file_index != y->file_index)
        return x->file_index < y->file_index ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

/* Sorts CAL's entries, rejects a day listed twice and fills its years.
 * Returns 0, or -1 with "FILE:LINE: reason" in ERR. */
static int finish(gw_calendar *cal, char *err, size_t errlen)
{
    if (cal->n > 1)
        qsort(cal->entries, cal->n, sizeof *cal->entries, entry_cmp);
    for (size_t i = 1; i < cal->n; i++) {
        const cal_entry *a = &cal->entries[i - 1], *b = &cal->entries[i];
        if (a->day != b->day)
            continue;
        gw_date d = civil_from_days(b->day);
        snprintf(err, errlen, "%s:%lu: %04d-%02d-%02d listed %s (also at %s:%lu)", b->file,
                 b->line, d.y, d.m, d.d,
                 a->kind == b->kind ? "twice" : "both off and workday", a->file, a->line);
        return -1;
    }
    for (size_t i = 0; i < cal->n; i++) {
        int y = civil_from_days(cal->entries[i].day).y;
        if (cal->nyears > 0 && cal->years[cal->nyears - 1] == y)
            continue;
        /* Entries are sorted, so years arrive ascending; at most one per entry. */
        if (cal->years == NULL) {
            cal->years = malloc(cal->n * sizeof *cal->years);
            if (cal->years == NULL) {
                snprintf(err, errlen, "out of memory");
                return -1;
            }
        }
        cal->years[cal->nyears++] = y;
    }
    for (size_t i = 0; i < cal->n; i++)
        cal->entries[i].file = NULL; /* the caller's strings may not outlive the load */
    return 0;
}

int gw_calendar_load(const char *const *files, gw_calendar **out, char *err, size_t errlen)
{
    gw_calendar *cal = calloc(1, sizeof *cal);
    if (cal == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t cap = 0;
    for (size_t i = 0; files != NULL && files[i] != NULL; i++) {
        if (load_file(cal, &cap, files[i], i, err, errlen) != 0) {
            gw_calendar_free(cal);
            return -1;
        }
    }
    if (finish(cal, err, errlen) != 0) {
        gw_calendar_free(cal);
        return -1;
    }
    *out = cal;
    return 0;
}
