/* prov_console.c - the console "carrier": the operator's own test channel
 * (ops/demo, a fresh install). Appends one line per message to the account's
 * path, or to stdout when it has none:
 *
 *   2026-12-01 13:05:00 id=42 to=+8613800000001 parts=1 coding=ucs2 text=...
 *
 * Local time; the full number, since this output is where the operator reads
 * what a phone would have received (it is not a log); in the text, newline,
 * carriage return, tab and backslash are written \n, \r, \t and \\ and other
 * control bytes \xHH, so each message stays one line.
 *
 * The file is opened with O_APPEND for each message and closed again, so a
 * rotated or removed file is simply created anew and lines from several
 * processes do not mix (each line is one write). Always ACCEPTED with our id
 * as carrier_id, unless the write fails: RETRY with the reason. Runs on the
 * loop's thread (called from prov_send); the write blocks, which is fine for a
 * local file or terminal. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_clock.h"
#include "prov_internal.h"

/* Appends TEXT (LEN bytes) with control bytes and backslashes escaped. */
static void add_escaped(prov_buf *b, const char *text, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;   /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c >= 0x20 && c != 0x7f && c != '\\')
            continue;
        prov_buf_add(b, text + run, i - run);
        run = i + 1;
        char esc[4] = {'\\', 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        case '\\': esc[1] = '\\'; break;
        default:
            esc[1] = 'x';
            esc[2] = hex[c >> 4];
            esc[3] = hex[c & 15];
            n = 4;
        }
        prov_buf_add(b, esc, n);
    }
    prov_buf_add(b, text + run, len - run);
}

/* Writes all of LINE to FD. Returns 0, or -1 with errno set. */
static int write_all(int fd, const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, line, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        line += n;
        len -= (size_t)n;
    }
    return 0;
}

static void console_deliver(const gw_provider_conf *conf, const prov_msg *msg, prov_result *res)
{
    memset(res, 0, sizeof *res);
    int64_t now_ms = gw_clock_now_ms();
    time_t now = (time_t)(now_ms / 1000);
    struct tm tm;
    char when[32] = "";
    if (localtime_r(&now, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", &tm);
    char head[64];
    snprintf(head, sizeof head, " parts=%d coding=%s text=", msg->segments > 0 ? msg->segments : 1,
             msg->ucs2 ? "ucs2" : "gsm");
    const char *id = msg->id != NULL ? msg->id : "";
    prov_buf line = {0};
    prov_buf_puts(&line, when);
    prov_buf_puts(&line, " id=");
    prov_buf_puts(&line, id);
    prov_buf_puts(&line, " to=");
    prov_buf_puts(&line, msg->to);
    prov_buf_puts(&line, head);
    add_escaped(&line, msg->text != NULL ? msg->text : "", msg->text_len);
    prov_buf_add(&line, "\n", 1);
    size_t len = line.len;
    char *text = prov_buf_take(&line);
    if (text == NULL) {
        prov_result_set(res, PROV_RETRY, "out of memory");
        return;
    }
    int fd = STDOUT_FILENO;
    if (conf->path != NULL)
        fd = open(conf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    int rc = fd < 0 ? -1 : write_all(fd, text, len);
    int saved = errno;
    if (fd >= 0 && conf->path != NULL)
        close(fd);
    free(text);
    if (rc != 0) {
        prov_result_set(res, PROV_RETRY, "cannot %s %s: %s", fd < 0 ? "open" : "write to",
                        conf->path != NULL ? conf->path : "stdout", strerror(saved));
        return;
    }
    snprintf(res->carrier_id, sizeof res->carrier_id, "%s", id);
    prov_result_set(res, PROV_ACCEPTED, "written to %s",
                    conf->path != NULL ? conf->path : "stdout");
}

const prov_ops prov_console_ops = {
    .type = "console",
    .default_base_url = NULL,
    .build_request = NULL,
    .parse_response = NULL,
    .deliver_local = console_deliver,
    .max_recipients = 1,
    .build_batch = NULL,
    .parse_batch = NULL,
    .check_conf = NULL,
};
