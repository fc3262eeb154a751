"""The attacks of issue 13, each bounded in count and time. A probe gets the run's context
and a running service, and returns (passed, outcome). Memory, OOM kills and the RSS bound
are checked around it by check-abuse."""

import json
import socket
import sys
import time

from . import http
from .amqp import AMQPError

PIPELINED = 1000
PIPELINE_REQUEST = b"GET /accounts?limit=1000 HTTP/1.1\r\nHost: abuse\r\n\r\n"
FLOOD = 1024
HEALTH_DEADLINE = 1.0


def event(account, sequence, kind="AccountOpened", event_id=None, pad=0):
    """An event body; `pad` adds a field so that the body is exactly `pad` bytes long."""
    data = {"owner": "Abuse Probe", "currency": "EUR"} if kind == "AccountOpened" else {"amount": 1}
    body = {
        "eventId": event_id or f"{account}-{sequence}",
        "type": kind,
        "accountId": account,
        "sequence": sequence,
        "occurredAt": "2026-12-04T18:00:00.000Z",
        "data": data,
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    if pad:
        filler = pad - len(raw) - len(',"pad":""')
        raw = raw[:-1] + b',"pad":"' + b"p" * filler + b'"}'
        assert len(raw) == pad
    return raw


def wait_for_account(service, account, seconds):
    """Seconds until GET /accounts/{account} answers 200, or None (time out or service gone)."""
    start = time.monotonic()
    while time.monotonic() - start < seconds and service.alive():
        status, _, _, _ = http.request(service.http_port, f"/accounts/{account}", 1.0)
        if status == 200:
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def _wait_until(service, condition, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end and service.alive():
        if condition(stats(service)):
            return True
        time.sleep(0.2)
    return False


def stats(service):
    status, body = http.get_json(service.http_port, "/stats")
    return body if status == 200 and isinstance(body, dict) else {}


def _health_line(results):
    ok = sum(1 for passed, _, _ in results if passed)
    worst = max((elapsed for _, elapsed, _ in results), default=0.0)
    errors = sorted({error for passed, _, error in results if not passed})
    text = f"/health {ok}/{len(results)} within {HEALTH_DEADLINE:g} s (worst {worst:.2f} s)"
    if errors:
        text += f": {errors[0]}"
    return bool(results) and ok == len(results), text


# -- 1. pipelining without reading


def _pipelining_client(port):
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    payload = PIPELINE_REQUEST * PIPELINED
    try:
        sock.sendall(payload)  # may stop part-way when the server stops reading: that is allowed
    except socket.timeout:
        pass
    return sock


def _pipelining(ctx, service, clients, hold):
    socks = []
    try:
        for _ in range(clients):
            socks.append(_pipelining_client(service.http_port))
        checks = []
        end = time.monotonic() + hold
        while time.monotonic() < end and service.alive():
            checks.append(http.health(service.http_port, HEALTH_DEADLINE))
            time.sleep(max(0.0, 1.0 - checks[-1][1]))
    finally:
        for sock in socks:
            sock.close()
    if not service.alive():
        return False, f"{clients} x {PIPELINED} pipelined GETs, never read: service {service.exit_text()}"
    _, health_text = _health_line(checks)
    return True, f"{clients} x {PIPELINED} pipelined, unread, {hold} s; {health_text}"


def pipeline_one(ctx, service):
    return _pipelining(ctx, service, 1, 5)


def pipeline_thirty(ctx, service):
    return _pipelining(ctx, service, 30, 8)


# -- 2. connection floods


def _connect_many(port, count):
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.settimeout(2)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.setblocking(False)
        socks.append(sock)
    return socks


def _still_open(socks):
    """Connections the server has not closed (a read would see EOF or a reset)."""
    open_count = 0
    for sock in socks:
        try:
            if sock.recv(4096, socket.MSG_PEEK) == b"":
                continue
            open_count += 1  # an answer (408, 431...) waiting: the server spoke, count as open
        except BlockingIOError:
            open_count += 1
        except OSError:
            continue
    return open_count


def idle_flood(ctx, service):
    socks = _connect_many(service.http_port, FLOOD)
    try:
        checks = []
        for _ in range(5):
            if not service.alive():
                break
            checks.append(http.health(service.http_port, HEALTH_DEADLINE))
            time.sleep(max(0.0, 1.0 - checks[-1][1]))
        left = _still_open(socks)
    finally:
        for sock in socks:
            sock.close()
    passed, text = _health_line(checks)
    return passed, f"{len(socks)} idle connected, {left} still open after 5 s; {text}"


def slow_header_flood(ctx, service, rounds=8):
    socks = _connect_many(service.http_port, FLOOD)
    line = b"GET /accounts HTTP/1.1\r\nHost: abuse\r\nX-Slow: " + b"a" * 8192
    closed = set()
    checks = []
    try:
        start = time.monotonic()
        for round_index in range(rounds):
            if not service.alive():
                break
            for index, sock in enumerate(socks):
                if index in closed:
                    continue
                try:
                    sock.send(line[round_index : round_index + 1])
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    closed.add(index)
            checks.append(http.health(service.http_port, HEALTH_DEADLINE))
            time.sleep(max(0.0, start + round_index + 1 - time.monotonic()))
        left = _still_open([sock for index, sock in enumerate(socks) if index not in closed])
    finally:
        for sock in socks:
            sock.close()
    passed, text = _health_line(checks)
    return passed, f"{len(socks)} sending 1 B/s for {rounds} s, {left} still open; {text}"


# -- 3. large events, then normal ones


def _large_then_normal(ctx, service, size, wait):
    publisher = ctx.publisher(service.stream)
    try:
        body = event("big-event", 1, event_id=f"big-{size}", pad=size)
        invalid_before = stats(service).get("invalid", 0)
        publisher.publish(service.stream, body)
        publisher.wait_confirms()
        # The next event comes once the large one was handled (counted invalid), so that it
        # travels on its own, behind whatever the rejection holds up.
        handled = _wait_until(service, lambda counts: counts.get("invalid", 0) > invalid_before, wait)
        after = f"after-big-{size}"
        publisher.publish(service.stream, event(after, 1))
        publisher.wait_confirms()
    finally:
        publisher.close()
    seconds = wait_for_account(service, after, wait)
    counts = stats(service)
    label = f"{size / 1e6:g} MB event" + ("" if handled else " (not counted invalid)")
    if seconds is None:
        state = "" if service.alive() else f", service {service.exit_text()}"
        return False, f"{label}: the next event not applied within {wait} s (lastOffset {counts.get('lastOffset')}){state}"
    return True, f"{label}: next event applied after {seconds:.1f} s, invalid {counts.get('invalid')}"


def large_3mb(ctx, service):
    return _large_then_normal(ctx, service, 3_000_000, 30)


def large_100mb(ctx, service):
    return _large_then_normal(ctx, service, 100_000_000, 60)


# -- 4. many held events


def parked(ctx, service, count=10_000, headers=256):
    from .amqp import table

    header_table = table([(f"x-abuse-{i:04d}", "v" * 64) for i in range(headers)])
    publisher = ctx.publisher(service.stream)
    try:
        for index in range(count):
            # Sequence 2 of an account never opened: parked until its sequence 1 comes.
            body = event(f"parked-{index:05d}", 2, kind="MoneyDeposited", pad=65536)
            publisher.publish(service.stream, body, headers=header_table)
            if index % 500 == 499:
                publisher.wait_confirms(1000)
            if not service.alive():
                break
        publisher.publish(service.stream, event("after-parked", 1))
        publisher.wait_confirms()
    finally:
        publisher.close()
    seconds = wait_for_account(service, "after-parked", 60)
    counts = stats(service)
    label = f"{count:,} parked 64 KiB events, {headers} headers each"
    if seconds is None:
        state = "" if service.alive() else f", service {service.exit_text()}"
        return False, f"{label}: the next event not applied within 60 s{state}"
    return True, (
        f"{label}: next event applied after {seconds:.1f} s; parked {counts.get('parked')}, "
        f"invalid {counts.get('invalid')}"
    )


def too_large(ctx, service, count=300, size=1_500_000):
    publisher = ctx.publisher(service.stream)
    try:
        for index in range(count):
            publisher.publish(service.stream, event(f"huge-{index:03d}", 1, pad=size))
            if index % 50 == 49:
                publisher.wait_confirms(50)
            if not service.alive():
                break
        publisher.publish(service.stream, event("after-too-large", 1))
        publisher.wait_confirms()
    finally:
        publisher.close()
    seconds = wait_for_account(service, "after-too-large", 60)
    counts = stats(service)
    label = f"{count} too_large {size / 1e6:g} MB events"
    if seconds is None:
        state = "" if service.alive() else f", service {service.exit_text()}"
        return False, f"{label}: the next event not applied within 60 s{state}"
    return True, f"{label}: next event applied after {seconds:.1f} s; invalid {counts.get('invalid')}"


# -- 5. the stream deleted and recreated


def _ready_reason(service):
    status, body, _, _ = http.request(service.http_port, "/ready", 1.0)
    text = body.decode(errors="replace").strip()
    return status, text


def recreated_stream(ctx, service, wait=30):
    """The service replayed a seeded stream; the stream is deleted, recreated with fewer
    events, and new accounts published. Noticed: /ready 503 with a reason other than the
    transient ones, or the new stream's accounts served without the old stream's."""
    before = stats(service)
    _, page = http.get_json(service.http_port, "/accounts?limit=1")
    old = page["items"][0]["id"] if isinstance(page, dict) and page.get("items") else None
    ctx.broker_ctl("delete_queue", service.stream)
    # This races the service, which recreates a deleted stream itself; RabbitMQ 3.10 then
    # answers a declare or publish that meets the creation in progress with 541 INTERNAL_ERROR
    # or 506 "Stream not available" and closes the connection: an operator's tool tries again
    # (a few times, on a new connection; a copy of an event is ignored by its eventId).
    for attempt in range(5):
        publisher = None
        try:
            publisher = ctx.publisher(service.stream, create=True)
            for index in range(20):
                publisher.publish(service.stream, event(f"recreated-{index:03d}", 1))
            publisher.wait_confirms()
            break
        except AMQPError as error:
            if attempt == 4 or not any(code in str(error) for code in ("541", "506")):
                raise
            print(f"probe 5: {error}; trying again", file=sys.stderr)
            time.sleep(0.5)
        finally:
            if publisher is not None:
                publisher.close()
    transient = ("CATCHING_UP", "DISCONNECTED", "LOADING")
    start = time.monotonic()
    status, reason = None, ""
    while time.monotonic() - start < wait and service.alive():
        served, _, _, _ = http.request(service.http_port, "/accounts/recreated-019", 1.0)
        if served == 200:
            # Serving the new stream is right only without the old one's accounts: no mix.
            old_status = http.request(service.http_port, f"/accounts/{old}", 1.0)[0] if old else 404
            seconds = time.monotonic() - start
            if old_status == 404:
                return True, f"rebuilt from the new stream after {seconds:.1f} s (old account {old} gone)"
            if _ready_reason(service)[0] == 200:
                return False, f"READY with the new stream's accounts and the old stream's {old}: a silent mix"
        status, reason = _ready_reason(service)
        if status == 503 and reason and not any(word in reason for word in transient):
            return True, f"/ready 503 after {time.monotonic() - start:.1f} s: {reason[:80]}"
        time.sleep(0.25)
    return False, (
        f"not noticed in {wait} s: /ready {status} {reason[:40]}, new accounts 404, "
        f"lastOffset {before.get('lastOffset')} -> {stats(service).get('lastOffset')}"
    )


# -- 6. a password with URL delimiters


PASSWORD_PARTS = ["Qx7pass", "Zk9word", "Wm4more", "Yv8tail"]


def password_in_url(ctx):
    """Runs the service with the password raw and percent-encoded in AMQP_URL; neither may
    show in its output or in any HTTP answer."""
    raw = "/".join(PASSWORD_PARTS[:2]) + "#" + PASSWORD_PARTS[2] + "?" + PASSWORD_PARTS[3]
    encoded = raw.replace("/", "%2F").replace("#", "%23").replace("?", "%3F")
    leaks, notes = [], []
    for label, password in (("raw", raw), ("encoded", encoded)):
        url = f"amqp://guest:{password}@127.0.0.1:{ctx.broker_port}/%2f"
        service = ctx.start_service(f"password-{label}", AMQP_URL=url, LOG_LEVEL="debug")
        answers = ""
        # Until it exits (a URL it refuses) or has logged the broker's refusal twice (a retry).
        end = time.monotonic() + 10
        while time.monotonic() < end and service.alive() and service.text().count("refused") < 2:
            time.sleep(0.1)
        if service.alive():
            for path in ("/", "/stats", "/ready", "/metrics", "/health"):
                status, body, _, _ = http.request(service.http_port, path, 2.0)
                answers += body.decode(errors="replace")
        service.stop()
        text = service.text() + answers
        found = [part for part in PASSWORD_PARTS if part in text]
        notes.append(f"{label}: {service.exit_text()}, {len(service.output)} lines")
        if found:
            leaks.append(f"{label} URL leaks {','.join(found)}")
    if leaks:
        return False, "; ".join(leaks + notes)
    return True, "no part of the password in output or answers (" + "; ".join(notes) + ")"
