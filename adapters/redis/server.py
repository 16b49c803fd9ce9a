"""``RedisServer``: a real ``redis-server`` child process on a free loopback port, for tests and
benchmarks (the way ``VendorEmulator`` stands in for the vendors). No persistence; the server can
be killed and restarted on the same port to rehearse an outage."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

# Another server binary with the same command line (e.g. ``valkey-server``) can be tested instead.
SERVER_ENV = "LLMPORT_TEST_REDIS_SERVER"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """``with RedisServer() as server:`` starts ``redis-server`` on a free port (loopback only, no
    RDB or AOF files) and stops it on exit. ``kill`` ends it abruptly (a crash), ``start`` brings
    it back on the same port, empty."""

    def __init__(self, executable: str | None = None, *, port: int | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        name = executable or os.environ.get(SERVER_ENV) or "redis-server"
        found = shutil.which(name)
        if found is None:
            raise FileNotFoundError(f"{name} not found: install the redis-server package (make test does as root)")
        self.executable = found
        self.port = port or free_port()
        self._fixed_port = port is not None
        self.extra_args = extra_args
        self._dir = Path(tempfile.mkdtemp(prefix="llmport-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the server. The first start moves to another free port if the chosen one was taken
        meanwhile; later starts (after ``kill``) keep the port clients already know."""
        if self.running:
            return
        for _ in range(5):
            if self._spawn(timeout):
                self._fixed_port = True
                return
            if self._fixed_port or self.running:
                break
            self.port = free_port()
        log = self._dir / "server.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise RuntimeError(f"redis-server did not start on port {self.port}:\n{tail}")

    def _spawn(self, timeout: float) -> bool:
        args = [
            self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--save", "", "--appendonly", "no", "--dir", str(self._dir), "--daemonize", "no",
            "--loglevel", "warning", "--logfile", str(self._dir / "server.log"), *self.extra_args,
        ]
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                self._process = None
                return False  # exited: most likely the port was taken
            if self.ping():
                return True
            time.sleep(0.01)
        self.kill()
        return False

    def ping(self) -> bool:
        """Whether the server answers PING now."""
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    def flush(self) -> None:
        """Remove every key (``FLUSHALL``), starting the server first if it is down."""
        self.start()
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            client.flushall()
        finally:
            client.close()

    def kill(self) -> None:
        """End the server at once (``SIGKILL``), as a crash would."""
        self._end(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server cleanly."""
        self._end(signal.SIGTERM)

    def restart(self) -> None:
        """Kill the server and start it again on the same port, empty."""
        self.kill()
        self.start()

    def _end(self, sig: signal.Signals) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(sig)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def close(self) -> None:
        """Stop the server and remove its working directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisServer({self.url!r}, running={self.running})"
