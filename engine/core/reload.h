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
 * Reloads the file the current policy came from. Returns the new policy, or
 * NULL when the old one was kept. The engine holds the loader's only
 * reference (engine_set_policy()), so the pointer is borrowed until the
 * next reload; policy_ref() adds a reference of the caller's own.
 */
struct policy *reload_policy(struct engine *e);

#endif
