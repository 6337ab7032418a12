/* test_sms.c - SMS length, parts, look-alike replacement and the message
 * sent (templates/tpl_sms.c), and the check of SMS texts at load
 * (tpl_load_ex, tpl_schema.c). Run from the repository root so that
 * templates/data is found. Expected counts are written out by hand: a part
 * holds 160 septets / 70 units alone, else 153 / 67, and a character that
 * does not fit whole in what is left of a part starts the next one.
 * Load tests copy the shipped files into a directory under /tmp with their
 * [sms] section rewritten: every text "ok" except the ones under test. */
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
#define SIG "【某县人社】"
#define EMOJI "\xF0\x9F\x98\x80"   /* U+1F600, a surrogate pair in UTF-16 */

/* ---- helpers ---- */

/* Joins up to four pieces, each REPS times UNIT (REPS 0: none). */
typedef struct piece {
    const char *unit;
    size_t reps;
} piece;

static char *build(piece a, piece b, piece c, piece d)
{
    piece ps[] = {a, b, c, d};
    size_t n = 0;
    for (size_t i = 0; i < 4; i++)
        n += ps[i].unit != NULL ? strlen(ps[i].unit) * ps[i].reps : 0;
    char *s = malloc(n + 1), *o = s;
    assert_non_null(s);
    for (size_t i = 0; i < 4; i++) {
        for (size_t r = 0; ps[i].unit != NULL && r < ps[i].reps; r++) {
            memcpy(o, ps[i].unit, strlen(ps[i].unit));
            o += strlen(ps[i].unit);
        }
    }
    *o = '\0';
    return s;
}

#define P(u, n) ((piece){(u), (n)})
#define NONE P(NULL, 0)

/* Measures S (a string) and checks all three fields. */
static void expect_measure(const char *s, int ucs2, size_t units, int segments)
{
    tpl_sms info = {-1, 0, -1};
    tpl_sms_measure(s, strlen(s), &info);
    if (info.ucs2 != ucs2 || info.units != units || info.segments != segments)
        fail_msg("measure(%.40s...): ucs2 %d units %zu segments %d, expected %d %zu %d", s,
                 info.ucs2, info.units, info.segments, ucs2, units, segments);
}

/* Measures the built string and frees it. */
static void expect_built(char *s, int ucs2, size_t units, int segments)
{
    expect_measure(s, ucs2, units, segments);
    free(s);
}

/* ---- measuring ---- */

static void test_chinese_parts(void **state)
{
    (void)state;
    const struct { size_t n; int parts; } cases[] = {
        {1, 1}, {70, 1}, {71, 2}, {134, 2}, {135, 3}, {201, 3}, {202, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_built(build(P("中", cases[i].n), NONE, NONE, NONE), 1, cases[i].n, cases[i].parts);
}

static void test_english_parts(void **state)
{
    (void)state;
    const struct { size_t n; int parts; } cases[] = {
        {1, 1}, {160, 1}, {161, 2}, {306, 2}, {307, 3}, {459, 3}, {460, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_built(build(P("a", cases[i].n), NONE, NONE, NONE), 0, cases[i].n, cases[i].parts);
    /* the whole basic table is GSM-7, '\n' included */
    expect_measure("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
                   " !\"#¤%&'()*+,-./09:;<=>?¡AZÄÖÑÜ§¿azäöñüà", 0, 71, 1);
    /* an empty message still takes one part */
    expect_measure("", 0, 0, 1);
}

static void test_mixed_parts(void **state)
{
    (void)state;
    /* one Chinese character makes the whole message UCS-2: ASCII counts 1 unit */
    expect_built(build(P("a", 69), P("中", 1), NONE, NONE), 1, 70, 1);
    expect_built(build(P("a", 70), P("中", 1), NONE, NONE), 1, 71, 2);
    expect_built(build(P("中", 1), P("a", 133), NONE, NONE), 1, 134, 2);
    expect_built(build(P("a", 134), P("中", 1), NONE, NONE), 1, 135, 3);
    /* extension characters count 1 unit in UCS-2, not 2 */
    expect_built(build(P("€", 69), P("中", 1), NONE, NONE), 1, 70, 1);
    expect_built(build(P("{", 80), NONE, NONE, NONE), 0, 160, 1);
    /* measuring replaces nothing: curly quotes are UCS-2 */
    expect_measure("“Hi”", 1, 4, 1);
    /* an invalid byte is never GSM-7 and counts one unit */
    expect_measure("ab\xFF", 1, 3, 1);
}

static void test_emoji_border(void **state)
{
    (void)state;
    expect_measure(EMOJI, 1, 2, 1);
    expect_built(build(P("中", 68), P(EMOJI, 1), NONE, NONE), 1, 70, 1);
    expect_built(build(P("中", 69), P(EMOJI, 1), NONE, NONE), 1, 71, 2);
    /* the pair would take units 67 and 68: it moves whole to part 2, which
     * then holds 2 + 66 = 68 units, so a third part is needed */
    expect_built(build(P("中", 66), P(EMOJI, 1), P("中", 66), NONE), 1, 134, 3);
    /* the same 134 units with the pair inside part 1 or starting part 2: 2 parts */
    expect_built(build(P("中", 65), P(EMOJI, 1), P("中", 67), NONE), 1, 134, 2);
    expect_built(build(P("中", 67), P(EMOJI, 1), P("中", 65), NONE), 1, 134, 2);
    /* at the second border (units 134 and 135): 201 units, 4 parts */
    expect_built(build(P("中", 133), P(EMOJI, 1), P("中", 66), NONE), 1, 201, 4);
    expect_built(build(P("中", 132), P(EMOJI, 1), P("中", 67), NONE), 1, 201, 3);
    /* only emoji: 33 pairs (66 units) per part */
    expect_built(build(P(EMOJI, 35), NONE, NONE, NONE), 1, 70, 1);
    expect_built(build(P(EMOJI, 67), NONE, NONE, NONE), 1, 134, 3);
    expect_built(build(P(EMOJI, 66), NONE, NONE, NONE), 1, 132, 2);
}

static void test_extension_border(void **state)
{
    (void)state;
    const char *ext[] = {"€", "[", "]", "{", "}", "^", "~", "\\", "|"};
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++) {
        const char *c = ext[i];
        /* one part: 158 + 2 = 160 septets; 159 + 2 = 161 is two */
        expect_built(build(P("a", 158), P(c, 1), NONE, NONE), 0, 160, 1);
        expect_built(build(P("a", 159), P(c, 1), NONE, NONE), 0, 161, 2);
        /* escape + code would take septets 153 and 154: the pair moves whole
         * to part 2, which then holds 2 + 152 = 154 septets: 3 parts */
        expect_built(build(P("a", 152), P(c, 1), P("a", 152), NONE), 0, 306, 3);
        /* the pair ends part 1, or starts part 2: 2 parts */
        expect_built(build(P("a", 151), P(c, 1), P("a", 153), NONE), 0, 306, 2);
        expect_built(build(P("a", 153), P(c, 1), P("a", 151), NONE), 0, 306, 2);
    }
    /* only extension characters: 76 per part (152 septets) */
    expect_built(build(P("€", 80), NONE, NONE, NONE), 0, 160, 1);
    expect_built(build(P("€", 81), NONE, NONE, NONE), 0, 162, 2);
    expect_built(build(P("€", 152), NONE, NONE, NONE), 0, 304, 2);
    expect_built(build(P("€", 153), NONE, NONE, NONE), 0, 306, 3);
}

/* ---- the message sent: signature ---- */

/* Prepares SIGNATURE + TEXT, expects WANT and the measure. */
static void expect_prepare(const char *signature, const char *text, const char *want, int ucs2,
                           size_t units, int segments)
{
    tpl_sms info = {-1, 0, -1};
    char *out = tpl_sms_prepare(signature, text, strlen(text), &info);
    assert_non_null(out);
    if (strcmp(out, want) != 0)
        fail_msg("prepared \"%s\", expected \"%s\"", out, want);
    if (info.ucs2 != ucs2 || info.units != units || info.segments != segments)
        fail_msg("prepare(%s): ucs2 %d units %zu segments %d, expected %d %zu %d", want,
                 info.ucs2, info.units, info.segments, ucs2, units, segments);
    free(out);
}

static void test_signature_counted(void **state)
{
    (void)state;
    char *a64 = build(P("a", 64), NONE, NONE, NONE), *a65 = build(P("a", 65), NONE, NONE, NONE);
    char *s64 = build(P(SIG, 1), P("a", 64), NONE, NONE);
    char *s65 = build(P(SIG, 1), P("a", 65), NONE, NONE);
    /* the signature's six characters make English UCS-2 and count */
    expect_prepare(SIG, a64, s64, 1, 70, 1);
    expect_prepare(SIG, a65, s65, 1, 71, 2);
    /* without it the same text is GSM-7 */
    expect_prepare(NULL, a64, a64, 0, 64, 1);
    expect_prepare("", a65, a65, 0, 65, 1);
    /* an ASCII signature keeps GSM-7 and counts its septets */
    char *a154 = build(P("a", 154), NONE, NONE, NONE), *a155 = build(P("a", 155), NONE, NONE, NONE);
    char *x154 = build(P("[X] ", 1), P("a", 154), NONE, NONE);
    char *x155 = build(P("[X] ", 1), P("a", 155), NONE, NONE);
    expect_prepare("[X] ", a154, x154, 0, 2 + 1 + 2 + 1 + 154, 1);   /* [ and ] count 2 */
    expect_prepare("[X] ", a155, x155, 0, 161, 2);
    expect_prepare(SIG, "", SIG, 1, 6, 1);
    expect_prepare(SIG, "您好", SIG "您好", 1, 8, 1);
    /* INFO may be NULL */
    char *out = tpl_sms_prepare(SIG, "ok", 2, NULL);
    assert_string_equal(out, SIG "ok");
    free(out);
    /* only LEN bytes of TEXT are taken */
    out = tpl_sms_prepare(NULL, "okay", 2, NULL);
    assert_string_equal(out, "ok");
    free(out);
    free(a64);
    free(a65);
    free(s64);
    free(s65);
    free(a154);
    free(a155);
    free(x154);
    free(x155);
}

/* ---- look-alike punctuation ---- */

static void test_lookalike_english(void **state)
{
    (void)state;
    /* each look-alike between ASCII letters */
    const struct { const char *from, *to; } cases[] = {
        {"‘", "'"}, {"’", "'"}, {"‚", "'"}, {"‛", "'"}, {"′", "'"}, {"‵", "'"}, {"`", "'"},
        {"´", "'"}, {"“", "\""}, {"”", "\""}, {"„", "\""}, {"‟", "\""}, {"″", "\""},
        {"‶", "\""}, {"‐", "-"}, {"‑", "-"}, {"‒", "-"}, {"–", "-"}, {"—", "-"}, {"―", "-"},
        {"−", "-"}, {"…", "..."}, {"\xC2\xA0", " "}, {"\t", " "}, {"\xE2\x80\x82", " "},
        {"\xE2\x80\x83", " "}, {"\xE2\x80\x89", " "}, {"\xE2\x80\x8A", " "},
        {"\xE2\x80\xAF", " "}, {"\xE2\x81\x9F", " "}, {"\xE3\x80\x80", " "} /* ideographic */,
        {"\xE2\x80\x8B", ""} /* zero width */, {"\xC2\xAD", ""} /* soft hyphen */,
        {"\xEF\xBB\xBF", ""}, {"！", "!"}, {"Ａ", "A"}, {"ｚ", "z"}, {"０", "0"}, {"，", ","},
        {"．", "."}, {"：", ":"}, {"？", "?"}, {"（", "("}, {"）", ")"}, {"＠", "@"},
        {"～", "~"}, {"＼", "\\"}, {"｀", "'"}, {"、", ","}, {"。", "."}, {"￥", "¥"},
        {"￡", "£"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char in[32], want[32];
        snprintf(in, sizeof in, "a%sb", cases[i].from);
        snprintf(want, sizeof want, "a%sb", cases[i].to);
        size_t n = 99;
        char *out = tpl_sms_normalize(in, strlen(in), &n);
        assert_non_null(out);
        if (strcmp(out, want) != 0)
            fail_msg("case %zu: \"%s\" became \"%s\", expected \"%s\"", i, in, out, want);
        assert_int_equal(n, strlen(want));
        assert_true(tpl_gsm7_encodable(out, n));
        free(out);
    }
    /* a whole English sentence */
    expect_prepare(NULL, "“Smart quotes” – dashes — and… it’s\xC2\xA0ok",
                   "\"Smart quotes\" - dashes - and... it's ok", 0, 40, 1);
    expect_prepare(NULL, "Reply ＡＢＣ！ now", "Reply ABC! now", 0, 14, 1);
    expect_prepare("[X] ", "Pay ≥", "[X] Pay ≥", 1, 9, 1);   /* ≥ has no stand-in */
    /* the full-width block U+FF01..U+FF5E maps onto ASCII 0x21..0x7E (` to ') */
    char fw[94 * 3 + 1], ascii[95];
    for (unsigned c = 0x21; c <= 0x7E; c++) {
        unsigned cp = c + 0xFEE0;
        fw[(c - 0x21) * 3] = (char)(0xE0 | (cp >> 12));
        fw[(c - 0x21) * 3 + 1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        fw[(c - 0x21) * 3 + 2] = (char)(0x80 | (cp & 0x3F));
        ascii[c - 0x21] = c == '`' ? '\'' : (char)c;
    }
    fw[94 * 3] = '\0';
    ascii[94] = '\0';
    tpl_sms info;
    char *out = tpl_sms_prepare(NULL, fw, strlen(fw), &info);
    assert_string_equal(out, ascii);
    assert_int_equal(info.ucs2, 0);
    assert_int_equal(info.units, 94 + 8);   /* [ \ ] ^ { | } ~ count 2 */
    free(out);
    /* a text that needs nothing comes back the same, as a copy */
    size_t n = 0;
    out = tpl_sms_normalize("plain", 5, &n);
    assert_string_equal(out, "plain");
    assert_int_equal(n, 5);
    free(out);
    out = tpl_sms_normalize("", 0, NULL);
    assert_string_equal(out, "");
    free(out);
}

static void test_lookalike_kept(void **state)
{
    (void)state;
    /* Chinese text keeps its full-width and curly punctuation */
    const char *zh = "您好，请回复“查询”…谢谢！　再见。";
    size_t n = 0;
    char *out = tpl_sms_normalize(zh, strlen(zh), &n);
    assert_string_equal(out, zh);
    assert_int_equal(n, strlen(zh));
    free(out);
    expect_prepare(NULL, zh, zh, 1, 18, 1);
    /* one character outside GSM-7 keeps every look-alike as written */
    expect_prepare(NULL, "“Hi” – 张", "“Hi” – 张", 1, 8, 1);
    expect_prepare(NULL, "“Façade”", "“Façade”", 1, 8, 1);   /* ç is not GSM-7 */
    expect_prepare(NULL, "It’s " EMOJI, "It’s " EMOJI, 1, 7, 1);
    /* the signature is part of the message: a Chinese one keeps them too */
    expect_prepare(SIG, "“Hi” – ok…", SIG "“Hi” – ok…", 1, 6 + 10, 1);
    expect_prepare("[X] ", "“Hi” – ok…", "[X] \"Hi\" - ok...", 0, 6 + 12, 1);
    /* invalid bytes: nothing is replaced */
    out = tpl_sms_normalize("“\xFF”", 7, &n);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "“\xFF”", 7);
    free(out);
}

static void test_prepare_invalid(void **state)
{
    (void)state;
    tpl_sms info;
    assert_null(tpl_sms_prepare(NULL, "\xC0\xAF", 2, &info));            /* overlong */
    assert_null(tpl_sms_prepare(NULL, "ok \xE4\xB8", 5, &info));         /* truncated */
    assert_null(tpl_sms_prepare(NULL, "中", 2, &info));                  /* cut by LEN */
    assert_null(tpl_sms_prepare(NULL, "\xED\xA0\x80", 3, &info));        /* surrogate */
    assert_null(tpl_sms_prepare("\xFF", "ok", 2, &info));                /* signature */
    assert_null(tpl_sms_prepare("【某县\xE4", "ok", 2, &info));
    assert_null(tpl_sms_prepare(NULL, "a\0b", 3, &info));                /* NUL inside */
    assert_null(tpl_sms_prepare(NULL, NULL, 1, &info));
    /* the valid neighbours go through */
    char *out = tpl_sms_prepare(NULL, "中", 3, &info);
    assert_string_equal(out, "中");
    assert_int_equal(info.units, 1);
    free(out);
    out = tpl_sms_prepare(NULL, NULL, 0, &info);
    assert_string_equal(out, "");
    assert_int_equal(info.segments, 1);
    assert_int_equal(info.units, 0);
    free(out);
}

/* ---- tpl_key_vars ---- */

static void test_key_vars(void **state)
{
    (void)state;
    const struct { const char *key, *vars; } cases[] = {
        {"sms.contribution_paid", "year tier paid"},
        {"sms.contribution_unpaid", "year tier due_amount due_date"},
        {"sms.contribution_unpaid_nodate", "year tier due_amount"},
        {"sms.contribution_none", "year"},
        {"sms.contribution_unpaid_notier", "year due_date"},
        {"sms.contribution_overdue", "year tier due_amount due_date"},
        {"sms.contribution_overdue_notier", "year due_date"},
        {"sms.help", "hotline"},
        {"sms.optout_done", "hotline"},
        {"sms.optin_done", ""},
        {"sms.unpaid_reminder", "name year due_amount due_date"},
        {"sms.claim_reminder",
         "name kind date deadline reference hotline service_code claim_digit"},
        {"sms.claim_last_day",
         "name kind date deadline reference hotline service_code claim_digit"},
        {"sms.kind_accident", ""},
        {"sms.kind_critical_illness", ""},
        {"sms.test", "name"},
        {"ussd.busy", ""},
        {"ussd.unknown_phone", "hotline"},
        {"fmt.date", "year month day mm dd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *v = tpl_key_vars(cases[i].key);
        if (v == NULL || strcmp(v, cases[i].vars) != 0)
            fail_msg("%s: \"%s\", expected \"%s\"", cases[i].key, v ? v : "(null)", cases[i].vars);
    }
    assert_null(tpl_key_vars("sms.nope"));
    assert_null(tpl_key_vars("sms"));
    assert_null(tpl_key_vars("sms."));
    assert_null(tpl_key_vars(""));
    assert_null(tpl_key_vars(NULL));
}

/* ---- loading: a set with the [sms] texts under test ---- */

static const char *const sms_names[] = {
    "contribution_paid", "contribution_unpaid", "contribution_unpaid_nodate", "contribution_none",
    "contribution_paid_notier", "contribution_unpaid_notier", "contribution_unpaid_notier_nodate",
    "contribution_overdue", "contribution_overdue_notier",
    "help", "optout_done", "optin_done", "unpaid_reminder", "claim_reminder", "claim_last_day",
    "kind_accident", "kind_critical_illness", "test",
};
#define NSMS (sizeof sms_names / sizeof sms_names[0])

/* One edit: in FILE, the value of KEY ("sms.help", "fmt.money") becomes
 * VALUE (NULL: the key is left out); LINE receives where it was written. */
typedef struct edit {
    const char *file, *key, *value;
    int line;
} edit;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(65536);
    assert_non_null(buf);
    size_t n = fread(buf, 1, 65535, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static edit *find_edit(edit *edits, size_t n, const char *file, const char *section,
                       const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(edits[i].key, '.');
        if (strcmp(edits[i].file, file) == 0 && strlen(section) == (size_t)(dot - edits[i].key) &&
            strncmp(edits[i].key, section, strlen(section)) == 0 && strcmp(dot + 1, name) == 0)
            return &edits[i];
    }
    return NULL;
}

/* Makes DIR under /tmp: the shipped files, the [sms] section of each
 * language file replaced by one of its own at the end (every text "ok"),
 * and EDITS applied. */
static void make_dir(char dir[64], edit *edits, size_t nedits)
{
    static const char *const files[] = {"zh.ini", "en.ini", "menus.ini"};
    snprintf(dir, 64, "/tmp/tpl_sms_XXXXXX");
    assert_non_null(mkdtemp(dir));
    for (size_t f = 0; f < 3; f++) {
        char path[256];
        snprintf(path, sizeof path, DATA "/%s", files[f]);
        char *buf = slurp(path);
        snprintf(path, sizeof path, "%s/%s", dir, files[f]);
        FILE *out = fopen(path, "wb");
        assert_non_null(out);
        char section[32] = "";
        int ln = 0, skip = 0;
        for (char *s = buf; *s != '\0';) {
            char *nl = strchr(s, '\n');
            size_t l = nl != NULL ? (size_t)(nl - s) + 1 : strlen(s);
            if (s[0] == '[') {
                snprintf(section, sizeof section, "%.*s", (int)strcspn(s + 1, "]"), s + 1);
                skip = strcmp(section, "sms") == 0;
            }
            size_t nl_name = strcspn(s, " =\n");
            char name[64];
            snprintf(name, sizeof name, "%.*s", (int)nl_name, s);
            edit *e = skip ? NULL : find_edit(edits, nedits, files[f], section, name);
            if (skip) {
                /* the shipped [sms] section is left out */
            } else if (e != NULL && s[0] != ';' && s[0] != '[') {
                e->line = ++ln;
                fprintf(out, "%s = %s\n", name, e->value);
            } else {
                ln++;
                fwrite(s, 1, l, out);
            }
            s += l;
        }
        if (f < 2) {
            fprintf(out, "[sms]\n");
            ln++;
            for (size_t i = 0; i < NSMS; i++) {
                edit *e = find_edit(edits, nedits, files[f], "sms", sms_names[i]);
                if (e != NULL && e->value == NULL)
                    continue;
                fprintf(out, "%s = %s\n", sms_names[i], e != NULL ? e->value : "ok");
                if (e != NULL)
                    e->line = ln + 1;
                ln++;
            }
        }
        fclose(out);
        free(buf);
    }
    for (size_t i = 0; i < nedits; i++)
        if (edits[i].value != NULL && edits[i].line == 0)
            fail_msg("edit %s %s not applied", edits[i].file, edits[i].key);
}

static void remove_dir(const char *dir)
{
    char path[256];
    const char *files[] = {"zh.ini", "en.ini", "menus.ini"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* Loads DIR with tpl_load_ex and OPTS (USE_EX 0: with tpl_load); returns
 * the error, "" on success. */
static const char *try_load(const char *dir, const tpl_opts *opts, int use_ex)
{
    static char err[512];
    tpl_set *set = (tpl_set *)&err;
    int rc = use_ex ? tpl_load_ex(dir, opts, &set, err, sizeof err)
                    : tpl_load(dir, &set, err, sizeof err);
    if (rc == 0) {
        assert_non_null(set);
        tpl_free(set);
        err[0] = '\0';
    } else {
        assert_int_equal(rc, -1);
        assert_null(set);
        assert_true(err[0] != '\0');
    }
    return err;
}

/* One text (KEY in FILE = VALUE) must load under OPTS when EXPECT is NULL,
 * else fail with "DIR/FILE:LINE: " EXPECT, LINE being the text's. */
static void check_text(const char *file, const char *key, const char *value, const tpl_opts *opts,
                       const char *expect)
{
    char dir[64];
    edit e = {file, key, value, 0};
    make_dir(dir, &e, 1);
    const char *err = try_load(dir, opts, 1);
    if (expect == NULL) {
        if (err[0] != '\0')
            fail_msg("%s = %s: %s", key, value, err);
    } else {
        char want[512];
        snprintf(want, sizeof want, "%s/%s:%d: %s", dir, file, e.line, expect);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("error \"%s\", expected \"%s...\"", err, want);
    }
    remove_dir(dir);
}

static void test_load_shipped(void **state)
{
    (void)state;
    /* the shipped texts fit two parts with the usual signature, hotline and
     * service code (ops/gateway.example.ini) */
    tpl_var fixed[] = {{"hotline", "12333"}, {"service_code", "*120*12345#"}};
    tpl_opts opts = {.signature = SIG, .max_segments = 2, .fixed = fixed, .nfixed = 2};
    char err[512];
    tpl_set *set = NULL;
    if (tpl_load_ex(DATA, &opts, &set, err, sizeof err) != 0)
        fail_msg("%s", err);
    for (size_t i = 0; i < NSMS; i++) {
        char key[64];
        snprintf(key, sizeof key, "sms.%s", sms_names[i]);
        const char *zh = tpl_text(set, "zh", key), *en = tpl_text(set, "en", key);
        assert_non_null(zh);
        assert_non_null(en);
        /* no signature inside the texts: the code adds it */
        assert_null(strstr(zh, "【"));
        assert_null(strstr(en, "【"));
        /* English is GSM-7 as written; Chinese is Chinese */
        if (!tpl_gsm7_encodable(en, strlen(en)))
            fail_msg("en %s is not GSM-7: %s", key, en);
        assert_false(tpl_gsm7_encodable(zh, strlen(zh)));
    }
    /* a rendered reminder as it goes out */
    tpl_var v[] = {{"name", "张三"}, {"year", "2026"}, {"due_amount", "300元"},
                   {"due_date", "2026年10月8日"}};
    char *text = tpl_render(set, "zh", "sms.unpaid_reminder", v, 4);
    tpl_sms info;
    char *msg = tpl_sms_prepare(SIG, text, strlen(text), &info);
    assert_non_null(msg);
    assert_int_equal(strncmp(msg, SIG "张三", strlen(SIG "张三")), 0);
    assert_int_equal(info.ucs2, 1);
    assert_true(info.segments <= 2);
    free(msg);
    free(text);
    tpl_free(set);
    /* ... but not one part each, nor three with a signature of 100 characters */
    opts.max_segments = 1;
    assert_non_null(strstr(try_load(DATA, &opts, 1), "over max_segments 1"));
    /* the configured service code is measured as it is: at 40 characters a
     * claim reminder takes three parts; so it does with no configured values
     * (hotline and service code at their widest, 20 characters each) */
    fixed[1].value = "*120*12345*12345*12345*12345*12345*1234#";
    opts.max_segments = 2;
    assert_non_null(strstr(try_load(DATA, &opts, 1), "sms.claim_reminder: 3 segments"));
    fixed[1].value = "*120*12345#";
    assert_string_equal(try_load(DATA, &opts, 1), "");
    opts.nfixed = 0;
    assert_non_null(strstr(try_load(DATA, &opts, 1), "sms.claim_reminder: 3 segments"));
    char *long_sig = build(P("【", 1), P("某", 98), P("】", 1), NONE);
    opts = (tpl_opts){.signature = long_sig, .max_segments = 0};
    assert_non_null(strstr(try_load(DATA, &opts, 1), "over max_segments 3"));
    free(long_sig);
    /* with no options at all, the default is three parts and no signature */
    assert_string_equal(try_load(DATA, NULL, 0), "");
    assert_string_equal(try_load(DATA, NULL, 1), "");
}

static void test_load_gsm7_limit(void **state)
{
    (void)state;
    tpl_opts one = {.max_segments = 1}, two = {.max_segments = 2},
             sig = {.signature = "[X]", .max_segments = 1};
    char *a140 = build(P("a", 140), P("{hotline}", 1), NONE, NONE);
    char *a141 = build(P("a", 141), P("{hotline}", 1), NONE, NONE);
    /* {hotline} counts 20: 140 + 20 = 160 septets is one part, 161 two */
    check_text("en.ini", "sms.help", a140, &one, NULL);
    check_text("en.ini", "sms.help", a141, &one,
               "sms.help: 2 segments with the signature, over max_segments 1");
    check_text("en.ini", "sms.help", a141, &two, NULL);
    /* the signature counts: "[X]" is 5 septets */
    check_text("en.ini", "sms.help", a140, &sig,
               "sms.help: 2 segments with the signature, over max_segments 1");
    /* tpl_load is tpl_load_ex with no options: three parts */
    char dir[64];
    edit e = {"en.ini", "sms.help", a141, 0};
    make_dir(dir, &e, 1);
    assert_string_equal(try_load(dir, NULL, 0), "");
    assert_string_equal(try_load(dir, NULL, 1), "");
    tpl_opts zero = {.max_segments = 0};
    assert_string_equal(try_load(dir, &zero, 1), "");
    remove_dir(dir);
    free(a140);
    free(a141);

    /* "{{" is a literal '{', an extension character: 2 septets */
    char *b158 = build(P("{{", 1), P("a", 158), NONE, NONE);
    char *b159 = build(P("{{", 1), P("a", 159), NONE, NONE);
    check_text("en.ini", "sms.optin_done", b158, &one, NULL);
    check_text("en.ini", "sms.optin_done", b159, &one,
               "sms.optin_done: 2 segments with the signature, over max_segments 1");
    free(b158);
    free(b159);
    /* look-alikes are replaced before measuring: "…" is "..." in GSM-7 */
    char *e157 = build(P("…", 1), P("a", 157), NONE, NONE);
    char *e158 = build(P("…", 1), P("a", 158), NONE, NONE);
    check_text("en.ini", "sms.optin_done", e157, &one, NULL);
    check_text("en.ini", "sms.optin_done", e158, &one,
               "sms.optin_done: 2 segments with the signature, over max_segments 1");
    free(e157);
    free(e158);
}

static void test_load_ucs2_limit(void **state)
{
    (void)state;
    tpl_opts one = {.max_segments = 1}, sig = {.signature = SIG, .max_segments = 1};
    char *z50 = build(P("请", 50), P("{hotline}", 1), NONE, NONE);
    char *z51 = build(P("请", 51), P("{hotline}", 1), NONE, NONE);
    char *z44 = build(P("请", 44), P("{hotline}", 1), NONE, NONE);
    char *z45 = build(P("请", 45), P("{hotline}", 1), NONE, NONE);
    check_text("zh.ini", "sms.help", z50, &one, NULL);
    check_text("zh.ini", "sms.help", z51, &one,
               "sms.help: 2 segments with the signature, over max_segments 1");
    /* 【某县人社】 takes 6 of the 70 units */
    check_text("zh.ini", "sms.help", z44, &sig, NULL);
    check_text("zh.ini", "sms.help", z45, &sig,
               "sms.help: 2 segments with the signature, over max_segments 1");
    check_text("zh.ini", "sms.help", z50, &sig,
               "sms.help: 2 segments with the signature, over max_segments 1");
    free(z50);
    free(z51);
    free(z44);
    free(z45);
}

static void test_load_widest_values(void **state)
{
    (void)state;
    tpl_opts one = {.max_segments = 1};
    const char *over = "segments with the signature, over max_segments 1";
    char want[128];
    /* {name} is 10 Chinese characters: English goes UCS-2, 10 + 60 units */
    char *n60 = build(P("{name}", 1), P("a", 60), NONE, NONE);
    char *n61 = build(P("{name}", 1), P("a", 61), NONE, NONE);
    check_text("en.ini", "sms.test", n60, &one, NULL);
    snprintf(want, sizeof want, "sms.test: 2 %s", over);
    check_text("en.ini", "sms.test", n61, &one, want);
    free(n60);
    free(n61);
    /* amounts through en fmt.money: "99999999.99 yuan" is 16; year 4 */
    char *p124 = build(P("{year}{tier}{paid}", 1), P("a", 124), NONE, NONE);
    char *p125 = build(P("{year}{tier}{paid}", 1), P("a", 125), NONE, NONE);
    check_text("en.ini", "sms.contribution_paid", p124, &one, NULL);
    snprintf(want, sizeof want, "sms.contribution_paid: 2 %s", over);
    check_text("en.ini", "sms.contribution_paid", p125, &one, want);
    /* ... the file's own fmt.money: "{amount}Y" is 12, so 4 + 24 + 125 fits */
    char dir[64];
    edit two[] = {{"en.ini", "fmt.money", "{amount}Y", 0},
                  {"en.ini", "sms.contribution_paid", p125, 0}};
    make_dir(dir, two, 2);
    assert_string_equal(try_load(dir, &one, 1), "");
    remove_dir(dir);
    free(p124);
    free(p125);
    /* zh: amounts "99999999.99元" 12, the date "2026年12月31日" 11, year 4: 39 units */
    char *u31 = build(P("{year}{tier}{due_amount}{due_date}", 1), P("请", 31), NONE, NONE);
    char *u32 = build(P("{year}{tier}{due_amount}{due_date}", 1), P("请", 32), NONE, NONE);
    check_text("zh.ini", "sms.contribution_unpaid", u31, &one, NULL);
    snprintf(want, sizeof want, "sms.contribution_unpaid: 2 %s", over);
    check_text("zh.ini", "sms.contribution_unpaid", u32, &one, want);
    free(u31);
    free(u32);
    /* en: kind the longest of the file's labels (sms.kind_*, "ok" here) 2, the
     * date "2026-12-31" 10, reference 16, hotline 20: 48 septets */
    char *c98 = build(P("{kind}{deadline}{reference}{hotline}", 1), P("a", 112), NONE, NONE);
    char *c99 = build(P("{kind}{deadline}{reference}{hotline}", 1), P("a", 113), NONE, NONE);
    check_text("en.ini", "sms.claim_reminder", c98, &one, NULL);
    snprintf(want, sizeof want, "sms.claim_reminder: 2 %s", over);
    check_text("en.ini", "sms.claim_reminder", c99, &one, want);
    free(c98);
    free(c99);
    /* a placeholder used twice counts twice: 2 x 20 + 120 = 160 */
    char *h120 = build(P("{hotline}{hotline}", 1), P("a", 120), NONE, NONE);
    char *h121 = build(P("{hotline}{hotline}", 1), P("a", 121), NONE, NONE);
    check_text("en.ini", "sms.optout_done", h120, &one, NULL);
    snprintf(want, sizeof want, "sms.optout_done: 2 %s", over);
    check_text("en.ini", "sms.optout_done", h121, &one, want);
    free(h120);
    free(h121);
}

static void test_load_sms_errors(void **state)
{
    (void)state;
    /* unknown placeholders stay load errors */
    check_text("en.ini", "sms.test", "Hi {nam}", NULL, "sms.test: unknown placeholder {nam}");
    check_text("zh.ini", "sms.optin_done", "已开通{hotline}", NULL,
               "sms.optin_done: unknown placeholder {hotline}");
    check_text("zh.ini", "sms.unpaid_reminder", "{name}请缴费{tier}", NULL,
               "sms.unpaid_reminder: unknown placeholder {tier}");
    /* a missing SMS text is reported at the [sms] line */
    char dir[64];
    edit gone = {"en.ini", "sms.test", NULL, 0};
    make_dir(dir, &gone, 1);
    const char *err = try_load(dir, NULL, 0);
    assert_non_null(strstr(err, "/en.ini:"));
    assert_non_null(strstr(err, ": sms.test: missing"));
    remove_dir(dir);
    /* a signature long enough alone: 459 + "ok" = 461 septets, 4 parts,
     * reported at the first SMS text of the first file */
    char *s457 = build(P("S", 457), NONE, NONE, NONE), *s459 = build(P("S", 459), NONE, NONE, NONE);
    edit first = {"zh.ini", "sms.contribution_paid", "ok", 0};
    make_dir(dir, &first, 1);
    tpl_opts opts = {.signature = s457, .max_segments = 0};
    assert_string_equal(try_load(dir, &opts, 1), "");
    opts.signature = s459;
    char want[256];
    snprintf(want, sizeof want, "%s/zh.ini:%d: sms.contribution_paid: 4 segments with the"
             " signature, over max_segments 3", dir, first.line);
    assert_string_equal(try_load(dir, &opts, 1), want);
    remove_dir(dir);
    free(s457);
    free(s459);
    /* bad options */
    tpl_opts bad = {.signature = "\xFF", .max_segments = 0};
    assert_string_equal(try_load(DATA, &bad, 1), DATA ":0: sms signature: invalid UTF-8");
    bad = (tpl_opts){.max_segments = -1};
    assert_string_equal(try_load(DATA, &bad, 1),
                        DATA ":0: sms max_segments: -1, must be at least 1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chinese_parts),
        cmocka_unit_test(test_english_parts),
        cmocka_unit_test(test_mixed_parts),
        cmocka_unit_test(test_emoji_border),
        cmocka_unit_test(test_extension_border),
        cmocka_unit_test(test_signature_counted),
        cmocka_unit_test(test_lookalike_english),
        cmocka_unit_test(test_lookalike_kept),
        cmocka_unit_test(test_prepare_invalid),
        cmocka_unit_test(test_key_vars),
        cmocka_unit_test(test_load_shipped),
        cmocka_unit_test(test_load_gsm7_limit),
        cmocka_unit_test(test_load_ucs2_limit),
        cmocka_unit_test(test_load_widest_values),
        cmocka_unit_test(test_load_sms_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
