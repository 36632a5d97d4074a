/*
 * udp_stage.h — the UDP engine (engine/udp/udp_engine.h) as a stage of the
 * core (engine/core/engine.h): its listeners follow the policy on sync, its
 * sessions are decided again when the policy changes, and it closes on
 * shutdown. The engine is always there, so a reload can add UDP inbounds.
 */
#ifndef SWITCHYARD_UDP_STAGE_H
#define SWITCHYARD_UDP_STAGE_H

struct engine;
struct udp_engine;

/* Creates the UDP engine and adds it to `e` as a stage. Returns 0, or -errno. */
int udp_stage_add(struct engine *e);

/* The UDP engine of `e` (for its counters), or NULL when it has no UDP stage. */
struct udp_engine *udp_stage_of(const struct engine *e);

#endif
