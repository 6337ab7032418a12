/* test_tpl.c - loading, checking, reading and rendering texts and menus
 * (templates/tpl.c, tpl_schema.c) and the shipped data (templates/data).
 * Run from the repository root so that templates/data is found. Bad data
 * is made by copying the shipped files into a temporary directory under
 * /tmp with one edit, and the error must name that file, line and key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "tpl.h"

#define DATA "templates/data"

/* The keys every language file must have (the brief's schema). */
static const char *const keys[] = {
    "fmt.money", "fmt.date", "fmt.time",
    "ussd.busy", "ussd.unknown_phone", "ussd.choose_person", "ussd.main_title", "ussd.invalid",
    "ussd.more", "ussd.back", "ussd.contribution_paid", "ussd.contribution_unpaid",
    "ussd.contribution_unpaid_nodate", "ussd.contribution_none",
    "ussd.contribution_paid_notier", "ussd.contribution_unpaid_notier",
    "ussd.contribution_unpaid_notier_nodate", "ussd.contribution_overdue",
    "ussd.contribution_overdue_notier", "ussd.balance_ask_id",
    "ussd.balance_wrong_id", "ussd.balance_locked", "ussd.balance", "ussd.balance_none",
    "ussd.pension", "ussd.pension_nodate", "ussd.pension_none", "ussd.language_choose",
    "ussd.language_set", "ussd.goodbye",
    "menu.contribution", "menu.balance", "menu.pension", "menu.claim", "menu.reminders",
    "menu.language",
};
#define NKEYS (sizeof keys / sizeof keys[0])

/* ---- helpers: a copy of the shipped data with one edit ---- */

enum edit { KEEP, REPLACE, DELETE, APPEND, TRUNCATE, REMOVE };

static const char *const files[] = {"zh.ini", "en.ini", "menus.ini"};

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    *len = fread(buf, 1, 65535, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* The line number of the first line of DATA/FILE starting with PREFIX. */
static int line_of(const char *file, const char *prefix)
{
    char path[256];
    size_t len;
    snprintf(path, sizeof path, DATA "/%s", file);
    char *buf = slurp(path, &len);
    int ln = 1, found = 0;
    for (char *s = buf; *s != '\0' && !found; ln++) {
        if (strncmp(s, prefix, strlen(prefix)) == 0)
            found = ln;
        char *nl = strchr(s, '\n');
        s = nl != NULL ? nl + 1 : s + strlen(s);
    }
    free(buf);
    assert_true(found > 0);
    return found;
}

/* Makes DIR (a new directory under /tmp) with the shipped files, FILE
 * edited by OP at its first line starting with FIND. Returns the line
 * number of the edit in the new file (the first added line for APPEND). */
static int make_set(char dir[64], const char *file, enum edit op, const char *find,
                    const char *text)
{
    snprintf(dir, 64, "/tmp/tpl_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    int where = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int target = op != KEEP && strcmp(files[i], file) == 0;
        if (target && op == REMOVE)
            continue;
        char src[256], dst[256];
        size_t len;
        snprintf(src, sizeof src, DATA "/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        char *buf = slurp(src, &len);
        FILE *out = fopen(dst, "wb");
        assert_non_null(out);
        if (!target) {
            fwrite(buf, 1, len, out);
        } else {
            int ln = 1;
            char *s = buf;
            while (*s != '\0') {
                char *nl = strchr(s, '\n');
                size_t l = nl != NULL ? (size_t)(nl - s) + 1 : strlen(s);
                int hit = where == 0 && find != NULL && strncmp(s, find, strlen(find)) == 0;
                if (hit) {
                    where = ln;
                    if (op == TRUNCATE)
                        break;
                    if (op == REPLACE)
                        fprintf(out, "%s\n", text);
                } else {
                    fwrite(s, 1, l, out);
                }
                ln++;
                s += l;
            }
            if (op == APPEND) {
                where = ln;
                fprintf(out, "%s\n", text);
            }
            assert_true(where > 0);
        }
        fclose(out);
        free(buf);
    }
    return where;
}

static void remove_set(const char *dir)
{
    char path[256];
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* Loads DIR expecting failure with an error that starts with
 * "DIR/FILE:LINE: " EXPECT; removes DIR. */
static void expect_error(char dir[64], const char *file, int line, const char *expect)
{
    char err[512], want[512];
    tpl_set *set = (tpl_set *)&err;   /* must be reset to NULL */
    int rc = tpl_load(dir, &set, err, sizeof err);
    if (rc == 0)
        tpl_free(set);
    assert_int_equal(rc, -1);
    assert_null(set);
    snprintf(want, sizeof want, "%s/%s:%d: %s", dir, file, line, expect);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error \"%s\", expected \"%s...\"", err, want);
    remove_set(dir);
}

/* One edit of FILE that must fail at the edit's line plus OFFSET. */
static void bad_edit(const char *file, enum edit op, const char *find, const char *text,
                     int offset, const char *expect)
{
    char dir[64];
    int line = make_set(dir, file, op, find, text);
    expect_error(dir, file, line + offset, expect);
}

static tpl_set *load_ok(const char *dir)
{
    char err[512] = "";
    tpl_set *set = NULL;
    if (tpl_load(dir, &set, err, sizeof err) != 0)
        fail_msg("tpl_load(%s): %s", dir, err);
    assert_non_null(set);
    return set;
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

/* ---- the shipped data ---- */

static void test_load_shipped(void **state)
{
    (void)state;
    tpl_set *set = load_ok(DATA);
    assert_true(tpl_has_lang(set, "zh"));
    assert_true(tpl_has_lang(set, "en"));
    assert_false(tpl_has_lang(set, "fr"));
    assert_false(tpl_has_lang(set, ""));
    assert_false(tpl_has_lang(set, NULL));
    assert_false(tpl_has_lang(NULL, "zh"));
    for (size_t i = 0; i < NKEYS; i++) {
        for (int l = 0; l < 2; l++) {
            const char *t = tpl_text(set, l ? "en" : "zh", keys[i]);
            if (t == NULL)
                fail_msg("%s missing", keys[i]);
            assert_true(strlen(t) > 0);
            assert_true(tpl_utf8_valid(t, strlen(t)));
            assert_null(strstr(t, "\\n"));                  /* unescaped */
            assert_null(strchr(t, '\r'));
        }
        /* an unknown or missing language falls back to zh */
        assert_ptr_equal(tpl_text(set, "fr", keys[i]), tpl_text(set, "zh", keys[i]));
        assert_ptr_equal(tpl_text(set, NULL, keys[i]), tpl_text(set, "zh", keys[i]));
    }
    assert_null(tpl_text(set, "zh", "ussd.nope"));
    assert_null(tpl_text(set, "zh", "busy"));
    assert_null(tpl_text(set, "zh", "ussd."));
    assert_null(tpl_text(set, "zh", ""));
    assert_null(tpl_text(set, "zh", NULL));
    assert_null(tpl_text(NULL, "zh", "ussd.busy"));
    assert_string_equal(tpl_text(set, "zh", "ussd.more"), "98 更多");
    assert_string_equal(tpl_text(set, "en", "ussd.more"), "98 More");
    assert_string_equal(tpl_text(set, "zh", "ussd.back"), "0 返回");
    assert_string_equal(tpl_text(set, "en", "ussd.back"), "0 Back");
    assert_string_equal(tpl_text(set, "en", "ussd.language_choose"), "1 中文\n2 English");
    tpl_free(set);
    tpl_free(NULL);
}

static void test_shipped_texts_fit(void **state)
{
    (void)state;
    tpl_set *set = load_ok(DATA);
    for (size_t i = 0; i < NKEYS; i++) {
        const char *zh = tpl_text(set, "zh", keys[i]), *en = tpl_text(set, "en", keys[i]);
        size_t limit;
        if (strncmp(keys[i], "ussd.", 5) == 0) {
            assert_true(tpl_ussd_length(zh, strlen(zh), &limit) <= limit);
            assert_true(tpl_ussd_length(en, strlen(en), &limit) <= limit);
        } else {
            assert_null(strchr(zh, '\n'));
            assert_null(strchr(en, '\n'));
        }
        /* English stays GSM-7 except where Chinese is meant to be seen */
        int bilingual = strcmp(keys[i], "ussd.language_choose") == 0 ||
                        strcmp(keys[i], "menu.language") == 0;
        if (!bilingual && !tpl_gsm7_encodable(en, strlen(en)))
            fail_msg("en %s is not GSM-7: %s", keys[i], en);
        /* Chinese texts are Chinese (the formats may be all digits) */
        if (!bilingual && strncmp(keys[i], "fmt.", 4) != 0 && tpl_gsm7_encodable(zh, strlen(zh)))
            fail_msg("zh %s has no Chinese: %s", keys[i], zh);
    }
    tpl_free(set);
}

static void test_render_formats(void **state)
{
    (void)state;
    tpl_set *set = load_ok(DATA);
    tpl_var money = {"amount", "1234.56"};
    tpl_var date[] = {{"year", "2026"}, {"month", "10"}, {"day", "8"}, {"mm", "10"}, {"dd", "08"}};
    tpl_var time[] = {{"hh", "08"}, {"mi", "05"}};
    struct { const char *lang, *key; const tpl_var *v; size_t n; const char *want; } cases[] = {
        {"zh", "fmt.money", &money, 1, "1234.56元"},
        {"en", "fmt.money", &money, 1, "1234.56 yuan"},
        {"zh", "fmt.date", date, 5, "2026年10月8日"},
        {"en", "fmt.date", date, 5, "2026-10-08"},
        {"zh", "fmt.time", time, 2, "08:05"},
        {"en", "fmt.time", time, 2, "08:05"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = tpl_render(set, cases[i].lang, cases[i].key, cases[i].v, cases[i].n);
        assert_non_null(s);
        assert_string_equal(s, cases[i].want);
        free(s);
    }
    tpl_var jan[] = {{"year", "2027"}, {"month", "1"}, {"day", "5"}, {"mm", "01"}, {"dd", "05"}};
    char *s = tpl_render(set, "zh", "fmt.date", jan, 5);
    assert_string_equal(s, "2027年1月5日");
    free(s);
    s = tpl_render(set, "en", "fmt.date", jan, 5);
    assert_string_equal(s, "2027-01-05");
    free(s);
    tpl_free(set);
}

static void test_render_screens(void **state)
{
    (void)state;
    tpl_set *set = load_ok(DATA);
    tpl_var paid[] = {{"year", "2026"}, {"tier", "100元"}, {"paid", "100元"}};
    char *s = tpl_render(set, "zh", "ussd.contribution_paid", paid, 3);
    assert_string_equal(s, "2026年度居民养老保险\n缴费档次：100元\n已缴费：100元");
    free(s);
    tpl_var unpaid[] = {{"year", "2026"}, {"tier", "100 yuan"}, {"due_amount", "100 yuan"},
                        {"due_date", "2026-10-08"}};
    s = tpl_render(set, "en", "ussd.contribution_unpaid", unpaid, 4);
    assert_non_null(strstr(s, "Not paid"));
    assert_non_null(strstr(s, "100 yuan"));
    assert_non_null(strstr(s, "2026-10-08"));
    assert_null(strchr(s, '{'));
    free(s);
    tpl_var unpaid_zh[] = {{"year", "2026"}, {"tier", "1000元"}, {"due_amount", "1000元"},
                           {"due_date", "2026年10月8日"}};
    s = tpl_render(set, "zh", "ussd.contribution_unpaid", unpaid_zh, 4);
    assert_non_null(strstr(s, "还没有缴费"));
    assert_non_null(strstr(s, "2026年10月8日"));
    /* a full information screen with BACK fits one screen */
    char *out = NULL;
    assert_int_equal(tpl_page(s, "98 更多", "0 返回", 1, 0, &out), 1);
    free(out);
    free(s);
    tpl_var hot = {"hotline", "12333"};
    s = tpl_render(set, "zh", "ussd.unknown_phone", &hot, 1);
    assert_non_null(strstr(s, "12333"));
    free(s);

    /* the main menu as the engine builds it fits one Chinese screen, even
     * with a line above it */
    for (int pre = 0; pre < 3; pre++) {
        char body[1024];
        size_t n = 0;
        const char *prefix = pre == 1 ? "ussd.invalid" : "ussd.language_set";
        if (pre > 0)
            n += (size_t)snprintf(body + n, sizeof body - n, "%s\n", tpl_text(set, "zh", prefix));
        tpl_var name = {"name", "张*明"};
        char *title = tpl_render(set, "zh", "ussd.main_title", &name, 1);
        n += (size_t)snprintf(body + n, sizeof body - n, "%s", title);
        free(title);
        const tpl_menu_item *items;
        size_t k = tpl_menu(set, "main", &items);
        for (size_t i = 0; i < k; i++) {
            char key[64];
            snprintf(key, sizeof key, "menu.%s", items[i].action);
            n += (size_t)snprintf(body + n, sizeof body - n, "\n%d %s", items[i].digit,
                                  tpl_text(set, "zh", key));
        }
        assert_int_equal(tpl_page(body, "98 更多", "0 返回", 1, 0, NULL), 1);
    }
    /* and in English (UCS-2 too: the masked name is Chinese) */
    char body[1024];
    tpl_var name = {"name", "张*明"};
    char *title = tpl_render(set, "en", "ussd.main_title", &name, 1);
    snprintf(body, sizeof body, "%s\n1 %s\n2 %s\n3 %s\n6 %s", title,
             tpl_text(set, "en", "menu.contribution"), tpl_text(set, "en", "menu.balance"),
             tpl_text(set, "en", "menu.pension"), tpl_text(set, "en", "menu.language"));
    free(title);
    assert_int_equal(tpl_page(body, "98 More", "0 Back", 0, 0, NULL), 1);
    tpl_free(set);
}

static void test_render_vars(void **state)
{
    (void)state;
    tpl_set *set = load_ok(DATA);
    /* a placeholder without a value renders empty; extra values are ignored */
    char *s = tpl_render(set, "zh", "fmt.money", NULL, 0);
    assert_string_equal(s, "元");
    free(s);
    tpl_var other[] = {{"year", "2026"}, {"amountx", "9"}, {"amoun", "9"}, {NULL, "x"}};
    s = tpl_render(set, "en", "fmt.money", other, 4);
    assert_string_equal(s, " yuan");
    free(s);
    tpl_var nullv = {"amount", NULL};
    s = tpl_render(set, "en", "fmt.money", &nullv, 1);
    assert_string_equal(s, " yuan");
    free(s);
    /* the first value of a name wins; values are not re-scanned */
    tpl_var twice[] = {{"amount", "{amount}"}, {"amount", "2"}};
    s = tpl_render(set, "zh", "fmt.money", twice, 2);
    assert_string_equal(s, "{amount}元");
    free(s);
    /* no placeholders: the text itself */
    s = tpl_render(set, "en", "ussd.busy", NULL, 0);
    assert_string_equal(s, tpl_text(set, "en", "ussd.busy"));
    free(s);
    assert_null(tpl_render(set, "zh", "ussd.nope", NULL, 0));
    assert_null(tpl_render(NULL, "zh", "ussd.busy", NULL, 0));
    /* an unknown language falls back to zh */
    s = tpl_render(set, "xx", "ussd.busy", NULL, 0);
    assert_string_equal(s, tpl_text(set, "zh", "ussd.busy"));
    free(s);
    tpl_free(set);
}

static void test_literal_braces(void **state)
{
    (void)state;
    char dir[64];
    make_set(dir, "en.ini", REPLACE, "money =", "money = {{{amount}}} yuan {{x}}");
    tpl_set *set = load_ok(dir);
    tpl_var v = {"amount", "5"};
    char *s = tpl_render(set, "en", "fmt.money", &v, 1);
    assert_string_equal(s, "{5} yuan {x}");
    free(s);
    assert_string_equal(tpl_text(set, "en", "fmt.money"), "{{{amount}}} yuan {{x}}");
    tpl_free(set);
    remove_set(dir);
}

static void test_menu(void **state)
{
    (void)state;
    tpl_set *set = load_ok(DATA);
    const tpl_menu_item *items = NULL;
    size_t n = tpl_menu(set, "main", &items);
    assert_int_equal(n, 6);
    const int digits[] = {1, 2, 3, 4, 5, 6};
    const char *actions[] = {"contribution", "balance", "pension", "claim", "reminders",
                             "language"};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(items[i].digit, digits[i]);
        assert_string_equal(items[i].action, actions[i]);
    }
    items = (const tpl_menu_item *)&n;
    assert_int_equal(tpl_menu(set, "other", &items), 0);
    assert_null(items);
    assert_int_equal(tpl_menu(set, NULL, &items), 0);
    assert_int_equal(tpl_menu(NULL, "main", &items), 0);
    tpl_free(set);

    /* a digit out of order stays in file order */
    char dir[64];
    make_set(dir, "menus.ini", REPLACE, "4 = claim", "7 = claim");
    set = load_ok(dir);
    n = tpl_menu(set, "main", &items);
    assert_int_equal(n, 6);
    assert_int_equal(items[3].digit, 7);
    assert_string_equal(items[3].action, "claim");
    assert_int_equal(items[4].digit, 5);
    assert_string_equal(items[4].action, "reminders");
    tpl_free(set);
    remove_set(dir);
}

static void test_reload(void **state)
{
    (void)state;
    tpl_set *a = load_ok(DATA), *b = load_ok(DATA);
    assert_ptr_not_equal(a, b);
    assert_string_equal(tpl_text(a, "zh", "ussd.busy"), tpl_text(b, "zh", "ussd.busy"));
    tpl_free(a);
    assert_non_null(tpl_text(b, "en", "ussd.goodbye"));
    tpl_free(b);
}

/* ---- accepted variations of the files ---- */

static void test_file_variations(void **state)
{
    (void)state;
    char dir[64];
    /* a UTF-8 byte order mark, CRLF line ends, # comments */
    snprintf(dir, sizeof dir, "/tmp/tpl_test_XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char src[256], dst[256];
        size_t len;
        snprintf(src, sizeof src, DATA "/%s", files[i]);
        snprintf(dst, sizeof dst, "%s/%s", dir, files[i]);
        char *buf = slurp(src, &len);
        FILE *out = fopen(dst, "wb");
        fputs("\xEF\xBB\xBF# converted\r\n\r\n", out);
        for (char *s = buf; *s != '\0'; s++) {
            if (*s == '\n')
                fputs("\r\n", out);
            else
                fputc(*s, out);
        }
        fclose(out);
        free(buf);
    }
    tpl_set *set = load_ok(dir);
    assert_string_equal(tpl_text(set, "zh", "ussd.back"), "0 返回");
    assert_null(strchr(tpl_text(set, "en", "ussd.goodbye"), '\r'));
    assert_int_equal(tpl_menu(set, "main", NULL), 6);
    tpl_free(set);
    remove_set(dir);

    /* a text exactly at the limits loads */
    char line[512], *a = repeat("a", 182), *bar = repeat("|", 91);
    snprintf(line, sizeof line, "busy = %s", a);
    make_set(dir, "en.ini", REPLACE, "busy =", line);
    tpl_free(load_ok(dir));
    remove_set(dir);
    snprintf(line, sizeof line, "busy = 忙%s", a + 103);       /* 1 + 79 units */
    make_set(dir, "zh.ini", REPLACE, "busy =", line);
    tpl_free(load_ok(dir));
    remove_set(dir);
    snprintf(line, sizeof line, "busy = %s", bar);              /* 91 x 2 septets */
    make_set(dir, "en.ini", REPLACE, "busy =", line);
    tpl_free(load_ok(dir));
    remove_set(dir);
    /* an indented line continues the text: directly after Chinese, with a
     * space between two ASCII characters */
    make_set(dir, "zh.ini", REPLACE, "busy =", "busy = 系统繁忙，\n    请稍后再拨打。");
    set = load_ok(dir);
    assert_string_equal(tpl_text(set, "zh", "ussd.busy"), "系统繁忙，请稍后再拨打。");
    tpl_free(set);
    remove_set(dir);
    make_set(dir, "en.ini", REPLACE, "busy =", "busy = Busy, please\n\t try later.  ");
    set = load_ok(dir);
    assert_string_equal(tpl_text(set, "en", "ussd.busy"), "Busy, please try later.");
    tpl_free(set);
    remove_set(dir);
    /* key = value with ':' and a '\\' escape */
    make_set(dir, "en.ini", REPLACE, "busy =", "busy: Busy \\\\ try later");
    set = load_ok(dir);
    assert_string_equal(tpl_text(set, "en", "ussd.busy"), "Busy \\ try later");
    tpl_free(set);
    remove_set(dir);
    free(a);
    free(bar);
}

/* ---- errors: FILE:LINE: key: reason ---- */

static void test_missing_files(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char dir[64];
        make_set(dir, files[i], REMOVE, NULL, NULL);
        expect_error(dir, files[i], 0, "cannot open");
    }
    char err[256];
    tpl_set *set = NULL;
    assert_int_equal(tpl_load("/nonexistent-dir", &set, err, sizeof err), -1);
    assert_null(set);
    assert_true(strncmp(err, "/nonexistent-dir/zh.ini:0: cannot open", 38) == 0);
    assert_int_equal(tpl_load(NULL, &set, err, sizeof err), -1);
    /* a small error buffer is cut, not overrun; none at all is fine */
    char small[8];
    memset(small, 'x', sizeof small);
    assert_int_equal(tpl_load("/nonexistent-dir", &set, small, sizeof small), -1);
    assert_int_equal(small[7], '\0');
    assert_int_equal(tpl_load("/nonexistent-dir", &set, NULL, 0), -1);
}

static void test_bad_keys_and_sections(void **state)
{
    (void)state;
    bad_edit("zh.ini", APPEND, NULL, "[ussd]\nfoo = 你好", 1, "ussd.foo: unknown key");
    bad_edit("en.ini", APPEND, NULL, "[menu]\nlottery = Lottery", 1, "menu.lottery: unknown key");
    bad_edit("zh.ini", APPEND, NULL, "[bogus]\nx = y", 0, "bogus: unknown section");
    bad_edit("en.ini", APPEND, NULL, "[bogus]", 0, "bogus: unknown section");
    bad_edit("zh.ini", REPLACE, ";", "busy = 忙", 0, "busy: key outside a section");
    bad_edit("en.ini", APPEND, NULL, "[ussd]\nbusy = Busy again.", 1,
             "ussd.busy: duplicate key (first on line");
    bad_edit("zh.ini", APPEND, NULL, "garbage without equals", 0, "syntax error");
    bad_edit("zh.ini", APPEND, NULL, "[ussd", 0, "syntax error");
}

static void test_missing_keys(void **state)
{
    (void)state;
    /* a missing key is reported at its section's line */
    bad_edit("zh.ini", DELETE, "busy =", NULL, line_of("zh.ini", "[ussd]") - line_of("zh.ini", "busy ="),
             "ussd.busy: missing");
    bad_edit("en.ini", DELETE, "claim =", NULL, line_of("en.ini", "[menu]") - line_of("en.ini", "claim ="),
             "menu.claim: missing");
    /* ... or at line 0 when the section is missing too */
    char dir[64];
    make_set(dir, "en.ini", TRUNCATE, "[menu]", NULL);
    expect_error(dir, "en.ini", 0, "menu.contribution: missing");
}

static void test_bad_values(void **state)
{
    (void)state;
    bad_edit("zh.ini", REPLACE, "busy =", "busy = 系统繁忙{foo}", 0,
             "ussd.busy: unknown placeholder {foo}");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = {year}年系统繁忙", 0,
             "ussd.busy: unknown placeholder {year}");   /* allowed elsewhere only */
    bad_edit("en.ini", REPLACE, "date =", "date = {year}-{MM}-{dd}", 0,
             "fmt.date: unknown placeholder {MM}");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = 忙{", 0, "ussd.busy: unbalanced brace");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = 忙}", 0, "ussd.busy: unbalanced brace");
    bad_edit("en.ini", REPLACE, "money =", "money = {amount yuan", 0, "fmt.money: unbalanced brace");
    bad_edit("en.ini", REPLACE, "money =", "money = {} yuan", 0, "fmt.money: unbalanced brace");
    bad_edit("en.ini", REPLACE, "money =", "money = {amount}} yuan", 0, "fmt.money: unbalanced brace");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = 忙\xE4\xB8", 0, "ussd.busy: invalid UTF-8");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = \xC0\xAF", 0, "ussd.busy: invalid UTF-8");
    bad_edit("en.ini", REPLACE, "busy =", "busy = \xED\xA0\x80", 0, "ussd.busy: invalid UTF-8");
    bad_edit("zh.ini", REPLACE, "busy =", "busy =", 0, "ussd.busy: empty text");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = 忙\\t请稍后", 0, "ussd.busy: bad escape");
    bad_edit("zh.ini", REPLACE, "busy =", "busy = 忙\\", 0, "ussd.busy: bad escape");
    bad_edit("zh.ini", REPLACE, "money =", "money = {amount}\\n元", 0, "fmt.money: must be one line");
    bad_edit("en.ini", REPLACE, "claim =", "claim = Report\\na claim", 0, "menu.claim: must be one line");
    /* inih's inline comments would cut the text; a continued text is checked
     * whole, at the line that continues it */
    bad_edit("en.ini", REPLACE, "busy =", "busy = Busy ; dial later", 0, "ussd.busy: \";\"");
    char *half = repeat("忙", 40), continued[512];
    snprintf(continued, sizeof continued, "busy = 忙\n    %s\n    %s", half, half);
    bad_edit("zh.ini", REPLACE, "busy =", continued, 2, "ussd.busy: too long for one USSD");
    free(half);
}

static void test_too_long(void **state)
{
    (void)state;
    char line[512], *a = repeat("a", 183), *bar = repeat("|", 92), *big = repeat("a", 260);
    snprintf(line, sizeof line, "busy = %s", a);
    bad_edit("en.ini", REPLACE, "busy =", line, 0,
             "ussd.busy: too long for one USSD screen (183 of 182");
    snprintf(line, sizeof line, "busy = 忙%s", a + 103);        /* 1 + 80 units */
    bad_edit("zh.ini", REPLACE, "busy =", line, 0,
             "ussd.busy: too long for one USSD screen (81 of 80");
    snprintf(line, sizeof line, "busy = %s", bar);              /* 184 septets */
    bad_edit("en.ini", REPLACE, "busy =", line, 0,
             "ussd.busy: too long for one USSD screen (184 of 182");
    /* "\n" counts as one */
    snprintf(line, sizeof line, "busy = %s\\n", a + 1);
    bad_edit("en.ini", REPLACE, "busy =", line, 0,
             "ussd.busy: too long for one USSD screen (183 of 182");
    snprintf(line, sizeof line, "busy = %s", big);
    bad_edit("en.ini", REPLACE, "busy =", line, 0, "line too long");
    free(a);
    free(bar);
    free(big);
}

static void test_bad_menus(void **state)
{
    (void)state;
    bad_edit("menus.ini", APPEND, NULL, "0 = claim", 0, "main.0: bad digit");
    bad_edit("menus.ini", APPEND, NULL, "10 = claim", 0, "main.10: bad digit");
    bad_edit("menus.ini", APPEND, NULL, "x = claim", 0, "main.x: bad digit");
    bad_edit("menus.ini", APPEND, NULL, "7 = lottery", 0, "main.7: unknown action \"lottery\"");
    bad_edit("menus.ini", APPEND, NULL, "7 = Claim", 0, "main.7: unknown action");
    bad_edit("menus.ini", APPEND, NULL, "1 = claim", 0, "main.1: duplicate digit");
    bad_edit("menus.ini", APPEND, NULL, "7 = balance", 0, "main.7: duplicate action \"balance\"");
    bad_edit("menus.ini", APPEND, NULL, "[other]\n1 = balance", 0, "other: unknown menu");
    bad_edit("menus.ini", REPLACE, ";", "1 = balance", 0, "1: key outside a menu");
    char dir[64];
    make_set(dir, "menus.ini", TRUNCATE, "[main]", NULL);
    expect_error(dir, "menus.ini", 0, "main: missing");
    int line = make_set(dir, "menus.ini", TRUNCATE, "1 = contribution", NULL);
    expect_error(dir, "menus.ini", line - 1, "main: empty menu");
    /* the claim reminders name the main menu's claim item: it must be there */
    make_set(dir, "menus.ini", DELETE, "4 = claim", NULL);
    expect_error(dir, "menus.ini", 0, "[main] has no claim item, and zh.ini sms.claim_reminder");
    make_set(dir, "menus.ini", REPLACE, "4 = claim", "7 = claim");
    tpl_free(load_ok(dir));
    remove_set(dir);
}

static void test_first_error_wins(void **state)
{
    (void)state;
    char dir[64];
    /* two bad lines: the earlier one is reported */
    int line = make_set(dir, "zh.ini", APPEND, NULL, "[ussd]\nfoo = 1\nbar = {x}\n[bogus]");
    expect_error(dir, "zh.ini", line + 1, "ussd.foo: unknown key");
    /* zh is read before en */
    line = make_set(dir, "zh.ini", REPLACE, "busy =", "busy = {");
    char path[128];
    snprintf(path, sizeof path, "%s/en.ini", dir);
    unlink(path);
    expect_error(dir, "zh.ini", line, "ussd.busy: unbalanced brace");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_shipped),
        cmocka_unit_test(test_shipped_texts_fit),
        cmocka_unit_test(test_render_formats),
        cmocka_unit_test(test_render_screens),
        cmocka_unit_test(test_render_vars),
        cmocka_unit_test(test_literal_braces),
        cmocka_unit_test(test_menu),
        cmocka_unit_test(test_reload),
        cmocka_unit_test(test_file_variations),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_bad_keys_and_sections),
        cmocka_unit_test(test_missing_keys),
        cmocka_unit_test(test_bad_values),
        cmocka_unit_test(test_too_long),
        cmocka_unit_test(test_bad_menus),
        cmocka_unit_test(test_first_error_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
