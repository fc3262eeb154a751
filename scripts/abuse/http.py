"""Plain HTTP/1.1 requests from a new client each time, with a deadline on the whole
exchange (connect, send, answer), for the probes' "does it still answer" checks."""

import json
import socket
import time


def request(port, path, deadline=1.0, host="127.0.0.1"):
    """GET path on a new connection. Returns (status or None, body bytes, seconds, error text)."""
    start = time.monotonic()
    end = start + deadline
    try:
        with socket.create_connection((host, port), timeout=deadline) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: abuse\r\nConnection: close\r\n\r\n".encode())
            data = bytearray()
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return None, b"", time.monotonic() - start, f"no full answer within {deadline:g} s"
                sock.settimeout(left)
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
                head, sep, body = bytes(data).partition(b"\r\n\r\n")
                if sep and _complete(head, body):
                    break
    except socket.timeout:
        return None, b"", time.monotonic() - start, f"no answer within {deadline:g} s"
    except OSError as error:
        return None, b"", time.monotonic() - start, f"{type(error).__name__}: {error.strerror or error}"
    elapsed = time.monotonic() - start
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    if not sep:
        return None, b"", elapsed, "connection closed without an answer" if not data else "truncated answer"
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return None, b"", elapsed, f"not an HTTP answer: {head[:40]!r}"
    return status, body, elapsed, ""


def _complete(head, body):
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def health(port, deadline=1.0):
    """(answered 200 within deadline, seconds, what went wrong)."""
    status, _, elapsed, error = request(port, "/health", deadline)
    if status == 200:
        return True, elapsed, ""
    return False, elapsed, error or f"status {status}"


def get_json(port, path, deadline=2.0):
    """(status, parsed JSON or None)."""
    status, body, _, _ = request(port, path, deadline)
    try:
        return status, json.loads(body) if body else None
    except ValueError:
        return status, None
