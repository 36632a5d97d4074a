/*
 * policy_load.c — the policy file, read with libyaml's document API (every
 * node keeps its line and column) and turned into struct policy: settings,
 * inbounds, outbounds and sets here; rules in policy_rules.c.
 *
 * Sections are read in a fixed order (outbounds and sets before the rules
 * that name them) whatever their order in the file.
 */
#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <libgen.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "rules/mark.h"
#include "rules/policy_internal.h"
#include "rules/policy_yaml.h"
#include "rules/util.h"

/* --- small value parsers ----------------------------------------------------- */

/* A path from the file, relative to the file's folder unless absolute. */
static char *resolve_path(struct load_ctx *c, const char *path)
{
    char *out;
    if (path[0] == '/' || asprintf(&out, "%s/%s", c->dir, path) < 0)
        out = strdup(path);
    return out;
}

/* "ADDR:PORT" with an IP literal (IPv6 in brackets) into a socket address. */
static int parse_endpoint(struct load_ctx *c, yaml_node_t *node, const char *what,
                          struct sockaddr_storage *ss, socklen_t *len)
{
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return -1;
    struct flow_addr a;
    if (!flow_addr_parse(&a, s)) {
        const char *colon = strrchr(s, ':');
        bool named = colon && colon > s && isalpha((unsigned char)s[0]) && s[0] != '[';
        if (named)
            return policy_yaml_fail(
                c, node, "%s '%s': use an IP address, host names are not resolved here", what, s);
        return policy_yaml_fail(c, node, "%s '%s' is not ADDRESS:PORT (IPv6 as [2001:db8::1]:443)",
                                what, s);
    }
    *len = flow_addr_to_sockaddr(&a, ss);
    return 0;
}

/*
 * A non-empty value, kept until the policy is freed; NULL after an error
 * naming `what`. Whether the name is unique is the caller's check.
 */
static const char *load_name(struct load_ctx *c, yaml_node_t *node, const char *what)
{
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return NULL;
    if (!s[0]) {
        policy_yaml_fail(c, node, "%s must not be empty", what);
        return NULL;
    }
    const char *kept = policy_keep_string(c->p, s);
    if (!kept)
        policy_yaml_fail(c, node, "out of memory");
    return kept;
}

/* --- settings ------------------------------------------------------------------ */

static int load_log(struct load_ctx *c, yaml_node_t *node)
{
    yaml_node_t *level, *flows, *format, *target;
    struct policy_yaml_key keys[] = {{"level", &level},
                                     {"flows", &flows},
                                     {"format", &format},
                                     {"target", &target},
                                     {NULL, NULL}};
    if (policy_yaml_map_keys(c, node, "log", keys) < 0)
        return -1;
    struct policy_settings *s = &c->p->settings;
    unsigned v;
    if (level && policy_yaml_word(c, level, "log level", log_level_names, &v) < 0)
        return -1;
    if (level)
        s->log_level = (enum log_level)v;
    if (format && policy_yaml_word(c, format, "log format", log_format_names, &v) < 0)
        return -1;
    if (format)
        s->log_format = (enum log_format)v;
    if (target && policy_yaml_word(c, target, "log target", log_target_names, &v) < 0)
        return -1;
    if (target)
        s->log_target = (enum log_target)v;
    return flows ? policy_yaml_bool(c, flows, "log.flows", &s->log_flows) : 0;
}

static int load_geoip(struct load_ctx *c, yaml_node_t *node)
{
    yaml_node_t *file;
    struct policy_yaml_key keys[] = {{"file", &file}, {NULL, NULL}};
    if (policy_yaml_map_keys(c, node, "geoip", keys) < 0)
        return -1;
    if (!file)
        return policy_yaml_fail(c, node, "geoip needs 'file'");
    const char *s = policy_yaml_scalar(c, file, "geoip.file");
    if (!s)
        return -1;
    c->p->geoip_path = resolve_path(c, s);
    char why[POLICY_ERROR_MAX];
    c->p->geoip = geoip_open(c->p->geoip_path, why, sizeof(why));
    return c->p->geoip ? 0 : policy_yaml_fail(c, file, "%s", why);
}

static const char *const protocol_words[] = {"none", "unknown", "tls", "http", "quic", "dns", NULL};

/*
 * Server-first protocols, whose clients send nothing until the server has
 * spoken: FTP, SSH, telnet, SMTP, POP3, IMAP, submission, MySQL, VNC.
 * Sniffing them could only wait out the timeout.
 */
static const uint16_t default_skip_ports[] = {21, 22, 23, 25, 110, 143, 587, 3306, 5900};

static void skip_port_range(struct policy *p, unsigned lo, unsigned hi)
{
    for (unsigned port = lo; port <= hi; port++)
        p->sniff_skip_ports[port / 64] |= 1ull << (port % 64);
}

static int load_skip_ports(struct load_ctx *c, yaml_node_t *node)
{
    struct port_range *r = NULL;
    size_t n = 0;
    memset(c->p->sniff_skip_ports, 0, sizeof(c->p->sniff_skip_ports));
    int rc =
        policy_yaml_empty_list(node) ? 0 : policy_parse_ports(c, node, "sniff.skip_ports", &r, &n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        skip_port_range(c->p, r[i].lo, r[i].hi);
    free(r);
    return rc;
}

/* A whole-number setting: one table line each. */
struct number_key {
    const char *name;
    unsigned *field;
    uint64_t min, max;
};

/* The value of the key k->name of the map `what` at `node` (NULL: absent, nothing read). */
static int load_number(struct load_ctx *c, yaml_node_t *node, const char *what,
                       const struct number_key *k)
{
    uint64_t v;
    char name[64];
    snprintf(name, sizeof(name), "%s.%s", what, k->name);
    if (!node)
        return 0;
    if (policy_yaml_uint(c, node, name, k->max, &v) < 0)
        return -1;
    if (v < k->min)
        return policy_yaml_fail(c, node, "%s must be at least %llu", name,
                                (unsigned long long)k->min);
    *k->field = (unsigned)v;
    return 0;
}

static int load_sniff(struct load_ctx *c, yaml_node_t *node)
{
    yaml_node_t *timeout, *protocols, *max_bytes, *skip_ports, *remember, *max_wait;
    struct policy_yaml_key keys[] = {{"timeout_ms", &timeout},
                                     {"protocols", &protocols},
                                     {"max_bytes", &max_bytes},
                                     {"skip_ports", &skip_ports},
                                     {"remember_silent_s", &remember},
                                     {"max_wait_ms", &max_wait},
                                     {NULL, NULL}};
    if (policy_yaml_map_keys(c, node, "sniff", keys) < 0)
        return -1;
    struct policy_settings *s = &c->p->settings;
    const struct number_key remember_key = {"remember_silent_s", &s->sniff_remember_silent_s, 0,
                                            86400},
                            timeout_key = {"timeout_ms", &s->sniff_timeout_ms, 0, 60000},
                            max_wait_key = {"max_wait_ms", &s->sniff_max_wait_ms, 0, 600000};
    if ((skip_ports && load_skip_ports(c, skip_ports) < 0) ||
        load_number(c, remember, "sniff", &remember_key) < 0 ||
        load_number(c, timeout, "sniff", &timeout_key) < 0 ||
        load_number(c, max_wait, "sniff", &max_wait_key) < 0)
        return -1;
    if (max_bytes) {
        uint64_t v;
        if (policy_yaml_uint(c, max_bytes, "sniff.max_bytes", 1 << 20, &v) < 0)
            return -1;
        if (v < 512)
            return policy_yaml_fail(c, max_bytes, "sniff.max_bytes must be at least 512");
        s->sniff_max_bytes = (size_t)v;
    }
    if (protocols) {
        if (policy_yaml_empty_list(protocols)) {
            s->sniff_protocols = 0; /* an empty list turns sniffing off */
            return 0;
        }
        int n = policy_yaml_values_count(c, protocols, "sniff.protocols");
        if (n < 0)
            return -1;
        s->sniff_protocols = 0;
        for (int i = 0; i < n; i++) {
            unsigned p;
            yaml_node_t *item = policy_yaml_values_item(c, protocols, i);
            if (policy_yaml_word(c, item, "sniff protocol", protocol_words, &p) < 0)
                return -1;
            if (p < SNIFF_PROTO_TLS)
                return policy_yaml_fail(c, item, "sniff.protocols takes tls, http, quic and dns");
            s->sniff_protocols |= SNIFF_PROTO_BIT(p);
        }
    }
    return 0;
}

static int load_numbers(struct load_ctx *c, yaml_node_t *node, const char *what,
                        const struct number_key *table, size_t n)
{
    yaml_node_t *values[8];
    struct policy_yaml_key keys[9];
    for (size_t i = 0; i < n; i++)
        keys[i] = (struct policy_yaml_key){table[i].name, &values[i]};
    keys[n] = (struct policy_yaml_key){NULL, NULL};
    if (policy_yaml_map_keys(c, node, what, keys) < 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (load_number(c, values[i], what, &table[i]) < 0)
            return -1;
    return 0;
}

static int load_timeouts(struct load_ctx *c, yaml_node_t *node)
{
    struct policy_settings *s = &c->p->settings;
    const struct number_key table[] = {
        {"connect_ms", &s->connect_timeout_ms, 100, 600000},
        {"tcp_idle_s", &s->tcp_idle_s, 1, 86400 * 7},
        {"udp_idle_s", &s->udp_idle_s, 1, 86400},
        {"udp_dns_idle_s", &s->udp_dns_idle_s, 1, 86400},
    };
    return load_numbers(c, node, "timeouts", table, ARRAY_LEN(table));
}

static int load_limits(struct load_ctx *c, yaml_node_t *node)
{
    struct policy_settings *s = &c->p->settings;
    const struct number_key table[] = {
        {"max_flows", &s->max_flows, 0, 10000000},
        {"udp_sessions", &s->udp_max_sessions, 1, 10000000},
        {"max_handshakes", &s->max_handshakes, 0, 10000000},
        {"udp_queue_bytes", &s->udp_queue_bytes, 65536, 1u << 30},
    };
    return load_numbers(c, node, "limits", table, ARRAY_LEN(table));
}

/*
 * user: and group: name accounts of this host, looked up now so that `check`
 * names an account that does not exist; the switch itself is the engine's
 * (engine/core/privilege.h).
 */
static int load_user(struct load_ctx *c, yaml_node_t *user, yaml_node_t *group)
{
    struct policy_settings *s = &c->p->settings;
    if (group && !user)
        return policy_yaml_fail(c, group, "group needs user (the account to run as)");
    if (!(s->user = load_name(c, user, "user")))
        return -1;
    errno = 0;
    const struct passwd *pw = getpwnam(s->user);
    if (!pw)
        return policy_yaml_fail(c, user, "unknown user '%s'%s%s", s->user, errno ? ": " : "",
                                errno ? strerror(errno) : "");
    s->uid = pw->pw_uid;
    s->gid = pw->pw_gid;
    if (!group)
        return 0;
    if (!(s->group = load_name(c, group, "group")))
        return -1;
    errno = 0;
    const struct group *gr = getgrnam(s->group);
    if (!gr)
        return policy_yaml_fail(c, group, "unknown group '%s'%s%s", s->group, errno ? ": " : "",
                                errno ? strerror(errno) : "");
    s->gid = gr->gr_gid;
    return 0;
}

/* The control listener when `control` names no address: loopback only. */
#define CONTROL_DEFAULT_LISTEN "127.0.0.1:9090"

/* "unix:/path" into an AF_UNIX address. */
static int parse_unix_endpoint(struct load_ctx *c, yaml_node_t *node, const char *path,
                               struct policy_settings *s)
{
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    if (!path[0] || strlen(path) >= sizeof(un.sun_path))
        return policy_yaml_fail(c, node,
                                "control.listen 'unix:%s': the path must be 1 to %zu bytes", path,
                                sizeof(un.sun_path) - 1);
    memcpy(un.sun_path, path, strlen(path) + 1);
    memcpy(&s->control_listen, &un, sizeof(un));
    s->control_listen_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path) + 1);
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_UNIX)
        return true;
    struct flow_addr a;
    flow_addr_from_sockaddr(&a, (const struct sockaddr *)ss);
    static const uint8_t v6_loopback[16] = {[15] = 1};
    if (a.family == AF_INET)
        return a.ip[0] == 127;
    return memcmp(a.ip, v6_loopback, 16) == 0;
}

static int load_control(struct load_ctx *c, yaml_node_t *node)
{
    yaml_node_t *listen, *secret;
    struct policy_yaml_key keys[] = {{"listen", &listen}, {"secret", &secret}, {NULL, NULL}};
    if (policy_yaml_map_keys(c, node, "control", keys) < 0)
        return -1;
    struct policy_settings *s = &c->p->settings;
    s->control_on = true;
    if (secret) {
        const char *v = policy_yaml_scalar(c, secret, "control.secret");
        if (!v)
            return -1;
        if (!v[0] || strlen(v) > 255)
            return policy_yaml_fail(c, secret, "control.secret must be 1 to 255 bytes");
        if (!(s->control_secret = policy_keep_string(c->p, v)))
            return policy_yaml_fail(c, secret, "out of memory");
    }
    const char *l = listen ? policy_yaml_scalar(c, listen, "control.listen") : NULL;
    if (listen && !l)
        return -1;
    if (l && strncmp(l, "unix:", 5) == 0) {
        if (parse_unix_endpoint(c, listen, l + 5, s) < 0)
            return -1;
    } else if (listen) {
        if (parse_endpoint(c, listen, "control.listen", &s->control_listen,
                           &s->control_listen_len) < 0)
            return -1;
    } else {
        struct flow_addr a;
        flow_addr_parse(&a, CONTROL_DEFAULT_LISTEN);
        s->control_listen_len = flow_addr_to_sockaddr(&a, &s->control_listen);
    }
    if (!s->control_secret && !is_loopback(&s->control_listen))
        policy_yaml_warn(c, listen,
                         "control.listen '%s' is not a loopback address and control has no "
                         "secret: anyone who reaches it can read the flows and reload",
                         l);
    return 0;
}

/* --- inbounds and outbounds ------------------------------------------------------- */

/* The networks each inbound type carries unless `network` says otherwise (tproxy only). */
static const unsigned inbound_networks[] = {
    [INBOUND_REDIRECT] = POLICY_TCP,     [INBOUND_TPROXY] = POLICY_TCP,
    [INBOUND_UDP_REDIRECT] = POLICY_UDP, [INBOUND_HTTP] = POLICY_TCP,
    [INBOUND_SOCKS5] = POLICY_TCP,       [INBOUND_TUN] = POLICY_TCP | POLICY_UDP,
};

/*
 * An inbound's username or password: 1 to 255 bytes, as RFC 1929 carries
 * them (and kept to the same bound for HTTP Basic); NULL after an error.
 */
static const char *load_credential(struct load_ctx *c, yaml_node_t *node, const char *what)
{
    const char *s = policy_yaml_scalar(c, node, what);
    if (!s)
        return NULL;
    if (strlen(s) == 0 || strlen(s) > 255) {
        policy_yaml_fail(c, node, "%s must be 1 to 255 bytes", what);
        return NULL;
    }
    const char *kept = policy_keep_string(c->p, s);
    if (!kept)
        policy_yaml_fail(c, node, "out of memory");
    return kept;
}

/* Whether the inbound listens on a loopback address only (127.0.0.0/8, ::1). */
static bool listen_is_loopback(const struct policy_inbound *in)
{
    static const uint8_t v6_loopback[16] = {[15] = 1};
    struct flow_addr a;
    if (!flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen))
        return false;
    if (a.family == AF_INET)
        return a.ip[0] == 127;
    return memcmp(a.ip, v6_loopback, sizeof(v6_loopback)) == 0;
}

/* An explicit proxy without credentials that others can reach: `check` says so. */
static void warn_open_proxy(struct load_ctx *c, yaml_node_t *listen,
                            const struct policy_inbound *in)
{
    char where[FLOW_ADDR_TEXT_MAX];
    struct flow_addr a;
    flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen);
    policy_yaml_warn(c, listen,
                     "%s inbound '%s' listens on %s without username and password: anyone who "
                     "reaches it can use it as a proxy (add credentials or listen on loopback)",
                     policy_inbound_type_name(in->type), in->name, flow_addr_format(&a, where));
}

static int load_inbound(struct load_ctx *c, yaml_node_t *node, struct policy_inbound *in)
{
    yaml_node_t *name, *type, *listen, *network, *user, *pass;
    struct policy_tun_keys tun;
    struct policy_yaml_key keys[] = {
        {"name", &name},         {"type", &type},           {"listen", &listen},
        {"network", &network},   {"username", &user},       {"password", &pass},
        {"device", &tun.device}, {"address", &tun.address}, {"address6", &tun.address6},
        {"mtu", &tun.mtu},       {"icmp", &tun.icmp},       {NULL, NULL}};
    if (policy_yaml_map_keys(c, node, "an inbound", keys) < 0)
        return -1;
    if (!name || !type || !listen)
        return policy_yaml_fail(c, node, "an inbound needs 'name', 'type' and 'listen'");
    if (!(in->name = load_name(c, name, "inbound name")))
        return -1;
    for (size_t i = 0; i < c->p->n_inbounds; i++)
        if (strcmp(c->p->inbounds[i].name, in->name) == 0)
            return policy_yaml_fail(c, name, "inbound '%s' is defined twice (first at line %d)",
                                    in->name, c->p->inbounds[i].line);
    unsigned t;
    if (policy_yaml_word(c, type, "inbound type", policy_inbound_type_words, &t) < 0)
        return -1;
    in->type = (enum inbound_type)t;
    in->networks = inbound_networks[t];
    in->line = policy_yaml_line(node);
    if (parse_endpoint(c, listen, "listen", &in->listen, &in->listen_len) < 0)
        return -1;
    if (network) {
        if (policy_parse_networks(c, network, "network", &in->networks) < 0)
            return -1;
        if (in->type != INBOUND_TPROXY && in->type != INBOUND_TUN &&
            in->networks != inbound_networks[t])
            return policy_yaml_fail(c, network, "a %s inbound carries %s only",
                                    policy_inbound_type_name(in->type),
                                    policy_networks_name(inbound_networks[t]));
    }
    bool explicit_proxy = in->type == INBOUND_SOCKS5 || in->type == INBOUND_HTTP;
    if ((user || pass) && !explicit_proxy)
        return policy_yaml_fail(c, user ? user : pass,
                                "username and password apply to socks5 and http inbounds");
    if (pass && !user)
        return policy_yaml_fail(c, pass, "a password needs a username");
    if (user && !pass)
        return policy_yaml_fail(c, user, "a username needs a password");
    if (user && (!(in->username = load_credential(c, user, "username")) ||
                 !(in->password = load_credential(c, pass, "password"))))
        return -1;
    if (explicit_proxy && !user && !listen_is_loopback(in))
        warn_open_proxy(c, listen, in);
    tun.listen = listen;
    if (in->type == INBOUND_TUN)
        return policy_load_tun(c, node, &tun, in);
    yaml_node_t *extra = tun.device     ? tun.device
                         : tun.address  ? tun.address
                         : tun.address6 ? tun.address6
                         : tun.mtu      ? tun.mtu
                                        : tun.icmp;
    if (extra)
        return policy_yaml_fail(c, extra,
                                "device, address, address6, mtu and icmp apply to tun "
                                "inbounds");
    return 0;
}

static int load_outbound(struct load_ctx *c, yaml_node_t *node, struct policy_outbound *o)
{
    yaml_node_t *name, *type, *server, *user, *pass, *udp, *send_hostname;
    struct policy_yaml_key keys[] = {{"name", &name},
                                     {"type", &type},
                                     {"server", &server},
                                     {"username", &user},
                                     {"password", &pass},
                                     {"udp", &udp},
                                     {"send_hostname", &send_hostname},
                                     {NULL, NULL}};
    if (policy_yaml_map_keys(c, node, "an outbound", keys) < 0)
        return -1;
    if (!name || !type)
        return policy_yaml_fail(c, node, "an outbound needs 'name' and 'type'");
    if (!(o->name = load_name(c, name, "outbound name")))
        return -1;
    for (size_t i = 0; i < c->p->n_outbounds; i++)
        if (strcmp(c->p->outbounds[i].name, o->name) == 0)
            return c->p->outbounds[i].line
                       ? policy_yaml_fail(c, name,
                                          "outbound '%s' is defined twice (first at line %d)",
                                          o->name, c->p->outbounds[i].line)
                       : policy_yaml_fail(c, name, "'%s' is built in and cannot be redefined",
                                          o->name);
    unsigned t;
    if (policy_yaml_word(c, type, "outbound type", policy_outbound_type_words, &t) < 0)
        return -1;
    o->type = (enum outbound_type)t;
    o->line = policy_yaml_line(node);
    bool proxy = o->type == OUTBOUND_SOCKS5 || o->type == OUTBOUND_HTTP;
    if (proxy && !server)
        return policy_yaml_fail(c, node, "a %s outbound needs 'server'",
                                policy_outbound_type_name(o->type));
    yaml_node_t *extra = server ? server : user ? user : pass ? pass : udp ? udp : send_hostname;
    if (!proxy && extra)
        return policy_yaml_fail(c, extra, "a %s outbound takes only 'name' and 'type'",
                                policy_outbound_type_name(o->type));
    if (server && parse_endpoint(c, server, "server", &o->server, &o->server_len) < 0)
        return -1;
    if (pass && !user)
        return policy_yaml_fail(c, pass, "a password needs a username");
    if (user) {
        const char *u = policy_yaml_scalar(c, user, "username");
        const char *pw = pass ? policy_yaml_scalar(c, pass, "password") : "";
        if (!u || !pw)
            return -1;
        if (strlen(u) == 0 || strlen(u) > 255 || strlen(pw) > 255)
            return policy_yaml_fail(c, user, "username and password must be 1 to 255 bytes");
        o->username = policy_keep_string(c->p, u);
        o->password = policy_keep_string(c->p, pw);
        if (!o->username || !o->password)
            return policy_yaml_fail(c, user, "out of memory");
    }
    if (udp && o->type != OUTBOUND_SOCKS5)
        return policy_yaml_fail(c, udp, "'udp' applies to socks5 outbounds");
    if (udp && policy_yaml_bool(c, udp, "udp", &o->udp) < 0)
        return -1;
    if (send_hostname && policy_yaml_bool(c, send_hostname, "send_hostname", &o->send_hostname) < 0)
        return -1;
    return 0;
}

static int load_list(struct load_ctx *c, yaml_node_t *node, const char *what, bool inbound)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return policy_yaml_fail(c, node, "%s must be a list", what);
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    struct policy *p = c->p;
    if (inbound) {
        p->inbounds = calloc(n ? n : 1, sizeof(*p->inbounds));
        if (!p->inbounds)
            return policy_yaml_fail(c, node, "out of memory");
    } else {
        struct policy_outbound *o = realloc(p->outbounds, (2 + n) * sizeof(*o));
        if (!o)
            return policy_yaml_fail(c, node, "out of memory");
        memset(o + 2, 0, n * sizeof(*o));
        p->outbounds = o;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_node(c, node->data.sequence.items.start[i]);
        if (inbound ? load_inbound(c, item, &p->inbounds[p->n_inbounds]) < 0
                    : load_outbound(c, item, &p->outbounds[p->n_outbounds]) < 0)
            return -1;
        if (inbound)
            p->n_inbounds++;
        else
            p->n_outbounds++;
    }
    return 0;
}

/* --- sets ------------------------------------------------------------------------- */

/*
 * Adds the entries of the list file `node` names (relative to the policy's
 * folder) to `set`: addresses when `cidr`, else domain-list lines. Blank
 * lines and '#' comments are skipped (after an address, too). A bad line is
 * an error about the list file itself: "FILE:LINE:1: message".
 */
static int load_set_file(struct load_ctx *c, yaml_node_t *node, struct policy_set *set, bool cidr)
{
    const char *rel = policy_yaml_scalar(c, node, cidr ? "cidr_file" : "domain_file");
    if (!rel)
        return -1;
    char *path = resolve_path(c, rel);
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) {
        int rc =
            policy_yaml_fail(c, node, "cannot read '%s': %s", path ? path : rel, strerror(errno));
        free(path);
        return rc;
    }
    char line[1024], why[512];
    int lineno = 0, rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = line;
        while (isspace((unsigned char)*s))
            s++;
        size_t len = strlen(s);
        while (len > 0 && isspace((unsigned char)s[len - 1]))
            s[--len] = '\0';
        if (len == 0 || s[0] == '#')
            continue;
        if (cidr) {
            char *hash = strchr(s, '#');
            if (hash) {
                *hash = '\0';
                while (hash > s && isspace((unsigned char)hash[-1]))
                    *--hash = '\0';
            }
            const char *reason;
            if (cidr_set_add(set->cidr, s, &reason) < 0)
                rc = policy_yaml_fail_at(c, path, lineno, 1, "'%s': %s", s, reason);
        } else if (domain_set_add_line(set->domains, s, why, sizeof(why)) < 0) {
            rc = policy_yaml_fail_at(c, path, lineno, 1, "%s", why);
        }
    }
    fclose(f);
    free(path);
    return rc;
}

static int load_set(struct load_ctx *c, yaml_node_t *name_node, yaml_node_t *node,
                    struct policy_set *set)
{
    yaml_node_t *cidr, *cidr_file, *domain, *domain_file;
    struct policy_yaml_key keys[] = {{"cidr", &cidr},
                                     {"cidr_file", &cidr_file},
                                     {"domain", &domain},
                                     {"domain_file", &domain_file},
                                     {NULL, NULL}};
    const char *name = policy_yaml_scalar(c, name_node, "a set name");
    if (!name || policy_yaml_map_keys(c, node, "a set", keys) < 0)
        return -1;
    if (!(set->name = policy_keep_string(c->p, name)))
        return policy_yaml_fail(c, name_node, "out of memory");
    set->line = policy_yaml_line(name_node);
    bool is_cidr = cidr || cidr_file, is_domain = domain || domain_file;
    if (is_cidr == is_domain)
        return policy_yaml_fail(c, node,
                                is_cidr ? "set '%s' mixes addresses and domains"
                                        : "set '%s' needs cidr, cidr_file, domain or domain_file",
                                name);
    if (is_cidr) {
        if (!(set->cidr = cidr_set_new()))
            return policy_yaml_fail(c, node, "out of memory");
        int n = cidr ? policy_yaml_values_count(c, cidr, "cidr") : 0;
        if (n < 0)
            return -1;
        for (int i = 0; i < n; i++) {
            yaml_node_t *item = policy_yaml_values_item(c, cidr, i);
            const char *reason, *s = policy_yaml_scalar(c, item, "cidr");
            if (cidr_set_add(set->cidr, s, &reason) < 0)
                return policy_yaml_fail(c, item, "'%s': %s", s, reason);
        }
        if (cidr_file && load_set_file(c, cidr_file, set, true) < 0)
            return -1;
        if (cidr_set_freeze(set->cidr) < 0)
            return policy_yaml_fail(c, node, "out of memory");
        return 0;
    }
    if (!(set->domains = domain_set_new()))
        return policy_yaml_fail(c, node, "out of memory");
    char why[512];
    int n = domain ? policy_yaml_values_count(c, domain, "domain") : 0;
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        yaml_node_t *item = policy_yaml_values_item(c, domain, i);
        if (domain_set_add_line(set->domains, policy_yaml_scalar(c, item, "domain"), why,
                                sizeof(why)) < 0)
            return policy_yaml_fail(c, item, "%s", why);
    }
    if (domain_file && load_set_file(c, domain_file, set, false) < 0)
        return -1;
    if (domain_set_freeze(set->domains, why, sizeof(why)) < 0)
        return policy_yaml_fail(c, node, "%s", why);
    return 0;
}

static int load_sets(struct load_ctx *c, yaml_node_t *node)
{
    if (node->type != YAML_MAPPING_NODE)
        return policy_yaml_fail(c, node, "sets must be a map of set names");
    size_t n = (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    struct policy *p = c->p;
    p->sets = calloc(n ? n : 1, sizeof(*p->sets));
    if (!p->sets)
        return policy_yaml_fail(c, node, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *pair = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = policy_yaml_node(c, pair->key);
        for (size_t j = 0; j < p->n_sets; j++)
            if (key->type == YAML_SCALAR_NODE &&
                strcmp(p->sets[j].name, (const char *)key->data.scalar.value) == 0)
                return policy_yaml_fail(c, key, "set '%s' is defined twice (first at line %d)",
                                        p->sets[j].name, p->sets[j].line);
        int rc = load_set(c, key, policy_yaml_node(c, pair->value), &p->sets[p->n_sets]);
        p->n_sets++; /* counted even on failure, so destroy frees what it holds */
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* --- the file ------------------------------------------------------------------------ */

/* fast_path: static (the default), off or dynamic. */
static int load_fast_path(struct load_ctx *c, yaml_node_t *node)
{
    static const char *const words[] = {"static", "off", "dynamic", NULL};
    unsigned v;
    if (policy_yaml_word(c, node, "fast_path", words, &v) < 0)
        return -1;
    static const enum policy_fast_path modes[] = {POLICY_FAST_PATH_STATIC, POLICY_FAST_PATH_OFF,
                                                  POLICY_FAST_PATH_DYNAMIC};
    c->p->settings.fast_path = modes[v];
    return 0;
}

/* fast_path_mask: the bits of the marks the fast path may use, three or more adjacent ones. */
static int load_fast_path_mask(struct load_ctx *c, yaml_node_t *node)
{
    uint64_t v;
    if (policy_yaml_uint(c, node, "fast_path_mask", UINT32_MAX, &v) < 0)
        return -1;
    uint32_t mask = (uint32_t)v;
    uint32_t field = mask ? mask >> __builtin_ctz(mask) : 0;
    if (field < 7 || (field & (field + 1)) != 0)
        return policy_yaml_fail(c, node,
                                "fast_path_mask 0x%x must be three or more adjacent bits, e.g. "
                                "0x%x",
                                (unsigned)mask, POLICY_FAST_MASK_DEFAULT);
    c->p->settings.fast_path_mask = mask;
    return 0;
}

/*
 * routing_mark: VALUE or VALUE/MASK (rules/mark.h), the mark of switchyard's
 * own sockets, which no fast-path mark may look like.
 */
static int load_routing_mark(struct load_ctx *c, yaml_node_t *node)
{
    const char *text = policy_yaml_scalar(c, node, "routing_mark");
    if (!text)
        return -1;
    struct mark m;
    if (!mark_parse(text, &m))
        return policy_yaml_fail(c, node,
                                "routing_mark must be VALUE or VALUE/MASK (whole numbers up to "
                                "0xffffffff, the value within the mask), not '%s'",
                                text);
    uint32_t mask = c->p->settings.fast_path_mask;
    for (enum policy_fast_mark f = POLICY_FAST_MARK_OFFER; f <= POLICY_FAST_MARK_REJECT; f++)
        if (mark_matches(policy_fast_mark(mask, f), m.value))
            return policy_yaml_fail(c, node,
                                    "routing_mark 0x%x carries a fast-path mark in its bits 0x%x "
                                    "(fast_path_mask); pick a mark with none, or all, of them set",
                                    m.value, mask);
    c->p->settings.routing_mark = m.value;
    c->p->settings.routing_mark_mask = m.mask;
    return 0;
}

static void settings_defaults(struct policy_settings *s)
{
    *s = (struct policy_settings){
        .log_level = LOG_LEVEL_INFO,
        .log_flows = true,
        .log_format = LOG_FORMAT_TEXT,
        .log_target = LOG_TARGET_STDERR,
        .routing_mark = 0xff,
        .routing_mark_mask = MARK_WHOLE,
        .sniff_timeout_ms = 250,
        .sniff_protocols = SNIFF_PROTO_ALL,
        .sniff_max_bytes = 65536,
        .sniff_remember_silent_s = 600,
        .sniff_max_wait_ms = 10000,
        .connect_timeout_ms = 10000,
        .tcp_idle_s = 600,
        .udp_idle_s = 60,
        .udp_dns_idle_s = 10,
        .max_flows = 0,
        .udp_max_sessions = 4096,
        .max_handshakes = 0,
        .udp_queue_bytes = 16u << 20,
        .fast_path = POLICY_FAST_PATH_STATIC,
        .fast_path_mask = POLICY_FAST_MASK_DEFAULT,
    };
}

static int builtin_outbounds(struct policy *p)
{
    p->outbounds = calloc(2, sizeof(*p->outbounds));
    if (!p->outbounds)
        return -1;
    p->outbounds[0] = (struct policy_outbound){.name = "direct", .type = OUTBOUND_DIRECT};
    p->outbounds[1] = (struct policy_outbound){.name = "drop", .type = OUTBOUND_DROP};
    p->n_outbounds = 2;
    p->default_outbound = &p->outbounds[0];
    return 0;
}

static int load_document(struct load_ctx *c)
{
    yaml_node_t *root = yaml_document_get_root_node(&c->doc);
    if (!root)
        return policy_yaml_fail(c, NULL, "the file is empty");
    yaml_node_t *log, *mark, *geoip, *sniff, *timeouts, *limits, *user, *group, *inbounds,
        *outbounds, *sets, *rules, *dflt, *control, *fast, *fast_mask, *workers;
    struct policy_yaml_key keys[] = {{"log", &log},           {"routing_mark", &mark},
                                     {"geoip", &geoip},       {"sniff", &sniff},
                                     {"timeouts", &timeouts}, {"limits", &limits},
                                     {"user", &user},         {"group", &group},
                                     {"inbounds", &inbounds}, {"outbounds", &outbounds},
                                     {"sets", &sets},         {"rules", &rules},
                                     {"default", &dflt},      {"control", &control},
                                     {"fast_path", &fast},    {"fast_path_mask", &fast_mask},
                                     {"workers", &workers},   {NULL, NULL}};
    if (policy_yaml_map_keys(c, root, "the policy", keys) < 0)
        return -1;
    if ((fast_mask && load_fast_path_mask(c, fast_mask) < 0) ||
        (mark && load_routing_mark(c, mark) < 0))
        return -1;
    uint64_t v;
    if (workers) {
        if (policy_yaml_uint(c, workers, "workers", POLICY_WORKERS_MAX, &v) < 0)
            return -1;
        if (v < 1)
            return policy_yaml_fail(c, workers, "workers must be at least 1");
        c->p->settings.workers = (unsigned)v;
    }
    if ((log && load_log(c, log) < 0) || (fast && load_fast_path(c, fast) < 0) ||
        (geoip && load_geoip(c, geoip) < 0) || (sniff && load_sniff(c, sniff) < 0) ||
        (timeouts && load_timeouts(c, timeouts) < 0) || (limits && load_limits(c, limits) < 0) ||
        ((user || group) && load_user(c, user, group) < 0) ||
        (control && load_control(c, control) < 0) ||
        (inbounds && load_list(c, inbounds, "inbounds", true) < 0) ||
        (outbounds && load_list(c, outbounds, "outbounds", false) < 0))
        return -1;
    if (sets && load_sets(c, sets) < 0)
        return -1;
    return policy_load_rules(c, rules, dflt);
}

/* Parses the YAML text into c->doc; a syntax error is reported with its position. */
static int parse_yaml(struct load_ctx *c, const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    int ok = yaml_parser_load(&parser, &c->doc);
    if (!ok) {
        yaml_mark_t m = parser.problem_mark;
        policy_yaml_fail_at(c, c->file, (int)m.line + 1, (int)m.column + 1,
                            "YAML syntax error: %s%s%s",
                            parser.problem ? parser.problem : "unreadable",
                            parser.context ? " " : "", parser.context ? parser.context : "");
    }
    yaml_parser_delete(&parser);
    return ok ? 0 : -1;
}

struct policy *policy_load_buffer(const char *path, const char *data, size_t len,
                                  char error[POLICY_ERROR_MAX])
{
    struct policy *p = calloc(1, sizeof(*p));
    char *dir_copy = strdup(path);
    struct load_ctx c = {.file = path, .p = p, .error = error};
    error[0] = '\0';
    if (!p || !dir_copy || !(p->path = strdup(path)) || builtin_outbounds(p) < 0) {
        policy_yaml_fail(&c, NULL, "out of memory");
        free(dir_copy);
        policy_destroy(p);
        return NULL;
    }
    c.dir = dirname(dir_copy);
    p->refs = 1;
    settings_defaults(&p->settings);
    for (size_t i = 0; i < ARRAY_LEN(default_skip_ports); i++)
        skip_port_range(p, default_skip_ports[i], default_skip_ports[i]);
    if (parse_yaml(&c, data, len) < 0) {
        free(dir_copy);
        policy_destroy(p);
        return NULL;
    }
    int rc = load_document(&c);
    yaml_document_delete(&c.doc);
    free(dir_copy);
    if (rc < 0) {
        policy_destroy(p);
        return NULL;
    }
    return p;
}

struct policy *policy_load(const char *path, char error[POLICY_ERROR_MAX])
{
    struct load_ctx c = {.file = path, .error = error};
    FILE *f = fopen(path, "r");
    if (!f) {
        policy_yaml_fail(&c, NULL, "cannot read: %s", strerror(errno));
        return NULL;
    }
    char *data = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[65536];
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (len + n > cap) {
            cap = (len + n) * 2;
            char *d = realloc(data, cap);
            if (!d) {
                free(data);
                fclose(f);
                policy_yaml_fail(&c, NULL, "out of memory");
                return NULL;
            }
            data = d;
        }
        memcpy(data + len, chunk, n);
        len += n;
    }
    fclose(f);
    struct policy *p = policy_load_buffer(path, data ? data : "", len, error);
    free(data);
    return p;
}
