/* tpl_page.c - splitting a USSD body into screens; see tpl.h.
 *
 * Screens are cut greedily from the start of the body, so screen I is the
 * same whichever I is asked for. A screen's length is what tpl_ussd_length
 * gives for its full text (lines, MORE, BACK), kept as a running measure:
 * the length of a growing text only grows and, once over the limit, stays
 * over (a GSM-7 text over 182 septets has more than 80 UCS-2 units), so one
 * scan per screen finds its end. Each screen is scanned at most twice
 * (without MORE: is it the last? else with MORE), so paging is linear in
 * the body; the one allocation is the screen returned.
 * An overlong line is cut after the last blank in its second half when
 * there is one (the blank is dropped), else at a character boundary. */
#include "tpl.h"
#include "tpl_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* How long a piece of text is on a screen, kept additively. */
typedef struct measure {
    size_t septets;     /* GSM-7 septets of its GSM characters */
    size_t units;       /* UCS-2 units of all of it */
    size_t other;       /* characters outside GSM-7: any makes it UCS-2 */
} measure;

static void measure_cp(measure *m, uint32_t cp)
{
    unsigned septets = tpl_gsm7_cp_septets(cp);
    m->septets += septets;
    m->units += tpl_ucs2_cp_units(cp);
    m->other += septets == 0;
}

static int fits(const measure *m)
{
    return m->other == 0 ? m->septets <= TPL_USSD_GSM7_MAX : m->units <= TPL_USSD_UCS2_MAX;
}

/* The measure of "\n" LINE, or nothing for no line. */
static measure measure_line(const char *line)
{
    measure m = {0, 0, 0};
    if (line == NULL)
        return m;
    measure_cp(&m, '\n');
    uint32_t cp;
    for (size_t i = 0, n = strlen(line); i < n;) {
        i += tpl_utf8_next(line + i, n - i, &cp);
        measure_cp(&m, cp);
    }
    return m;
}

/* Fills one screen from BODY[START..LEN), M measuring its MORE/BACK lines:
 * whole lines while they fit or, when the first line alone does not, as
 * much of it as fits (at least one character). The screen's text is
 * BODY[START..*END) and the next screen starts at *NEXT (> START).
 * Returns 1 when the screen takes the rest of the body. */
static int fill(const char *body, size_t len, size_t start, measure m, size_t *end, size_t *next)
{
    size_t i = start, line_end = SIZE_MAX, blank = SIZE_MAX;
    uint32_t cp;
    while (i < len) {
        size_t n = tpl_utf8_next(body + i, len - i, &cp);
        measure_cp(&m, cp);
        if (!fits(&m))
            break;
        if (cp == '\n')
            line_end = i;
        else if (cp == ' ')
            blank = i;
        i += n;
    }
    if (i >= len) {
        *end = *next = len;
        return 1;
    }
    if (body[i] == '\n' || (body[i] == ' ' && line_end == SIZE_MAX && i > start)) {
        *end = i;                       /* a whole line, or a cut at a blank */
        *next = i + 1;
    } else if (line_end != SIZE_MAX) {
        *end = line_end;                /* the lines before the one that overflows */
        *next = line_end + 1;
    } else if (blank != SIZE_MAX && blank > start && blank - start >= (i - start) / 2) {
        *end = blank;                   /* an overlong line, cut at a blank */
        *next = blank + 1;
    } else {
        if (i == start)                 /* MORE/BACK alone overflow: progress anyway */
            i += tpl_utf8_next(body + i, len - i, &cp);
        *end = *next = i;
        return i >= len;
    }
    return 0;
}

int tpl_page(const char *body, const char *more, const char *back,
             int back_on_first, int index, char **out)
{
    size_t len = body != NULL ? strlen(body) : 0;
    if (len > 0 && body[len - 1] == '\n')
        len--;                          /* a final line break is no empty line */
    measure with_more = measure_line(more), with_back = measure_line(back);
    size_t start = 0, sel_start = 0, sel_end = 0;
    int pages = 0, sel_more = 0, sel_back = 0;
    for (;;) {
        int has_back = pages > 0 || back_on_first;
        measure m = has_back ? with_back : (measure){0, 0, 0};
        size_t end, next;
        int last = fill(body, len, start, m, &end, &next);
        if (!last) {
            m.septets += with_more.septets;
            m.units += with_more.units;
            m.other += with_more.other;
            last = fill(body, len, start, m, &end, &next);
        }
        if (pages <= index || pages == 0) {
            sel_start = start;
            sel_end = end;
            sel_more = !last;
            sel_back = has_back;
        }
        pages++;
        if (last)
            break;
        start = next;
    }
    if (out == NULL)
        return pages;

    size_t cl = sel_end - sel_start;
    size_t ml = sel_more && more != NULL ? strlen(more) : 0;
    size_t bl = sel_back && back != NULL ? strlen(back) : 0;
    char *o = malloc(cl + ml + bl + 3);
    *out = o;
    if (o == NULL)
        return -1;
    if (cl > 0)
        memcpy(o, body + sel_start, cl);
    size_t n = cl;
    if (sel_more && more != NULL) {
        if (n > 0)
            o[n++] = '\n';
        memcpy(o + n, more, ml);
        n += ml;
    }
    if (sel_back && back != NULL) {
        if (n > 0)
            o[n++] = '\n';
        memcpy(o + n, back, bl);
        n += bl;
    }
    o[n] = '\0';
    return pages;
}
