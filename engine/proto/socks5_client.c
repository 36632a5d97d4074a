/*
 * socks5_client.c — greeting, RFC 1929 authentication and one request over
 * an upstream dialog. See socks5_client.h.
 */
#include "engine/proto/socks5_client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/core/engine.h"

enum socks5_client_step { STEP_METHOD, STEP_AUTH, STEP_REPLY };

struct socks5_client {
    struct upstream_dialog d;
    enum socks5_client_step step;
    bool with_auth;
    uint8_t auth[SOCKS5_MSG_MAX], request[SOCKS5_MSG_MAX];
    size_t auth_len, request_len;
    struct socks5_addr bound;
};

static enum upstream_fail fail_from_rep(uint8_t rep)
{
    switch (rep) {
    case SOCKS5_REP_NOT_ALLOWED:
        return UPSTREAM_FAIL_DENIED;
    case SOCKS5_REP_NET_UNREACHABLE:
    case SOCKS5_REP_HOST_UNREACHABLE:
        return UPSTREAM_FAIL_UNREACHABLE;
    case SOCKS5_REP_REFUSED:
        return UPSTREAM_FAIL_REFUSED;
    case SOCKS5_REP_TTL_EXPIRED:
        return UPSTREAM_FAIL_TIMEOUT;
    default:
        return UPSTREAM_FAIL_GENERAL;
    }
}

static enum upstream_step send_request(struct socks5_client *c)
{
    c->step = STEP_REPLY;
    upstream_dialog_send(&c->d, c->request, c->request_len);
    return UPSTREAM_MORE;
}

static enum upstream_step method_input(struct socks5_client *c)
{
    uint8_t method;
    size_t n;
    enum parse_result r = socks5_parse_method_choice(c->d.in, c->d.in_len, &n, &method);
    if (r != PARSE_DONE)
        return upstream_dialog_unparsed(&c->d, r, "socks5: malformed method choice");
    upstream_dialog_consume(&c->d, n);
    if (method == SOCKS5_METHOD_NONE)
        return send_request(c);
    if (method == SOCKS5_METHOD_USERPASS && c->with_auth) {
        c->step = STEP_AUTH;
        upstream_dialog_send(&c->d, c->auth, c->auth_len);
        return UPSTREAM_MORE;
    }
    return upstream_dialog_fail(&c->d, UPSTREAM_FAIL_GENERAL,
                                "socks5: no acceptable authentication method");
}

static enum upstream_step auth_input(struct socks5_client *c)
{
    bool ok;
    size_t n;
    enum parse_result r = socks5_parse_auth_reply(c->d.in, c->d.in_len, &n, &ok);
    if (r != PARSE_DONE)
        return upstream_dialog_unparsed(&c->d, r, "socks5: malformed auth reply");
    if (!ok)
        return upstream_dialog_fail(&c->d, UPSTREAM_FAIL_GENERAL,
                                    "socks5: authentication rejected");
    upstream_dialog_consume(&c->d, n);
    return send_request(c);
}

static enum upstream_step reply_input(struct socks5_client *c)
{
    uint8_t rep;
    size_t n;
    enum parse_result r = socks5_parse_reply(c->d.in, c->d.in_len, &n, &rep, &c->bound);
    if (r != PARSE_DONE)
        return upstream_dialog_unparsed(&c->d, r, "socks5: malformed reply");
    if (rep != SOCKS5_REP_SUCCEEDED) {
        char reason[96];
        snprintf(reason, sizeof(reason), "socks5: %s", socks5_rep_text(rep));
        return upstream_dialog_fail(&c->d, fail_from_rep(rep), reason);
    }
    upstream_dialog_consume(&c->d, n);
    return UPSTREAM_DONE;
}

/* What each step reads, in the order a handshake goes through them. */
static enum upstream_step (*const step_input[])(struct socks5_client *c) = {
    [STEP_METHOD] = method_input,
    [STEP_AUTH] = auth_input,
    [STEP_REPLY] = reply_input,
};

static enum upstream_step socks5_client_input(struct upstream_dialog *d)
{
    struct socks5_client *c = container_of(d, struct socks5_client, d);
    return step_input[c->step](c);
}

struct socks5_client *socks5_client_new(struct ev_loop *loop, int fd,
                                        const struct socks5_client_request *req,
                                        const struct upstream_dialog_cbs *cbs, void *ctx,
                                        const char **reason)
{
    struct socks5_client *c = calloc(1, sizeof(*c));
    if (!c) {
        *reason = "out of memory";
        return NULL;
    }
    c->request_len = socks5_build_request(c->request, req->cmd, &req->dst);
    if (!c->request_len) {
        free(c);
        *reason = "socks5: no destination to request";
        return NULL;
    }
    c->with_auth = req->username != NULL;
    if (c->with_auth) {
        c->auth_len = socks5_build_auth(c->auth, req->username, req->password ? req->password : "");
        if (!c->auth_len) {
            free(c);
            *reason = "socks5: username must be 1 to 255 bytes, password at most 255";
            return NULL;
        }
    }
    upstream_dialog_init(&c->d, loop, fd, socks5_client_input, cbs, ctx);
    uint8_t greeting[SOCKS5_MSG_MAX];
    c->step = STEP_METHOD;
    upstream_dialog_send(&c->d, greeting, socks5_build_greeting(greeting, c->with_auth));
    return c;
}

const struct socks5_addr *socks5_client_bound(const struct socks5_client *c)
{
    return &c->bound;
}

void socks5_client_free(struct socks5_client *c)
{
    if (!c)
        return;
    upstream_dialog_stop(&c->d);
    free(c);
}
