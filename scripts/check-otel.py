#!/usr/bin/python3
"""End-to-end check of the OTLP build (run by scripts/check-otel, which builds the programs,
installs python3-pika and starts a broker of its own first).

  1. A stand-in OTLP/HTTP collector on 127.0.0.1:OTLP_PORT takes POST /v1/traces
     (application/x-protobuf, gzip or not) and decodes the spans itself (a small protobuf
     wire-format reader: no generated code needed).
  2. `accountctl publish --traceparent 00-<T>-<S>-01 --events 20 --accounts 5`; the 20
     messages are then read back from the stream (pika) for their `traceparent` headers.
  3. `accountservice-otel` runs with OTEL_EXPORTER_OTLP_ENDPOINT at the stand-in,
     OTEL_BSP_SCHEDULE_DELAY of 10 minutes (so only the flush at shutdown can deliver) and an
     OTEL_EXPORTER_OTLP_HEADERS secret; once it has applied the 20 events, a few HTTP
     requests: one continuing a trace, one with a malformed `traceparent`. Then SIGTERM.
  4. It must exit 0, having exported nothing before SIGTERM and everything at it:
     - 20 consumer spans `accounts.events process`, one per stream offset, each in trace T
       and child of the span id in that message's `traceparent` (not of S);
     - one server span per HTTP request answered, named `GET <route>`; the continued one in
       the given trace as a child of the given span, every other one a root span of its own;
     - resource service.name `accountservice`; the OTLP header sent with every export;
     - the secret never in the service's log (OTEL_LOG_LEVEL=debug), and the malformed header
       logged at debug only, without the request's headers.
  5. Again with the collector's port closed: SIGTERM still stops it cleanly within 6 s (under
     SHUTDOWN_TIMEOUT), with a warning that the export failed.

Usage: check-otel.py --service BIN --accountctl BIN --amqp-port N [--otlp-port N] [--http-port N]
"""

import argparse
import gzip
import http.server
import json
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import pika

errors = []


def error(msg):
    errors.append(msg)
    print("  FAIL " + msg, flush=True)


def ok(msg):
    print("  ok   " + msg, flush=True)


def expect(condition, msg, detail=""):
    if condition:
        ok(msg)
    else:
        error(msg + (f": {detail}" if detail else ""))
    return condition


# ---------------------------------------------------------------- OTLP protobuf, read by hand

KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def fields(buf):
    """(field number, value) of a protobuf message: ints for varint and fixed, bytes for length-delimited."""
    i = 0

    def varint():
        nonlocal i
        shift = value = 0
        while True:
            b = buf[i]
            i += 1
            value |= (b & 0x7F) << shift
            if b < 0x80:
                return value
            shift += 7

    while i < len(buf):
        key = varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            yield number, varint()
        elif wire == 1:
            yield number, struct.unpack_from("<Q", buf, i)[0]
            i += 8
        elif wire == 2:
            n = varint()
            yield number, bytes(buf[i : i + n])
            i += n
        elif wire == 5:
            yield number, struct.unpack_from("<I", buf, i)[0]
            i += 4
        else:
            raise ValueError(f"wire type {wire} at byte {i}")


def any_value(buf):
    for number, value in fields(buf):
        if number == 1:
            return value.decode()
        if number == 2:
            return bool(value)
        if number == 3:
            return value - (1 << 64) if value >= 1 << 63 else value
        if number == 4:
            return struct.unpack("<d", struct.pack("<Q", value))[0]
    return None


def key_value(buf):
    key = value = None
    for number, v in fields(buf):
        if number == 1:
            key = v.decode()
        elif number == 2:
            value = any_value(v)
    return key, value


def decode_span(buf, resource):
    span = {"trace_id": "", "span_id": "", "parent_span_id": "", "name": "", "kind": "unspecified",
            "attributes": {}, "status_code": 0, "resource": resource}
    for number, value in fields(buf):
        if number == 1:
            span["trace_id"] = value.hex()
        elif number == 2:
            span["span_id"] = value.hex()
        elif number == 4:
            span["parent_span_id"] = value.hex()
        elif number == 5:
            span["name"] = value.decode()
        elif number == 6:
            span["kind"] = KINDS.get(value, str(value))
        elif number == 9:
            k, v = key_value(value)
            span["attributes"][k] = v
        elif number == 15:
            for n, v in fields(value):
                if n == 3:
                    span["status_code"] = v
    return span


def decode_export_request(buf):
    """ExportTraceServiceRequest → spans (dicts)."""
    spans = []
    for number, resource_spans in fields(buf):
        if number != 1:
            continue
        resource = {}
        scopes = []
        for n, value in fields(resource_spans):
            if n == 1:
                for m, kv in fields(value):
                    if m == 1:
                        k, v = key_value(kv)
                        resource[k] = v
            elif n == 2:
                scopes.append(value)
        for scope in scopes:
            for n, value in fields(scope):
                if n == 2:
                    spans.append(decode_span(value, resource))
    return spans


# ---------------------------------------------------------------- the stand-in collector


class Collector:
    def __init__(self, port):
        self.spans = []
        self.requests = []  # (path, content type, headers)
        self.problems = []
        self.lock = threading.Lock()
        collector = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                ctype = self.headers.get("Content-Type", "")
                with collector.lock:
                    collector.requests.append((self.path, ctype, dict(self.headers.items())))
                    if self.path != "/v1/traces" or ctype != "application/x-protobuf":
                        collector.problems.append(f"POST {self.path} with Content-Type {ctype!r}")
                        self.send_response(415 if self.path == "/v1/traces" else 404)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    try:
                        collector.spans += decode_export_request(body)
                    except Exception as e:  # a body we cannot read is a failure of the check
                        collector.problems.append(f"undecodable export request: {e}")
                # An empty ExportTraceServiceResponse: full success.
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def snapshot(self):
        with self.lock:
            return list(self.spans), list(self.requests), list(self.problems)


# ---------------------------------------------------------------- the service over HTTP


class ServiceClient:
    """GETs that remember which route each answered request had (each one is a server span)."""

    def __init__(self, port):
        self.base = f"http://127.0.0.1:{port}"
        self.answered = []  # (route, traceparent sent or None)

    def get(self, path, route, traceparent=None):
        request = urllib.request.Request(self.base + path)
        if traceparent is not None:
            request.add_header("traceparent", traceparent)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        except OSError:
            return None, None  # not listening yet: no span either
        self.answered.append((route, traceparent))
        return status, body


def stream_traceparents(amqp_url, stream, count, timeout=20):
    """{offset: traceparent} of the first `count` messages of the stream."""
    connection = pika.BlockingConnection(pika.URLParameters(amqp_url))
    channel = connection.channel()
    channel.basic_qos(prefetch_count=100)
    found = {}
    deadline = time.monotonic() + timeout
    for method, properties, _ in channel.consume(
        stream, arguments={"x-stream-offset": "first"}, inactivity_timeout=1
    ):
        if method is None:
            if time.monotonic() > deadline:
                break
            continue
        headers = properties.headers or {}
        value = headers.get("traceparent")
        if isinstance(value, bytes):
            value = value.decode()
        found[headers.get("x-stream-offset")] = value
        channel.basic_ack(method.delivery_tag)
        if len(found) >= count:
            break
    channel.cancel()
    connection.close()
    return found


# ---------------------------------------------------------------- the check


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--service", required=True)
    parser.add_argument("--accountctl", required=True)
    parser.add_argument("--amqp-port", type=int, required=True)
    parser.add_argument("--otlp-port", type=int, default=4318)
    parser.add_argument("--http-port", type=int, default=6794)
    args = parser.parse_args()
    amqp_url = f"amqp://guest:guest@127.0.0.1:{args.amqp_port}/%2f"
    events, accounts, stream = 20, 5, "accounts.events"

    collector = Collector(args.otlp_port)
    print(f"== stand-in OTLP/HTTP collector on 127.0.0.1:{args.otlp_port}")

    trace_id, run_span = secrets.token_hex(16), secrets.token_hex(8)
    print(f"== accountctl publish --traceparent 00-{trace_id}-{run_span}-01 --events {events} --accounts {accounts}")
    published = subprocess.run(
        [args.accountctl, "publish", "--amqp-url", amqp_url, "--traceparent", f"00-{trace_id}-{run_span}-01",
         "--events", str(events), "--accounts", str(accounts), "--quiet"],
        capture_output=True, text=True, timeout=60)
    if not expect(published.returncode == 0, "accountctl publish exits 0",
                  f"exit {published.returncode}: {published.stderr.strip()}"):
        return
    print("  " + published.stdout.strip())

    messages = stream_traceparents(amqp_url, stream, events)
    expect(sorted(messages) == list(range(events)), f"the stream holds offsets 0..{events - 1}", sorted(messages))
    message_spans = {}
    for offset, value in sorted(messages.items()):
        parts = (value or "").split("-")
        if len(parts) != 4 or parts[0] != "00" or parts[1] != trace_id or parts[3] != "01":
            error(f"message at offset {offset}: traceparent {value!r} is not 00-{trace_id}-<span>-01")
            continue
        message_spans[offset] = parts[2]
    expect(len(message_spans) == events and len(set(message_spans.values())) == events
           and run_span not in message_spans.values(),
           "every message carries a traceparent of the run's trace with a span id of its own")

    secret = "check-otel-" + secrets.token_hex(8)
    environment = dict(
        os.environ, AMQP_URL=amqp_url, HTTP_HOST="127.0.0.1", HTTP_PORT=str(args.http_port),
        REPLICA_NAME="check-otel", LOG_FORMAT="json", LOG_LEVEL="info",
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{args.otlp_port}",
        OTEL_EXPORTER_OTLP_HEADERS=f"x-check-key={secret}",
        OTEL_BSP_SCHEDULE_DELAY="600000", OTEL_LOG_LEVEL="debug")
    for name in ["OTEL_SERVICE_NAME", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_TRACES_SAMPLER",
                 "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_PROPAGATORS"]:
        environment.pop(name, None)
    global log_directory
    log_directory = tempfile.mkdtemp(prefix="check-otel-")
    log_path = os.path.join(log_directory, "service.log")
    print(f"== {os.path.basename(args.service)} (log: {log_path})")
    with open(log_path, "wb") as log:
        service = subprocess.Popen([args.service], env=environment, stdout=log, stderr=subprocess.STDOUT)
    client = ServiceClient(args.http_port)
    try:
        deadline = time.monotonic() + 30
        ready = applied = False
        while time.monotonic() < deadline and not (ready and applied):
            time.sleep(0.3)
            if service.poll() is not None:
                break
            status, _ = client.get("/ready", "/ready")
            ready = status == 200
            status, body = client.get("/stats", "/stats")
            applied = status == 200 and json.loads(body).get("lastOffset") == events - 1
        if not expect(ready and applied, f"the service is READY and has handled offsets 0..{events - 1}"):
            return
        status, body = client.get("/accounts?limit=1", "/accounts")
        account = json.loads(body)["items"][0]["id"] if status == 200 else "acc-000001"
        http_trace, http_parent = secrets.token_hex(16), secrets.token_hex(8)
        status, _ = client.get(f"/accounts/{account}", "/accounts/{id}", f"00-{http_trace}-{http_parent}-01")
        expect(status == 200, f"GET /accounts/{account} with a traceparent answers 200", status)
        client.get("/health", "/health", "not-a-traceparent")
        client.get("/nothing-here", "unknown")
        time.sleep(6)  # past swift-otel's default 5 s schedule delay: OTEL_BSP_SCHEDULE_DELAY must hold them
        spans, _, _ = collector.snapshot()
        expect(not spans, "nothing exported before SIGTERM (OTEL_BSP_SCHEDULE_DELAY honoured)", f"{len(spans)} spans")
    finally:
        code, seconds = stop(service)
    expect(code == 0 and seconds < 5, "accountservice-otel exits 0 within 5 s of SIGTERM", f"exit {code} after {seconds:.1f} s")
    time.sleep(0.2)

    spans, requests, problems = collector.snapshot()
    print(f"== the collector got {len(requests)} export request(s), {len(spans)} spans")
    for problem in problems:
        error(problem)
    expect(requests and all(h.get("x-check-key") == secret for _, _, h in requests),
           "every export request carries the OTEL_EXPORTER_OTLP_HEADERS header")
    expect(all(s["resource"].get("service.name") == "accountservice" for s in spans) and spans,
           "resource service.name is accountservice")

    consumers = [s for s in spans if s["kind"] == "consumer"]
    by_offset = {}
    for span in consumers:
        by_offset.setdefault(span["attributes"].get("messaging.rabbitmq.stream.offset"), []).append(span)
    expect(len(consumers) == events and sorted(by_offset) == list(range(events)),
           f"{events} consumer spans, one per stream offset",
           f"{len(consumers)} spans, offsets {sorted(by_offset, key=str)}")
    wrong = []
    for offset, group in sorted(by_offset.items(), key=lambda item: str(item[0])):
        for span in group:
            want = message_spans.get(offset)
            if span["trace_id"] != trace_id or span["parent_span_id"] != want or span["span_id"] == want:
                wrong.append(f"offset {offset}: trace {span['trace_id']} parent {span['parent_span_id']}, "
                             f"message's span {want}")
    expect(not wrong, f"each consumer span is in trace {trace_id}, child of its message's span", "; ".join(wrong))
    first = by_offset.get(0, [None])[0]
    if first:
        attributes = first["attributes"]
        expect(first["name"] == f"{stream} process" and attributes.get("messaging.system") == "rabbitmq"
               and attributes.get("messaging.destination.name") == stream
               and str(attributes.get("account.id", "")).startswith("acc-")
               and attributes.get("account.event.sequence") == 1,
               "consumer span name and attributes", f"{first['name']} {attributes}")

    servers = [s for s in spans if s["kind"] == "server"]
    got = sorted(s["attributes"].get("http.route", "?") for s in servers)
    want = sorted(route for route, _ in client.answered)
    expect(got == want, f"one server span per HTTP request answered ({len(want)})", f"got {got}, want {want}")
    expect(all(s["name"] == f"GET {s['attributes'].get('http.route')}"
               and isinstance(s["attributes"].get("http.response.status_code"), int) for s in servers),
           "server spans are named GET <route> and carry the status code")
    continued = [s for s in servers if s["trace_id"] == http_trace]
    expect(len(continued) == 1 and continued[0]["parent_span_id"] == http_parent
           and continued[0]["attributes"].get("http.route") == "/accounts/{id}",
           "the request with a traceparent continues it (same trace, child of the given span)",
           [(s["name"], s["parent_span_id"]) for s in continued])
    others = [s for s in servers if s["trace_id"] != http_trace]
    expect(others and all(not s["parent_span_id"] for s in others)
           and len({s["trace_id"] for s in others} | {trace_id}) == len(others) + 1,
           "every other request (the malformed traceparent too) is a root span of a new trace")

    with open(log_path, "rb") as f:
        log_text = f.read().decode(errors="replace")
    lines = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    expect(secret not in log_text, "the OTLP header's value never reaches the service's log (OTEL_LOG_LEVEL=debug)")
    extract = [line for line in lines if line["message"].startswith("Failed to extract")]
    expect(extract and all(line["level"] == "debug" and "carrier" not in line["metadata"] for line in extract)
           and "not-a-traceparent" not in log_text,
           "a malformed traceparent is logged at debug, without the request's headers", extract)
    expect("exporting spans over OTLP/HTTP" in log_text, "the log says where spans go")

    # An unreachable collector must not hold a stop past SHUTDOWN_TIMEOUT (8 s): the export gives up
    # after the build's 3 s OTLP timeout and says so.
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    print(f"== again, the collector unreachable (127.0.0.1:{closed_port} closed)")
    environment.update(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://127.0.0.1:{closed_port}", OTEL_LOG_LEVEL="warning")
    log_path = os.path.join(os.path.dirname(log_path), "service-unreachable.log")
    with open(log_path, "wb") as log:
        service = subprocess.Popen([args.service], env=environment, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and client.get("/health", "/health")[0] != 200:
            time.sleep(0.2)
    finally:
        code, seconds = stop(service)
    with open(log_path, "rb") as f:
        lines = [json.loads(line) for line in f.read().decode(errors="replace").splitlines() if line.startswith("{")]
    expect(code == 0 and seconds < 6 and not any("SHUTDOWN_TIMEOUT" in line["message"] for line in lines),
           "it still stops cleanly, within 6 s of SIGTERM", f"exit {code} after {seconds:.1f} s")
    expect(any(line["level"] == "warning" and "export" in line["message"] for line in lines),
           "and warns that the export failed", [line["message"] for line in lines])


def stop(service):
    """SIGTERM; (exit status, seconds it took)."""
    start = time.monotonic()
    service.send_signal(signal.SIGTERM)
    try:
        code = service.wait(timeout=20)
    except subprocess.TimeoutExpired:
        service.kill()
        service.wait()
        code = "none within 20 s (killed)"
    return code, time.monotonic() - start


log_directory = None  # the service's logs: kept when a check fails

if __name__ == "__main__":
    main()
    if not errors and log_directory:
        shutil.rmtree(log_directory)
    print(f"{len(errors)} failed (logs in {log_directory})" if errors else "all checks passed")
    sys.exit(1 if errors else 0)
