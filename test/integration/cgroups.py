"""Where an engine's cgroups are, on either layout (for the tests' checks).

v1: /sys/fs/cgroup/<controller>/<engine's cgroup>/piston-PID in the memory,
pids and cpuacct hierarchies; v2: <engine's cgroup>/piston-PID once (the
engine may first have moved into a piston-engine-PID leaf of its own).
"""
import os

ROOT = "/sys/fs/cgroup"


def layout():
    """"v2" when /sys/fs/cgroup is the cgroup2 mount, else "v1"."""
    return "v2" if os.path.exists(os.path.join(ROOT, "cgroup.controllers")) else "v1"


def hierarchies():
    """How many piston-PID directories one engine makes: one per v1
    hierarchy it uses (memory, pids, cpuacct), one on v2."""
    if layout() == "v2":
        return 1
    return sum(1 for c in ("memory", "pids", "cpuacct") if os.path.isdir(os.path.join(ROOT, c)))


def _walk(match, depth):
    """Every directory under /sys/fs/cgroup, at most depth deep, whose name match() accepts."""
    found = []
    for root, dirs, _ in os.walk(ROOT):
        if root[len(ROOT):].count("/") >= depth:
            dirs[:] = []
            continue
        found.extend(os.path.join(root, d) for d in dirs if match(d))
    return sorted(found)


def find(name, depth=6):
    """Every directory called name under /sys/fs/cgroup, at most depth deep."""
    return _walk(lambda d: d == name, depth)


def engine_dirs(pid):
    """The engine's piston-PID directories (its slots' parents)."""
    return find("piston-%d" % pid)


def engine_leaves(pid):
    """v2: the piston-engine-PID leaf an engine moved into."""
    return find("piston-engine-%d" % pid)


def below(top):
    """Every cgroup directory below top."""
    found = []
    for root, dirs, _ in os.walk(top):
        found.extend(os.path.join(root, d) for d in dirs)
    return sorted(found)


def find_prefix(prefix, depth=6):
    """Every directory whose name starts with prefix, at most depth deep."""
    return _walk(lambda d: d.startswith(prefix), depth)


def holds_processes(path):
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            return f.read().strip() != ""
    except OSError:
        return False
