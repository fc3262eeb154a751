"""The service under attack: started inside the memory cgroup, its output kept (through a
pipe, so that its log is not page cache charged to the cgroup), its memory read from /proc."""

import resource
import signal
import socket
import subprocess
import threading
import time

from . import http


class Service:
    def __init__(self, binary, cgroup, env, log_path, http_port):
        self.http_port = http_port
        self.log_path = log_path
        self.output = []
        self.proc = subprocess.Popen(
            [binary],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=cgroup.add_self,
        )
        self.reader = threading.Thread(target=self._keep_output, daemon=True)
        self.reader.start()

    def _keep_output(self):
        with open(self.log_path, "ab") as log:
            for line in self.proc.stdout:
                self.output.append(line)
                log.write(line)
                log.flush()

    def text(self):
        return b"".join(self.output).decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def exit_text(self):
        code = self.proc.poll()
        if code is None:
            return "running"
        if code < 0:
            return f"killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"

    def wait_ready(self, seconds):
        """True once /ready answers 200 (False when it died or the time ran out)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.alive():
            status, _, _, _ = http.request(self.http_port, "/ready", 1.0)
            if status == 200:
                return True
            time.sleep(0.1)
        return False

    def _status(self, key):
        try:
            with open(f"/proc/{self.proc.pid}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def rss(self):
        return self._status("VmRSS")

    def peak_rss(self):
        return self._status("VmHWM")

    def reset_peak_rss(self):
        try:
            with open(f"/proc/{self.proc.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def stop(self, seconds=10):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.reader.join(5)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(base, **settings):
    env = {k: v for k, v in base.items() if not k.startswith(("AMQP_", "HTTP_", "SNAPSHOT_", "EVENTS_"))}
    env.update({k: str(v) for k, v in settings.items()})
    return env


def rlimit_nofile(wanted):
    """Raises our open-files limit (the service inherits it); returns what it is now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
