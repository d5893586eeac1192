"""deploy/kubernetes: every manifest parses, and the fields that matter agree
with each other, with the README and with the binary (Python standard
library only; no cluster needed).

The manifests are written in a YAML subset that the small reader below
accepts and nothing else: block mappings and sequences, plain and quoted
scalars, comments, `---` between documents, and `|`/`|-` literal blocks
(kustomize's inline patches). Anything beyond it (flow collections, anchors,
tags, tabs) is refused with the line number, so a manifest edited beyond
what this test can read fails here instead of being checked half.

Checked: each document's apiVersion/kind/name; the kustomization lists
every file; the image is piston:VERSION (the Makefile's) everywhere; ports,
named target ports and selectors line up; readiness and liveness probe
GET /healthz on the container's port, and liveness outlasts the shutdown
grace; the engine's capabilities equal the README's set (drop ALL, not
privileged); the headless Service's name is what the proxy's --upstream
dns:// resolves; the keys Secret exists, holds a keys file the proxy would
accept and is what the proxy's --keys names; the --redis URL names the
Redis Service; every container has CPU and memory requests, and the engine's
memory limit holds its concurrent jobs; every flag and variable named exists
in the binary's --help.
"""
import glob
import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Tally, ROOT, PISTON_BIN  # noqa: E402

DEPLOY = os.path.join(ROOT, "deploy", "kubernetes")
t = Tally()


# ---- the YAML subset reader ----

class YamlError(ValueError):
    pass


def _strip_comment(s):
    """s without a trailing comment (a # at the start or after a space,
    outside quotes)."""
    q = None
    for i, ch in enumerate(s):
        if q:
            if ch == "\\" and q == '"':
                continue
            if ch == q:
                q = None
        elif ch in "\"'" and (i == 0 or s[i - 1] in " :-["):
            q = ch
        elif ch == "#" and (i == 0 or s[i - 1] == " "):
            return s[:i].rstrip()
    return s.rstrip()


def _scalar(s, lineno):
    if s == "":
        return None
    if s[0] == '"':
        if len(s) < 2 or s[-1] != '"':
            raise YamlError("line %d: unterminated string" % lineno)
        try:
            return json.loads(s)
        except ValueError:
            raise YamlError("line %d: bad double-quoted string" % lineno)
    if s[0] == "'":
        if len(s) < 2 or s[-1] != "'":
            raise YamlError("line %d: unterminated string" % lineno)
        return s[1:-1].replace("''", "'")
    if s[0] in "[{&*!|>%@`" and s not in ("[]", "{}"):
        raise YamlError("line %d: outside the subset: %r" % (lineno, s))
    if s == "[]":
        return []
    if s == "{}":
        return {}
    if s in ("true", "false"):
        return s == "true"
    if s in ("null", "~"):
        return None
    if re.fullmatch(r"0[0-7]+", s):
        return int(s, 8)   # YAML 1.1 octal, as kubectl reads defaultMode: 0440
    if re.fullmatch(r"-?(0|[1-9][0-9]*)", s):
        return int(s)
    if re.fullmatch(r"-?[0-9]+\.[0-9]+", s):
        return float(s)
    if s in ("yes", "no", "on", "off", "y", "n"):
        raise YamlError("line %d: %r is a boolean in YAML 1.1: quote it" % (lineno, s))
    return s


def parse_yaml(text):
    """The documents of text, as Python values."""
    docs, cur = [], []
    for n, raw in enumerate(text.split("\n"), 1):
        if raw.rstrip() == "---":
            docs.append(cur)
            cur = []
        else:
            cur.append((n, raw))
    docs.append(cur)
    out = []
    for lines in docs:
        p = _Parser(lines)
        v = p.block(0)
        if p.i < len(p.lines):
            raise YamlError("line %d: unexpected indentation" % p.lines[p.i][0])
        if v is not None:
            out.append(v)
    return out


class _Parser:
    def __init__(self, lines):
        self.raw = lines
        self.lines = []   # (lineno, indent, content) of meaningful lines
        for idx, (n, raw) in enumerate(lines):
            if "\t" in raw[:len(raw) - len(raw.lstrip())]:
                raise YamlError("line %d: tab in indentation" % n)
            content = _strip_comment(raw.strip())
            if content:
                self.lines.append((n, len(raw) - len(raw.lstrip(" ")), content, idx))
        self.i = 0

    def block(self, indent):
        if self.i >= len(self.lines):
            return None
        n, ind, content, _ = self.lines[self.i]
        if ind < indent:
            return None
        if content == "-" or content.startswith("- "):
            return self.sequence(ind)
        return self.mapping(ind)

    def literal(self, key_indent, raw_idx, keep_last_newline):
        """A | or |- block: the raw lines after raw_idx indented deeper than
        key_indent."""
        body, end = [], raw_idx + 1
        while end < len(self.raw):
            r = self.raw[end][1]
            if r.strip() and len(r) - len(r.lstrip(" ")) <= key_indent:
                break
            body.append(r)
            end += 1
        while body and not body[-1].strip():
            body.pop()
        # skip the meaningful lines inside the block
        while self.i < len(self.lines) and self.lines[self.i][3] < raw_idx + 1 + len(body):
            self.i += 1
        if not body:
            return ""
        cut = min(len(r) - len(r.lstrip(" ")) for r in body if r.strip())
        text = "\n".join(r[cut:] for r in body)
        return text + "\n" if keep_last_newline else text

    def value_after(self, rest, indent, n, raw_idx):
        if rest in ("|", "|-"):
            return self.literal(indent, raw_idx, rest == "|")
        if rest:
            return _scalar(rest, n)
        if self.i < len(self.lines) and (self.lines[self.i][1] > indent or
                                         (self.lines[self.i][1] == indent and
                                          self.lines[self.i][2].startswith("- "))):
            return self.block(self.lines[self.i][1])
        return None

    def mapping(self, indent):
        m = {}
        while self.i < len(self.lines):
            n, ind, content, raw_idx = self.lines[self.i]
            if ind < indent:
                break
            if ind > indent:
                raise YamlError("line %d: unexpected indentation" % n)
            if content.startswith("- "):
                break
            mt = re.fullmatch(r'("[^"]*"|[A-Za-z0-9_./-]+):(?: (.*))?', content)
            if not mt:
                raise YamlError("line %d: not a 'key: value' line: %r" % (n, content))
            key = mt.group(1).strip('"')
            if key in m:
                raise YamlError("line %d: duplicate key %r" % (n, key))
            self.i += 1
            m[key] = self.value_after((mt.group(2) or "").strip(), indent, n, raw_idx)
        return m

    def sequence(self, indent):
        seq = []
        while self.i < len(self.lines):
            n, ind, content, raw_idx = self.lines[self.i]
            if ind != indent or not (content == "-" or content.startswith("- ")):
                if ind > indent:
                    raise YamlError("line %d: unexpected indentation" % n)
                break
            rest = content[1:].strip()
            if not rest:
                self.i += 1
                seq.append(self.block(indent + 1))
            elif re.match(r'("[^"]*"|[A-Za-z0-9_./-]+):( |$)', rest):
                # "- key: value" opens a mapping indented at the key
                self.lines[self.i] = (n, indent + 2, rest, raw_idx)
                seq.append(self.mapping(indent + 2))
            else:
                self.i += 1
                seq.append(_scalar(rest, n))
        return seq


# ---- the reader itself ----

sample = """# a comment
a: 1
b: "x # not a comment"
c:
  - name: one
    port: 2000   # trailing comment
  - two
d: |-
  line 1
  line 2
e: 0440
f: ""
---
g: []
"""
try:
    got = parse_yaml(sample)
except YamlError as e:
    got = str(e)
t.check(got == [{"a": 1, "b": "x # not a comment", "c": [{"name": "one", "port": 2000}, "two"],
                 "d": "line 1\nline 2", "e": 0o440, "f": ""}, {"g": []}],
        "the reader: mappings, sequences, scalars, comments, literal blocks, documents", got)
for bad, why in (("a: {b: 1}\n", "flow mapping"), ("a: &x 1\n", "anchor"), ("a:\n\t- 1\n", "tab"),
                 ("a: 1\na: 2\n", "duplicate key"), ("a: yes\n", "YAML 1.1 boolean"),
                 ("a: 1\n   b: 2\n", "bad indentation")):
    try:
        parse_yaml(bad)
        t.check(False, "the reader refuses a %s" % why)
    except YamlError:
        t.check(True, "the reader refuses a %s" % why)


# ---- the manifests ----

files = sorted(glob.glob(os.path.join(DEPLOY, "**", "*.yaml"), recursive=True))
t.check(len(files) >= 7, "deploy/kubernetes holds the manifests", files)
docs = {}      # relative path -> [documents]
objects = []   # every object of the base (kind, name, doc)
for f in files:
    rel = os.path.relpath(f, DEPLOY)
    try:
        docs[rel] = parse_yaml(open(f).read())
        t.check(bool(docs[rel]), "%s parses" % rel)
    except YamlError as e:
        docs[rel] = []
        t.check(False, "%s parses" % rel, str(e))
    for d in docs[rel]:
        ok = isinstance(d, dict) and d.get("apiVersion") and d.get("kind") and \
            (d.get("kind") == "Kustomization" or (d.get("metadata") or {}).get("name"))
        t.check(bool(ok), "%s: a %s with apiVersion, kind and name" % (rel, d.get("kind") if isinstance(d, dict) else d))
        if ok and "/" not in rel and d["kind"] != "Kustomization":
            objects.append((d["kind"], d["metadata"]["name"], d))


def obj(kind, name):
    found = [d for k, n, d in objects if k == kind and n == name]
    return found[0] if len(found) == 1 else None


def dig(d, *path, default=None):
    for p in path:
        if isinstance(d, dict) and p in d:
            d = d[p]
        elif isinstance(d, list) and isinstance(p, int) and p < len(d):
            d = d[p]
        else:
            return default
    return d


kust = (docs.get("kustomization.yaml") or [{}])[0]
listed = set(kust.get("resources") or [])
present = {os.path.basename(f) for f in files if os.path.dirname(f) == DEPLOY} - {"kustomization.yaml"}
t.check(listed == present, "the kustomization lists every manifest of the directory", (listed, present))
namespace = kust.get("namespace")
t.check(isinstance(obj("Namespace", namespace), dict), "the kustomization's namespace is created (Namespace %s)" % namespace)

version = re.search(r'^VERSION := ([0-9]+\.[0-9]+\.[0-9]+)$', open(os.path.join(ROOT, "Makefile")).read(), re.M)
version = version.group(1) if version else None
img = [i for i in kust.get("images") or [] if i.get("name") == "piston"]
t.check(len(img) == 1 and img[0].get("newTag") == version,
        "the kustomization's image tag is the Makefile's version (%s)" % version, img)

engine = obj("Deployment", "piston-engine")
proxy = obj("Deployment", "piston-proxy")
redis = obj("Deployment", "piston-redis")
t.check(all(isinstance(x, dict) for x in (engine, proxy, redis)), "Deployments piston-engine, piston-proxy, piston-redis")
engine, proxy, redis = engine or {}, proxy or {}, redis or {}


def pod(dep):
    return dig(dep, "spec", "template", "spec", default={})


def containers(dep, init=False):
    return (pod(dep).get("initContainers") or []) + (pod(dep).get("containers") or []) if init else \
        (pod(dep).get("containers") or [])


def env_of(c):
    return {e.get("name"): e for e in c.get("env") or []}


def port_of(c, name_or_number):
    for p in c.get("ports") or []:
        if name_or_number in (p.get("name"), p.get("containerPort")):
            return p.get("containerPort")
    return None


# every workload: selector = template labels, images, env values strings, resources
for dep in (engine, proxy, redis):
    name = dig(dep, "metadata", "name")
    sel = dig(dep, "spec", "selector", "matchLabels", default={})
    labels = dig(dep, "spec", "template", "metadata", "labels", default={})
    t.check(sel and all(labels.get(k) == v for k, v in sel.items()), "%s: its selector matches its pods' labels" % name)
    t.check(pod(dep).get("enableServiceLinks") is False and pod(dep).get("automountServiceAccountToken") is False,
            "%s: no service-link variables, no API token" % name)
    for c in containers(dep, init=True):
        cn = "%s/%s" % (name, c.get("name"))
        req = dig(c, "resources", "requests", default={})
        t.check(req.get("cpu") and req.get("memory") and dig(c, "resources", "limits", "memory"),
                "%s: CPU and memory requests, a memory limit" % cn, c.get("resources"))
        t.check(all(isinstance(e.get("value"), str) for e in c.get("env") or [] if "value" in e),
                "%s: every env value is a string (Kubernetes refuses numbers)" % cn)
        if dep is not redis:
            t.check(c.get("image") == "piston:" + str(version), "%s: image piston:%s" % (cn, version), c.get("image"))
        t.check(dig(c, "securityContext", "capabilities", "drop") == ["ALL"], "%s: drops every capability first" % cn)

# the engine
ec = (containers(engine) or [{}])[0]
eenv = env_of(ec)
bind = dig(eenv, "PISTON_BIND_ADDRESS", "value", default="")
eport = port_of(ec, "http")
t.check(eport == 2000 and bind.endswith(":%s" % eport) and bind.startswith("0.0.0.0:"),
        "engine: listens on 0.0.0.0 at its container port", (bind, eport))
sc = ec.get("securityContext") or {}
readme = open(os.path.join(ROOT, "README.md")).read()
readme_caps = set(re.findall(r"--cap-add ([A-Z_]+)", readme))
t.check(len(readme_caps) >= 8 and set(dig(sc, "capabilities", "add", default=[])) == readme_caps,
        "engine: its capabilities are the README's set", (sorted(readme_caps), dig(sc, "capabilities", "add")))
t.check(len(dig(sc, "capabilities", "add", default=[])) == len(set(dig(sc, "capabilities", "add", default=[]))),
        "engine: no capability listed twice")
t.check(sc.get("privileged") is False, "engine: not privileged in the base")
t.check(sc.get("allowPrivilegeEscalation") is True,
        "engine: allowPrivilegeEscalation true (Kubernetes refuses false beside SYS_ADMIN)")
t.check(dig(sc, "seccompProfile", "type") == "Unconfined" and dig(sc, "appArmorProfile", "type") == "Unconfined" and
        dig(engine, "spec", "template", "metadata", "annotations",
            "container.apparmor.security.beta.kubernetes.io/" + str(ec.get("name"))) == "unconfined",
        "engine: seccomp and AppArmor unconfined (field and pre-1.30 annotation agree)")
grace_ms = int(dig(eenv, "PISTON_SHUTDOWN_GRACE", "value", default="30000"))
for kind in ("readinessProbe", "livenessProbe"):
    pr = ec.get(kind) or {}
    t.check(dig(pr, "httpGet", "path") == "/healthz" and port_of(ec, dig(pr, "httpGet", "port")) == eport,
            "engine: %s GET /healthz on its port" % kind, pr)
lp = ec.get("livenessProbe") or {}
t.check(lp.get("periodSeconds", 10) * lp.get("failureThreshold", 3) * 1000 > grace_ms,
        "engine: liveness outlasts the shutdown grace (a draining engine is not killed)", (lp, grace_ms))
t.check(pod(engine).get("terminationGracePeriodSeconds", 30) * 1000 > grace_ms,
        "engine: the pod's termination grace exceeds PISTON_SHUTDOWN_GRACE")
jobs = int(dig(eenv, "PISTON_MAX_CONCURRENT_JOBS", "value", default="64"))
jobmem = int(dig(eenv, "PISTON_RUN_MEMORY_LIMIT", "value", default="-1"))


def mem_bytes(s):
    m = re.fullmatch(r"([0-9]+)(Ki|Mi|Gi)?", str(s))
    return int(m.group(1)) * {None: 1, "Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}[m.group(2)] if m else 0


t.check(jobmem > 0 and mem_bytes(dig(ec, "resources", "limits", "memory")) >= jobs * jobmem,
        "engine: the memory limit holds PISTON_MAX_CONCURRENT_JOBS x PISTON_RUN_MEMORY_LIMIT",
        (jobs, jobmem, dig(ec, "resources", "limits", "memory")))

# its init container installs into the engine's data directory
init = (pod(engine).get("initContainers") or [{}])[0]
args = init.get("args") or []
data_dir = dig(eenv, "PISTON_DATA_DIRECTORY", "value")
vol_of = {m.get("mountPath"): m.get("name") for m in ec.get("volumeMounts") or []}
ivol_of = {m.get("mountPath"): m.get("name") for m in init.get("volumeMounts") or []}
t.check(args[:1] == ["ppman"] and "--data" in args and args[args.index("--data") + 1] == data_dir and
        "install" in args and "--if-missing" in args and len(args) > args.index("install") + 1,
        "init: ppman --data <the engine's data directory> --if-missing install LANG...", args)
t.check(data_dir in vol_of and vol_of.get(data_dir) == ivol_of.get(data_dir) and
        any(v.get("name") == vol_of.get(data_dir) and "emptyDir" in v for v in pod(engine).get("volumes") or []),
        "init and engine share one volume at the data directory", (vol_of, ivol_of))
ref = dig(env_of(init), "PISTON_REPO_URL", "valueFrom", "configMapKeyRef", default={})
cm = obj("ConfigMap", ref.get("name"))
t.check(bool(cm) and ref.get("key") in (cm.get("data") or {}),
        "init: PISTON_REPO_URL comes from a ConfigMap that exists and has the key", ref)

# the headless Service and what the proxy resolves
svc = obj("Service", "piston-engine") or {}
t.check(dig(svc, "spec", "clusterIP") == "None", "the engines' Service is headless (clusterIP None)")
t.check(dig(svc, "spec", "selector") == dig(engine, "spec", "selector", "matchLabels"),
        "the engines' Service selects the engine pods")
sport = dig(svc, "spec", "ports", 0, default={})
t.check(port_of(ec, sport.get("targetPort")) == eport, "the engines' Service targets the engine's port", sport)
pc = (containers(proxy) or [{}])[0]
pargs = pc.get("args") or []


def arg(flag):
    vals = [pargs[i + 1] for i, a in enumerate(pargs[:-1]) if a == flag]
    return vals


ups = arg("--upstream")
want = "dns://%s.%s.svc.cluster.local:%s" % (dig(svc, "metadata", "name"), namespace, sport.get("port"))
t.check(ups == [want], "the proxy's --upstream is dns://<the headless Service>:<its port>", (ups, want))
t.check(dig(proxy, "spec", "replicas", default=1) >= 2, "proxy: 2 replicas or more")
pport = port_of(pc, "http")
t.check(arg("--bind") == ["0.0.0.0:%s" % pport], "proxy: --bind at its container port", (arg("--bind"), pport))
for kind in ("readinessProbe", "livenessProbe"):
    pr = pc.get(kind) or {}
    t.check(dig(pr, "httpGet", "path") == "/healthz" and port_of(pc, dig(pr, "httpGet", "port")) == pport,
            "proxy: %s GET /healthz on its port" % kind, pr)
psvc = obj("Service", "piston-proxy") or {}
t.check(dig(psvc, "spec", "selector") == dig(proxy, "spec", "selector", "matchLabels") and
        port_of(pc, dig(psvc, "spec", "ports", 0, "targetPort")) == pport,
        "the proxy's Service selects the proxies at their port")
psc = pc.get("securityContext") or {}
t.check(psc.get("allowPrivilegeEscalation") is False and not dig(psc, "capabilities", "add") and
        dig(proxy, "spec", "template", "spec", "securityContext", "runAsNonRoot") is True,
        "proxy: unprivileged, no capability, not root")

# the keys Secret
keys = arg("--keys")
kdir, kfile = os.path.split(keys[0]) if keys else ("", "")
kvol = {m.get("mountPath"): m.get("name") for m in pc.get("volumeMounts") or []}.get(kdir)
vol = [v for v in pod(proxy).get("volumes") or [] if v.get("name") == kvol]
sname = dig(vol, 0, "secret", "secretName")
secret = obj("Secret", sname) or {}
t.check(bool(secret), "proxy: --keys lies in a volume of Secret %s, which exists" % sname, (keys, kvol, vol))
ktext = dig(secret, "stringData", kfile, default="")
lines = [ln for ln in ktext.split("\n") if ln.strip() and not ln.startswith("#")]
t.check(bool(lines) and all(re.fullmatch(r"[0-9a-f]{64} \S+ (user|admin) [0-9]+/s [0-9]+", ln) for ln in lines),
        "the Secret's %s is a keys file (sha256 name role rate burst)" % kfile, lines)
example = re.search(r'The example key is "(pst_[0-9a-f]+)"', open(os.path.join(DEPLOY, "proxy-keys.yaml")).read())
t.check(bool(example) and bool(lines) and hashlib.sha256(example.group(1).encode()).hexdigest() == lines[0].split()[0],
        "the example key the comment names hashes to the keys file's line")

# Redis
rsvc = obj("Service", "piston-redis") or {}
rc = (containers(redis) or [{}])[0]
rurl = arg("--redis")
rwant = "redis://%s.%s.svc.cluster.local:%s/0" % (dig(rsvc, "metadata", "name"), namespace,
                                                  dig(rsvc, "spec", "ports", 0, "port"))
t.check(rurl == [rwant], "the proxy's --redis names the Redis Service and its port", (rurl, rwant))
t.check(dig(rsvc, "spec", "selector") == dig(redis, "spec", "selector", "matchLabels") and
        port_of(rc, dig(rsvc, "spec", "ports", 0, "targetPort")) == 6379,
        "the Redis Service selects Redis at 6379")

# the network policies: engines and Redis reachable from the proxies only
for np_name, target, port in (("piston-engine-from-proxy", engine, eport),
                              ("piston-redis-from-proxy", redis, 6379)):
    np = obj("NetworkPolicy", np_name) or {}
    fr = dig(np, "spec", "ingress", 0, default={})
    t.check(dig(np, "spec", "podSelector", "matchLabels") == dig(target, "spec", "selector", "matchLabels") and
            [dig(x, "podSelector", "matchLabels") for x in fr.get("from") or []] ==
            [dig(proxy, "spec", "selector", "matchLabels")] and
            [p.get("port") for p in fr.get("ports") or []] == [port],
            "NetworkPolicy %s: only the proxies, only port %s" % (np_name, port), np.get("spec"))

# the cgroups overlay: its patch lands on the engine's privileged field
ov = (docs.get(os.path.join("cgroups", "kustomization.yaml")) or [{}])[0]
patch_ok = False
try:
    ops = parse_yaml(dig(ov, "patches", 0, "patch", default=""))[0]
    path = ops[0]["path"].strip("/").split("/")
    target = engine
    for p in path[:-1]:
        target = target[int(p)] if isinstance(target, list) else target[p]
    patch_ok = ov.get("resources") == [".."] and ops[0]["op"] == "replace" and path[-1] in target and \
        ops[0]["value"] is True and dig(ov, "patches", 0, "target", "name") == "piston-engine"
except (YamlError, KeyError, IndexError, ValueError, TypeError) as e:
    patch_ok = str(e)
t.check(patch_ok is True, "cgroups/: its patch replaces the engine's privileged with true", patch_ok)

# the binary knows every flag and variable the manifests use
serve_help = subprocess.run([PISTON_BIN, "serve", "--help"], capture_output=True, text=True).stdout
proxy_help = subprocess.run([PISTON_BIN, "proxy", "--help"], capture_output=True, text=True).stdout
ppman_help = subprocess.run([PISTON_BIN, "ppman", "--help"], capture_output=True, text=True).stdout
for v in eenv:
    t.check(v in serve_help, "piston serve --help knows %s" % v)
for v in env_of(pc):
    t.check(v in proxy_help, "piston proxy --help knows %s" % v)
for a in pargs:
    if a.startswith("--"):
        t.check(a in proxy_help, "piston proxy --help knows %s" % a)
t.check("dns://" in proxy_help, "piston proxy --help documents dns:// upstreams")
for a in args:
    if a.startswith("--"):
        t.check(a in ppman_help, "piston ppman --help knows %s" % a)
t.done()
