#!/usr/bin/python3
"""Checks the monitoring profile's files (run by scripts/check-monitoring, which installs
promtool, prometheus and python3-yaml first).

  static   the dashboard JSON parses; every metric it queries is in
           deploy/monitoring/metric-names.txt and every name there is on a panel; every
           expression is PromQL that promtool accepts; panels use the provisioned data
           source; the provisioning files, docker-compose.yml and the Prometheus configs
           agree on uids, paths, host names and the service's port.
  live     in a network and mount namespace of its own (root only): a stand-in DNS server
           answering as Compose's and as a swarm's, two stand-in replicas on
           127.0.0.2:6767 and 127.0.0.3:6767 serving every metric of metric-names.txt, and
           Debian's Prometheus with prometheus.yml (then prometheus.swarm.yml), scrape
           interval shortened to 1 s. Both replicas must be found and scraped (on the swarm
           not the service's virtual IP), and every dashboard query must return series,
           one per replica where the legend shows {{instance}}.

Usage: check-monitoring.py [static|live|all]   (default all)
"""

import http.server
import json
import os
import re
import shutil
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MON = os.path.join(ROOT, "deploy", "monitoring")
DASHBOARD = os.path.join(MON, "grafana", "accountservice-dashboard.json")
NAMES = os.path.join(MON, "metric-names.txt")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
REPLICAS = ["127.0.0.2", "127.0.0.3"]
VIP = "127.0.0.9"
DNS_SERVER = "127.0.0.53"
PROMETHEUS = "127.0.0.1:9090"

errors = []


def error(msg):
    errors.append(msg)
    print("  FAIL " + msg, flush=True)


def ok(msg):
    print("  ok   " + msg, flush=True)


# ---------------------------------------------------------------- the names list


def load_names():
    """metric-names.txt: {family: (type, [labels])}."""
    families = {}
    with open(NAMES) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3 or parts[1] not in ("counter", "gauge", "histogram"):
                sys.exit(f"{NAMES}:{n}: expected 'name counter|gauge|histogram labels|-', got {line!r}")
            families[parts[0]] = (parts[1], [] if parts[2] == "-" else parts[2].split(","))
    return families


def series_names(families):
    """Every series name Prometheus stores for the families: {series: family}."""
    out = {}
    for name, (kind, _) in families.items():
        if kind == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                out[name + suffix] = name
        else:
            out[name] = name
    return out


# ---------------------------------------------------------------- the dashboard

KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}


def metric_names_in(expr):
    """The metric names a PromQL expression selects (a small lexer: strings, label
    matchers, ranges and grouping clauses removed; identifiers before "(" are functions)."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = []
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        before = e[m.start() - 1] if m.start() > 0 else " "
        if before.isdigit() or before == ".":
            continue  # the exponent of a number such as 1e3
        if e[m.end():].lstrip().startswith("("):
            continue  # a function or aggregation
        if m.group(0).lower() in KEYWORDS:
            continue
        names.append(m.group(0))
    return names


def grafana_to_promql(expr, rate_interval="1m"):
    """A Grafana query as Prometheus would receive it (all replicas selected)."""
    return (expr.replace("$__rate_interval", rate_interval).replace("$__interval", rate_interval)
            .replace("$__range", "1h").replace("$instance", ".*"))


def all_panels(dashboard):
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def queries(dashboard):
    """(where, expr, legend) for every panel target."""
    for panel in all_panels(dashboard):
        for t in panel.get("targets", []):
            if "expr" in t:
                yield f"panel {panel.get('id')} '{panel.get('title')}' {t.get('refId')}", t["expr"], t.get("legendFormat", "")


def check_static():
    print("== dashboard, names and provisioning (static)")
    families = load_names()
    series = series_names(families)
    try:
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
    except (OSError, ValueError) as e:
        error(f"{DASHBOARD}: not JSON: {e}")
        return
    ok(f"{os.path.relpath(DASHBOARD, ROOT)} parses ({len(list(all_panels(dashboard)))} panels)")

    with open(os.path.join(MON, "grafana", "datasource.yaml")) as f:
        datasources = yaml.safe_load(f)["datasources"]
    uid = datasources[0]["uid"]

    # Metric names: only listed ones, and every listed one somewhere.
    before = len(errors)
    used = set()
    qs = list(queries(dashboard))
    for where, expr, _ in qs:
        names = metric_names_in(expr)
        if not names:
            error(f"{where}: no metric name found in {expr!r}")
        for name in names:
            if name in series:
                used.add(series[name])
            elif name in families:
                error(f"{where}: {name} is a histogram: query {name}_bucket, _sum or _count")
            else:
                error(f"{where}: {name} is not in metric-names.txt ({expr})")
    for var in dashboard.get("templating", {}).get("list", []):
        q = var.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.fullmatch(r"\s*label_values\(\s*([A-Za-z_:][A-Za-z0-9_:]*)[^,]*,\s*(\w+)\s*\)\s*", q)
        if var.get("type") == "query":
            if not m:
                error(f"variable {var.get('name')}: expected label_values(metric, label), got {q!r}")
            elif m.group(1) not in series:
                error(f"variable {var.get('name')}: {m.group(1)} is not in metric-names.txt")
            else:
                used.add(series[m.group(1)])
            if var.get("datasource", {}).get("uid") != uid:
                error(f"variable {var.get('name')}: data source uid is not {uid!r}")
    unused = sorted(set(families) - used)
    if unused:
        error("on no panel: " + ", ".join(unused))
    if len(errors) == before:
        ok(f"{len(qs)} queries use only names from metric-names.txt, and all {len(families)} of them")

    # Data sources, ids and layout.
    before = len(errors)
    ids = set()
    cells = {}
    for panel in all_panels(dashboard):
        pid = panel.get("id")
        if pid in ids:
            error(f"panel id {pid} used twice")
        ids.add(pid)
        if panel.get("type") != "row":
            if panel.get("datasource", {}).get("uid") != uid:
                error(f"panel {pid}: data source uid is not {uid!r} (datasource.yaml)")
            for t in panel.get("targets", []):
                if t.get("datasource", {}).get("uid") != uid:
                    error(f"panel {pid} {t.get('refId')}: data source uid is not {uid!r}")
            if not panel.get("targets"):
                error(f"panel {pid}: no query")
        g = panel.get("gridPos", {})
        if g.get("x", 0) + g.get("w", 0) > 24:
            error(f"panel {pid}: wider than the 24-column grid")
        for x in range(g.get("x", 0), g.get("x", 0) + g.get("w", 0)):
            for y in range(g.get("y", 0), g.get("y", 0) + g.get("h", 0)):
                if (x, y) in cells:
                    error(f"panels {cells[(x, y)]} and {pid} overlap")
                    break
                cells[(x, y)] = pid
    if not dashboard.get("uid") or not isinstance(dashboard.get("schemaVersion"), int):
        error("the dashboard needs a uid and a schemaVersion")
    if len(errors) == before:
        ok(f"panel ids unique, no overlap, every panel and query on data source uid {uid!r}")

    # PromQL syntax: promtool parses every expression as a recording rule.
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        rules = [{"record": f"dashboard:query_{i}", "expr": grafana_to_promql(expr)} for i, (_, expr, _) in enumerate(qs)]
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    os.unlink(f.name)
    if r.returncode != 0:
        error("promtool check rules on the dashboard's queries:\n" + r.stdout + r.stderr)
    else:
        ok(f"promtool parses all {len(qs)} queries")

    # docker-compose.yml, provisioning and Prometheus configs agree.
    before = len(errors)
    with open(COMPOSE) as f:
        compose = yaml.safe_load(f)
    services, configs = compose["services"], compose.get("configs", {})
    for name in ("prometheus", "grafana"):
        if services.get(name, {}).get("profiles") != ["monitoring"]:
            error(f"docker-compose.yml: service {name} needs profiles: [\"monitoring\"]")
    for name, svc in services.items():
        if name not in ("prometheus", "grafana") and "profiles" in svc:
            error(f"docker-compose.yml: service {name} has a profile (plain `docker compose up` must not change)")
    mounts = {}
    for svc in ("prometheus", "grafana"):
        for c in services[svc].get("configs", []):
            path = os.path.normpath(os.path.join(ROOT, configs[c["source"]]["file"]))
            if not os.path.isfile(path):
                error(f"docker-compose.yml: config {c['source']}: no file {path}")
            mounts[os.path.relpath(path, MON)] = c["target"]
    if mounts.get("prometheus.yml") != "/etc/prometheus/prometheus.yml":
        error("docker-compose.yml: prometheus.yml must be mounted as /etc/prometheus/prometheus.yml")
    if not str(mounts.get("grafana/datasource.yaml", "")).startswith("/etc/grafana/provisioning/datasources/"):
        error("docker-compose.yml: datasource.yaml must be mounted in /etc/grafana/provisioning/datasources/")
    if not str(mounts.get("grafana/dashboards.yaml", "")).startswith("/etc/grafana/provisioning/dashboards/"):
        error("docker-compose.yml: dashboards.yaml must be mounted in /etc/grafana/provisioning/dashboards/")
    with open(os.path.join(MON, "grafana", "dashboards.yaml")) as f:
        provider_path = yaml.safe_load(f)["providers"][0]["options"]["path"]
    json_target = mounts.get("grafana/accountservice-dashboard.json", "")
    if os.path.dirname(json_target) != provider_path.rstrip("/"):
        error(f"the dashboard is mounted at {json_target!r}, but dashboards.yaml loads {provider_path!r}")
    home = services["grafana"].get("environment", {}).get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home and home != json_target:
        error(f"GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH {home!r} is not the dashboard's path {json_target!r}")
    url = urllib.parse.urlsplit(datasources[0]["url"])
    if url.hostname != "prometheus" or url.port != 9090:
        error(f"datasource.yaml: url {datasources[0]['url']!r} is not the prometheus service at port 9090")
    port = int(services["accountservice"]["environment"]["HTTP_PORT"])
    for conf, want in (("prometheus.yml", "accountservice"), ("prometheus.swarm.yml", "tasks.accountservice")):
        with open(os.path.join(MON, conf)) as f:
            jobs = yaml.safe_load(f)["scrape_configs"]
        sd = [s for j in jobs for s in j.get("dns_sd_configs", [])]
        if [s.get("names") for s in sd] != [[want]] or sd[0].get("port") != port or sd[0].get("type", "SRV") != "A":
            error(f"{conf}: expected one dns_sd_configs entry, names [{want}], type A, port {port} (HTTP_PORT)")
    if len(errors) == before:
        ok("compose services, mounts, provider path, data source URL and scrape port agree")


# ---------------------------------------------------------------- live: stand-ins


class DNS(threading.Thread):
    """Answers A queries from a table over UDP; names not in it are NXDOMAIN."""

    def __init__(self):
        super().__init__(daemon=True)
        self.table = {}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((DNS_SERVER, 53))
        self.queries = []

    def run(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(512)
                self.sock.sendto(self.answer(data), addr)
            except OSError:
                return

    def answer(self, data):
        tid, flags = struct.unpack(">HH", data[:4])
        i, labels = 12, []
        while data[i]:
            labels.append(data[i + 1:i + 1 + data[i]].decode())
            i += 1 + data[i]
        qtype = struct.unpack(">H", data[i + 1:i + 3])[0]
        question = data[12:i + 5]
        name = ".".join(labels).lower()
        self.queries.append(name)
        ips = self.table.get(name)
        rcode = 3 if ips is None else 0
        answers = ips if ips and qtype == 1 else []
        head = struct.pack(">HHHHHH", tid, 0x8580 | (flags & 0x0100) | rcode, 1, len(answers), 0, 0)
        body = b"".join(struct.pack(">HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton(ip) for ip in answers)
        return head + question + body


def exposition(families, replica, started):
    """Prometheus text format with every family, values moving with time."""
    t = time.time() - started
    k = 1 + replica
    lines = []
    samples = {
        "error": ["sequence_gap", "malformed_json"],
        "route": ["/accounts/{id}", "/accounts", "/health"],
        "status": ["200", "404", "503"],
        "version": ["0.0.0-check"],
    }

    def label_sets(labels):
        sets = [{}]
        for label in labels:
            sets = [dict(s, **{label: v}) for s in sets for v in samples[label]]
        return sets

    def fmt(labels):
        return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else ""

    for name, (kind, labels) in families.items():
        lines.append(f"# TYPE {name} {kind}")
        for n, ls in enumerate(label_sets(labels)):
            if kind == "counter":
                lines.append(f"{name}{fmt(ls)} {(100 * k + n) * t:.3f}")
            elif kind == "gauge":
                lines.append(f"{name}{fmt(ls)} {1 if name.endswith(('_connected', '_caught_up', '_info')) else 1000 * k + n + int(t)}")
            else:
                count = (50 * k + n) * t
                for le, share in (("0.001", 0.5), ("0.01", 0.8), ("0.1", 0.95), ("1", 0.99), ("+Inf", 1.0)):
                    lines.append(f"{name}_bucket{fmt(dict(ls, le=le))} {count * share:.3f}")
                lines.append(f"{name}_sum{fmt(ls)} {count * 0.004:.3f}")
                lines.append(f"{name}_count{fmt(ls)} {count:.3f}")
    return ("\n".join(lines) + "\n").encode()


def serve_replica(address, replica, families, started):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = exposition(families, replica, started) if self.path == "/metrics" else b"not found\n"
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = socketserver.ThreadingTCPServer((address, 6767), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def api(path, **params):
    url = f"http://{PROMETHEUS}{path}?" + urllib.parse.urlencode(params, doseq=True)
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def run_prometheus(config, work, log):
    """Prometheus with the config's discovery untouched and its intervals shortened."""
    with open(config) as f:
        conf = yaml.safe_load(f)
    conf["global"].update({"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"})
    for job in conf["scrape_configs"]:
        for sd in job.get("dns_sd_configs", []):
            sd["refresh_interval"] = "1s"
    path = os.path.join(work, "prometheus.yml")
    with open(path, "w") as f:
        yaml.safe_dump(conf, f)
    data = os.path.join(work, "data")
    shutil.rmtree(data, ignore_errors=True)
    return subprocess.Popen(["prometheus", f"--config.file={path}", f"--storage.tsdb.path={data}",
                             f"--web.listen-address={PROMETHEUS}"], stdout=log, stderr=subprocess.STDOUT)


def wait_for_targets(seconds=30):
    deadline = time.time() + seconds
    targets = []
    while time.time() < deadline:
        try:
            targets = [t for t in api("/api/v1/targets")["data"]["activeTargets"] if t["labels"].get("job") == "accountservice"]
            if len(targets) >= 2 and all(t["health"] == "up" for t in targets):
                return targets
        except OSError:
            pass
        time.sleep(0.5)
    return targets


def scenario(name, config, dns, table, families, work, check_queries):
    print(f"== live: {os.path.relpath(config, ROOT)} with {name}'s DNS ({', '.join(f'{k} -> {v}' for k, v in table.items())})")
    dns.table, dns.queries = table, []
    log_path = os.path.join(work, f"prometheus-{os.path.basename(config)}.log")
    with open(log_path, "w") as log:
        prom = run_prometheus(config, work, log)
        try:
            targets = wait_for_targets()
            found = sorted(t["labels"]["instance"] for t in targets)
            want = sorted(f"{ip}:6767" for ip in REPLICAS)
            health = {t["labels"]["instance"]: t["health"] for t in targets}
            if found != want or any(h != "up" for h in health.values()):
                error(f"{name}: Prometheus scrapes {health or 'nothing'}, expected {want} up (log: {log_path})")
                return
            ok(f"Prometheus found and scraped both replicas: {', '.join(found)} (DNS asked: {', '.join(sorted(set(dns.queries)))})")
            if check_queries:
                time.sleep(4)  # a few samples each, for rate()
                check_dashboard_queries(families)
        finally:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()


def check_dashboard_queries(families):
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    instances = {f"{ip}:6767" for ip in REPLICAS}
    before = len(errors)
    n = 0
    for where, expr, legend in queries(dashboard):
        q = grafana_to_promql(expr, "10s")
        r = api("/api/v1/query", query=q)
        result = r["data"]["result"]
        if r["status"] != "success" or not result:
            error(f"{where}: no series for {q}")
            continue
        for label in re.findall(r"\{\{\s*(\w+)\s*\}\}", legend):
            missing = [s["metric"] for s in result if label not in s["metric"]]
            if missing:
                error(f"{where}: legend shows {{{{{label}}}}} but series {missing[0]} has no such label")
        if "{{instance}}" in legend.replace(" ", ""):
            seen = {s["metric"].get("instance") for s in result}
            if seen != instances:
                error(f"{where}: one series per replica expected, got instances {sorted(map(str, seen))}")
        n += 1
    values = api("/api/v1/label/instance/values", **{"match[]": "accountservice_build_info"})["data"]
    if set(values) != instances:
        error(f"variable instance: label_values gives {values}")
    if len(errors) == before:
        ok(f"{n} dashboard queries return series (one per replica where the legend shows the instance); the replica variable lists both")


def check_live():
    families = load_names()
    if os.environ.get("MONITORING_NETNS") != "1":
        # Start again inside new network and mount namespaces: loopback only, own /etc/resolv.conf.
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            return "needs root and unshare"
        env = dict(os.environ, MONITORING_NETNS="1")
        r = subprocess.run(["unshare", "--net", "--mount", sys.executable, __file__, "live"], env=env)
        if r.returncode != 0:
            error("the live check failed (above)")
        return None
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    work = tempfile.mkdtemp(prefix="check-monitoring-")
    with open(os.path.join(work, "resolv.conf"), "w") as f:
        f.write(f"nameserver {DNS_SERVER}\n")
    subprocess.run(["mount", "--bind", os.path.join(work, "resolv.conf"), "/etc/resolv.conf"], check=True)
    started = time.time()
    servers = [serve_replica(ip, i, families, started) for i, ip in enumerate(REPLICAS)]
    dns = DNS()
    dns.start()
    try:
        scenario("Compose", os.path.join(MON, "prometheus.yml"), dns,
                 {"accountservice": REPLICAS}, families, work, check_queries=True)
        scenario("a swarm", os.path.join(MON, "prometheus.swarm.yml"), dns,
                 {"tasks.accountservice": REPLICAS, "accountservice": [VIP]}, families, work, check_queries=False)
    finally:
        for s in servers:
            s.shutdown()
        dns.sock.close()
    if not errors:
        shutil.rmtree(work, ignore_errors=True)
    return None


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what not in ("static", "live", "all"):
        sys.exit(__doc__)
    if what in ("static", "all"):
        check_static()
    if what in ("live", "all"):
        skipped = check_live()
        if skipped:
            if os.environ.get("CI") == "true":
                error(f"live check: {skipped}")
            else:
                print(f"== live check skipped: {skipped}")
    if errors:
        print(f"check-monitoring {what}: {len(errors)} problem(s)", file=sys.stderr, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
