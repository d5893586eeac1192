/*
 * engine: the shared context of `piston serve` (see engine.h).
 */
#include "engine.h"

#include "config.h"
#include "execute.h"
#include "log.h"

void engine_rescan(engine *e)
{
	runtime_set *rs = runtimes_scan(cfg.data_directory);
	if (!rs) {
		log_error("runtimes: rescan failed (out of memory); keeping the previous list");
		return;
	}
	/* Jobs that hold the old snapshot keep it alive through their own ref. */
	runtimes_unref(e->runtimes);
	e->runtimes = rs;
	execute_packages_changed(e);
	log_info("runtimes: %zu installed", runtimes_count(rs));
}
