/*
 * pkgwatch: packages put into (or removed from) DATA/packages while the engine runs -- by
 * `piston ppman --data`, an image build step, a copy from another host -- are used without a
 * restart.
 *
 * Promises:
 * - inotify watches DATA/packages and each language directory in it; a change there rescans the
 *   runtimes once, PKGWATCH_SETTLE_MS after the last event, so an install's staging, marker and
 *   rename become one rescan. An install is visible only once its .ppman-installed marker is in
 *   place (runtimes_scan's rule), so a half-copied package is never used.
 * - SIGHUP rescans at once (for file systems where inotify sees nothing, e.g. NFS).
 * - Without inotify (or when the watch cannot be made) the engine runs as before and says so.
 */
#ifndef PISTON_PKGWATCH_H
#define PISTON_PKGWATCH_H

#include "engine.h"

#define PKGWATCH_SETTLE_MS 200

typedef struct pkgwatch pkgwatch;

/* Start watching; NULL (logged) when it cannot. SIGHUP is handled either way. */
pkgwatch *pkgwatch_start(engine *e);
void pkgwatch_stop(pkgwatch *w);

#endif
