"""A memory cgroup of our own (v2 when its memory controller is usable, else v1), for the
service under attack: a limit, its peak, and whether the kernel's OOM killer struck in it."""

import os


def _own_path(controller):
    """Our cgroup's path for a v1 controller, or the v2 path when controller is None."""
    with open("/proc/self/cgroup") as lines:
        for line in lines:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if controller is None and controllers == "":
                return path
            if controller is not None and controller in controllers.split(","):
                return path
    return None


def _mounts(kind):
    with open("/proc/mounts") as lines:
        for line in lines:
            fields = line.split()
            if fields[2] == kind:
                yield fields[1], fields[3].split(",")


def _read(path):
    with open(path) as f:
        return f.read()


def _write(path, value):
    with open(path, "w") as f:
        f.write(str(value))


class MemoryCgroup:
    """Created under our own cgroup (so it works inside a container as well); `remove()`
    when no process is left in it."""

    def __init__(self, name, limit_bytes):
        self.limit = limit_bytes
        self.path, self.version = self._create(name)
        if self.version == 2:
            _write(self._file("memory.max"), limit_bytes)
            if os.path.exists(self._file("memory.swap.max")):
                _write(self._file("memory.swap.max"), 0)
        else:
            _write(self._file("memory.limit_in_bytes"), limit_bytes)
            if os.path.exists(self._file("memory.memsw.limit_in_bytes")):
                _write(self._file("memory.memsw.limit_in_bytes"), limit_bytes)
        self.oom_kills_at_start = self.oom_kills()

    @staticmethod
    def _create(name):
        errors = []
        for mount, _ in _mounts("cgroup2"):
            own = _own_path(None)
            if own is None:
                continue
            parent = os.path.normpath(mount + own)
            try:
                if "memory" not in _read(os.path.join(parent, "cgroup.controllers")).split():
                    errors.append(f"v2 at {parent}: no memory controller")
                    continue
                if "memory" not in _read(os.path.join(parent, "cgroup.subtree_control")).split():
                    _write(os.path.join(parent, "cgroup.subtree_control"), "+memory")
                path = os.path.join(parent, name)
                os.makedirs(path, exist_ok=True)
                return path, 2
            except OSError as error:
                errors.append(f"v2 at {parent}: {error}")
        for mount, options in _mounts("cgroup"):
            if "memory" not in options:
                continue
            own = _own_path("memory") or "/"
            path = os.path.normpath(os.path.join(mount + own, name))
            try:
                os.makedirs(path, exist_ok=True)
                return path, 1
            except OSError as error:
                errors.append(f"v1 at {path}: {error}")
        raise RuntimeError(
            "no usable memory cgroup (run as root on a machine with cgroup v1 or v2 memory): " + "; ".join(errors)
        )

    def _file(self, name):
        return os.path.join(self.path, name)

    def add_self(self):
        """For preexec_fn: moves the calling (child) process into the cgroup."""
        _write(self._file("cgroup.procs"), os.getpid())

    def usage(self):
        return int(_read(self._file("memory.current" if self.version == 2 else "memory.usage_in_bytes")))

    def peak(self):
        """Highest usage since the last reset_peak (None where the kernel has no v2 memory.peak)."""
        name = "memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"
        try:
            return int(_read(self._file(name)))
        except OSError:
            return None

    def reset_peak(self):
        """False where the peak cannot be reset (v2 before Linux 6.12): sample usage() instead."""
        try:
            _write(self._file("memory.peak" if self.version == 2 else "memory.max_usage_in_bytes"), 0)
            return True
        except OSError:
            return False

    def oom_kills(self):
        """OOM kills in this cgroup so far (memory.events on v2, memory.oom_control on v1)."""
        text = _read(self._file("memory.events" if self.version == 2 else "memory.oom_control"))
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        if self.version == 1:  # kernels before 4.13: no counter; hitting the limit is the sign
            return int(_read(self._file("memory.failcnt")))
        return 0

    def describe(self):
        return f"cgroup v{self.version} {self.path}, limit {self.limit // (1 << 20)} MiB"

    def remove(self):
        try:
            os.rmdir(self.path)
        except OSError:
            pass
