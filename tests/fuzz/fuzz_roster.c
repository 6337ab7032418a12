/* fuzz_roster.c - libFuzzer target for the roster CSV stream
 * (gateway/gw_roster.c: gw_roster_new/feed/finish/free).
 *
 * Input: 4 control bytes, then the CSV. Byte 0 bit 0 picks 2 or 3 chunks,
 * bit 1 makes the row callback stop the import after its first row; bytes
 * 1-2 (16 bits) and 3 give the split positions. The CSV is parsed once
 * whole and once in those chunks: neither may crash, leak or trip a
 * sanitizer, and both must report the same rows, rejects (line and reason)
 * and results, as the header promises for any chunking. Every good row's
 * strings must be NUL-terminated inside their arrays and its id valid. */
#include <string.h>

#include "fuzz_check.h"
#include "gw_roster.h"

typedef struct report {
    char *log;
    size_t len, cap;
    size_t rows;
    int stop_after_first;
    int rc_feed, rc_finish;
} report;

static void report_add(report *r, const char *s, size_t n)
{
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        while (cap < r->len + n + 1)
            cap *= 2;
        r->log = realloc(r->log, cap);
        FUZZ_CHECK(r->log != NULL);
        r->cap = cap;
    }
    memcpy(r->log + r->len, s, n);
    r->len += n;
    r->log[r->len] = '\0';
}

static int on_row(const gw_participant *p, size_t line, void *arg)
{
    report *r = arg;
    FUZZ_CHECK(memchr(p->id, '\0', sizeof p->id) != NULL && p->id[0] != '\0');
    FUZZ_CHECK(memchr(p->phone, '\0', sizeof p->phone) != NULL);
    FUZZ_CHECK(memchr(p->name, '\0', sizeof p->name) != NULL && p->name[0] != '\0');
    FUZZ_CHECK(memchr(p->township, '\0', sizeof p->township) != NULL);
    FUZZ_CHECK(memchr(p->village, '\0', sizeof p->village) != NULL);
    FUZZ_CHECK(strcmp(p->language, "zh") == 0 || strcmp(p->language, "en") == 0);
    FUZZ_CHECK(gw_participant_check(p, NULL, 0) == 0);
    FUZZ_CHECK(line >= 2);
    char buf[128];
    int n = snprintf(buf, sizeof buf, "%zu row %s %s\n", line, p->id, p->phone);
    report_add(r, buf, (size_t)n);
    r->rows++;
    return r->stop_after_first;
}

static void on_reject(size_t line, const char *reason, void *arg)
{
    report *r = arg;
    char buf[64];
    FUZZ_CHECK(line >= 1 && reason != NULL && reason[0] != '\0');
    int n = snprintf(buf, sizeof buf, "%zu reject ", line);
    report_add(r, buf, (size_t)n);
    report_add(r, reason, strlen(reason));
    report_add(r, "\n", 1);
}

/* Parses CSV[0..LEN) fed at the cuts (ascending, within LEN) into R. */
static void parse(report *r, const char *csv, size_t len, const size_t *cuts, size_t ncuts)
{
    gw_roster *g = gw_roster_new(on_row, on_reject, r);
    FUZZ_CHECK(g != NULL);
    size_t from = 0;
    r->rc_feed = 0;
    for (size_t i = 0; i <= ncuts && r->rc_feed == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : len;
        r->rc_feed = gw_roster_feed(g, csv + from, to - from);
        from = to;
    }
    r->rc_finish = gw_roster_finish(g);
    if (r->rc_feed != 0 || r->rc_finish != 0)
        FUZZ_CHECK(gw_roster_error(g)[0] != '\0');
    FUZZ_CHECK(gw_roster_feed(g, "x\n", 2) == -1);   /* after the end: refused */
    gw_roster_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 4)
        return 0;
    const char *csv = (const char *)data + 4;
    size_t len = size - 4;
    size_t a = ((size_t)data[1] << 8 | data[2]) % (len + 1);
    size_t b = a + data[3] % (len - a + 1);
    size_t cuts[2] = {a, b};
    size_t ncuts = data[0] & 1 ? 2 : 1;

    report whole = {.stop_after_first = (data[0] & 2) != 0};
    report chunked = {.stop_after_first = (data[0] & 2) != 0};
    parse(&whole, csv, len, NULL, 0);
    parse(&chunked, csv, len, cuts, ncuts);
    FUZZ_CHECK(whole.rc_feed == chunked.rc_feed && whole.rc_finish == chunked.rc_finish);
    FUZZ_CHECK(whole.len == chunked.len &&
               (whole.len == 0 || memcmp(whole.log, chunked.log, whole.len) == 0));
    free(whole.log);
    free(chunked.log);
    return 0;
}
