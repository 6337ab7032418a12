/* test_page.c - USSD paging (templates/tpl_page.c).
 * check_pages() asks for every screen of a body and checks what holds for
 * any body: each screen fits (tpl_ussd_length on its full text), MORE and
 * BACK are where they belong, the screens put back together are the body,
 * no screen could have taken the next whole line, and any index gives the
 * same screens. The other tests pin exact cuts at the limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tpl.h"

#define ZH_MORE "98 更多"
#define ZH_BACK "0 返回"
#define EN_MORE "98 More"
#define EN_BACK "0 Back"

static char *page(const char *body, const char *more, const char *back, int bof, int index,
                  int *n)
{
    char *out = NULL;
    *n = tpl_page(body, more, back, bof, index, &out);
    assert_non_null(out);
    return out;
}

static int ends_with(const char *s, size_t len, const char *tail)
{
    size_t t = strlen(tail);
    return len >= t && memcmp(s + len - t, tail, t) == 0;
}

/* Strips "\n" LINE (or LINE alone) from the end of S[0..*LEN). */
static void strip_line(const char *s, size_t *len, const char *line)
{
    size_t t = strlen(line);
    assert_true(ends_with(s, *len, line));
    *len -= t;
    if (*len > 0) {
        assert_int_equal(s[*len - 1], '\n');
        (*len)--;
    }
}

static int screen_fits(const char *s, size_t len)
{
    size_t limit;
    return tpl_ussd_length(s, len, &limit) <= limit;
}

/* Checks every screen of BODY; returns the number of screens. */
static int check_pages(const char *body, const char *more, const char *back, int bof)
{
    int n = 0;
    free(page(body, more, back, bof, 0, &n));
    assert_true(n >= 1);
    size_t blen = strlen(body), pos = 0;
    if (blen > 0 && body[blen - 1] == '\n')
        blen--;
    for (int i = 0; i < n; i++) {
        int n2;
        char *p = page(body, more, back, bof, i, &n2);
        assert_int_equal(n2, n);
        size_t len = strlen(p), limit;
        if (tpl_ussd_length(p, len, &limit) > limit)
            fail_msg("screen %d of %d too long (%zu > %zu): %s", i, n,
                     tpl_ussd_length(p, len, NULL), limit, p);
        if (tpl_utf8_valid(body, strlen(body)))
            assert_true(tpl_utf8_valid(p, len));
        int has_back = back != NULL && (i > 0 || bof);
        int has_more = more != NULL && i < n - 1;
        if (has_back)
            strip_line(p, &len, back);
        if (has_more)
            strip_line(p, &len, more);
        /* the content is the body's next piece */
        if (len > blen - pos || memcmp(body + pos, p, len) != 0)
            fail_msg("screen %d is not the body's next piece: [%.*s]", i, (int)len, p);
        pos += len;
        int line_break = pos < blen && body[pos] == '\n';
        if (pos < blen && (body[pos] == '\n' || body[pos] == ' '))
            pos++;                  /* the dropped line break or blank */
        /* greedy: the next whole line would not have fitted */
        if (line_break && len > 0) {
            size_t next = strcspn(body + pos, "\n");
            char *cand = malloc(len + next + 64 + (more ? strlen(more) : 0) + (back ? strlen(back) : 0));
            size_t c = 0;
            memcpy(cand, p, len);
            c = len;
            cand[c++] = '\n';
            memcpy(cand + c, body + pos, next);
            c += next;
            int last_if = pos + next >= blen;   /* taking it would end the body */
            if (more != NULL && !last_if) {
                cand[c++] = '\n';
                memcpy(cand + c, more, strlen(more));
                c += strlen(more);
            }
            if (has_back) {
                cand[c++] = '\n';
                memcpy(cand + c, back, strlen(back));
                c += strlen(back);
            }
            if (screen_fits(cand, c))
                fail_msg("screen %d could have taken the next line", i);
            free(cand);
        }
        free(p);
    }
    assert_int_equal(pos, blen);
    /* any index past the end is the last screen; a negative one the first */
    int m;
    char *last = page(body, more, back, bof, n - 1, &m);
    char *past = page(body, more, back, bof, n + 3, &m);
    assert_int_equal(m, n);
    assert_string_equal(past, last);
    free(past);
    free(last);
    char *first = page(body, more, back, bof, 0, &m);
    char *neg = page(body, more, back, bof, -5, &m);
    assert_string_equal(neg, first);
    free(neg);
    free(first);
    return n;
}

static char *repeat(const char *unit, size_t times)
{
    size_t u = strlen(unit);
    char *s = malloc(u * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * u, unit, u);
    s[u * times] = '\0';
    return s;
}

static char *cat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

/* Asserts screen INDEX of BODY is EXPECT and there are N screens. */
static void expect_page(const char *body, const char *more, const char *back, int bof,
                        int index, int n, const char *expect)
{
    int got;
    char *p = page(body, more, back, bof, index, &got);
    assert_int_equal(got, n);
    assert_string_equal(p, expect);
    free(p);
}

/* ---- tests ---- */

static void test_chinese_list(void **state)
{
    (void)state;
    char body[2048];
    size_t n = 0;
    for (int i = 1; i <= 20; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "%s%d 第%d位参保人张*", i > 1 ? "\n" : "", i, i);
    int pages = check_pages(body, ZH_MORE, ZH_BACK, 0);
    assert_true(pages >= 4);
    /* whole lines only: every screen's lines are lines of the body */
    for (int i = 0; i < pages; i++) {
        int m;
        char *p = page(body, ZH_MORE, ZH_BACK, 0, i, &m);
        for (char *line = strtok(p, "\n"); line != NULL; line = strtok(NULL, "\n"))
            assert_true(strcmp(line, ZH_MORE) == 0 || strcmp(line, ZH_BACK) == 0 ||
                        strstr(line, "位参保人张*") != NULL);
        free(p);
    }
    expect_page(body, ZH_MORE, ZH_BACK, 0, 0, pages,
                "1 第1位参保人张*\n2 第2位参保人张*\n3 第3位参保人张*\n4 第4位参保人张*\n"
                "5 第5位参保人张*\n6 第6位参保人张*\n98 更多");
    check_pages(body, ZH_MORE, ZH_BACK, 1);
    check_pages(body, NULL, NULL, 0);
}

static void test_english_500(void **state)
{
    (void)state;
    char *words = repeat("pension ", 62);              /* 496 characters */
    char *body = cat(words, "paid");                    /* 500 */
    assert_int_equal(strlen(body), 500);
    int pages = check_pages(body, EN_MORE, EN_BACK, 1);
    assert_int_equal(pages, 3);
    /* cut at blanks: no screen starts or ends inside a word */
    for (int i = 0; i < pages; i++) {
        int m;
        char *p = page(body, EN_MORE, EN_BACK, 1, i, &m);
        assert_true(tpl_gsm7_encodable(p, strlen(p)));
        assert_true(strncmp(p, "pension", 7) == 0);
        size_t end = strcspn(p, "\n");                /* the first line's length */
        assert_true(p[end] == '\n' && end >= 7);
        assert_true(memcmp(p + end - 7, "pension", 7) == 0 || memcmp(p + end - 4, "paid", 4) == 0);
        free(p);
    }
    free(body);
    free(words);

    /* several sentences, one per line */
    const char *text =
        "Your 2026 contribution is not paid yet. The amount due is 100 yuan.\n"
        "Please pay by 2026-10-08 at the village office or by bank transfer.\n"
        "If you have already paid, please ignore this message.\n"
        "For help, ask your village coordinator or call 12333 on working days.\n"
        "Residents aged 60 or over draw a monthly pension from the county.\n"
        "Thank you for taking part in the resident pension insurance scheme.\n"
        "Keep your ID card and bank card safe and never tell anyone your PIN.\n";
    assert_true(strlen(text) > 450);
    assert_true(check_pages(text, EN_MORE, EN_BACK, 0) >= 3);
}

static void test_chinese_300_one_line(void **state)
{
    (void)state;
    char *body = repeat("养老保险缴费情况查询服务", 25);   /* 300 characters */
    assert_int_equal(tpl_ucs2_units(body, strlen(body)), 300);
    int pages = check_pages(body, ZH_MORE, ZH_BACK, 0);
    /* 80 - "\n98 更多" = 74, then 80 - 6 - "\n0 返回" = 69 a screen; the last 19
     * fit without MORE */
    assert_int_equal(pages, 5);
    const size_t expect[] = {74, 69, 69, 69, 19};
    for (int i = 0; i < pages; i++) {
        int m;
        char *p = page(body, ZH_MORE, ZH_BACK, 0, i, &m);
        size_t len = strlen(p);
        if (i > 0)
            strip_line(p, &len, ZH_BACK);
        if (i < pages - 1)
            strip_line(p, &len, ZH_MORE);
        assert_int_equal(tpl_ucs2_units(p, len), expect[i]);
        assert_int_equal(len, expect[i] * 3);             /* never inside a character */
        free(p);
    }
    free(body);
}

static void test_mixed(void **state)
{
    (void)state;
    char body[4096];
    size_t n = 0;
    for (int i = 0; i < 6; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "Line %d of the English part, plain GSM.\n", i);
    n += (size_t)snprintf(body + n, sizeof body - n, "这一行是中文，整屏就按UCS-2计算长度。\n");
    for (int i = 0; i < 4; i++)
        n += (size_t)snprintf(body + n, sizeof body - n, "After %d\n", i);
    int pages = check_pages(body, EN_MORE, EN_BACK, 0);
    assert_true(pages >= 3);
    int m;
    char *p0 = page(body, EN_MORE, EN_BACK, 0, 0, &m);
    size_t limit;
    assert_true(tpl_ussd_length(p0, strlen(p0), &limit) > 80);   /* a full GSM-7 screen */
    assert_int_equal(limit, 182);
    free(p0);
    /* the screen holding the Chinese line is counted in UCS-2 units */
    for (int i = 0; i < pages; i++) {
        char *p = page(body, EN_MORE, EN_BACK, 0, i, &m);
        if (strstr(p, "中文") != NULL)
            assert_true(tpl_ucs2_units(p, strlen(p)) <= 80);
        free(p);
    }
    check_pages(body, ZH_MORE, ZH_BACK, 1);
}

static void test_boundary_ucs2(void **state)
{
    (void)state;
    char *b80 = repeat("中", 80), *b81 = repeat("中", 81), *b79 = repeat("中", 79);
    expect_page(b80, NULL, NULL, 0, 0, 1, b80);
    expect_page(b81, NULL, NULL, 0, 0, 2, b80);
    expect_page(b81, NULL, NULL, 0, 1, 2, "中");
    /* an emoji (2 units) straddling the limit */
    char *e = cat(b79, "😀");
    expect_page(e, NULL, NULL, 0, 0, 2, b79);
    expect_page(e, NULL, NULL, 0, 1, 2, "😀");
    char *b78 = repeat("中", 78), *e80 = cat(b78, "😀");
    expect_page(e80, NULL, NULL, 0, 0, 1, e80);
    /* with MORE and BACK: 75 + "\n0 返回" = 80 */
    char *b75 = repeat("中", 75), *b76 = repeat("中", 76), *b69 = repeat("中", 69);
    char *s75 = cat(b75, "\n" ZH_BACK), *s69 = cat(b69, "\n" ZH_MORE "\n" ZH_BACK);
    expect_page(b75, ZH_MORE, ZH_BACK, 1, 0, 1, s75);
    expect_page(b76, ZH_MORE, ZH_BACK, 1, 0, 2, s69);
    expect_page(b76, ZH_MORE, ZH_BACK, 1, 1, 2, "中中中中中中中\n" ZH_BACK);
    /* GSM text under a Chinese MORE: the screen is UCS-2 */
    char *a100 = repeat("a", 100), *a69 = repeat("a", 69);
    char *s74 = cat(a69, "\n" ZH_MORE "\n" ZH_BACK);
    expect_page(a100, ZH_MORE, ZH_BACK, 0, 0, 1, a100);    /* no BACK: GSM-7, fits */
    expect_page(a100, ZH_MORE, ZH_BACK, 1, 0, 2, s74);     /* 69 + 6 + 5 = 80 */
    free(b80); free(b81); free(b79); free(e); free(b78); free(e80);
    free(b75); free(b76); free(b69); free(s75); free(s69);
    free(a100); free(a69); free(s74);
}

static void test_boundary_gsm(void **state)
{
    (void)state;
    char *a182 = repeat("a", 182), *a183 = repeat("a", 183), *a181 = repeat("a", 181);
    char *a180 = repeat("a", 180);
    expect_page(a182, NULL, NULL, 0, 0, 1, a182);
    expect_page(a183, NULL, NULL, 0, 0, 2, a182);
    expect_page(a183, NULL, NULL, 0, 1, 2, "a");
    /* extension characters count 2 septets */
    char *euro = cat(a181, "€"), *brace = cat(a181, "{"), *fit = cat(a180, "€");
    expect_page(euro, NULL, NULL, 0, 0, 2, a181);
    expect_page(euro, NULL, NULL, 0, 1, 2, "€");
    expect_page(brace, NULL, NULL, 0, 0, 2, a181);
    expect_page(brace, NULL, NULL, 0, 1, 2, "{");
    expect_page(fit, NULL, NULL, 0, 0, 1, fit);
    /* with MORE and BACK: 175 + "\n0 Back" = 182; 167 + 8 + 7 = 182 */
    char *a175 = repeat("a", 175), *a176 = repeat("a", 176), *a167 = repeat("a", 167);
    char *s175 = cat(a175, "\n" EN_BACK), *s167 = cat(a167, "\n" EN_MORE "\n" EN_BACK);
    expect_page(a175, EN_MORE, EN_BACK, 1, 0, 1, s175);
    expect_page(a176, EN_MORE, EN_BACK, 1, 0, 2, s167);
    expect_page(a176, EN_MORE, EN_BACK, 1, 1, 2, "aaaaaaaaa\n" EN_BACK);
    /* '€' straddling the limit with MORE and BACK */
    char *a166 = repeat("a", 166), *e = cat(a166, "€aaaaaaaaaaaaaaaaaaaa"), *s166 = cat(a166, "\n" EN_MORE "\n" EN_BACK);
    expect_page(e, EN_MORE, EN_BACK, 1, 0, 2, s166);
    expect_page(e, EN_MORE, EN_BACK, 1, 1, 2, "€aaaaaaaaaaaaaaaaaaaa\n" EN_BACK);
    free(a182); free(a183); free(a181); free(a180); free(euro); free(brace); free(fit);
    free(a175); free(a176); free(a167); free(s175); free(s167);
    free(a166); free(e); free(s166);
}

static void test_boundary_lines(void **state)
{
    (void)state;
    char *l40 = repeat("中", 40), *l39 = repeat("中", 39), *l80 = repeat("中", 80);
    char *two = cat(l40, "\n"), *fits = cat(two, l39), *over = cat(two, l40);
    expect_page(fits, NULL, NULL, 0, 0, 1, fits);          /* 40 + 1 + 39 = 80 */
    expect_page(over, NULL, NULL, 0, 0, 2, l40);           /* 81: the second line moves */
    expect_page(over, NULL, NULL, 0, 1, 2, l40);
    /* a line that fills the screen exactly, then one more */
    char *full = cat(l80, "\nb");
    expect_page(full, NULL, NULL, 0, 0, 2, l80);
    expect_page(full, NULL, NULL, 0, 1, 2, "b");
    /* a short line, then a line that only fits an empty screen: it moves whole */
    char *l78 = repeat("中", 78), *a = cat("短行\n", l78);
    expect_page(a, NULL, NULL, 0, 0, 2, "短行");            /* 2 + 1 + 78 = 81 */
    expect_page(a, NULL, NULL, 0, 1, 2, l78);
    check_pages(a, ZH_MORE, ZH_BACK, 0);
    free(l40); free(l39); free(l80); free(two); free(fits); free(over); free(full);
    free(l78); free(a);
}

static void test_word_cuts(void **state)
{
    (void)state;
    /* a blank in the second half: the cut is there and the blank dropped */
    char *a150 = repeat("a", 150), *b100 = repeat("b", 100), *t = malloc(300);
    snprintf(t, 300, "%s %s", a150, b100);
    expect_page(t, NULL, NULL, 0, 0, 2, a150);
    expect_page(t, NULL, NULL, 0, 1, 2, b100);
    /* a blank in the first half only: cut hard at the limit */
    char *x300 = repeat("x", 300), *u = cat("ab ", x300), *x179 = repeat("x", 179);
    char *first = cat("ab ", x179);
    expect_page(u, NULL, NULL, 0, 0, 2, first);
    check_pages(u, EN_MORE, EN_BACK, 0);
    /* the character that overflows is the blank itself */
    char *a182 = repeat("a", 182), *v = cat(a182, " tail");
    expect_page(v, NULL, NULL, 0, 0, 2, a182);
    expect_page(v, NULL, NULL, 0, 1, 2, "tail");
    free(a150); free(b100); free(t); free(x300); free(u); free(x179); free(first);
    free(a182); free(v);
}

static void test_empty_body(void **state)
{
    (void)state;
    expect_page("", ZH_MORE, ZH_BACK, 0, 0, 1, "");
    expect_page("", ZH_MORE, ZH_BACK, 1, 0, 1, ZH_BACK);
    expect_page("", NULL, NULL, 1, 0, 1, "");
    expect_page("", ZH_MORE, ZH_BACK, 1, 7, 1, ZH_BACK);
    expect_page(NULL, ZH_MORE, ZH_BACK, 0, 0, 1, "");
    expect_page("\n", NULL, NULL, 0, 0, 1, "");
}

static void test_null_more_back(void **state)
{
    (void)state;
    expect_page("one\ntwo", NULL, NULL, 1, 0, 1, "one\ntwo");
    expect_page("one\ntwo", EN_MORE, NULL, 1, 0, 1, "one\ntwo");
    expect_page("one\ntwo", NULL, EN_BACK, 1, 0, 1, "one\ntwo\n" EN_BACK);
    char *long_body = repeat("中文", 100);
    int n = check_pages(long_body, NULL, NULL, 0);
    assert_int_equal(n, 3);                             /* 80 + 80 + 40 */
    n = check_pages(long_body, NULL, ZH_BACK, 0);
    assert_int_equal(n, 3);                             /* 80 + 75 + 45 */
    n = check_pages(long_body, ZH_MORE, NULL, 1);
    assert_int_equal(n, 3);                             /* 74 + 74 + 52 */
    free(long_body);
}

static void test_index_clamped(void **state)
{
    (void)state;
    char *body = repeat("第一行\n第二行比较长一些\n", 20);
    int n = check_pages(body, ZH_MORE, ZH_BACK, 0);
    assert_true(n > 2);
    int m;
    char *last = page(body, ZH_MORE, ZH_BACK, 0, n - 1, &m);
    for (int i = n; i < n + 5; i++)
        expect_page(body, ZH_MORE, ZH_BACK, 0, i, n, last);
    expect_page(body, ZH_MORE, ZH_BACK, 0, 1 << 30, n, last);
    assert_null(strstr(last, ZH_MORE));
    assert_non_null(strstr(last, ZH_BACK));
    free(last);
    /* counting only: OUT may be NULL */
    assert_int_equal(tpl_page(body, ZH_MORE, ZH_BACK, 0, 0, NULL), n);
    free(body);
}

static void test_odd_input(void **state)
{
    (void)state;
    /* MORE and BACK too long to leave room: one character a screen, no hang */
    char *huge = repeat("m", 200);
    for (int i = 0; i < 10; i++) {
        int n;
        char *p = page("0123456789", huge, huge, 1, i, &n);
        assert_int_equal(n, 10);
        assert_int_equal(p[0], '0' + i);
        assert_int_equal(p[1], '\n');
        free(p);
    }
    free(huge);
    /* invalid UTF-8 bytes: one unit each, cut between bytes */
    char *bad = repeat("\xFF", 100);
    int m;
    char *p = page(bad, NULL, NULL, 0, 0, &m);
    assert_int_equal(m, 2);
    assert_int_equal(strlen(p), 80);
    free(p);
    free(bad);
    /* empty lines are kept */
    expect_page("a\n\nb", NULL, NULL, 0, 0, 1, "a\n\nb");
    check_pages("a\n\n\nb\n", EN_MORE, EN_BACK, 1);
}

static void test_long_body_linear(void **state)
{
    (void)state;
    /* a 60 KB body paged at every index: quick, and the same count each time */
    char *body = repeat("参保人员张*明 已缴费\nPaid in full, thank you\n", 1500);
    int n = tpl_page(body, ZH_MORE, ZH_BACK, 0, 0, NULL);
    assert_true(n > 500);
    for (int i = 0; i < n; i += 97) {
        char *out = NULL;
        assert_int_equal(tpl_page(body, ZH_MORE, ZH_BACK, 0, i, &out), n);
        assert_true(screen_fits(out, strlen(out)));
        free(out);
    }
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chinese_list),
        cmocka_unit_test(test_english_500),
        cmocka_unit_test(test_chinese_300_one_line),
        cmocka_unit_test(test_mixed),
        cmocka_unit_test(test_boundary_ucs2),
        cmocka_unit_test(test_boundary_gsm),
        cmocka_unit_test(test_boundary_lines),
        cmocka_unit_test(test_word_cuts),
        cmocka_unit_test(test_empty_body),
        cmocka_unit_test(test_null_more_back),
        cmocka_unit_test(test_index_clamped),
        cmocka_unit_test(test_odd_input),
        cmocka_unit_test(test_long_body_linear),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
