"""What the psrpc-bench scripts share: the binaries, private brokers, and
running a binary for its JSON summary (the last line of its output)."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args, port):
    """Starts a broker process and returns it once it accepts connections on port."""
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"{args[0]} did not start")


class Brokers:
    """A private nats-server and redis-server for the run (a context manager);
    `urls[bus]` is (URL, broker pid), None for the in-process bus. With
    `large_payloads`, both take megabyte messages with many in flight: NATS
    accepts 16 MiB messages (its default is 1 MiB) and queues up to 4 GiB
    for a connection before dropping it as a slow consumer (64 MiB), and
    Redis queues any amount for a pub/sub connection (its default closes one
    holding 32 MiB), as psrpc-bench sets up the brokers it starts itself."""

    def __init__(self, large_payloads=False):
        self.large_payloads = large_payloads

    def __enter__(self):
        nats_port, redis_port = free_port(), free_port()
        nats = ["nats-server", "-a", "127.0.0.1", "-p", str(nats_port)]
        redis = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if self.large_payloads:
            self.config = tempfile.NamedTemporaryFile("w", suffix=".conf", prefix="psrpc-bench-nats-")
            self.config.write(f"max_payload: {16 << 20}\nmax_pending: {4 << 30}\n")
            self.config.flush()
            nats += ["-c", self.config.name]
            redis += ["--client-output-buffer-limit", "pubsub", "0", "0", "0"]
        self.procs = [start(nats, nats_port), start(redis, redis_port)]
        self.urls = {"local": None, "nats": (f"nats://127.0.0.1:{nats_port}", self.procs[0].pid),
                     "redis": (f"redis://127.0.0.1:{redis_port}", self.procs[1].pid)}
        return self

    def __exit__(self, *_):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def rust_binary():
    """$CARGO_TARGET_DIR/release/psrpc-bench (else target/release/psrpc-bench)."""
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    rust = os.path.join(target, "release", "psrpc-bench")
    if not os.path.exists(rust):
        sys.exit(f"{rust} missing: cargo build --release -p psrpc-bench")
    return rust


def build_go(modfile="go.mod", tags=""):
    """Builds the Go twin (interop/go/bench) into a temporary directory; returns its path."""
    go = os.path.join(tempfile.mkdtemp(prefix="psrpc-go-bench-"), "bench")
    subprocess.run(["go", "build", f"-modfile={modfile}", f"-tags={tags}", "-o", go, "./bench"],
                   cwd=os.path.join(ROOT, "interop", "go"), check=True)
    return go


def run_json(args):
    """Runs a benchmark binary; returns its JSON summary, or None (reported on stderr) if it failed."""
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"failed: {' '.join(args)}\n{done.stdout[-500:]}{done.stderr[-500:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])
