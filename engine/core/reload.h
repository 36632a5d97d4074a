/*
 * reload.h — SIGHUP: load the policy file again and swap it in without
 * touching established flows.
 *
 * A file that does not load keeps the current policy (one error line says
 * why). A file that loads becomes the current policy at once: flows decided
 * earlier keep the policy they hold; UDP sessions are decided again (those
 * still classifying are decided under the new policy); listeners still
 * configured stay open with their queues; new or changed ones are opened,
 * removed ones closed (engine_sync()). The old policy stays alive until
 * that reconcile is done. The other workers (engine/core/workers.h) are
 * handed the new policy once worker 0's listeners follow it, and do the
 * same on their own threads.
 *
 * When the reconcile cannot run at all (out of memory before it changed
 * anything), the old policy is made current again and the reload counts as
 * failed. When some inbounds cannot be opened (an address in use), the new
 * policy stays: every other listener follows it, those inbounds are not
 * listening (one error line each; their old listeners, if they moved, are
 * closed) until a later reload opens them, and the reload's line says
 * "some could not open".
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

/* The same, writing why the old policy was kept into `error` ("" when it was not). */
struct policy *reload_policy_why(struct engine *e, char error[POLICY_ERROR_MAX]);

#endif
