/*
 * reload.h — SIGHUP: load the policy file again and swap it in without
 * touching established flows.
 *
 * A file that does not load keeps the current policy (one error line says
 * why). A file that loads becomes the current policy at once: flows decided
 * earlier keep the policy they hold; listeners still configured stay open
 * with their queues; new or changed ones are opened, removed ones closed
 * (each stage's `sync` hook, engine_sync()).
 */
#ifndef SWITCHYARD_RELOAD_H
#define SWITCHYARD_RELOAD_H

#include "engine/core/engine.h"

/*
 * Reloads the file the current policy came from. Returns the new policy
 * (borrowed from the engine: take policy_ref() to keep it), or NULL when the
 * old one was kept.
 */
struct policy *reload_policy(struct engine *e);

#endif
