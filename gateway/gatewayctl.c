/* gatewayctl.c - the command line of coordinators and ops staff: a client of
 * gatewayd's admin API, and a terminal phone for its USSD service.
 *
 *   gatewayctl [--url URL] [--json] COMMAND [ARGS]
 *
 * Commands live in one const table (name, arguments, help, function). HTTP
 * goes through blocking libcurl easy calls (fine in a command line); answers
 * are JSON (jansson) except /healthz, /readyz and the USSD screens.
 * Exit codes: 0 done, 1 the gateway answered an error or could not be
 * reached, 2 usage error (bad arguments, unreadable file, no token),
 * 3 an import where every row was rejected.
 * Single-threaded; owns nothing beyond the process. */
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>

#include <curl/curl.h>
#include <jansson.h>

#include "gatewayctl.h"
#include "tpl.h"

/* ---- small helpers ---- */

int buf_add(buf *b, const void *p, size_t n)
{
    return buf_add_max(b, p, n, ANSWER_MAX);
}

int buf_add_max(buf *b, const void *p, size_t n, size_t max)
{
    if (b->len > max || n > max - b->len)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap != 0 ? b->cap : 1024;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *d = realloc(b->data, cap);
        if (d == NULL)
            return -1;
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

const char *buf_str(const buf *b)
{
    return b->data != NULL ? b->data : "";
}

void die_oom(void)
{
    fputs("gatewayctl: out of memory\n", stderr);
    exit(EXIT_HTTP);
}

void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("gatewayctl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Environment variable NAME when set and non-empty, else FALLBACK. */
static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : fallback;
}

/* "--name VALUE" or "--name=VALUE" at argv[*i]: returns 1 and sets *VALUE
 * (advancing *I past it), 0 when argv[*i] is another option, -1 when the
 * value is missing. */
int opt_value(int argc, char **argv, int *i, const char *name, const char **value)
{
    size_t n = strlen(name);
    if (strncmp(argv[*i], name, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *value = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *value = argv[++*i];
    return 1;
}

/* ---- HTTP ---- */

static size_t on_answer_data(char *p, size_t size, size_t nmemb, void *arg)
{
    return buf_add(arg, p, size * nmemb) == 0 ? size * nmemb : 0;
}

static void human_bytes(curl_off_t n, char *out, size_t len)
{
    if (n >= 1024 * 1024)
        snprintf(out, len, "%ld.%ld MiB", (long)(n / (1024 * 1024)),
                 (long)(n % (1024 * 1024) * 10 / (1024 * 1024)));
    else
        snprintf(out, len, "%ld KiB", (long)(n / 1024));
}

typedef struct progress {
    int last;                   /* last percentage drawn, -1 at first */
} progress;

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal;
    (void)dlnow;
    progress *pr = arg;
    if (ultotal <= 0)
        return 0;
    int pct = (int)(ulnow * 100 / ultotal);
    if (pct == pr->last)
        return 0;
    pr->last = pct;
    enum { WIDTH = 30 };
    char bar[WIDTH + 1], now[32], total[32];
    int fill = pct * WIDTH / 100;
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[WIDTH] = '\0';
    human_bytes(ulnow, now, sizeof now);
    human_bytes(ultotal, total, sizeof total);
    fprintf(stderr, "\r\033[KUploading [%s] %3d%%  %s / %s%s", bar, pct, now, total,
            pct == 100 ? "  (the gateway is importing...)" : "");
    return 0;
}

/* Performs CALL. Returns 0 when an HTTP answer arrived (any status), -1 with
 * a reason in ANS->error otherwise. ANS->body is the caller's to free. */
int http_perform(const http_call *call, http_answer *ans)
{
    memset(ans, 0, sizeof *ans);
    CURL *e = curl_easy_init();
    if (e == NULL) {
        snprintf(ans->error, sizeof ans->error, "cannot start libcurl");
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    char line[512];
    if (call->token != NULL) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", call->token);
        hdrs = curl_slist_append(hdrs, line);
    }
    if (call->content_type != NULL) {
        snprintf(line, sizeof line, "Content-Type: %s", call->content_type);
        hdrs = curl_slist_append(hdrs, line);
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    if (hdrs == NULL)
        die_oom();
    progress pr = {-1};
    curl_easy_setopt(e, CURLOPT_URL, call->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_answer_data);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &ans->body);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ans->error);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, call->timeout_s);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, "gatewayctl/" GW_VERSION);
    if (strcmp(call->method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, call->body != NULL ? call->body : "");
    }
    if (call->progress) {
        curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(e, CURLOPT_XFERINFODATA, &pr);
    }
    CURLcode rc = curl_easy_perform(e);
    if (call->progress && pr.last >= 0)
        fputs("\r\033[K", stderr);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &ans->status);
    } else if (ans->error[0] == '\0') {
        snprintf(ans->error, sizeof ans->error, "%s", curl_easy_strerror(rc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(e);
    return rc == CURLE_OK ? 0 : -1;
}

int is_2xx(long status)
{
    return status >= 200 && status < 300;
}

/* Prints why a call failed: the API's {"error", "message"} when it sent
 * one, else the status and the first line of the body. */
void report_failure(const char *what, const http_call *call, const http_answer *ans)
{
    if (ans->status == 0) {
        fail("%s: cannot reach %s: %s", what, call->url, ans->error);
        return;
    }
    json_t *root = json_loads(buf_str(&ans->body), 0, NULL);
    const char *code = json_string_value(json_object_get(root, "error"));
    const char *msg = json_string_value(json_object_get(root, "message"));
    if (code != NULL) {
        fail("%s: HTTP %ld %s%s%s", what, ans->status, code, msg != NULL ? ": " : "",
             msg != NULL ? msg : "");
    } else {
        const char *b = buf_str(&ans->body);
        int n = (int)strcspn(b, "\r\n");
        fail("%s: HTTP %ld%s%.*s", what, ans->status, n > 0 ? ": " : "", n > 200 ? 200 : n, b);
    }
    if (ans->status == 401)
        fputs("gatewayctl: check GATEWAY_ADMIN_TOKEN against [admin] token in the daemon's "
              "config\n", stderr);
    /* the API names its fields; here they are options */
    if (msg != NULL && strstr(msg, "\"reported_on\"") != NULL &&
        strncmp(what, "incident", 8) == 0)
        fprintf(stderr, "gatewayctl: \"reported_on\" is %s here\n",
                strcmp(what, "incident add") == 0 ? "--reported-on YYYY-MM-DD"
                                                  : "--on YYYY-MM-DD");
    json_decref(root);
}

char *join_url(const char *base, const char *path)
{
    size_t n = strlen(base) + strlen(path) + 1;
    char *u = malloc(n);
    if (u == NULL)
        die_oom();
    snprintf(u, n, "%s%s", base, path);
    return u;
}

const char *admin_token(void)
{
    const char *t = getenv("GATEWAY_ADMIN_TOKEN");
    if (t == NULL || *t == '\0') {
        fail("GATEWAY_ADMIN_TOKEN is not set: export it with the admin token "
             "([admin] token in the daemon's config)");
        return NULL;
    }
    return t;
}

/* Prints ANS's body as the server sent it (the --json mode). */
void print_raw(const http_answer *ans)
{
    const char *b = buf_str(&ans->body);
    fputs(b, stdout);
    if (ans->body.len > 0 && b[ans->body.len - 1] != '\n')
        fputc('\n', stdout);
}

/* ---- import ---- */

static int read_all(const char *path, buf *out)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (f == NULL)
        return -1;
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_add_max(out, chunk, n, ROSTER_MAX) != 0) {
            errno = EFBIG;
            rc = -1;
            break;
        }
    }
    if (rc == 0 && ferror(f))
        rc = -1;
    int saved = errno;
    if (f != stdin)
        fclose(f);
    errno = saved;
    return rc;
}

static json_int_t json_count(const json_t *root, const char *key)
{
    const json_t *v = json_object_get(root, key);
    return json_is_integer(v) ? json_integer_value(v) : 0;
}

typedef struct import_counts {
    json_int_t imported, updated, unchanged, rejected;
} import_counts;

static import_counts import_counts_of(const json_t *root)
{
    import_counts k = {
        json_count(root, "imported"), json_count(root, "updated"),
        json_count(root, "unchanged"),
        /* the gateway lists only the first rejections; rejected_count has them all */
        json_is_integer(json_object_get(root, "rejected_count"))
            ? json_count(root, "rejected_count")
            : (json_int_t)json_array_size(json_object_get(root, "rejected")),
    };
    return k;
}

/* The exit code of a successful import: 3 when no row got in. */
static int import_exit(const import_counts *k)
{
    return k->imported + k->updated + k->unchanged == 0 && k->rejected > 0 ? EXIT_ALL_REJECTED
                                                                           : 0;
}

static void print_import(const json_t *root)
{
    import_counts k = import_counts_of(root);
    printf("Imported %" JSON_INTEGER_FORMAT ", updated %" JSON_INTEGER_FORMAT
           ", rejected %" JSON_INTEGER_FORMAT ".\n", k.imported, k.updated, k.rejected);
    if (k.unchanged > 0)
        printf("%" JSON_INTEGER_FORMAT " row%s already up to date.\n", k.unchanged,
               k.unchanged == 1 ? " was" : "s were");
    json_int_t shown = 0;
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(root, "rejected"), i, r) {
        if (shown == REJECTIONS_SHOWN)
            break;
        const char *reason = json_string_value(json_object_get(r, "reason"));
        printf("  line %" JSON_INTEGER_FORMAT ": %s\n", json_count(r, "line"),
               reason != NULL ? reason : "rejected");
        shown++;
    }
    if (k.rejected > shown)
        printf("  ... and %" JSON_INTEGER_FORMAT " more\n", k.rejected - shown);
}

static int cmd_import(const ctl *c, int argc, char **argv)
{
    if (argc != 2)
        return -1;
    const char *token = admin_token();
    if (token == NULL)
        return EXIT_USAGE;
    const char *path = argv[1];
    buf csv = {0};
    if (read_all(path, &csv) != 0) {
        fail("cannot read %s: %s", strcmp(path, "-") == 0 ? "standard input" : path,
             strerror(errno));
        free(csv.data);
        return EXIT_USAGE;
    }
    char *url = join_url(c->url, "/v1/participants/import");
    http_call call = {
        .method = "POST", .url = url, .token = token,
        .content_type = "text/csv; charset=utf-8", .body = buf_str(&csv), .body_len = csv.len,
        .progress = csv.len >= PROGRESS_FROM && isatty(STDERR_FILENO),
    };
    http_answer ans;
    int rc = EXIT_HTTP;
    int answered = http_perform(&call, &ans) == 0 && is_2xx(ans.status);
    json_t *root = json_loads(buf_str(&ans.body), 0, NULL);
    if (!answered) {
        report_failure("import", &call, &ans);
        if (c->json && root != NULL)
            print_raw(&ans);
        else if (json_is_integer(json_object_get(root, "imported")))
            print_import(root);            /* what got in before it failed */
    } else if (!json_is_object(root)) {
        fail("import: the gateway's answer is not JSON: %.200s", buf_str(&ans.body));
    } else {
        if (c->json)
            print_raw(&ans);
        else
            print_import(root);
        import_counts k = import_counts_of(root);
        rc = import_exit(&k);
    }
    json_decref(root);
    free(ans.body.data);
    free(url);
    free(csv.data);
    return rc;
}

/* ---- health ---- */

/* Prints "NAME: ..." for one probe; returns 1 when it answered 2xx. */
static int probe(const ctl *c, const char *path, json_t *report)
{
    char *url = join_url(c->url, path);
    http_call call = {.method = "GET", .url = url, .timeout_s = 10};
    http_answer ans;
    int reached = http_perform(&call, &ans) == 0, up = reached && is_2xx(ans.status);
    const char *b = buf_str(&ans.body);
    json_t *root = json_loads(b, 0, NULL);
    const char *why = json_string_value(json_object_get(root, "message"));
    char line[CURL_ERROR_SIZE + 256];
    if (!reached)
        snprintf(line, sizeof line, "unreachable (%s)", ans.error);
    else if (why != NULL)
        snprintf(line, sizeof line, "%s (HTTP %ld: %s)", up ? "ok" : "NOT OK", ans.status, why);
    else
        snprintf(line, sizeof line, "%s (HTTP %ld%s%.*s)", up ? "ok" : "NOT OK", ans.status,
                 b[0] != '\0' ? ": " : "", (int)strcspn(b, "\r\n"), b);
    if (c->json)
        json_object_set_new(report, path + 1,
                            json_pack("{s:b, s:I, s:s}", "ok", up, "status",
                                      (json_int_t)ans.status, "detail", line));
    else
        printf("%-8s %s\n", path + 1, line);
    json_decref(root);
    free(ans.body.data);
    free(url);
    return up;
}

static int cmd_health(const ctl *c, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return -1;
    json_t *report = json_object();
    if (report == NULL)
        die_oom();
    probe(c, "/healthz", report);
    int ready = probe(c, "/readyz", report);
    if (c->json) {
        json_object_set_new(report, "ready", json_boolean(ready));
        json_dumpf(report, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', stdout);
    }
    json_decref(report);
    return ready ? 0 : EXIT_HTTP;
}

/* ---- participant ---- */

void print_fields(const json_t *obj)
{
    int width = 0;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        if ((int)strlen(key) > width)
            width = (int)strlen(key);
    }
    json_object_foreach((json_t *)obj, key, v) {
        char *dump = NULL;
        const char *text;
        if (json_is_string(v))
            text = json_string_value(v);
        else if (json_is_null(v))
            text = "-";
        else if (json_is_boolean(v))
            text = json_is_true(v) ? "yes" : "no";
        else
            text = dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER);
        printf("%s:%*s %s\n", key, width - (int)strlen(key), "", text != NULL ? text : "?");
        free(dump);
    }
}

static int cmd_participant(const ctl *c, int argc, char **argv)
{
    if (argc != 2 || argv[1][0] == '\0')
        return -1;
    const char *token = admin_token();
    if (token == NULL)
        return EXIT_USAGE;
    char *id = curl_easy_escape(NULL, argv[1], 0);
    if (id == NULL)
        die_oom();
    size_t n = strlen("/v1/participants/") + strlen(id) + 1;
    char *path = malloc(n);
    if (path == NULL)
        die_oom();
    snprintf(path, n, "/v1/participants/%s", id);
    curl_free(id);
    char *url = join_url(c->url, path);
    free(path);
    http_call call = {.method = "GET", .url = url, .token = token, .timeout_s = 30};
    http_answer ans;
    int rc = EXIT_HTTP;
    if (http_perform(&call, &ans) != 0 || !is_2xx(ans.status)) {
        char what[300];
        snprintf(what, sizeof what, "participant %.280s", argv[1]);
        report_failure(what, &call, &ans);
        if (c->json && ans.status != 0)
            print_raw(&ans);
    } else if (c->json) {
        print_raw(&ans);
        rc = 0;
    } else {
        json_t *root = json_loads(buf_str(&ans.body), 0, NULL);
        if (!json_is_object(root)) {
            fail("participant: the gateway's answer is not a JSON object: %.200s",
                 buf_str(&ans.body));
        } else {
            print_fields(root);
            rc = 0;
        }
        json_decref(root);
    }
    free(ans.body.data);
    free(url);
    return rc;
}

/* ---- ussd: a terminal phone ---- */

static int utf8_locale;         /* wcwidth can be trusted */

/* Decodes one UTF-8 sequence at S (at most LEN bytes): returns its length
 * and sets *CP, or returns 1 with *CP = U+FFFD for a bad byte. */
static size_t utf8_next(const char *s, size_t len, uint32_t *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = u[0] < 0x80 ? 1 : (u[0] & 0xE0) == 0xC0 ? 2 : (u[0] & 0xF0) == 0xE0 ? 3
             : (u[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || n > len) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = n == 1 ? u[0] : u[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = v << 6 | (u[i] & 0x3F);
    }
    *cp = v;
    return n;
}

/* Columns a code point takes on a terminal: 2 for East Asian wide ones. */
static int cp_width(uint32_t cp)
{
    if (utf8_locale) {
        int w = wcwidth((wchar_t)cp);
        return w < 0 ? 1 : w;
    }
    if (cp == 0x200B || (cp >= 0x0300 && cp <= 0x036F))
        return 0;
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0xA4CF) ||
                   (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                   (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
                   (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1FAFF) ||
                   (cp >= 0x20000 && cp <= 0x3FFFD)
               ? 2 : 1;
}

typedef struct screen_line {
    const char *start;
    size_t len;                 /* bytes */
    int cols;
} screen_line;

/* Splits TEXT into display lines of at most SCREEN_COLS columns (breaking
 * at '\n', else at the last space that fits, else anywhere). Returns the
 * number of lines stored in OUT (at most MAX). */
static size_t layout(const char *text, screen_line *out, size_t max)
{
    size_t n = 0, len = strlen(text);
    const char *p = text, *end = text + len;
    while (p <= end && n < max) {
        const char *q = p, *space = NULL;
        int cols = 0, cols_at_space = 0;
        while (q < end && *q != '\n') {
            uint32_t cp;
            size_t k = utf8_next(q, (size_t)(end - q), &cp);
            int w = cp_width(cp);
            if (cols + w > SCREEN_COLS)
                break;
            if (cp == ' ') {
                space = q;
                cols_at_space = cols;
            }
            cols += w;
            q += k;
        }
        if (q < end && *q != '\n' && space != NULL && space > p) {
            out[n++] = (screen_line){p, (size_t)(space - p), cols_at_space};
            p = space + 1;
            continue;
        }
        size_t l = (size_t)(q - p);
        if (l > 0 && p[l - 1] == '\r')
            l--;
        out[n++] = (screen_line){p, l, cols};
        if (q >= end)
            break;
        p = *q == '\n' ? q + 1 : q;
        if (p == end)
            break;                  /* no empty line for a trailing newline */
    }
    return n;
}

static void put_repeat(const char *s, int times)
{
    for (int i = 0; i < times; i++)
        fputs(s, stdout);
}

/* Draws TEXT in a box the width of a phone display, with TITLE on top. */
static void draw_screen(const char *title, const char *text)
{
    screen_line lines[64];
    size_t n = layout(text, lines, sizeof lines / sizeof lines[0]);
    int inner = SCREEN_COLS + 2;
    int tcols = 0;
    for (const char *t = title; *t != '\0';) {
        uint32_t cp;
        t += utf8_next(t, strlen(t), &cp);
        tcols += cp_width(cp);
    }
    fputs("┌─", stdout);
    fputs(title, stdout);
    put_repeat("─", inner - 1 - tcols > 0 ? inner - 1 - tcols : 0);
    fputs("┐\n", stdout);
    for (size_t i = 0; i < n; i++) {
        fputs("│ ", stdout);
        for (size_t b = 0; b < lines[i].len; b++) {
            unsigned char ch = (unsigned char)lines[i].start[b];
            fputc(ch < 0x20 || ch == 0x7F ? ' ' : ch, stdout);   /* no terminal controls */
        }
        put_repeat(" ", SCREEN_COLS - lines[i].cols);
        fputs(" │\n", stdout);
    }
    fputs("└", stdout);
    put_repeat("─", inner);
    fputs("┘\n", stdout);
}

static int random_session_id(char *out, size_t len)
{
    unsigned char raw[8];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    ssize_t got = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
    if (fd >= 0)
        close(fd);
    if (got != (ssize_t)sizeof raw)
        return -1;
    int n = snprintf(out, len, "ctl-");
    for (size_t i = 0; i < sizeof raw; i++)
        n += snprintf(out + n, len - (size_t)n, "%02x", raw[i]);
    return 0;
}

/* Appends "&KEY=escaped(VALUE)" (no '&' when FORM is empty). */
static void form_add(buf *form, const char *key, const char *value)
{
    char *esc = curl_easy_escape(NULL, value, 0);
    if (esc == NULL || (form->len > 0 && buf_add(form, "&", 1) != 0) ||
        buf_add(form, key, strlen(key)) != 0 || buf_add(form, "=", 1) != 0 ||
        buf_add(form, esc, strlen(esc)) != 0)
        die_oom();
    curl_free(esc);
}

typedef struct ussd_opts {
    const char *phone, *carrier_url, *service_code;
} ussd_opts;

static int parse_ussd_opts(int argc, char **argv, ussd_opts *o)
{
    o->phone = NULL;
    o->carrier_url = env_or("GATEWAY_CARRIER_URL", DEFAULT_CARRIER_URL);
    o->service_code = env_or("GATEWAY_SERVICE_CODE", DEFAULT_SERVICE_CODE);
    for (int i = 1; i < argc; i++) {
        int r = opt_value(argc, argv, &i, "--phone", &o->phone);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--carrier-url", &o->carrier_url);
        if (r == 0)
            r = opt_value(argc, argv, &i, "--service-code", &o->service_code);
        if (r != 1)
            return -1;
    }
    return o->phone != NULL && o->phone[0] != '\0' && o->carrier_url[0] != '\0' &&
                   o->service_code[0] != '\0' ? 0 : -1;
}

/* Reads one input line into LINE (without its end of line); skips empty
 * lines. Returns 0, or -1 at end of input. */
static int read_input(char *line, size_t len, int tty)
{
    for (;;) {
        fputs("> ", stdout);
        fflush(stdout);
        if (fgets(line, (int)len, stdin) == NULL) {
            puts(tty ? "\n(hung up)" : "(hung up)");
            return -1;
        }
        size_t n = strcspn(line, "\r\n");
        if (line[n] == '\0') {             /* longer than a phone allows: drop the rest */
            int ch;
            while ((ch = getchar()) != EOF && ch != '\n')
                ;
        }
        line[n] = '\0';
        if (!tty) {
            puts(line);             /* a script's inputs show up as typed */
        }
        if (line[0] != '\0')
            return 0;
    }
}

static int cmd_ussd(const ctl *c, int argc, char **argv)
{
    (void)c;
    ussd_opts o;
    if (parse_ussd_opts(argc, argv, &o) != 0)
        return -1;
    char session[40];
    if (random_session_id(session, sizeof session) != 0) {
        fail("ussd: cannot read /dev/urandom for a session id");
        return EXIT_HTTP;
    }
    size_t n = strlen(o.carrier_url);
    while (n > 0 && o.carrier_url[n - 1] == '/')
        n--;
    char url[2048];
    if (snprintf(url, sizeof url, "%.*s/ussd/africastalking", (int)n, o.carrier_url) >=
        (int)sizeof url)
        return -1;
    int tty = isatty(STDIN_FILENO);
    printf("Dialing %s from %s (session %s)\n", o.service_code, o.phone, session);
    buf text = {0};
    char title[64];
    snprintf(title, sizeof title, " %s ", o.service_code);
    for (;;) {
        buf form = {0};
        form_add(&form, "sessionId", session);
        form_add(&form, "serviceCode", o.service_code);
        form_add(&form, "phoneNumber", o.phone);
        form_add(&form, "networkCode", "46000");
        form_add(&form, "text", buf_str(&text));
        http_call call = {
            .method = "POST", .url = url, .content_type = "application/x-www-form-urlencoded",
            .body = form.data, .body_len = form.len, .timeout_s = 30,
        };
        http_answer ans;
        int got = http_perform(&call, &ans);
        free(form.data);
        const char *b = buf_str(&ans.body);
        int more = strncmp(b, "CON", 3) == 0 && (b[3] == ' ' || b[3] == '\0');
        int end = strncmp(b, "END", 3) == 0 && (b[3] == ' ' || b[3] == '\0');
        if (got != 0 || !is_2xx(ans.status) || (!more && !end)) {
            if (got == 0 && is_2xx(ans.status))
                fail("ussd: the gateway's answer starts with neither CON nor END: %.200s", b);
            else
                report_failure("ussd", &call, &ans);
            free(ans.body.data);
            free(text.data);
            return EXIT_HTTP;
        }
        draw_screen(title, b[3] == ' ' ? b + 4 : b + 3);
        free(ans.body.data);
        if (end) {
            puts("(session ended)");
            break;
        }
        char line[256];
        if (read_input(line, sizeof line, tty) != 0)
            break;
        if ((text.len > 0 && buf_add(&text, "*", 1) != 0) ||
            buf_add(&text, line, strlen(line)) != 0)
            die_oom();
    }
    free(text.data);
    return 0;
}

/* ---- commands and main ---- */

static const command commands[] = {
    {"import", "FILE.csv | -",
     "upsert participants from a roster CSV (\"-\" reads standard input)", cmd_import},
    {"health", "", "is the daemon alive and ready (Redis reachable)? exit 0 only if ready",
     cmd_health},
    {"participant", "ID", "show one participant's record", cmd_participant},
    {"send", "--to NUMBER [--to NUMBER ...] (--text TEXT | --template NAME [--var K=V ...])"
             " [--language zh|en] [--lane reply|bulk] [--at RFC3339]",
     "queue one SMS (to one or many numbers); prints its id", cmd_send},
    {"message", "ID", "show what became of a message (queued, sent, failed, ...)", cmd_message},
    {"queue", "", "the outbound queue: waiting, in flight, dead; carrier accounts", cmd_queue},
    {"optout", "list | add NUMBER | remove NUMBER",
     "the numbers that asked for no reminders (replies still reach them)", cmd_optout},
    {"inbox", "[--limit N]", "SMS from residents that were not keywords, newest first",
     cmd_inbox},
    {"incident", "add --participant ID --kind accident|critical_illness --date YYYY-MM-DD"
                 " [--reported-on YYYY-MM-DD] | show REFERENCE"
                 " | reported REFERENCE [--on YYYY-MM-DD]",
     "register a mutual-aid incident (prints its reference and the claim deadline; with "
     "--reported-on, one the member already reported that day, as on a paper form), show "
     "one, or record that the member reported the claim another way (reminders stop)",
     cmd_incident},
    {"campaign", "preview|start --kind unpaid|claim|notice [[--township T] [--village V] | "
                 "--ids ID,ID|@FILE | --everyone (start)] [--text TEXT | --template NAME] "
                 "[--at RFC3339]"
                 " [--list (preview)] | status ID [--watch] | cancel ID",
     "reminders and notices to a township, village or list: count first (--list: who, by "
     "name), then send",
     cmd_campaign},
    {"ussd", "--phone NUMBER [--carrier-url URL] [--service-code CODE]",
     "dial the USSD service from this terminal, as a phone would", cmd_ussd},
};

static void usage(void)
{
    fputs("usage: gatewayctl [--url URL] [--json] COMMAND [ARGS]\n\n"
          "  --url URL   the admin API (default " DEFAULT_ADMIN_URL ", or $GATEWAY_URL)\n"
          "  --json      print the gateway's JSON as is, for scripts\n"
          "  --help      this text\n\ncommands:\n", stdout);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        printf( "  %s%s%s\n      %s\n", commands[i].name, commands[i].args[0] ? " " : "",
                commands[i].args, commands[i].help);
    fputs("\nenvironment: GATEWAY_ADMIN_TOKEN (the admin token, for import and participant),\n"
          "  GATEWAY_CARRIER_URL (default " DEFAULT_CARRIER_URL "), GATEWAY_SERVICE_CODE\n"
          "exit: 0 done, 1 the gateway failed or answered an error, 2 usage, "
          "3 every imported row rejected\n", stdout);
}

/* The short form, for usage errors. */
static void short_usage(void)
{
    fputs("usage: gatewayctl [--url URL] [--json] COMMAND [ARGS]\ncommands:", stderr);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(stderr, " %s", commands[i].name);
    fputs("  (gatewayctl --help for more)\n", stderr);
}

static void command_usage(const command *cmd, FILE *out)
{
    fprintf(out, "usage: gatewayctl [--url URL] [--json] %s%s%s\n  %s\n", cmd->name,
            cmd->args[0] ? " " : "", cmd->args, cmd->help);
}

int main(int argc, char **argv)
{
    utf8_locale = setlocale(LC_ALL, "C.UTF-8") != NULL;
    ctl c = {.url = env_or("GATEWAY_URL", DEFAULT_ADMIN_URL), .json = 0};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "-", 1) == 0 && strcmp(argv[i], "-") != 0; i++) {
        int r = opt_value(argc, argv, &i, "--url", &c.url);
        if (r == 1)
            continue;
        if (r < 0 || (strcmp(argv[i], "--json") != 0 && strcmp(argv[i], "--help") != 0 &&
                      strcmp(argv[i], "-h") != 0)) {
            fail("%s: %s", argv[i], r < 0 ? "needs a value" : "unknown option");
            short_usage();
            return EXIT_USAGE;
        }
        if (strcmp(argv[i], "--json") == 0) {
            c.json = 1;
        } else {
            usage();
            return 0;
        }
    }
    if (i >= argc) {
        short_usage();
        return EXIT_USAGE;
    }
    /* A name or text typed in another encoding (a GBK terminal) cannot be
     * sent as JSON: refused here, rather than left out of the request (a
     * campaign's --township left out would reach everyone). */
    for (int k = i; k < argc; k++) {
        if (!tpl_utf8_valid(argv[k], strlen(argv[k]))) {
            int named = k > i && strncmp(argv[k - 1], "--", 2) == 0;
            fail("%s%s%s is not UTF-8 text: set the terminal to UTF-8 (for example "
                 "LANG=C.UTF-8) and type it again", named ? "the value of " : "an argument",
                 named ? argv[k - 1] : "", named ? "" : " given");
            return EXIT_USAGE;
        }
    }
    size_t ulen = strlen(c.url);
    char *base = strndup(c.url, ulen);
    if (base == NULL)
        die_oom();
    while (ulen > 0 && base[ulen - 1] == '/')
        base[--ulen] = '\0';
    c.url = base;

    const command *cmd = NULL;
    for (size_t k = 0; k < sizeof commands / sizeof commands[0]; k++)
        if (strcmp(argv[i], commands[k].name) == 0)
            cmd = &commands[k];
    int rc;
    if (cmd == NULL) {
        fail("unknown command %s", argv[i]);
        short_usage();
        rc = EXIT_USAGE;
    } else if (argc - i == 2 && (strcmp(argv[i + 1], "--help") == 0 ||
                                 strcmp(argv[i + 1], "-h") == 0)) {
        command_usage(cmd, stdout);
        rc = 0;
    } else if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fail("cannot start libcurl");
        rc = EXIT_HTTP;
    } else {
        rc = cmd->run(&c, argc - i, argv + i);
        if (rc < 0) {
            command_usage(cmd, stderr);
            rc = EXIT_USAGE;
        }
        curl_global_cleanup();
    }
    free(base);
    return rc;
}
