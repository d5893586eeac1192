/*
 * packages_api: GET/POST/DELETE /api/v2/packages (SPEC section 1,
 * "Packages") on the engine.
 *
 * Promises:
 * - The event loop never waits on the network or the disk for these: the
 *   index fetch, an install, and the deletion of an uninstalled tree each
 *   run in a forked child whose result comes back through a pipe watched by
 *   the loop. (The child dies with the engine; its leftovers are removed by
 *   install_cleanup at the next start.)
 * - After an install or uninstall, engine_rescan publishes the new
 *   runtimes before the response is sent: /api/v2/runtimes shows it at once.
 * - DELETE refuses (409) while a queued or running job uses the package.
 * - Leftovers of interrupted installs are removed when the routes are
 *   registered (engine start).
 */
#ifndef PISTON_PACKAGES_API_H
#define PISTON_PACKAGES_API_H

#include "engine.h"

void packages_register(engine *e);
/* Releases what packages_register allocated (after the HTTP server is gone). */
void packages_unregister(engine *e);

#endif
