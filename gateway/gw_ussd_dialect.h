/* gw_ussd_dialect.h - the carriers' USSD dialects, as pure functions.
 *
 * Africa's Talking posts a form (sessionId, serviceCode, phoneNumber,
 * networkCode, text) where text holds every input so far joined by '*',
 * and wants text/plain "CON ..." or "END ...". Hubtel posts JSON with only
 * the latest input (Mobile, SessionId, ServiceCode, Type, Message, Operator,
 * Sequence, ClientState) and wants JSON {"Type": "Response"|"Release",
 * "Message", "ClientState"}. Both become one gw_hop_req for the engine. */
#ifndef GW_USSD_DIALECT_H
#define GW_USSD_DIALECT_H

#include <stddef.h>

enum gw_dialect { GW_DIALECT_AT, GW_DIALECT_HUBTEL, GW_DIALECT_COUNT };

enum gw_hop_type {
    GW_HOP_BEGIN,     /* Hubtel Initiation (AT: decided by the engine) */
    GW_HOP_INPUT,     /* an answer to the last screen */
    GW_HOP_RELEASE,   /* Hubtel Release/Timeout: the phone left */
};

#define GW_SESSION_MAX 128
#define GW_INPUT_MAX 1024

typedef struct gw_hop_req {
    enum gw_dialect dialect;
    enum gw_hop_type type;
    char session[GW_SESSION_MAX];   /* [A-Za-z0-9_.:-]+ */
    char phone[64];                 /* as the carrier wrote it */
    char service_code[64];
    char text[GW_INPUT_MAX];        /* AT: cumulative text; Hubtel: the latest input */
    long sequence;                  /* Hubtel Sequence (>= 1), 0 for AT */
} gw_hop_req;

/* Parses an Africa's Talking form body. Returns 0, or -1 with a reason
 * (naming the field) in ERR. */
int gw_dialect_parse_at(const char *body, size_t len, gw_hop_req *out, char *err, size_t errlen);

/* Parses a Hubtel JSON body. Returns 0, or -1 with a reason in ERR. */
int gw_dialect_parse_hubtel(const char *body, size_t len, gw_hop_req *out, char *err,
                            size_t errlen);

/* Builds the answer for dialect D: END when END is 1, else a screen that
 * waits for input. Returns a malloc'd body (caller frees) and sets *LEN and
 * *CONTENT_TYPE (static), or NULL on OOM. */
char *gw_dialect_answer(enum gw_dialect d, int end, const char *screen, size_t *len,
                        const char **content_type);

#endif
