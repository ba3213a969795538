"""Process orchestration for the integration tests: a real corvid-server on a free loopback
port with a temporary data directory, real corvid-worker processes, and the corvid CLI.
Every wait is bounded; a test that cannot make progress fails instead of hanging."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request


class TestFailure(Exception):
    """A check of an integration test did not hold."""


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    """Polls predicate() every 50 ms until it returns a true value, which it returns; raises
    TestFailure naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class Cluster:
    """A server and its workers for one test; stop() kills everything it started."""

    def __init__(self, bins, name):
        self.bins = bins
        self.dir = tempfile.mkdtemp(prefix=f"corvid-it-{name}-")
        self.data_dir = os.path.join(self.dir, "data")
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}"
        self.server = None
        self.workers = {}
        self.logs = []

    # ---- server ----
    def start_server(self, *extra):
        log = open(os.path.join(self.dir, f"server-{len(self.logs)}.log"), "w")
        self.logs.append(log.name)
        self.server = subprocess.Popen(
            [self.bins.server, "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", self.data_dir, *extra],
            stdout=log, stderr=subprocess.STDOUT)
        wait_until(self._server_answers, 20, "corvid-server to answer /api/status")
        return self

    def _server_answers(self):
        if self.server.poll() is not None:
            raise TestFailure(f"corvid-server exited with {self.server.returncode}; log: {self.logs[-1]}\n"
                              + open(self.logs[-1]).read()[-2000:])
        try:
            self.status()
            return True
        except OSError:
            return False

    def kill_server(self):
        self.server.send_signal(signal.SIGKILL)
        self.server.wait(timeout=10)

    def status(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/status", timeout=5) as r:
            return json.loads(r.read())

    def token(self):
        with open(os.path.join(self.data_dir, "token")) as f:
            return f.read().strip()

    # ---- workers ----
    def start_worker(self, name, slowdown=1, *extra, server=None):
        """`server`: the worker's --server (default: this cluster's server)."""
        log = open(os.path.join(self.dir, f"worker-{name}.log"), "w")
        self.workers[name] = subprocess.Popen(
            [self.bins.worker, "--server", server or self.url, "--name", name, "--slowdown", str(slowdown),
             "--benchmark-ms", "100", *extra],
            stdout=log, stderr=subprocess.STDOUT)
        return self.workers[name]

    def worker_status(self, name):
        for w in self.status().get("workers", []):
            if w.get("name") == name and w.get("state") != "disconnected":
                return w
        return None

    def wait_workers_ready(self, names, timeout=30):
        """Waits until every named worker is connected and has sent its benchmark."""
        def ready():
            for n in names:
                w = self.worker_status(n)
                if not w or not w.get("benchmark"):
                    return False
            return True
        wait_until(ready, timeout, f"workers {names} to connect and benchmark")

    def signal_worker(self, name, sig):
        self.workers[name].send_signal(sig)

    # ---- developers ----
    def env(self):
        env = dict(os.environ)
        env["CORVID_TOKEN"] = self.token()
        env.pop("CORVID_SERVER", None)
        return env

    def corvid(self, *args, timeout=120):
        """Runs the corvid CLI to completion; returns (exit code, stdout, stderr)."""
        p = subprocess.run([self.bins.corvid, *args, "--server", self.url], env=self.env(), capture_output=True,
                           text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    def corvid_background(self, *args):
        return subprocess.Popen([self.bins.corvid, *args, "--server", self.url], env=self.env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def graph_file(self, name, doc):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def stop(self):
        for p in list(self.workers.values()) + ([self.server] if self.server else []):
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=10)

    def dump_logs(self):
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                text = open(os.path.join(self.dir, name)).read()
                print(f"----- {name} (last 1500 chars) -----\n{text[-1500:]}")


def finish(proc, timeout, what):
    """Waits for a background process; returns (exit code, stdout, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise TestFailure(f"{what} did not finish within {timeout} s; stderr: {err[-1500:]}")
    return proc.returncode, out, err
