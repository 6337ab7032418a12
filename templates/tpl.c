/* tpl.c - loading, checking and reading the texts and menus; see tpl.h.
 *
 * tpl_load reads DIR/LANG.ini for every language of the schema
 * (tpl_schema.c) and DIR/menus.ini with inih's ini_parse_stream, through a
 * reader that counts lines (and notes section lines), so that every error
 * names FILE:LINE. Only the first error is reported.
 * A set owns its texts, stored unescaped ("\n" in a file is a line break,
 * "\\" a backslash), and its menus; it never changes after tpl_load, so
 * reading it needs no lock. Lookups are a binary search over the schema's
 * keys; tpl_render makes one allocation.
 * Placeholders are "{name}" with a name the schema allows for the key;
 * "{{" and "}}" are literal braces; any other brace is a load error.
 * An SMS text is checked once its whole file is read: rendered with every
 * placeholder at its widest (tpl_schema_vars, amounts and dates through
 * that file's fmt.money and fmt.date) or as the configuration fixes it
 * (tpl_opts fixed: the hotline, the service code), signed and measured by
 * tpl_sms_prepare, it must take at most max_segments parts. */
#include "tpl.h"
#include "tpl_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#define MENU_MAX 9          /* digits 1..9 */
#define RAW_MAX 1024        /* longest line kept for checks (inih allows less) */
#define MENU_PREFIX "menu."
#define SMS_MAX_SEGMENTS 3  /* max_segments when tpl_opts gives 0 */
#define SMS_VARS_MAX 16     /* placeholders of one SMS key */
#define UTF8_BOM "\xEF\xBB\xBF"

struct tpl_set {
    char **text;                        /* [lang * nkeys + key], unescaped */
    size_t *order;                      /* key indexes sorted by key */
    tpl_menu_item (*menu)[MENU_MAX];    /* [menu][item] in file order */
    size_t *nmenu;                      /* [menu] item count */
};

/* One file being parsed. */
typedef struct parse {
    tpl_set *set;
    FILE *f;
    const char *path;
    size_t lang;            /* language files: which language */
    int menus;              /* 1 for menus.ini */
    int line;               /* the line being parsed (1-based) */
    int indented;           /* it starts with blank space */
    char raw[RAW_MAX];      /* it as read (inih edits its own copy) */
    char prev_name[64];     /* the name of the previous key = value */
    char *prev_raw;         /* a text's value as written so far (continued by an
                               indented line), and its key; -1: none */
    long prev_key;
    int *sect_line;         /* first line of each section id, 0 = absent */
    int *seen;              /* line of each key (texts) or [menu*10+digit] */
    int failed, err_line;
    char *err;
    size_t errlen;
    const char *signature;  /* SMS texts are measured with it */
    int max_segments;       /* and must take at most this many parts */
    const tpl_var *fixed;   /* values the configuration gives (tpl_opts) */
    size_t nfixed;
} parse;

/* Renders T with VARS into OUT, or only measures; defined with the texts. */
static size_t render(const char *t, const tpl_var *vars, size_t nvars, char *out);

/* ---- small helpers ---- */

static int fail(parse *p, int line, const char *fmt, ...)
{
    if (p->failed)
        return 0;
    p->failed = 1;
    p->err_line = line;
    if (p->err == NULL || p->errlen == 0)
        return 0;
    int n = snprintf(p->err, p->errlen, "%s:%d: ", p->path, line);
    if (n >= 0 && (size_t)n < p->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return 0;
}

static const char *skip_blank(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

static int only_space(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return *s == '\0';
}

static int cmp_order(const void *a, const void *b)
{
    return strcmp(tpl_schema_keys[*(const size_t *)a].key,
                  tpl_schema_keys[*(const size_t *)b].key);
}

/* The schema index of KEY, or -1. */
static long key_index(const tpl_set *set, const char *key)
{
    size_t lo = 0, hi = tpl_schema_nkeys;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(key, tpl_schema_keys[set->order[mid]].key);
        if (c == 0)
            return (long)set->order[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return -1;
}

static size_t lang_index(const char *lang)
{
    for (size_t i = 0; lang != NULL && i < tpl_schema_nlangs; i++)
        if (strcmp(lang, tpl_schema_langs[i]) == 0)
            return i;
    return 0;
}

/* The id of section NAME[0..LEN) in the file: for language files the index
 * of the first key of that section, for menus.ini the menu's index; -1 when
 * unknown. */
static long section_id(const parse *p, const char *name, size_t len)
{
    if (p->menus) {
        for (size_t i = 0; i < tpl_schema_nmenus; i++)
            if (strlen(tpl_schema_menus[i]) == len && memcmp(tpl_schema_menus[i], name, len) == 0)
                return (long)i;
        return -1;
    }
    for (size_t i = 0; i < tpl_schema_nkeys; i++) {
        const char *k = tpl_schema_keys[i].key;
        if (strncmp(k, name, len) == 0 && k[len] == '.')
            return (long)i;
    }
    return -1;
}

/* ---- the reader: one line per call, counted ---- */

static char *read_line(char *str, int num, void *stream)
{
    parse *p = stream;
    size_t cap = (size_t)(num < RAW_MAX ? num : RAW_MAX) - 1, n = 0;
    int c;
    if (p->failed || num < 2)
        return NULL;
    while ((c = getc(p->f)) != EOF && c != '\n') {
        if (n == cap || c == '\0') {
            fail(p, p->line + 1, c == '\0' ? "NUL byte in line"
                                           : "line too long (at most %zu bytes)", cap);
            return NULL;
        }
        str[n++] = (char)c;
    }
    if (c == EOF && n == 0)
        return NULL;
    str[n] = '\0';
    memcpy(p->raw, str, n + 1);
    p->line++;

    const char *s = p->raw;
    if (p->line == 1 && strncmp(s, UTF8_BOM, 3) == 0)
        s += 3;
    p->indented = *s == ' ' || *s == '\t';
    s = skip_blank(s);
    const char *e = *s == '[' ? strchr(s, ']') : NULL;
    if (e != NULL) {
        long id = section_id(p, s + 1, (size_t)(e - s - 1));
        if (id < 0)
            fail(p, p->line, "%.*s: unknown %s", (int)(e - s - 1), s + 1,
                 p->menus ? "menu" : "section");
        else if (p->sect_line[id] == 0)
            p->sect_line[id] = p->line;
    }
    return str;
}

/* Checks what inih made of the current line against the line as read: a
 * ';' after a blank inside a value starts an inline comment and cuts it,
 * and an indented line continues the previous value. Returns 0 and fails
 * when the value is not the whole rest of the line. */
static int whole_value(parse *p, const char *key, const char *name, const char *value)
{
    const char *s = p->raw;
    if (p->line == 1 && strncmp(s, UTF8_BOM, 3) == 0)
        s += 3;
    s = skip_blank(s);
    size_t vl = strlen(value);
    if (p->indented && strcmp(name, p->prev_name) == 0 && strncmp(s, value, vl) == 0)
        return fail(p, p->line, "%s: indented line continues the previous one"
                    " (write \\n for a line break)", key);
    s += strcspn(s, "=:");
    if (*s != '\0')
        s = skip_blank(s + 1);
    if (strncmp(s, value, vl) != 0 || !only_space(s + vl))
        return fail(p, p->line, "%s: \";\" after a blank starts a comment and cuts the text", key);
    return 1;
}

/* ---- language files ---- */

static int var_allowed(const char *vars, const char *name, size_t len)
{
    for (const char *v = vars; *v != '\0';) {
        size_t n = strcspn(v, " ");
        if (n == len && memcmp(v, name, len) == 0)
            return 1;
        v += n;
        while (*v == ' ')
            v++;
    }
    return 0;
}

static int name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Checks the braces of the unescaped text T of schema key SK. */
static int check_braces(parse *p, const tpl_schema_key *sk, const char *t)
{
    for (const char *s = t; *s != '\0'; s++) {
        if ((*s == '{' || *s == '}') && s[1] == *s) {
            s++;
            continue;
        }
        if (*s == '}')
            return fail(p, p->line, "%s: unbalanced brace", sk->key);
        if (*s != '{')
            continue;
        const char *e = s + 1;
        while (name_char(*e))
            e++;
        if (*e != '}' || e == s + 1)
            return fail(p, p->line, "%s: unbalanced brace", sk->key);
        if (!var_allowed(sk->vars, s + 1, (size_t)(e - s - 1)))
            return fail(p, p->line, "%s: unknown placeholder {%.*s}", sk->key, (int)(e - s - 1), s + 1);
        s = e;
    }
    return 1;
}

/* Checks VALUE for schema key SK and returns its unescaped copy, or NULL
 * after failing. */
static char *text_value(parse *p, const tpl_schema_key *sk, const char *value)
{
    size_t vl = strlen(value);
    if (!tpl_utf8_valid(value, vl)) {
        fail(p, p->line, "%s: invalid UTF-8", sk->key);
        return NULL;
    }
    if (vl == 0) {
        fail(p, p->line, "%s: empty text", sk->key);
        return NULL;
    }
    char *t = malloc(vl + 1), *o = t;
    if (t == NULL) {
        fail(p, p->line, "%s: out of memory", sk->key);
        return NULL;
    }
    for (const char *s = value; *s != '\0'; s++) {
        if (*s != '\\') {
            *o++ = *s;
        } else if (s[1] == 'n' || s[1] == '\\') {
            *o++ = s[1] == 'n' ? '\n' : '\\';
            s++;
        } else {
            fail(p, p->line, "%s: bad escape \"\\%.1s\" (write \\n for a line break, \\\\ for \\)",
                 sk->key, s + 1);
            free(t);
            return NULL;
        }
    }
    *o = '\0';
    size_t len = (size_t)(o - t), limit;
    if (!check_braces(p, sk, t)) {
        free(t);
        return NULL;
    }
    if (sk->kind == TPL_KIND_LINE && memchr(t, '\n', len) != NULL) {
        fail(p, p->line, "%s: must be one line", sk->key);
        free(t);
        return NULL;
    }
    size_t n = tpl_ussd_length(t, len, &limit);
    if (sk->kind == TPL_KIND_SCREEN && n > limit) {
        fail(p, p->line, "%s: too long for one USSD screen (%zu of %zu %s)", sk->key, n, limit,
             limit == TPL_USSD_GSM7_MAX ? "GSM-7 septets" : "UCS-2 units");
        free(t);
        return NULL;
    }
    return t;
}

/* 1 when the current line is an indented one that inih handed over as
 * the continuation of key NAME's value (VALUE: the line without its blanks). */
static int continues(const parse *p, const char *name, const char *value)
{
    const char *s = skip_blank(p->raw);
    size_t vl = strlen(value);
    return p->indented && strcmp(name, p->prev_name) == 0 && strncmp(s, value, vl) == 0 &&
           only_space(s + vl);
}

/* Appends VALUE, an indented line, to text K: with one space where both
 * sides are ASCII (English words), directly otherwise (Chinese has no
 * spaces), and checks the whole text again. */
static int continue_text(parse *p, long k, const char *value)
{
    size_t a = strlen(p->prev_raw), b = strlen(value);
    unsigned char last = a > 0 ? (unsigned char)p->prev_raw[a - 1] : 0;
    int space = last != 0 && last < 0x80 && (unsigned char)value[0] < 0x80;
    char *joined = malloc(a + (size_t)space + b + 1);
    if (joined == NULL)
        return fail(p, p->line, "%s: out of memory", tpl_schema_keys[k].key);
    memcpy(joined, p->prev_raw, a);
    if (space)
        joined[a] = ' ';
    memcpy(joined + a + (size_t)space, value, b + 1);
    free(p->prev_raw);
    p->prev_raw = joined;
    char *t = text_value(p, &tpl_schema_keys[k], joined);
    if (t == NULL)
        return 0;
    char **slot = &p->set->text[p->lang * tpl_schema_nkeys + (size_t)k];
    free(*slot);
    *slot = t;
    return 1;
}

static int on_text(void *user, const char *section, const char *name, const char *value)
{
    parse *p = user;
    char key[64];
    if (p->failed)
        return 1;   /* the first error is the one reported */
    if (*section == '\0')
        return fail(p, p->line, "%s: key outside a section", name);
    int n = snprintf(key, sizeof key, "%s.%s", section, name);
    long k = n > 0 && (size_t)n < sizeof key ? key_index(p->set, key) : -1;
    if (k < 0)
        return fail(p, p->line, "%s.%s: unknown key", section, name);
    if (continues(p, name, value)) {
        if (k != p->prev_key || p->prev_raw == NULL)
            return fail(p, p->line, "%s: indented line continues nothing", key);
        return continue_text(p, k, value);
    }
    if (!whole_value(p, key, name, value))
        return 0;
    snprintf(p->prev_name, sizeof p->prev_name, "%s", name);
    if (p->seen[k] != 0)
        return fail(p, p->line, "%s: duplicate key (first on line %d)", key, p->seen[k]);
    p->seen[k] = p->line;
    char *t = text_value(p, &tpl_schema_keys[k], value);
    if (t == NULL)
        return 0;
    p->set->text[p->lang * tpl_schema_nkeys + (size_t)k] = t;
    free(p->prev_raw);
    p->prev_raw = strdup(value);
    p->prev_key = k;
    if (p->prev_raw == NULL)
        return fail(p, p->line, "%s: out of memory", key);
    return 1;
}

/* ---- SMS texts at their longest ---- */

/* Renders T with VARS into a new string, or NULL on OOM. */
static char *render_alloc(const char *t, const tpl_var *vars, size_t nvars)
{
    size_t n = render(t, vars, nvars, NULL);
    char *out = malloc(n + 1);
    if (out != NULL) {
        render(t, vars, nvars, out);
        out[n] = '\0';
    }
    return out;
}

static const tpl_schema_var *schema_var(const char *name, size_t len)
{
    for (size_t i = 0; i < tpl_schema_nvars; i++) {
        const char *v = tpl_schema_vars[i].name;
        if (strncmp(v, name, len) == 0 && v[len] == '\0')
            return &tpl_schema_vars[i];
    }
    return NULL;
}

/* The widest value of SV as language LANG of P's set writes it: a new
 * string, or NULL on OOM. Called once the file is read whole, so fmt.money
 * and fmt.date are there. */
static char *widest_value(const parse *p, size_t lang, const tpl_schema_var *sv)
{
    const char *lc = tpl_schema_langs[lang];
    const char *worst = sv->worst;
    for (size_t i = 0; i < p->nfixed; i++)
        if (strcmp(p->fixed[i].name, sv->name) == 0 && p->fixed[i].value != NULL)
            worst = p->fixed[i].value;          /* the configured value, as it is */
    if (sv->format == TPL_VAR_MONEY) {
        tpl_var amount = {"amount", sv->worst};
        return render_alloc(tpl_text(p->set, lc, "fmt.money"), &amount, 1);
    }
    if (sv->format == TPL_VAR_LABEL) {
        /* the language's longest of the texts named, as the code may pick any */
        const char *best = "";
        size_t best_n = 0;
        for (const char *k = worst; *k != '\0';) {
            size_t len = strcspn(k, " ");
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)len, k);
            const char *t = tpl_text(p->set, lc, key);
            size_t n = t != NULL ? tpl_ussd_length(t, strlen(t), NULL) : 0;
            if (t != NULL && n > best_n) {
                best = t;
                best_n = n;
            }
            k += len;
            while (*k == ' ')
                k++;
        }
        worst = best;
    } else if (sv->format == TPL_VAR_DATE) {
        /* WORST is YYYY-MM-DD; {month} and {day} go without a leading 0 */
        char year[5], mm[3], dd[3];
        snprintf(year, sizeof year, "%.4s", sv->worst);
        snprintf(mm, sizeof mm, "%.2s", strlen(sv->worst) >= 7 ? sv->worst + 5 : "");
        snprintf(dd, sizeof dd, "%.2s", strlen(sv->worst) >= 10 ? sv->worst + 8 : "");
        tpl_var date[] = {{"year", year}, {"month", mm + (mm[0] == '0')}, {"mm", mm},
                          {"day", dd + (dd[0] == '0')}, {"dd", dd}};
        return render_alloc(tpl_text(p->set, lc, "fmt.date"), date, sizeof date / sizeof date[0]);
    }
    size_t n = strlen(worst);
    char *v = malloc(n + 1);
    if (v != NULL)
        memcpy(v, worst, n + 1);
    return v;
}

/* Checks the SMS text of schema key K in language LANG at its longest. */
static int check_sms(parse *p, size_t lang, size_t k)
{
    const tpl_schema_key *sk = &tpl_schema_keys[k];
    tpl_var vars[SMS_VARS_MAX];
    char *values[SMS_VARS_MAX];   /* owned: vars[i].value */
    size_t n = 0;
    int ok = 1;
    for (const char *v = sk->vars; *v != '\0' && ok;) {
        size_t len = strcspn(v, " ");
        const tpl_schema_var *sv = schema_var(v, len);
        if (sv == NULL) {
            ok = fail(p, p->seen[k], "%s: {%.*s} has no widest value in the schema",
                      sk->key, (int)len, v);
        } else if (n == SMS_VARS_MAX) {
            ok = fail(p, p->seen[k], "%s: more than %d placeholders", sk->key, SMS_VARS_MAX);
        } else {
            values[n] = widest_value(p, lang, sv);
            vars[n].name = sv->name;
            vars[n].value = values[n];
            if (values[n++] == NULL)
                ok = fail(p, p->seen[k], "%s: out of memory", sk->key);
        }
        v += len;
        while (*v == ' ')
            v++;
    }
    char *text = ok ? render_alloc(p->set->text[lang * tpl_schema_nkeys + k], vars, n) : NULL;
    tpl_sms info = {0, 0, 0};
    char *msg = text != NULL ? tpl_sms_prepare(p->signature, text, strlen(text), &info) : NULL;
    if (ok && msg == NULL)
        ok = fail(p, p->seen[k], "%s: out of memory", sk->key);
    else if (ok && info.segments > p->max_segments)
        ok = fail(p, p->seen[k], "%s: %d segments with the signature, over max_segments %d",
                  sk->key, info.segments, p->max_segments);
    free(msg);
    free(text);
    for (size_t i = 0; i < n; i++)
        free(values[i]);
    return ok;
}

/* ---- menus.ini ---- */

static int on_menu(void *user, const char *section, const char *name, const char *value)
{
    parse *p = user;
    char key[64];
    if (p->failed)
        return 1;
    if (*section == '\0')
        return fail(p, p->line, "%s: key outside a menu", name);
    long m = section_id(p, section, strlen(section));
    if (m < 0)
        return fail(p, p->line, "%s: unknown menu", section);
    snprintf(key, sizeof key, "%s.%s", section, name);
    if (!whole_value(p, key, name, value))
        return 0;
    snprintf(p->prev_name, sizeof p->prev_name, "%s", name);
    if (name[0] < '1' || name[0] > '9' || name[1] != '\0')
        return fail(p, p->line, "%s: bad digit (1 to 9)", key);
    int d = name[0] - '0';
    int *first = &p->seen[m * 10 + d];
    if (*first != 0)
        return fail(p, p->line, "%s: duplicate digit (first on line %d)", key, *first);
    char akey[64];
    int n = snprintf(akey, sizeof akey, MENU_PREFIX "%s", value);
    long a = n > 0 && (size_t)n < sizeof akey ? key_index(p->set, akey) : -1;
    if (a < 0)
        return fail(p, p->line, "%s: unknown action \"%s\"", key, value);
    const char *action = tpl_schema_keys[a].key + strlen(MENU_PREFIX);
    tpl_menu_item *items = p->set->menu[m];
    for (size_t i = 0; i < p->set->nmenu[m]; i++)
        if (items[i].action == action)
            return fail(p, p->line, "%s: duplicate action \"%s\" (also %d)", key, value, items[i].digit);
    *first = p->line;
    items[p->set->nmenu[m]].digit = d;
    items[p->set->nmenu[m]].action = action;
    p->set->nmenu[m]++;
    return 1;
}

/* ---- loading ---- */

/* Parses DIR/NAME.ini with HANDLER into P (whose path buffer is PATH). */
static int parse_file(parse *p, const char *dir, const char *name, ini_handler handler,
                      char *path, size_t pathlen)
{
    int n = snprintf(path, pathlen, "%s/%s.ini", dir, name);
    p->path = path;
    if (n < 0 || (size_t)n >= pathlen) {
        p->path = name;
        return fail(p, 0, "path too long");
    }
    p->f = fopen(path, "r");
    if (p->f == NULL)
        return fail(p, 0, "cannot open (%s)", strerror(errno));
    p->line = 0;
    p->prev_name[0] = '\0';
    p->prev_key = -1;
    int r = ini_parse_stream(read_line, p, handler, p);
    free(p->prev_raw);
    p->prev_raw = NULL;
    if (r > 0 && (!p->failed || r < p->err_line)) {
        p->failed = 0;
        fail(p, r, "syntax error (expected [section] or key = value)");
    } else if (r < 0 && !p->failed) {
        fail(p, p->line, "out of memory");
    } else if (ferror(p->f) && !p->failed) {
        fail(p, p->line, "read error");
    }
    fclose(p->f);
    p->f = NULL;
    return !p->failed;
}

static int load_lang(parse *p, const char *dir, size_t lang, char *path, size_t pathlen)
{
    p->lang = lang;
    p->menus = 0;
    memset(p->seen, 0, tpl_schema_nkeys * sizeof *p->seen);
    memset(p->sect_line, 0, tpl_schema_nkeys * sizeof *p->sect_line);
    if (!parse_file(p, dir, tpl_schema_langs[lang], on_text, path, pathlen))
        return 0;
    for (size_t k = 0; k < tpl_schema_nkeys; k++) {
        if (p->seen[k] != 0)
            continue;
        const char *key = tpl_schema_keys[k].key;
        long s = section_id(p, key, strcspn(key, "."));
        return fail(p, s >= 0 ? p->sect_line[s] : 0, "%s: missing", key);
    }
    for (size_t k = 0; k < tpl_schema_nkeys; k++)
        if (tpl_schema_keys[k].kind == TPL_KIND_SMS && !check_sms(p, lang, k))
            return 0;
    return 1;
}

static int load_menus(parse *p, const char *dir, char *path, size_t pathlen)
{
    p->menus = 1;
    memset(p->seen, 0, tpl_schema_nmenus * 10 * sizeof *p->seen);
    memset(p->sect_line, 0, tpl_schema_nmenus * sizeof *p->sect_line);
    if (!parse_file(p, dir, "menus", on_menu, path, pathlen))
        return 0;
    for (size_t m = 0; m < tpl_schema_nmenus; m++) {
        if (p->sect_line[m] == 0)
            return fail(p, 0, "%s: missing", tpl_schema_menus[m]);
        if (p->set->nmenu[m] == 0)
            return fail(p, p->sect_line[m], "%s: empty menu", tpl_schema_menus[m]);
    }
    return 1;
}

/* A text that names the main menu's claim item ({claim_digit}) needs one:
 * without it the SMS would read "dial ... menu ." (menus.ini [main]). */
static void check_claim_item(parse *p)
{
    const tpl_menu_item *items;
    size_t n = tpl_menu(p->set, "main", &items);
    for (size_t i = 0; i < n; i++)
        if (strcmp(items[i].action, "claim") == 0)
            return;
    for (size_t l = 0; l < tpl_schema_nlangs; l++)
        for (size_t k = 0; k < tpl_schema_nkeys; k++) {
            const char *t = p->set->text[l * tpl_schema_nkeys + k];
            if (t != NULL && strstr(t, "{claim_digit}") != NULL) {
                fail(p, 0, "[main] has no claim item, and %s.ini %s names it ({claim_digit})",
                     tpl_schema_langs[l], tpl_schema_keys[k].key);
                return;
            }
        }
}

int tpl_load(const char *dir, tpl_set **out, char *err, size_t errlen)
{
    return tpl_load_ex(dir, NULL, out, err, errlen);
}

int tpl_load_ex(const char *dir, const tpl_opts *opts, tpl_set **out, char *err, size_t errlen)
{
    size_t nslots = tpl_schema_nkeys > tpl_schema_nmenus * 10 ? tpl_schema_nkeys
                                                               : tpl_schema_nmenus * 10;
    char path[PATH_MAX];
    parse p = {.err = err, .errlen = errlen, .path = dir, .signature = "",
               .max_segments = SMS_MAX_SEGMENTS};
    *out = NULL;
    if (err != NULL && errlen > 0)
        err[0] = '\0';
    if (dir == NULL) {
        p.path = "(null)";
        fail(&p, 0, "no template directory");
        return -1;
    }
    if (opts != NULL) {
        if (opts->signature != NULL)
            p.signature = opts->signature;
        if (opts->max_segments != 0)
            p.max_segments = opts->max_segments;
        p.fixed = opts->fixed;
        p.nfixed = opts->nfixed;
    }
    if (!tpl_utf8_valid(p.signature, strlen(p.signature))) {
        fail(&p, 0, "sms signature: invalid UTF-8");
        return -1;
    }
    if (p.max_segments < 0) {
        fail(&p, 0, "sms max_segments: %d, must be at least 1", p.max_segments);
        return -1;
    }
    tpl_set *set = calloc(1, sizeof *set);
    p.set = set;
    p.seen = calloc(nslots, sizeof *p.seen);
    p.sect_line = calloc(nslots, sizeof *p.sect_line);
    if (set != NULL) {
        set->text = calloc(tpl_schema_nlangs * tpl_schema_nkeys, sizeof *set->text);
        set->order = malloc(tpl_schema_nkeys * sizeof *set->order);
        set->menu = calloc(tpl_schema_nmenus, sizeof *set->menu);
        set->nmenu = calloc(tpl_schema_nmenus, sizeof *set->nmenu);
    }
    if (set == NULL || p.seen == NULL || p.sect_line == NULL || set->text == NULL ||
        set->order == NULL || set->menu == NULL || set->nmenu == NULL) {
        fail(&p, 0, "out of memory");
    } else {
        for (size_t k = 0; k < tpl_schema_nkeys; k++)
            set->order[k] = k;
        qsort(set->order, tpl_schema_nkeys, sizeof *set->order, cmp_order);
        for (size_t l = 0; l < tpl_schema_nlangs && !p.failed; l++)
            load_lang(&p, dir, l, path, sizeof path);
        if (!p.failed)
            load_menus(&p, dir, path, sizeof path);
        if (!p.failed)
            check_claim_item(&p);
    }
    free(p.seen);
    free(p.sect_line);
    if (p.failed) {
        tpl_free(set);
        return -1;
    }
    *out = set;
    return 0;
}

void tpl_free(tpl_set *set)
{
    if (set == NULL)
        return;
    if (set->text != NULL)
        for (size_t i = 0; i < tpl_schema_nlangs * tpl_schema_nkeys; i++)
            free(set->text[i]);
    free(set->text);
    free(set->order);
    free(set->menu);
    free(set->nmenu);
    free(set);
}

int tpl_has_lang(const tpl_set *set, const char *lang)
{
    if (set == NULL || lang == NULL)
        return 0;
    for (size_t i = 0; i < tpl_schema_nlangs; i++)
        if (strcmp(lang, tpl_schema_langs[i]) == 0)
            return 1;   /* every language of the schema is required */
    return 0;
}

/* ---- texts ---- */

const char *tpl_text(const tpl_set *set, const char *lang, const char *key)
{
    if (set == NULL || key == NULL)
        return NULL;
    long k = key_index(set, key);
    return k < 0 ? NULL : set->text[lang_index(lang) * tpl_schema_nkeys + (size_t)k];
}

const char *tpl_key_vars(const char *key)
{
    for (size_t k = 0; key != NULL && k < tpl_schema_nkeys; k++)
        if (strcmp(key, tpl_schema_keys[k].key) == 0)
            return tpl_schema_keys[k].vars;
    return NULL;
}

static const char *var_value(const tpl_var *vars, size_t nvars, const char *name, size_t len)
{
    for (size_t i = 0; i < nvars; i++)
        if (vars[i].name != NULL && strncmp(vars[i].name, name, len) == 0 &&
            vars[i].name[len] == '\0')
            return vars[i].value;
    return NULL;
}

/* Renders T into OUT (NULL: only measures); returns the length. */
static size_t render(const char *t, const tpl_var *vars, size_t nvars, char *out)
{
    size_t n = 0;
    const char *s = t;
    for (;;) {
        size_t run = strcspn(s, "{}");
        if (out != NULL)
            memcpy(out + n, s, run);
        n += run;
        s += run;
        if (*s == '\0')
            return n;
        const char *e = s[0] == '{' && s[1] != '{' ? strchr(s, '}') : NULL;
        if (e == NULL) {   /* "{{", "}}" (or a stray brace): one literal brace */
            if (out != NULL)
                out[n] = *s;
            n++;
            s += s[1] == s[0] ? 2 : 1;
            continue;
        }
        const char *v = var_value(vars, nvars, s + 1, (size_t)(e - s - 1));
        size_t vl = v != NULL ? strlen(v) : 0;
        if (out != NULL && vl > 0)
            memcpy(out + n, v, vl);
        n += vl;
        s = e + 1;
    }
}

char *tpl_render(const tpl_set *set, const char *lang, const char *key,
                 const tpl_var *vars, size_t nvars)
{
    const char *t = tpl_text(set, lang, key);
    if (t == NULL)
        return NULL;
    return render_alloc(t, vars, vars != NULL ? nvars : 0);
}

size_t tpl_menu(const tpl_set *set, const char *name, const tpl_menu_item **items)
{
    for (size_t m = 0; set != NULL && name != NULL && m < tpl_schema_nmenus; m++) {
        if (strcmp(name, tpl_schema_menus[m]) == 0) {
            if (items != NULL)
                *items = set->menu[m];
            return set->nmenu[m];
        }
    }
    if (items != NULL)
        *items = NULL;
    return 0;
}
