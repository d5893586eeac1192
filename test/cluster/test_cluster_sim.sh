#!/usr/bin/env bash
# The cluster simulation (tools/cluster-sim.sh: 3+1 engines in network
# namespaces, 2 proxies, Redis, dnsmasq, 2000 requests with an engine killed,
# one added, a proxy and Redis restarted) as a suite of test/run: it takes
# about 40 s. Its last line is the "N passed, N failed" test/run reads.
exec "$(dirname "$0")/../../tools/cluster-sim.sh"
