"""A minimal AMQP 0-9-1 publisher (stdlib only) for the abuse probes.

accountctl publishes through the same client as the service, so it cannot be the tool that
sends what breaks that client (a 100 MB body, 4,000 headers): this one speaks the protocol
itself. Only what the probes need: PLAIN login, one channel, queue.declare, publisher
confirms, basic.publish with headers split into frames of the negotiated size.
"""

import socket
import struct
import time

FRAME_METHOD, FRAME_HEADER, FRAME_BODY, FRAME_HEARTBEAT = 1, 2, 3, 8
FRAME_END = b"\xce"


class AMQPError(Exception):
    pass


def shortstr(text):
    raw = text.encode() if isinstance(text, str) else text
    if len(raw) > 255:
        raise ValueError("short string above 255 bytes")
    return struct.pack("B", len(raw)) + raw


def longstr(data):
    raw = data.encode() if isinstance(data, str) else data
    return struct.pack(">I", len(raw)) + raw


# The service's default STREAM_MAX_SEGMENT_SIZE (Topology.defaultMaxSegmentSizeBytes).
STREAM_SEGMENT_BYTES = 8 << 20


def table(entries):
    """A field table of string values ('S') and ints ('l'), in the given order."""
    out = bytearray()
    for name, value in entries:
        out += shortstr(name)
        if isinstance(value, int):
            out += b"l" + struct.pack(">q", value)
        else:
            out += b"S" + longstr(value)
    return struct.pack(">I", len(out)) + bytes(out)


class Publisher:
    """One connection, one confirmed channel. `deadline` bounds every wait in seconds."""

    def __init__(self, host, port, user="guest", password="guest", vhost="/", deadline=60.0):
        self.deadline = deadline
        self.sock = socket.create_connection((host, port), timeout=deadline)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buffer = bytearray()
        self.frame_max = 131072
        self.next_tag = 1
        self.confirmed = 0
        self.nacked = 0
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self._expect(0, 10, 10)
        response = b"\x00" + user.encode() + b"\x00" + password.encode()
        self._method(0, 10, 11, table([]) + shortstr("PLAIN") + longstr(response) + shortstr("en_US"))
        tune = self._expect(0, 10, 30)
        channel_max, frame_max, _ = struct.unpack(">HIH", tune[:8])
        self.frame_max = min(frame_max or 131072, 131072)
        self._method(0, 10, 31, struct.pack(">HIH", channel_max, self.frame_max, 0))
        self._method(0, 10, 40, shortstr(vhost) + shortstr("") + b"\x00")
        self._expect(0, 10, 41)
        self._method(1, 20, 10, shortstr(""))
        self._expect(1, 20, 11)
        self._method(1, 85, 10, b"\x00")
        self._expect(1, 85, 11)

    # -- framing

    def _frame(self, kind, channel, payload):
        return struct.pack(">BHI", kind, channel, len(payload)) + payload + FRAME_END

    def _method(self, channel, class_id, method_id, args):
        self.sock.sendall(self._frame(FRAME_METHOD, channel, struct.pack(">HH", class_id, method_id) + args))

    def _read_frame(self):
        while True:
            if len(self.buffer) >= 7:
                kind, channel, size = struct.unpack(">BHI", self.buffer[:7])
                if len(self.buffer) >= 8 + size:
                    payload = bytes(self.buffer[7 : 7 + size])
                    del self.buffer[: 8 + size]
                    return kind, channel, payload
            chunk = self.sock.recv(65536)
            if not chunk:
                raise AMQPError("the broker closed the connection")
            self.buffer += chunk

    def _handle(self, channel, payload):
        """Acks, nacks and closes; returns (class, method, args) of anything else."""
        class_id, method_id = struct.unpack(">HH", payload[:4])
        args = payload[4:]
        if (class_id, method_id) in ((60, 80), (60, 120)):
            tag, flags = struct.unpack(">QB", args[:9])
            count = tag - self.confirmed - self.nacked if flags & 1 else 1
            if method_id == 80:
                self.confirmed += count
            else:
                self.nacked += count
            return None
        if (class_id, method_id) in ((10, 50), (20, 40)):
            code = struct.unpack(">H", args[:2])[0]
            text = args[3 : 3 + args[2]].decode(errors="replace")
            raise AMQPError(f"broker closed the {'connection' if class_id == 10 else 'channel'}: {code} {text}")
        return class_id, method_id, args

    def _expect(self, channel, class_id, method_id):
        end = time.monotonic() + self.deadline
        while time.monotonic() < end:
            kind, _, payload = self._read_frame()
            if kind != FRAME_METHOD:
                continue
            got = self._handle(channel, payload)
            if got and got[:2] == (class_id, method_id):
                return got[2]
        raise AMQPError(f"no {class_id}.{method_id} within {self.deadline} s")

    # -- what the probes use

    def declare_stream(self, name, passive=False):
        """Creates the stream (durable, with the arguments the service creates it with:
        declaring it with others while the service recreates it is a 406) or, passive, checks
        that it exists."""
        args = table([("x-queue-type", "stream"), ("x-stream-max-segment-size-bytes", STREAM_SEGMENT_BYTES)])
        bits = b"\x01" if passive else b"\x02"
        self._method(1, 50, 10, struct.pack(">H", 0) + shortstr(name) + bits + args)
        self._expect(1, 50, 11)

    def publish(self, routing_key, body, headers=(), exchange=""):
        """Sends one persistent message (not waiting for its confirm); `headers` is a list of
        pairs or a table already encoded (encoding 4,000 headers costs more than sending them)."""
        flags = 0x8000 | 0x1000  # content-type, delivery-mode
        props = shortstr("application/json")
        if headers:
            flags |= 0x2000
            props += headers if isinstance(headers, bytes) else table(headers)
        props += b"\x02"
        frames = [
            self._frame(
                FRAME_METHOD,
                1,
                struct.pack(">HH", 60, 40) + struct.pack(">H", 0) + shortstr(exchange) + shortstr(routing_key) + b"\x00",
            ),
            self._frame(FRAME_HEADER, 1, struct.pack(">HHQH", 60, 0, len(body), flags) + props),
        ]
        self.sock.sendall(b"".join(frames))
        view = memoryview(body)
        step = self.frame_max - 8
        for start in range(0, len(body), step):
            self.sock.sendall(self._frame(FRAME_BODY, 1, bytes(view[start : start + step])))
        self.next_tag += 1
        self._drain()

    def _drain(self):
        """Reads whatever acks have arrived without blocking."""
        self.sock.setblocking(False)
        try:
            while True:
                try:
                    chunk = self.sock.recv(65536)
                except BlockingIOError:
                    break
                if not chunk:
                    raise AMQPError("the broker closed the connection")
                self.buffer += chunk
        finally:
            self.sock.settimeout(self.deadline)
        while len(self.buffer) >= 7:
            kind, channel, size = struct.unpack(">BHI", self.buffer[:7])
            if len(self.buffer) < 8 + size:
                break
            payload = bytes(self.buffer[7 : 7 + size])
            del self.buffer[: 8 + size]
            if kind == FRAME_METHOD:
                self._handle(channel, payload)

    def wait_confirms(self, most_outstanding=0):
        """Blocks until at most `most_outstanding` messages lack a confirm; fails on a nack."""
        end = time.monotonic() + self.deadline
        while self.next_tag - 1 - self.confirmed - self.nacked > most_outstanding:
            if time.monotonic() > end:
                raise AMQPError(f"{self.next_tag - 1 - self.confirmed} messages unconfirmed after {self.deadline} s")
            kind, channel, payload = self._read_frame()
            if kind == FRAME_METHOD:
                self._handle(channel, payload)
        if self.nacked:
            raise AMQPError(f"the broker nacked {self.nacked} messages")

    def close(self):
        try:
            self._method(0, 10, 50, struct.pack(">H", 200) + shortstr("bye") + struct.pack(">HH", 0, 0))
            self._expect(0, 10, 51)
        except (OSError, AMQPError):
            pass
        self.sock.close()
