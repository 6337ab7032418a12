/* gatewayctl.h - what the files of gatewayctl share: exit codes, the
 * growable buffer, blocking HTTP calls to the admin API and printing.
 * Single-threaded. */
#ifndef GATEWAYCTL_H
#define GATEWAYCTL_H

#include <stddef.h>

#include <curl/curl.h>
#include <jansson.h>

#define EXIT_HTTP 1
#define EXIT_USAGE 2
#define EXIT_ALL_REJECTED 3

#define DEFAULT_ADMIN_URL "http://127.0.0.1:8081"
#define DEFAULT_CARRIER_URL "http://127.0.0.1:8080"
#define DEFAULT_SERVICE_CODE "*120*12345#"
#define ANSWER_MAX (64u * 1024 * 1024)    /* bytes of an answer we keep */
#define ROSTER_MAX ((size_t)1 << 30)        /* bytes of a roster file: gatewayd takes at most
                                               1 GiB ([admin] max_body_bytes); a county's is ~100 MB */
#define REJECTIONS_SHOWN 50
#define PROGRESS_FROM (256u * 1024)         /* uploads at least this big get a bar */
#define SCREEN_COLS 30                      /* a phone display's width in columns */

typedef struct ctl {
    const char *url;            /* admin API base, without a trailing '/' */
    int json;                   /* --json: print the server's JSON as is */
} ctl;

typedef struct command {
    const char *name;
    const char *args;           /* usage after the name */
    const char *help;           /* one line */
    int (*run)(const ctl *c, int argc, char **argv);  /* argv[0] is the name */
} command;

typedef struct buf {
    char *data;                 /* NUL-terminated when non-NULL */
    size_t len, cap;
} buf;

typedef struct http_call {
    const char *method;         /* "GET" or "POST" */
    const char *url;
    const char *token;          /* bearer token, or NULL */
    const char *content_type;   /* for POST */
    const char *body;
    size_t body_len;
    long timeout_s;             /* 0: none */
    int progress;               /* draw an upload bar on stderr */
} http_call;

typedef struct http_answer {
    long status;                /* 0 when no answer arrived */
    buf body;
    char error[CURL_ERROR_SIZE];
} http_answer;

/* Appends N bytes of P (keeps a NUL after them). Returns 0 or -1 (more than
 * ANSWER_MAX, or MAX, in all; OOM). */
int buf_add(buf *b, const void *p, size_t n);
int buf_add_max(buf *b, const void *p, size_t n, size_t max);
const char *buf_str(const buf *b);

void die_oom(void) __attribute__((noreturn));
/* "gatewayctl: MESSAGE" on stderr. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "--name VALUE" or "--name=VALUE" at argv[*i]: 1 and *VALUE set (and *I
 * advanced), 0 when it is another option, -1 when the value is missing. */
int opt_value(int argc, char **argv, int *i, const char *name, const char **value);

/* Performs CALL: 0 when an HTTP answer arrived (any status), else -1 with a
 * reason in ANS->error. ANS->body.data is the caller's to free. */
int http_perform(const http_call *call, http_answer *ans);
int is_2xx(long status);
/* Prints why a call failed (the API's error and message when given). */
void report_failure(const char *what, const http_call *call, const http_answer *ans);
/* BASE + PATH, malloc'd. */
char *join_url(const char *base, const char *path);
/* $GATEWAY_ADMIN_TOKEN, or NULL after saying it is missing. */
const char *admin_token(void);
/* The answer's body as sent (--json). */
void print_raw(const http_answer *ans);
/* "key: value" lines, aligned. */
void print_fields(const json_t *obj);

/* One JSON call to the admin API: BODY (may be NULL; not stolen) to PATH.
 * Returns 0 with the parsed answer object in *OUT (caller decrefs; NULL
 * with --json, where the raw answer was printed), or EXIT_HTTP /
 * EXIT_USAGE after saying why. */
int api_call(const ctl *c, const char *method, const char *path, json_t *body,
             const char *what, json_t **out);

/* gatewayctl_send.c */
int cmd_send(const ctl *c, int argc, char **argv);
int cmd_message(const ctl *c, int argc, char **argv);
int cmd_queue(const ctl *c, int argc, char **argv);

/* gatewayctl_inbound.c */
int cmd_optout(const ctl *c, int argc, char **argv);
int cmd_inbox(const ctl *c, int argc, char **argv);
int cmd_incident(const ctl *c, int argc, char **argv);

/* gatewayctl_campaign.c */
int cmd_campaign(const ctl *c, int argc, char **argv);

#endif
