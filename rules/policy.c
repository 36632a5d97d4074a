/*
 * policy.c — the compiled policy's lifecycle (references, freeing) and its
 * read-only accessors and summary. Loading is in policy_load.c and
 * policy_rules.c, decisions in policy_decide.c.
 */
#include <stdlib.h>
#include <string.h>

#include "rules/mark.h"
#include "rules/policy_internal.h"

char *policy_keep_string(struct policy *p, const char *s)
{
    if (!s)
        return NULL;
    char **list = realloc(p->strings, (p->n_strings + 1) * sizeof(*list));
    if (!list)
        return NULL;
    p->strings = list;
    if (!(list[p->n_strings] = strdup(s)))
        return NULL;
    return list[p->n_strings++];
}

static void clause_free(struct clause *cl);

static void cond_free(struct cond *k)
{
    switch (k->kind) {
    case COND_INBOUND:
        free(k->u.inbound.names);
        break;
    case COND_SRC:
    case COND_DST:
        cidr_set_free(k->u.cidr);
        break;
    case COND_SRC_PORT:
    case COND_DST_PORT:
        free(k->u.ports.r);
        break;
    case COND_GEOIP:
        free(k->u.geoip.codes);
        break;
    case COND_DOMAINS:
        domain_set_free(k->u.domains);
        break;
    case COND_NOT:
        clause_free(&k->u.sub);
        break;
    case COND_ANY:
        for (size_t i = 0; i < k->u.any.n; i++)
            clause_free(&k->u.any.c[i]);
        free(k->u.any.c);
        break;
    default:
        break;
    }
}

static void clause_free(struct clause *cl)
{
    /* The condition that failed to compile is counted too: its fields are freeable. */
    for (size_t i = 0; i < cl->n; i++)
        cond_free(&cl->conds[i]);
    free(cl->conds);
}

void policy_destroy(struct policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n_rules; i++)
        clause_free(&p->rules[i].when);
    free(p->rules);
    for (size_t i = 0; i < p->n_sets; i++) {
        cidr_set_free(p->sets[i].cidr);
        domain_set_free(p->sets[i].domains);
    }
    free(p->sets);
    free(p->inbounds);
    free(p->outbounds);
    geoip_close(p->geoip);
    free(p->geoip_path);
    for (size_t i = 0; i < p->n_warnings; i++)
        free(p->warnings[i]);
    free(p->warnings);
    for (size_t i = 0; i < p->n_strings; i++)
        free(p->strings[i]);
    free(p->strings);
    policy_index_free(p);
    policy_names_free(p->names);
    free(p->path);
    free(p);
}

struct policy *policy_ref(struct policy *policy)
{
    policy->refs++;
    return policy;
}

void policy_unref(struct policy *policy)
{
    if (policy && --policy->refs == 0)
        policy_destroy(policy);
}

const char *policy_path(const struct policy *policy)
{
    return policy->path;
}

const struct policy_settings *policy_settings(const struct policy *policy)
{
    return &policy->settings;
}

bool policy_sniff_skips_port(const struct policy *policy, uint16_t port)
{
    return policy->sniff_skip_ports[port / 64] >> (port % 64) & 1;
}

size_t policy_inbound_count(const struct policy *policy)
{
    return policy->n_inbounds;
}

const struct policy_inbound *policy_inbound(const struct policy *policy, size_t index)
{
    return index < policy->n_inbounds ? &policy->inbounds[index] : NULL;
}

size_t policy_rule_count(const struct policy *policy)
{
    return policy->n_rules;
}

const struct policy_outbound *policy_rule_outbound(const struct policy *policy, size_t index,
                                                   int *line)
{
    *line = policy->rules[index].line;
    return policy->rules[index].outbound;
}

const struct policy_outbound *policy_default_outbound(const struct policy *policy)
{
    return policy->default_outbound;
}

size_t policy_outbound_count(const struct policy *policy)
{
    return policy->n_outbounds;
}

const struct policy_outbound *policy_outbound(const struct policy *policy, size_t index)
{
    return index < policy->n_outbounds ? &policy->outbounds[index] : NULL;
}

const struct policy_outbound *policy_outbound_by_name(const struct policy *policy, const char *name)
{
    for (size_t i = 0; i < policy->n_outbounds; i++)
        if (strcmp(policy->outbounds[i].name, name) == 0)
            return &policy->outbounds[i];
    return NULL;
}

size_t policy_warning_count(const struct policy *policy)
{
    return policy->n_warnings;
}

const char *policy_warning(const struct policy *policy, size_t index)
{
    return index < policy->n_warnings ? policy->warnings[index] : NULL;
}

void policy_print_summary(const struct policy *p, FILE *out)
{
    char addr[FLOW_ADDR_TEXT_MAX];
    struct flow_addr a;
    fprintf(out, "%s: ok\n", p->path);
    fprintf(out, "inbounds: %zu\n", p->n_inbounds);
    for (size_t i = 0; i < p->n_inbounds; i++) {
        const struct policy_inbound *in = &p->inbounds[i];
        flow_addr_from_sockaddr(&a, (const struct sockaddr *)&in->listen);
        fprintf(out, "  %s: %s on %s (%s)%s\n", in->name, policy_inbound_type_name(in->type),
                flow_addr_format(&a, addr), policy_networks_name(in->networks),
                in->username ? ", username" : "");
    }
    fprintf(out, "outbounds: %zu (direct and drop built in)\n", p->n_outbounds);
    for (size_t i = 2; i < p->n_outbounds; i++) {
        const struct policy_outbound *o = &p->outbounds[i];
        flow_addr_from_sockaddr(&a, (const struct sockaddr *)&o->server);
        fprintf(out, "  %s: %s via %s%s%s%s\n", o->name, policy_outbound_type_name(o->type),
                flow_addr_format(&a, addr), o->username ? ", username" : "", o->udp ? ", udp" : "",
                o->send_hostname ? ", send_hostname" : "");
    }
    fprintf(out, "sets: %zu\n", p->n_sets);
    for (size_t i = 0; i < p->n_sets; i++) {
        const struct policy_set *s = &p->sets[i];
        if (s->cidr)
            fprintf(out, "  %s: %zu cidr\n", s->name, cidr_set_count(s->cidr));
        else
            fprintf(out, "  %s: %zu full, %zu suffix, %zu keyword, %zu regex\n", s->name,
                    domain_set_count(s->domains, DOMAIN_FULL),
                    domain_set_count(s->domains, DOMAIN_SUFFIX),
                    domain_set_count(s->domains, DOMAIN_KEYWORD),
                    domain_set_count(s->domains, DOMAIN_REGEX));
    }
    fprintf(out, "rules: %zu, default: %s\n", p->n_rules, p->default_outbound->name);
    char mark[MARK_TEXT_MAX];
    fprintf(
        out, "log: %s, flows %s, %s to %s; routing_mark: %s\n",
        log_level_names[p->settings.log_level], p->settings.log_flows ? "on" : "off",
        log_format_names[p->settings.log_format], log_target_names[p->settings.log_target],
        mark_format((struct mark){p->settings.routing_mark, p->settings.routing_mark_mask}, mark));
    if (p->geoip)
        fprintf(out, "geoip: %s (%s)\n", p->geoip_path, geoip_database_type(p->geoip));
    if (p->settings.user)
        fprintf(out, "user: %s (uid %u), group: %s (gid %u)\n", p->settings.user,
                (unsigned)p->settings.uid, p->settings.group ? p->settings.group : "the user's own",
                (unsigned)p->settings.gid);
}
