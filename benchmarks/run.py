#!/usr/bin/env python3
"""Benchmark harness: ChatQL (and optionally the Node.js peer) under the peer's load generator.

    python benchmarks/run.py                       # ChatQL only (`make bench`)
    python benchmarks/run.py --target both         # the peer and ChatQL, ratios (bench-compare)
                                                   # and the fan-out floor (floor_server.py)
    python benchmarks/run.py --target app          # ChatQL: plain vs the web app's documents
    python benchmarks/run.py --quick --scenarios fanout,query

Each scenario runs against a FRESH server process (ChatQL: `python -m chatql` on a new temporary
SQLite database; peer: `node server.mjs`), pinned to the first allowed core; the generator
(`loadgen.mjs` from a temporary copy of ../shared/peer-bench, `npm ci` there) runs pinned to the
second core. With several targets, each scenario runs against every target before the next
scenario starts, and a probe of the machine's speed (`guest_speed.py`) is taken before each
scenario. `--target both` also runs `fanout` against `floor_server.py`, a server that does no
work: its latency is the generator's own share, the floor under any server's. Everything
listens on 127.0.0.1 only. Every wait is bounded, and every process group this script starts
is stopped at the end, also on error, SIGTERM or Ctrl-C.

Standard library only, so it runs under any Python 3.13 (the Makefile uses .venv/bin/python).
Settings can also come from the environment: BENCH_SCENARIOS, BENCH_QUICK, BENCH_LABEL,
BENCH_TARGET, BENCH_PEER_DIR, BENCH_PYSPY, BENCH_<SCENARIO>_ARGS (e.g. BENCH_FANOUT_ARGS='--subs
1000 --messages 200 --rate 10'), BENCH_CHATQL_ENV ('CHATQL_X=1 CHATQL_Y=2').
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import platform
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
DEFAULT_PEER_DIR = REPO.parent / "shared" / "peer-bench"
# What the web app sends, as Apollo Client sends it (__typename everywhere), from its build.
APP_DOCUMENTS = REPO / "chatql" / "static" / "app" / "persisted-documents.json"
APP_OPERATIONS = {"sub": "OnMessageCreated", "messages": "RoomHistory"}  # loadgen Q key -> name
APP_HISTORY_PAGE = 25  # RoomHistory's own `limit`: the plain query asks for as many
HOST = "127.0.0.1"  # loopback only, for both servers and the generator
FLOOR_SERVER = REPO / "benchmarks" / "floor_server.py"
FLOOR_SCENARIOS = frozenset({"fanout"})  # the floor is measured where latency is the result
# A fixed 64-character HS256 secret, so that runs are repeatable (benchmark only, never deployed).
JWT_SECRET = hashlib.sha256(b"chatql-benchmark-secret").hexdigest()

# Settings that would throttle or drop work under benchmark load, raised far above what the
# scenarios need (each is set only if this version of ChatQL has it). The rate limiters stay on,
# so their cost is measured, but never trip. Any other CHATQL_* setting whose name looks like a
# limit is reported at start-up (raise it with BENCH_CHATQL_ENV).
CHATQL_RAISED_LIMITS = {
    "CHATQL_SUBSCRIPTION_QUEUE_SIZE": "100000",
    "CHATQL_WS_MAX_SUBSCRIPTIONS": "1000",
    "CHATQL_RATE_LIMIT_MESSAGES": "1000000/1",
    "CHATQL_RATE_LIMIT_AUTH": "1000000/1",
    # the generator shares 20 users among up to 5000 WebSockets
    "CHATQL_MAX_CONNECTIONS_PER_USER": "1000000",
}
# Per-request shape limits: the generator's small operations stay far below them (a violation
# would show up as errors), so they keep their production defaults.
CHATQL_KEPT_DEFAULTS = frozenset(
    {
        "CHATQL_MAX_QUERY_DEPTH",
        "CHATQL_MAX_ALIASES",
        "CHATQL_MAX_TOKENS",
        "CHATQL_MAX_DIRECTIVES",
        "CHATQL_MAX_QUERY_COST",
        "CHATQL_MAX_BODY_BYTES",
        "CHATQL_MAX_WS_MESSAGE_BYTES",
    }
)
LIMIT_LIKE = re.compile(r"RATE|QUEUE|MAX|LIMIT")
# GET /metrics?format=json (the server's event-loop lag and RSS), read after every scenario.
CHATQL_MEASUREMENT = {"CHATQL_METRICS": "1"}


@dataclass(frozen=True)
class Scenario:
    """One loadgen run against one fresh server process."""

    name: str
    loadgen_scenario: str
    full_args: str
    quick_args: str
    max_seconds: int  # loadgen --max-seconds (per measured point)
    full_limit: int  # hard wall-clock limit for the whole loadgen process, seconds
    quick_limit: int
    about: str  # expected duration, for --list and the README

    def args(self, quick: bool) -> list[str]:
        override = os.environ.get(f"BENCH_{self.name.upper()}_ARGS")
        return shlex.split(override if override else self.quick_args if quick else self.full_args)

    def limit(self, quick: bool) -> int:
        return self.quick_limit if quick else self.full_limit


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "fanout",
            "fanout",
            "--subs 100,1000,2000 --messages 200 --rate 10",
            "--subs 100,1000 --messages 30 --rate 10",
            180,
            600,
            120,
            "full ~1.5 min, quick ~30 s",
        ),
        Scenario(
            "overload",
            "fanout",
            "--subs 2000 --messages 200 --rate 40 --drain-max-ms 120000",
            "--subs 1000 --messages 40 --rate 40 --drain-max-ms 60000",
            240,
            300,
            150,
            "full 1-3 min, quick ~30 s",
        ),
        Scenario(
            "rooms",
            "rooms",
            "--rooms 500 --subs-per-room 4 --rates "
            "100,200,300,400,500,600,700,800,900,1000,1250,1500,1750,2000,2250,2500,2750,"
            "3000,3250,3500,3750,4000,4250,4500,4750,5000,5250,5500 --step-seconds 10 "
            "--p99-limit-ms 250",
            "--rooms 100 --subs-per-room 4 --rates 100,200,400 --step-seconds 3 --p99-limit-ms 250",
            600,
            660,
            120,
            "full 1-5 min (11 s per passed step), quick ~30 s",
        ),
        Scenario(
            "query",
            "query",
            "--concurrency 32 --duration 10 --warmup 3 --limit 50 --seed-messages 100",
            "--concurrency 32 --duration 3 --warmup 1 --limit 50 --seed-messages 100",
            120,
            180,
            60,
            "full ~25 s, quick ~15 s",
        ),
        Scenario(
            "conn",
            "conn",
            "--steps 0,1000,5000 --settle-ms 5000",
            "--steps 0,500,1000 --settle-ms 2000",
            300,
            360,
            90,
            "full ~1 min, quick ~20 s",
        ),
    )
}

# The measured phases: loadgen announces one on stderr (ChatQL's event-loop lag window restarts
# there) and prints its result line on stdout. With profiling (ChatQL only) a py-spy recording
# covers each one.
PROFILE_TRIGGERS: dict[str, tuple[re.Pattern[str], str, str]] = {
    # scenario -> (stderr regex, profile name template, result "scenario" that ends it)
    "fanout": (re.compile(r"fanout S=(\d+): sending"), "fanout-S{0}", "fanout"),
    "overload": (re.compile(r"fanout S=(\d+): sending"), "overload-S{0}", "fanout"),
    "rooms": (re.compile(r"rooms: step (\d+) msg/s"), "rooms-{0}", "rooms-step"),
    "query": (re.compile(r"query: autocannon"), "query", "query"),
}


# ------------------------------------------------------------------ process bookkeeping
class Interrupted(Exception):
    """SIGTERM/SIGHUP: unwind so that every `finally` stops its processes."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(f"signal {signal.Signals(signum).name}")


class Group:
    """A child started in its own session, so that its whole process group can be stopped."""

    live: list[Group] = []

    def __init__(self, name: str, cmd: list[str], **popen: Any) -> None:
        self.name = name
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, start_new_session=True, stdin=subprocess.DEVNULL, **popen)
        self.pid = self.proc.pid
        Group.live.append(self)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, first: signal.Signals = signal.SIGTERM, grace: float = 10.0) -> int | None:
        """Signal the group, wait at most `grace` seconds, then SIGKILL whatever is left."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, first)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)  # children left in the group, if any
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)
        if self in Group.live:
            Group.live.remove(self)
        return self.proc.returncode

    @classmethod
    def stop_all(cls) -> None:
        for group in list(reversed(cls.live)):
            group.stop(grace=3.0)


def log(message: str) -> None:
    sys.stderr.write(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((HOST, port)) == 0


def graphql_ready(url: str) -> bool:
    body = json.dumps({"query": "{ __typename }"}).encode()
    request = urllib.request.Request(
        url, data=body, headers={"content-type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            data = json.loads(response.read())
    except (OSError, ValueError, urllib.error.URLError):
        return False
    return bool(data.get("data", {}).get("__typename") == "Query")


def run_text(cmd: list[str], cwd: Path | None = None, timeout: float = 30) -> str:
    try:
        done = subprocess.run(
            cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip()


# ------------------------------------------------------------------ cores
@dataclass(frozen=True)
class Pinning:
    server: list[str]  # command prefix for the server
    generator: list[str]  # command prefix for loadgen (and py-spy)
    note: str


def pinning() -> Pinning:
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2 and shutil.which("taskset"):
        s, g = str(cpus[0]), str(cpus[1])
        return Pinning(["taskset", "-c", s], ["taskset", "-c", g], f"server core {s}, gen core {g}")
    return Pinning([], [], f"NOT pinned ({len(cpus)} core(s) or no taskset): numbers are rough")


def guest_speed(pin: Pinning) -> float | None:
    """`guest_speed.py`'s CPU milliseconds for its fixed workload, pinned on the server's core:
    how fast this machine is right now (None if the probe could not run)."""
    probe = Path(__file__).with_name("guest_speed.py")
    out = run_text([*pin.server, sys.executable, str(probe)], timeout=120)
    try:
        return float(out)
    except ValueError:
        return None


# ------------------------------------------------------------------ targets
@dataclass
class Target:
    key: str  # "chatql" or "peer"
    title: str
    make_cmd: Callable[[int, Path], tuple[list[str], dict[str, str], Path]]
    # (port, scratch dir) -> (command, environment, working directory)


def chatql_target(python: str, source: Path, env_settings: dict[str, str]) -> Target:
    def make(port: int, scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CHATQL_")}
        env.update(
            CHATQL_ENV="production",
            CHATQL_HOST=HOST,
            CHATQL_PORT=str(port),
            CHATQL_DATABASE_URL=f"sqlite:///{scratch / 'bench.db'}",  # absolute: sqlite:////tmp/…
            CHATQL_JWT_SECRET=JWT_SECRET,
            CHATQL_ACCESS_TOKEN_TTL="3600",
            CHATQL_LOG_LEVEL="warning",
        )
        env.update(env_settings)
        # `-m` puts the working directory first on sys.path, so this runs the chatql in `source`
        return [python, "-m", "chatql"], env, source

    return Target("chatql", "ChatQL", make)


def app_mode_args(scenario: str) -> list[str]:
    """Both sides of the app comparison read history pages of the app's size."""
    return ["--limit", str(APP_HISTORY_PAGE)] if scenario == "query" else []


def app_documents_target(chatql: Target) -> Target:
    """The same ChatQL, driven by the load generator that sends the web app's documents."""
    return Target("chatql-app", "ChatQL, web app documents", chatql.make_cmd)


def floor_target() -> Target:
    """`floor_server.py` under the interpreter that runs this script (the Makefile's .venv)."""

    def make(port: int, _scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        cmd = [sys.executable, str(FLOOR_SERVER), "--host", HOST, "--port", str(port)]
        return cmd, dict(os.environ), REPO

    return Target("floor", "floor (no-work server)", make)


def peer_target(peer_copy: Path) -> Target:
    def make(port: int, _scratch: Path) -> tuple[list[str], dict[str, str], Path]:
        env = dict(os.environ)
        env.update(NODE_ENV="production", HOST=HOST, PORT=str(port), JWT_SECRET=JWT_SECRET)
        return ["node", "server.mjs"], env, peer_copy

    return Target("peer", "peer (Node)", make)


def chatql_introspect(python: str, source: Path) -> tuple[str, list[str]]:
    """(file of the chatql package that `python -m chatql` imports in `source`, setting names)."""
    code = (
        "import chatql\n"
        "from chatql.config import documented_settings\n"
        "print(chatql.__file__)\n"
        "print('\\n'.join(name for name, _default, _doc in documented_settings()))"
    )
    out = run_text([python, "-c", code], cwd=source).split()
    return (out[0], out[1:]) if out else ("", [])


def chatql_env_settings(
    names: list[str], extra_env: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The raised limits this ChatQL version knows, plus BENCH_CHATQL_ENV; notes on the rest."""
    env = {k: v for k, v in {**CHATQL_RAISED_LIMITS, **CHATQL_MEASUREMENT}.items() if k in names}
    env.update(extra_env)
    notes = [
        f"{name} looks like a limit and is left at its default (raise it with BENCH_CHATQL_ENV)"
        for name in names
        if LIMIT_LIKE.search(name) and name not in env and name not in CHATQL_KEPT_DEFAULTS
    ]
    return env, notes


def export_git_rev(rev: str, workdir: Path) -> tuple[Path, str]:
    """`git archive REV` into a temporary folder: benchmark a commit without touching the tree.
    Returns the folder and the full commit id."""
    commit = run_text(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=REPO)
    if not commit:
        raise SystemExit(f"bench: {rev!r} is not a commit of {REPO}")
    tar = workdir / "source.tar"
    done = subprocess.run(
        ["git", "archive", "--format=tar", "-o", str(tar), commit],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"bench: git archive {rev} failed: {done.stderr.strip()}")
    source = workdir / "source"
    with tarfile.open(tar) as archive:
        archive.extractall(source, filter="data")
    return source, commit


# ------------------------------------------------------------------ peer-bench copy
def prepare_peer_bench(source: Path, workdir: Path, deadline_s: float = 300) -> Path:
    """Copy peer-bench to a temporary folder and `npm ci` there (../shared is read-only)."""
    for need in ("loadgen.mjs", "server.mjs", "package-lock.json"):
        if not (source / need).is_file():
            raise SystemExit(f"bench: {source / need} not found (set BENCH_PEER_DIR / --peer-dir)")
    if not shutil.which("node") or not shutil.which("npm"):
        raise SystemExit("bench: node and npm (Node 20) are needed for the load generator")
    copy = workdir / "peer-bench"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("node_modules", "results"))
    for path in [copy, *copy.rglob("*")]:  # the shared copy has no write bits
        path.chmod(path.stat().st_mode | 0o200)
    log(f"npm ci in {copy}")
    npm = Group(
        "npm ci",
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=copy,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = npm.proc.communicate(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        npm.stop()
        raise SystemExit(f"bench: npm ci did not finish within {deadline_s} s") from None
    npm.stop()
    if npm.proc.returncode != 0:
        raise SystemExit(f"bench: npm ci failed ({npm.proc.returncode}):\n{out[-2000:]}")
    return copy


def prepare_app_loadgen(peer_copy: Path, workdir: Path) -> Path:
    """A second load generator whose subscription and history query are the web app's own
    documents (operations.mjs's `Q.sub` and `Q.messages` replaced), variables renamed to the
    ones loadgen passes (`$chatRoomId` -> `$r`: the same document to the server's work)."""
    if not APP_DOCUMENTS.is_file():
        raise SystemExit(
            f"bench: {APP_DOCUMENTS} not found (run `make install`: it builds the app)"
        )
    bodies = {o["name"]: o["body"] for o in json.loads(APP_DOCUMENTS.read_text())["operations"]}
    app = workdir / "loadgen-app"
    app.mkdir()
    for path in peer_copy.iterdir():
        if path.name == "node_modules":
            (app / path.name).symlink_to(path, target_is_directory=True)
        elif path.is_file():
            shutil.copy2(path, app / path.name)
    overrides = ["", "// ChatQL's benchmark: the web app's documents, as Apollo Client sends them"]
    for key, name in APP_OPERATIONS.items():
        if name not in bodies:
            raise SystemExit(f"bench: the web app has no {name} document in {APP_DOCUMENTS}")
        body = re.sub(r"\$chatRoomId\b", "$r", bodies[name])
        overrides.append(f"Q.{key} = {json.dumps(body)};")
    with (app / "operations.mjs").open("a") as out:
        out.write("\n".join(overrides) + "\n")
    return app


# ------------------------------------------------------------------ profiling
class Profiler:
    """Two py-spy recorders (flame graph SVG + collapsed stacks) on the server for one phase."""

    def __init__(self, py_spy: str, out_dir: Path, prefix: list[str]) -> None:
        self.py_spy = py_spy
        self.out_dir = out_dir
        self.prefix = prefix
        self.active: tuple[str, list[Group], float] | None = None
        self.done: list[Path] = []

    def start(self, name: str, pid: int) -> None:
        self.stop()
        self.out_dir.mkdir(parents=True, exist_ok=True)
        base = [self.py_spy, "record", "--pid", str(pid), "--rate", "100", "--nonblocking"]
        groups = []
        for fmt, ext in (("flamegraph", "svg"), ("raw", "txt")):
            out = self.out_dir / f"{name}.{ext}"
            cmd = [*self.prefix, *base, "--format", fmt, "-o", str(out)]
            groups.append(
                Group(f"py-spy {name}", cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        self.active = (name, groups, time.monotonic())
        log(f"profiling {name} (py-spy, pid {pid})")

    def stop(self) -> None:
        if self.active is None:
            return
        name, groups, t0 = self.active
        self.active = None
        seconds = time.monotonic() - t0
        for g in groups:
            g.stop(first=signal.SIGINT, grace=20.0)  # SIGINT: py-spy writes its output and exits
        raw = self.out_dir / f"{name}.txt"
        if raw.is_file():
            summary = self.out_dir / f"{name}-profile.txt"
            summary.write_text(summarize_collapsed(raw, seconds=seconds))
            self.done.append(summary)
            log(f"profile {name}: {summary} and {name}.svg")
        else:
            log(f"profile {name}: py-spy wrote nothing (permissions? see `py-spy record --help`)")


# Frames that every sample of a thread passes through; left out of the "total time" table.
OUTER_FRAMES = re.compile(
    r"\((<frozen runpy>|asyncio/runners\.py|asyncio/base_events\.py|asyncio/events\.py|"
    r"uvicorn/server\.py|uvicorn/main\.py|chatql/cli\.py|chatql/__main__\.py|threading\.py)\)$"
)
_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def short_frame(frame: str) -> str:
    """`func (/long/path/site-packages/pkg/mod.py:12)` -> `func (pkg/mod.py)`."""
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m.group("file")
    for marker in ("site-packages/", "/lib/python3.13/", str(REPO) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({path})"


def summarize_collapsed(raw: Path, seconds: float | None = None, top: int = 15) -> str:
    """Top frames by self time (leaf of each sample) and by total time from py-spy --format raw."""
    self_time: Counter[str] = Counter()
    total_time: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text(errors="replace").splitlines()[:2_000_000]:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        self_time[frames[-1]] += count
        by_file[frames[-1].rsplit("(", 1)[-1].rstrip(")")] += count
        for f in set(frames):
            total_time[f] += count
    lines = [f"py-spy profile: {raw.name}, {samples} samples at 100 Hz (idle time excluded)"]
    if seconds:
        lines.append(
            f"recorded {seconds:.1f} s; busy = samples / (100 Hz * seconds) = "
            f"{samples / (100 * seconds):.0%} (all threads added up)"
        )
    if not samples:
        return "\n".join([*lines, "(no samples)"]) + "\n"

    def table(title: str, counter: Counter[str]) -> None:
        column = "self%" if "SELF" in title or "files" in title else "total%"
        lines.extend(["", title, f"{column:>6} {'samples':>8}  frame"])
        for name, count in counter.most_common(top):
            lines.append(f"{100 * count / samples:6.1f} {count:8d}  {name}")

    table(f"top {top} frames by SELF time (leaf frame of each sample)", self_time)
    table(f"top {top} files by self time", by_file)
    inner = Counter({k: v for k, v in total_time.items() if not OUTER_FRAMES.search(k)})
    table(f"top {top} frames by TOTAL (inclusive) time, event loop/start-up frames left out", inner)
    own = Counter({k: v for k, v in inner.items() if re.search(r"\((chatql|resolvers)/", k)})
    table(f"top {top} ChatQL frames (chatql/, resolvers/) by TOTAL time", own)
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ one scenario
@dataclass
class ScenarioRun:
    target: str
    scenario: str
    command: list[str]
    lines: list[dict[str, Any]] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)
    exit_code: int | None = None
    seconds: float = 0.0
    server_log: str = ""
    server_exit: int | None = None
    problems: list[str] = field(default_factory=list)
    server_metrics: dict[str, Any] | None = None  # ChatQL's GET /metrics as the scenario ended

    def as_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "lines": self.lines,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 1),
            "server_log": self.server_log,
            "server_exit": self.server_exit,
            "stderr_tail": self.stderr_tail[-40:],
            "problems": self.problems,
            "server_metrics": self.server_metrics,
        }


def _pump(stream: Any, tag: str, q: queue.Queue[tuple[str, str | None]]) -> None:
    for line in iter(stream.readline, ""):
        q.put((tag, line))
    q.put((tag, None))


@contextlib.contextmanager
def server_process(
    target: Target, pin: Pinning, log_path: Path
) -> Iterator[tuple[Group, str, int]]:
    scratch = Path(tempfile.mkdtemp(prefix=f"chatql-bench-{target.key}-"))
    port = free_port()
    cmd, env, cwd = target.make_cmd(port, scratch)
    url = f"http://{HOST}:{port}/graphql"
    with log_path.open("w") as out:
        out.write(f"$ {' '.join([*pin.server, *cmd])}\n")
        out.flush()
        group = Group(target.key, [*pin.server, *cmd], cwd=cwd, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 60
        while not graphql_ready(url):
            if not group.alive():
                raise RuntimeError(f"{target.title} exited during start-up, see {log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{target.title} did not answer on {url} in 60 s")
            time.sleep(0.2)
        time.sleep(1.0)  # let start-up work settle, as peer-bench's run_all.sh does
        yield group, url, port
    finally:
        group.stop()
        shutil.rmtree(scratch, ignore_errors=True)


def read_server_metrics(url: str, reset: bool = False) -> dict[str, Any] | None:
    """ChatQL's GET /metrics?format=json (`reset=1` also restarts its lag window); None, with
    a log line, when it cannot be read: the benchmark goes on without it."""
    url += "?format=json&reset=1" if reset else "?format=json"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            data = json.loads(response.read())
    except (OSError, ValueError, http.client.HTTPException) as exc:  # URLError is an OSError
        log(f"could not read {url}: {type(exc).__name__}: {exc}")
        return None
    if not isinstance(data, dict) or not isinstance(data.get("loopLagMs"), dict):
        log(f"could not read {url}: unexpected answer {str(data)[:200]}")
        return None
    return data


def brief_metrics(m: dict[str, Any]) -> str:
    lag = m["loopLagMs"]
    rss = m.get("rssBytes")
    return (
        f"event-loop lag p50 {lag.get('p50')} p99 {lag.get('p99')} max {lag.get('max')} ms "
        f"({lag.get('samples')} samples, {lag.get('windowSeconds')} s), "
        f"RSS {f'{rss / 2**20:.1f} MB' if isinstance(rss, int) else rss}"
    )


def run_scenario(
    target: Target,
    scenario: Scenario,
    *,
    quick: bool,
    pin: Pinning,
    loadgen_dir: Path,
    label: str,
    log_dir: Path,
    profiler: Profiler | None,
    extra_args: list[str] | None = None,
) -> ScenarioRun:
    log_path = log_dir / f"{target.key}-{scenario.name}.server.log"
    t0 = time.monotonic()
    run = ScenarioRun(target.key, scenario.name, [], server_log=str(log_path))
    try:
        with server_process(target, pin, log_path) as (server, url, _port):
            base = url.removesuffix("/graphql")
            # the peer has no /metrics
            metrics_url = f"{base}/metrics" if target.key.startswith("chatql") else ""
            cmd = [
                *pin.generator,
                "node",
                "loadgen.mjs",
                "--scenario",
                scenario.loadgen_scenario,
                "--url",
                url,
                "--server-pid",
                str(server.pid),
                "--label",
                f"{label}:{target.key}:{scenario.name}",
                "--max-seconds",
                str(scenario.max_seconds),
                *scenario.args(quick),
                *(extra_args or []),
            ]
            run.command = cmd
            log(f"{target.title} / {scenario.name}: {' '.join(cmd[cmd.index('node') :])}")
            gen = Group(
                "loadgen",
                cmd,
                cwd=loadgen_dir,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
            try:
                _drive_loadgen(gen, run, scenario, quick, server, profiler, metrics_url)
            finally:
                if profiler:
                    profiler.stop()
                gen.stop()
            run.exit_code = gen.proc.returncode
            if not server.alive():
                run.server_exit = server.proc.returncode
                run.problems.append(
                    f"{target.title} process exited during the scenario "
                    f"(status {run.server_exit}), see {log_path}"
                )
            elif metrics_url:
                run.server_metrics = read_server_metrics(metrics_url)
                if run.server_metrics:
                    log(f"  server: {brief_metrics(run.server_metrics)}")
    except RuntimeError as exc:
        run.problems.append(str(exc))
    run.seconds = time.monotonic() - t0
    run.problems.extend(judge(run))
    return run


def _drive_loadgen(
    gen: Group,
    run: ScenarioRun,
    scenario: Scenario,
    quick: bool,
    server: Group,
    profiler: Profiler | None,
    metrics_url: str,
) -> None:
    q: queue.Queue[tuple[str, str | None]] = queue.Queue()
    assert gen.proc.stdout is not None and gen.proc.stderr is not None
    for stream, tag in ((gen.proc.stdout, "out"), (gen.proc.stderr, "err")):
        threading.Thread(target=_pump, args=(stream, tag, q), daemon=True).start()
    phase = PROFILE_TRIGGERS.get(scenario.name)
    deadline = time.monotonic() + scenario.limit(quick)
    open_streams = 2
    while open_streams and time.monotonic() < deadline:
        try:
            tag, line = q.get(timeout=1.0)
        except queue.Empty:
            continue
        if line is None:
            open_streams -= 1
            continue
        if tag == "err":
            run.stderr_tail = [*run.stderr_tail[-199:], line.rstrip()]
            sys.stderr.write(f"    {line}")
            if phase and (m := phase[0].search(line)):
                if metrics_url:
                    read_server_metrics(metrics_url, reset=True)
                if profiler:
                    profiler.start(phase[1].format(*m.groups()), server.pid)
            continue
        try:
            point = json.loads(line)
        except ValueError:
            run.stderr_tail.append(f"(stdout) {line.rstrip()}")
            continue
        if metrics_url and point.get("scenario") == "fanout":
            # the server's own share of the latency the generator measured (the peer has none)
            server_metrics = read_server_metrics(metrics_url)
            if server_metrics:
                point["server_delivery_ms"] = server_metrics.get("deliveryLatencyMs")
        run.lines.append(point)
        if phase and profiler and point.get("scenario") == phase[2]:
            profiler.stop()
        log(f"  result: {brief(point)}")
    if open_streams:
        run.problems.append(
            f"loadgen did not finish within {scenario.limit(quick)} s and was stopped"
        )
    else:
        with contextlib.suppress(subprocess.TimeoutExpired):
            gen.proc.wait(timeout=15)


def brief(p: dict[str, Any]) -> str:
    sc = p.get("scenario")
    if p.get("error"):
        return f"{sc}: ERROR {p['error']}"
    lat = p.get("latency_ms") or {}
    if sc == "fanout":
        return (
            f"fanout S={p.get('subs')} rate={p.get('rate')}: p50 {lat.get('p50')} p99 "
            f"{lat.get('p99')} max {lat.get('max')} ms, {p.get('deliveries_per_s')} deliveries/s, "
            f"lost {p.get('lost')} dup {p.get('duplicates')} send errors {p.get('send_errors')}"
        )
    if sc == "rooms-step":
        return (
            f"rooms step {p.get('rate')} msg/s: p99 {lat.get('p99')} ms, lost {p.get('lost')}, "
            f"send errors {p.get('send_errors')}, ok={p.get('ok')}"
        )
    if sc == "rooms":
        return f"rooms: max sustained {p.get('max_sustained_rate')} msg/s ({p.get('stop_reason')})"
    if sc == "query":
        return f"query: {p.get('rps_mean')} req/s, p50 {lat.get('p50')} p99 {lat.get('p99')} ms"
    if sc == "conn":
        return "conn: " + ", ".join(
            f"{x['subscriptions']} subs {x['rss_mb']} MB" for x in p.get("points", [])
        )
    return f"{sc}: ok={p.get('ok')}"


def judge(run: ScenarioRun) -> list[str]:
    """Every loss, duplicate, error and failed point; a rooms step that only missed its p99
    target is the normal end of the ramp and not a failure."""
    problems = []
    where = f"{run.target}/{run.scenario}"
    for p in run.lines:
        sc = p.get("scenario")
        tag = f"{where} {sc}" + (f" S={p['subs']}" if "subs" in p else "")
        tag += f" rate={p['rate']}" if sc == "rooms-step" else ""
        if p.get("error"):
            problems.append(f"{tag}: {p['error']}")
            continue
        lost, dup = p.get("lost") or 0, p.get("duplicates") or 0
        if lost > 0:
            problems.append(
                f"{tag}: LOST {lost} of {p.get('expected_deliveries')} deliveries (not received "
                "before the generator's drain window closed: 5 s without progress or "
                "--drain-max-ms after the last send)"
            )
        if dup:
            problems.append(f"{tag}: {dup} DUPLICATE deliveries")
        if p.get("misrouted"):
            problems.append(f"{tag}: {p['misrouted']} deliveries to the wrong room")
        if p.get("send_errors"):
            first = p.get("first_send_error", "")
            problems.append(f"{tag}: {p['send_errors']} send errors, first: {first}")
            if lost < 0:
                problems.append(
                    f"{tag}: lost {lost} (negative: sends timed out but were processed)"
                )
        if p.get("subscription_failure"):
            problems.append(f"{tag}: {p['subscription_failure']}")
        if sc in ("fanout", "query") and p.get("ok") is False and not problems:
            problems.append(f"{tag}: point failed: {json.dumps(p)[:300]}")
    wanted = SCENARIOS[run.scenario].loadgen_scenario
    if not any(p.get("scenario") == wanted for p in run.lines) and not problems:
        problems.append(f"{where}: no result line from loadgen (exit {run.exit_code})")
    if run.exit_code not in (0, None) and not problems:
        problems.append(f"{where}: loadgen exited with status {run.exit_code}")
    return problems


# ------------------------------------------------------------------ table
@dataclass
class Row:
    metric: str
    values: dict[str, float | str | None]
    kind: str  # "throughput" (higher is better), "cost" (lower is better) or "info"


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


Metric = tuple[str, str, float | str | None]  # (metric, kind, value)


def _points(run: ScenarioRun | None, kind: str) -> list[dict[str, Any]]:
    lines = run.lines if run else []
    return [p for p in lines if p.get("scenario") == kind and not p.get("error")]


def target_metrics(scenario_runs: dict[str, ScenarioRun]) -> list[Metric]:
    """The table rows that one target's loadgen results give, in table order."""
    out: list[Metric] = []
    for scen, title in (("fanout", "fan-out"), ("overload", "fan-out overload")):
        for p in sorted(
            _points(scenario_runs.get(scen), "fanout"), key=lambda x: (x["subs"], x["rate"])
        ):
            head = f"{title} S={p['subs']} @{p['rate']} msg/s"
            lat = p.get("latency_ms") or {}
            out += [(f"{head}: latency {q} ms", "cost", lat.get(q)) for q in ("p50", "p99", "max")]
            out += [
                (
                    f"{head}: deliveries/s (offered {p['subs'] * p['rate']})",
                    "throughput",
                    p.get("deliveries_per_s"),
                ),
                (
                    f"{head}: lost / duplicates / send errors",
                    "info",
                    f"{p.get('lost')} / {p.get('duplicates')} / {p.get('send_errors')}",
                ),
                (f"{head}: server CPU %", "cost", p.get("server_cpu_pct")),
            ]
            # commit -> last frame of each event's pass, inside the server: the rest of the
            # latency above is the HTTP send, the write, and the generator's own reading
            inside = p.get("server_delivery_ms") or {}
            out += [
                (
                    f"{head}: server commit to last frame written {q} ms",
                    "info",
                    "n/a" if not inside else inside.get(q),
                )
                for q in ("p50", "p99")
            ]
    for r in _points(scenario_runs.get("rooms"), "rooms")[:1]:
        rt = f"many rooms ({r['rooms']}x{r['subs_per_room']})"
        out += [
            (
                f"{rt}: max sustained msg/s (p99 <= 250 ms, 0 lost)",
                "throughput",
                r.get("max_sustained_rate"),
            ),
            (f"{rt}: p99 ms at that rate", "info", r.get("p99_at_max_ms")),
            (f"{rt}: stopped by", "info", r.get("stop_reason")),
        ]
    for r in _points(scenario_runs.get("query"), "query")[:1]:
        lat = r.get("latency_ms") or {}
        head = f"query messagesByRoom(limit:{r.get('limit')}), c={r.get('concurrency')}"
        out.append((f"{head}: requests/s", "throughput", r.get("rps_mean")))
        out += [(f"query: latency {q} ms", "cost", lat.get(q)) for q in ("p50", "p99", "max")]
        errors = f"{r.get('errors')} / {r.get('non2xx')} / {r.get('body_mismatches')}"
        out.append(("query: errors / non-2xx / body mismatches", "info", errors))
    for r in _points(scenario_runs.get("conn"), "conn")[:1]:
        out += [
            (f"idle subscriptions: server RSS MB at {x['subscriptions']}", "cost", x["rss_mb"])
            for x in r.get("points", [])
        ]
        per = r.get("per_subscription", [])
        out += [
            (
                f"idle subscriptions: KB per subscription at {x['subscriptions']} (vs 0)",
                "cost",
                x["kb_per_subscription"],
            )
            for x in per
        ]
        if len(per) > 1:
            last = per[-1]["subscriptions"]
            out.append(
                (
                    f"idle subscriptions: KB per subscription, marginal to {last}",
                    "cost",
                    per[-1]["kb_per_subscription_marginal"],
                )
            )
    for name, run in scenario_runs.items():  # the peer has no /metrics
        lag = (run.server_metrics or {}).get("loopLagMs") or {}
        for q in ("p99", "max"):
            value = lag.get(q) if run.target.startswith("chatql") else "n/a"
            out.append((f"{name}: server event-loop lag {q} ms", "cost", value))
    return out


def metric_rows(runs: dict[str, dict[str, ScenarioRun]]) -> list[Row]:
    rows: dict[str, Row] = {}
    for target, scenario_runs in runs.items():
        for metric, kind, value in target_metrics(scenario_runs):
            rows.setdefault(metric, Row(metric, {}, kind)).values[target] = value
    return list(rows.values())


def floor_summary(runs: dict[str, dict[str, ScenarioRun]]) -> dict[str, dict[str, Any]]:
    """Per fan-out size: the floor's p99, the peer's over it (the largest ratio any server can
    show against the peer with this generator, here), the peer's over ChatQL's, and ChatQL's
    p99 above the floor (what its own work adds)."""

    def p99s(target: str) -> dict[int, float]:
        points = _points(runs.get(target, {}).get("fanout"), "fanout")
        return {
            p["subs"]: v
            for p in points
            if (v := _num((p.get("latency_ms") or {}).get("p99"))) is not None
        }

    floor, peer, chatql = p99s("floor"), p99s("peer"), p99s("chatql")
    out: dict[str, dict[str, Any]] = {}
    for subs, floor_p99 in sorted(floor.items()):
        peer_p99, chatql_p99 = peer.get(subs), chatql.get(subs)
        out[str(subs)] = {
            "floor_p99_ms": floor_p99,
            "peer_p99_ms": peer_p99,
            "chatql_p99_ms": chatql_p99,
            "peer_over_floor": round(peer_p99 / floor_p99, 2) if peer_p99 and floor_p99 else None,
            "peer_over_chatql": round(peer_p99 / chatql_p99, 2)
            if peer_p99 and chatql_p99
            else None,
            "chatql_above_floor_ms": round(chatql_p99 - floor_p99, 2)
            if chatql_p99 is not None
            else None,
        }
    return out


def render_floor(summary: dict[str, dict[str, Any]]) -> str:
    if not summary:
        return ""
    lines = [
        "fan-out floor (benchmarks/floor_server.py does no work; its latency is the generator's"
        " own share):"
    ]
    for subs, f in summary.items():
        lines.append(
            f"  S={subs}: p99 floor {fmt(f['floor_p99_ms'])} ms, peer {fmt(f['peer_p99_ms'])},"
            f" ChatQL {fmt(f['chatql_p99_ms'])}; peer/floor {fmt(f['peer_over_floor'])} (the"
            f" most any server can show), peer/ChatQL {fmt(f['peer_over_chatql'])}, ChatQL above"
            f" the floor {fmt(f['chatql_above_floor_ms'])} ms"
        )
    return "\n".join(lines)


def fmt(v: float | str | None) -> str:
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.0f}" if abs(v) >= 100 else f"{v:.1f}" if abs(v) >= 10 else f"{v:.2f}"


# (the better one when the ratio is above 1, the other one, their names for the ratio column)
COMPARISONS = (
    ("chatql", "peer", "ChatQL", "peer"),
    ("chatql-app", "chatql", "app documents", "plain"),
)


def comparison(targets: list[str]) -> tuple[str, str, str, str] | None:
    return next((c for c in COMPARISONS if c[0] in targets and c[1] in targets), None)


def ratio(row: Row, compared: tuple[str, str, str, str]) -> tuple[str, str]:
    first, second, first_name, second_name = compared
    c, p = _num(row.values.get(first)), _num(row.values.get(second))
    if row.kind == "info" or c is None or p is None:
        return "", ""
    if row.kind == "throughput":
        return (_ratio(c / p) if p else "-"), f"{first_name}/{second_name}"
    return (_ratio(p / c) if c else "-"), f"{second_name}/{first_name}"


def _ratio(x: float) -> str:
    return f"{x:.2f}" if x >= 0.1 else f"{x:.2g}"


def render_table(rows: list[Row], targets: list[str], titles: dict[str, str]) -> str:
    compare = comparison(targets)
    head = ["metric", *(titles[t] for t in targets)]
    if compare:
        head += [f"ratio (>1 = {compare[2]} better)", "ratio is"]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row.metric, *(fmt(row.values.get(t)) for t in targets)]
        if compare:
            cells += list(ratio(row, compare))
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


# ------------------------------------------------------------------ main
def machine_info(python: str) -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpu_model": model,
        "cpus_allowed": sorted(os.sched_getaffinity(0)),
        "kernel": platform.release(),
        "python_server": run_text([python, "-c", "import sys; print(sys.version.split()[0])"]),
        "node": run_text(["node", "--version"]),
        "nofile_limit": run_text(["sh", "-c", "ulimit -n"]),
    }


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--target",
        choices=("chatql", "peer", "both", "app"),
        help="app: ChatQL with the plain documents, then with the web app's (BENCH_TARGET)",
        default=os.environ.get("BENCH_TARGET", "chatql"),
    )
    p.add_argument(
        "--scenarios",
        default=os.environ.get("BENCH_SCENARIOS", ",".join(SCENARIOS)),
        help=f"comma-separated subset of {','.join(SCENARIOS)} (BENCH_SCENARIOS)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        default=env_flag("BENCH_QUICK"),
        help="small sizes, about 2-3 min per target for all scenarios (BENCH_QUICK=1)",
    )
    p.add_argument("--label", default=os.environ.get("BENCH_LABEL", ""))
    p.add_argument(
        "--python",
        default=str(REPO / ".venv" / "bin" / "python"),
        help="interpreter that runs `-m chatql`",
    )
    p.add_argument(
        "--peer-dir", type=Path, default=Path(os.environ.get("BENCH_PEER_DIR", DEFAULT_PEER_DIR))
    )
    p.add_argument(
        "--py-spy",
        default=os.environ.get("BENCH_PYSPY", ""),
        help="py-spy binary: profile ChatQL's measured phases (BENCH_PYSPY)",
    )
    p.add_argument(
        "--chatql-env",
        action="append",
        default=shlex.split(os.environ.get("BENCH_CHATQL_ENV", "")),
        metavar="CHATQL_X=V",
    )
    p.add_argument(
        "--source",
        type=Path,
        default=Path(os.environ.get("BENCH_SOURCE", REPO)),
        help="ChatQL source tree to run (BENCH_SOURCE; default: this work tree)",
    )
    p.add_argument(
        "--git-rev",
        default=os.environ.get("BENCH_GIT_REV", ""),
        help="run this commit instead, exported with `git archive` to a temp dir (BENCH_GIT_REV)",
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and their sizes")
    p.add_argument(
        "--summarize-profile",
        type=Path,
        metavar="RAW",
        help="print the top frames of a py-spy --format raw file and exit",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.summarize_profile:
        sys.stdout.write(summarize_collapsed(args.summarize_profile))
        return 0
    if args.list:
        for s in SCENARIOS.values():
            print(f"{s.name:9} {s.about}\n  full:  {s.full_args}\n  quick: {s.quick_args}")
        return 0
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown or not chosen:
        sys.stderr.write(f"bench: unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}\n")
        return 64
    extra_env = dict(kv.split("=", 1) for kv in args.chatql_env if "=" in kv)
    target_keys = {
        "chatql": ["chatql"],
        "peer": ["peer"],
        "both": ["peer", "chatql", "floor"],
        "app": ["chatql", "chatql-app"],
    }[args.target]
    if "chatql" in target_keys and not Path(args.python).exists():
        sys.stderr.write(f"bench: {args.python} not found (run `make install`)\n")
        return 2
    label = (
        args.label
        or {"chatql": "chatql", "peer": "peer", "both": "compare", "app": "app"}[args.target]
    )
    label += "-quick" if args.quick and not args.label else ""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS_DIR / f"{label}-{stamp}.json"
    log_dir = RESULTS_DIR / f"{label}-{stamp}-logs"
    log_dir.mkdir(parents=True, exist_ok=True)

    for sig in (
        signal.SIGINT,
        signal.SIGTERM,
        signal.SIGHUP,
    ):  # SIGINT even if inherited as ignored
        signal.signal(sig, _on_signal)
    pin = pinning()
    speed_before = guest_speed(pin)
    log(f"guest speed probe: {speed_before} CPU ms (benchmarks/guest_speed.py; lower is faster)")
    speeds: dict[str, float | None] = {}  # before each scenario, when there are several
    t_start = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="chatql-bench-"))
    runs: dict[str, dict[str, ScenarioRun]] = {t: {} for t in target_keys}
    notes: list[str] = [pin.note]
    interrupted = ""
    profiler: Profiler | None = None
    titles: dict[str, str] = {}
    chatql_env: dict[str, str] = {}
    chatql_commit = ""
    try:
        peer_copy = prepare_peer_bench(args.peer_dir, workdir)
        targets = {"peer": peer_target(peer_copy), "floor": floor_target()}
        if "chatql" in target_keys:
            if args.git_rev:
                source, chatql_commit = export_git_rev(args.git_rev, workdir)
            else:
                source = args.source
                dirty = run_text(["git", "status", "--porcelain"], cwd=source)
                head = run_text(["git", "rev-parse", "HEAD"], cwd=source)
                chatql_commit = f"{head} + uncommitted changes" if dirty else head
            package, names = chatql_introspect(args.python, source)
            if not package.startswith(str(source.resolve())):
                raise SystemExit(
                    f"bench: {args.python} in {source} imports chatql from {package!r}"
                )
            chatql_env, more = chatql_env_settings(names, extra_env)
            notes += [f"ChatQL source: {source} at {chatql_commit}", *more]
            targets["chatql"] = chatql_target(args.python, source, chatql_env)
        loadgens = {key: peer_copy for key in target_keys}
        if "chatql-app" in target_keys:
            targets["chatql-app"] = app_documents_target(targets["chatql"])
            loadgens["chatql-app"] = prepare_app_loadgen(peer_copy, workdir)
        if args.py_spy:
            profiler = Profiler(args.py_spy, log_dir / "profiles", pin.generator)
        titles = {k: t.title for k, t in targets.items()}
        for note in notes:
            log(note)
        # Scenario by scenario, every target in turn: the two runs a ratio divides sit minutes
        # apart, not the length of a whole target's pass (a guest's speed drifts within that).
        for index, name in enumerate(chosen):
            if len(chosen) > 1:  # the first has the probe just taken
                speeds[name] = guest_speed(pin) if index else speed_before
                log(f"{name}: guest speed probe {speeds[name]} CPU ms")
            for key in target_keys:
                if key == "floor" and name not in FLOOR_SCENARIOS:
                    continue
                runs[key][name] = run_scenario(
                    targets[key],
                    SCENARIOS[name],
                    quick=args.quick,
                    pin=pin,
                    loadgen_dir=loadgens[key],
                    label=label,
                    log_dir=log_dir,
                    profiler=profiler if key.startswith("chatql") else None,
                    extra_args=app_mode_args(name) if args.target == "app" else [],
                )
                r = runs[key][name]
                log(f"{titles[key]} / {name}: {r.seconds:.0f} s, {len(r.problems)} problem(s)")
                time.sleep(1.0)
    except (KeyboardInterrupt, Interrupted) as exc:
        interrupted = f"interrupted ({exc or 'Ctrl-C'})"
        log(interrupted)
    finally:
        if profiler:
            profiler.stop()
        Group.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - t_start
    speed_after = guest_speed(pin)

    rows = metric_rows(runs)
    problems = [p for t in runs.values() for r in t.values() for p in r.problems]
    if interrupted:
        problems.append(interrupted)
    table = render_table(rows, target_keys, titles or {"chatql": "ChatQL", "peer": "peer (Node)"})
    floor = floor_summary(runs)
    durations = ", ".join(
        f"{titles.get(t, t)}/{n} {r.seconds:.0f} s" for t, rr in runs.items() for n, r in rr.items()
    )
    report = {
        "label": label,
        "started_utc": stamp,
        "total_seconds": round(total, 1),
        "quick": args.quick,
        "targets": target_keys,
        "scenarios": {n: SCENARIOS[n].args(args.quick) for n in chosen},
        "pinning": pin.note,
        "notes": notes,
        "chatql_env": {
            "CHATQL_ENV": "production",
            "CHATQL_ACCESS_TOKEN_TTL": "3600",
            "CHATQL_LOG_LEVEL": "warning",
            "CHATQL_JWT_SECRET": "<fixed 64 hex characters, see JWT_SECRET>",
            **chatql_env,
        },
        "chatql_commit": chatql_commit,
        "machine": {
            **machine_info(args.python),
            "guest_speed_ms": {
                "before": speed_before,
                "after": speed_after,
                "before_scenario": speeds,
            },
        },
        "rows": [{"metric": r.metric, "kind": r.kind, **r.values} for r in rows],
        "fanout_floor": floor,
        "runs": {t: {n: r.as_json() for n, r in rr.items()} for t, rr in runs.items()},
        "profiles": [str(p) for p in (profiler.done if profiler else [])],
        "problems": problems,
        "ok": not problems,
    }
    out_json.write_text(json.dumps(report, indent=1) + "\n")
    print()
    print(table)
    if floor:
        print(f"\n{render_floor(floor)}")
    print(f"\ndurations: {durations}; total {total:.0f} s ({pin.note})")
    during = "".join(f", {speed} before {name}" for name, speed in speeds.items())
    print(
        f"guest speed probe (benchmarks/guest_speed.py, CPU ms, lower is faster): "
        f"{speed_before} before{during}, {speed_after} after"
    )
    print(f"results: {out_json}\nserver logs: {log_dir}")
    if profiler and profiler.done:
        print("profiles: " + ", ".join(str(p) for p in profiler.done))
    if problems:
        print(f"\nFAILED: {len(problems)} problem(s):")
        for p in problems:
            print(f"  - {p}")
        return 1
    print("\nOK: no loss, no duplicates, no errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
