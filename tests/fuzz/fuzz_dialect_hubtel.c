/* fuzz_dialect_hubtel.c - libFuzzer target for gw_dialect_parse_hubtel
 * (gateway/gw_ussd_dialect.c), Hubtel's USSD JSON bodies.
 *
 * Checks that no body crashes, leaks or overruns the fixed fields of
 * gw_hop_req, that a refused body always has a reason, and that an accepted
 * one has a well-formed session, a known hop type, a Sequence of 0 (absent)
 * or 1..1000000, no text on Initiation, and that its answer (Hubtel JSON)
 * can be built from the parsed text. */
#include <string.h>

#include "fuzz_check.h"
#include "gw_ussd_dialect.h"

static int session_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s != '\0'; s++)
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-", *s) ==
            NULL)
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    gw_hop_req req;
    char err[160] = "";
    if (gw_dialect_parse_hubtel((const char *)data, size, &req, err, sizeof err) != 0) {
        FUZZ_CHECK(err[0] != '\0' && memchr(err, '\0', sizeof err) != NULL);
        return 0;
    }
    FUZZ_CHECK(req.dialect == GW_DIALECT_HUBTEL);
    FUZZ_CHECK(req.type == GW_HOP_BEGIN || req.type == GW_HOP_INPUT ||
               req.type == GW_HOP_RELEASE);
    FUZZ_CHECK(req.sequence >= 0 && req.sequence <= 1000000);
    FUZZ_CHECK(memchr(req.session, '\0', sizeof req.session) != NULL && session_ok(req.session));
    FUZZ_CHECK(memchr(req.phone, '\0', sizeof req.phone) != NULL);
    FUZZ_CHECK(memchr(req.service_code, '\0', sizeof req.service_code) != NULL);
    FUZZ_CHECK(memchr(req.text, '\0', sizeof req.text) != NULL);
    FUZZ_CHECK(req.type != GW_HOP_BEGIN || req.text[0] == '\0');

    size_t len = 0;
    const char *ctype = NULL;
    char *answer = gw_dialect_answer(GW_DIALECT_HUBTEL, size & 1, req.text, &len, &ctype);
    FUZZ_CHECK(answer != NULL && ctype != NULL && len == strlen(answer));
    free(answer);
    return 0;
}
