"""Two ChatQL commits side by side: server CPU per message at a fixed many-rooms rate.

    python benchmarks/side_by_side.py db3b413 HEAD              # 6 rounds of 40 s steps
    python benchmarks/side_by_side.py A B --rounds 4 --rate 300

On this 2-vCPU guest the speed of the machine drifts by more than a few-percent change
within minutes, so runs of one commit after the other cannot tell such changes apart.
Here both commits run at once: each as `python -m chatql` on the server core, each driven by
its own peer-bench load generator (the many-rooms scenario at one fixed rate, on the other
core), and each server's CPU time is read from /proc over the same window of their steps.
The drift then hits both alike. Rounds alternate which commit starts first (the first one
measured a little lower). Every step must also deliver everything, as in `run.py`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from run import (
    DEFAULT_PEER_DIR,
    REPO,
    RESULTS_DIR,
    Group,
    Pinning,
    Target,
    chatql_env_settings,
    chatql_introspect,
    chatql_target,
    export_git_rev,
    log,
    pinning,
    prepare_peer_bench,
    server_process,
)

TICKS = 100  # clock ticks per second of /proc/PID/stat (Linux's USER_HZ)


def cpu_ticks(pid: int) -> int:
    """User + system CPU time of a process, in clock ticks."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def steps_of(log_path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for line in log_path.read_text().splitlines()
        if line.startswith('{"scenario":"rooms-step"')
    ]


def one_round(
    targets: list[Target], pin: Pinning, loadgen: Path, args: argparse.Namespace, logs: Path
) -> tuple[list[float], list[str]]:
    """Each target's CPU % of a core over the shared window, and its steps' verdicts."""
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(server_process(t, pin, logs / f"{t.key}.server.log"))
            for t in targets
        ]
        gen_logs = [logs / f"{t.key}.loadgen.log" for t in targets]
        gens = []
        for (server, url, _port), gen_log in zip(servers, gen_logs, strict=True):
            cmd = [
                *pin.generator,
                "node",
                "loadgen.mjs",
                "--scenario",
                "rooms",
                "--url",
                url,
                "--server-pid",
                str(server.pid),
                "--rooms",
                str(args.rooms),
                "--subs-per-room",
                "4",
                "--rates",
                str(args.rate),
                "--step-seconds",
                str(args.step_seconds),
                "--p99-limit-ms",
                "50000",
                "--max-seconds",
                "600",
            ]
            out = stack.enter_context(gen_log.open("w"))
            gen = Group("loadgen", cmd, cwd=loadgen, stdout=out, stderr=out)
            stack.callback(gen.stop)
            gens.append(gen)
        marker = f"step {args.rate} msg/s"
        deadline = time.monotonic() + 180
        while not all(marker in p.read_text() for p in gen_logs):
            if time.monotonic() > deadline or not all(g.alive() for g in gens):
                raise SystemExit(f"side by side: a load generator did not start its step: {logs}")
            time.sleep(0.25)
        time.sleep(5)  # past the step's first seconds, as both are
        window = args.step_seconds - 12
        before = [cpu_ticks(s.pid) for s, _u, _p in servers]
        started = time.monotonic()
        time.sleep(window)
        after = [cpu_ticks(s.pid) for s, _u, _p in servers]
        seconds = time.monotonic() - started
        for gen in gens:
            gen.proc.wait(timeout=args.step_seconds + 120)
    cpu = [100 * (b - a) / TICKS / seconds for a, b in zip(before, after, strict=True)]
    verdicts = []
    for gen_log in gen_logs:
        steps = steps_of(gen_log)
        good = steps and all(s["ok"] and s["lost"] == 0 and s["send_errors"] == 0 for s in steps)
        verdicts.append("ok" if good else f"FAILED (see {gen_log})")
    return cpu, verdicts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("first", help="a commit (or `tree`: the work tree)")
    p.add_argument("second", help="a commit (or `tree`: the work tree)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--rate", type=int, default=400, help="messages per second, each server")
    p.add_argument("--rooms", type=int, default=250, help="rooms of 4 subscribers, each server")
    p.add_argument("--step-seconds", type=int, default=40)
    p.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR)
    p.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    args = p.parse_args(argv)
    if args.rounds < 1 or args.rate < 1 or args.rooms < 1 or args.step_seconds < 20:
        p.error("--rounds, --rate and --rooms must be positive, --step-seconds at least 20")
    if args.first == args.second:
        p.error("name two different commits")
    pin = pinning()
    work = Path(tempfile.mkdtemp(prefix="chatql-side-by-side-"))
    loadgen = prepare_peer_bench(args.peer_dir, work)
    targets: dict[str, Target] = {}
    commits: dict[str, str] = {}
    for name in (args.first, args.second):
        if name == "tree":
            source, commits[name] = REPO, "work tree"
        else:
            folder = work / f"source-{len(targets)}"
            folder.mkdir()
            source, commits[name] = export_git_rev(name, folder)
        names = chatql_introspect(args.python, source)[1]
        env = chatql_env_settings(names, {})[0]
        target = chatql_target(args.python, source, env)
        target.key = f"chatql-{len(targets)}"
        targets[name] = target
    log(f"{args.first} and {args.second}: {args.rounds} rounds at {args.rate} msg/s each")
    cpu: dict[str, list[float]] = {args.first: [], args.second: []}
    failed = []
    for number in range(args.rounds):
        order = [args.first, args.second] if number % 2 == 0 else [args.second, args.first]
        logs = work / f"round-{number}"
        logs.mkdir()
        measured, verdicts = one_round([targets[n] for n in order], pin, loadgen, args, logs)
        for name, value, verdict in zip(order, measured, verdicts, strict=True):
            cpu[name].append(value)
            if verdict != "ok":
                failed.append(f"round {number}, {name}: {verdict}")
        line = "  ".join(
            f"{n} {v:.1f}% {d}" for n, v, d in zip(order, measured, verdicts, strict=True)
        )
        log(f"round {number}: {line}")
    ratios = [b / a for a, b in zip(cpu[args.first], cpu[args.second], strict=True)]
    summary = {
        "first": {"name": args.first, "commit": commits[args.first], "cpu_pct": cpu[args.first]},
        "second": {
            "name": args.second,
            "commit": commits[args.second],
            "cpu_pct": cpu[args.second],
        },
        "second_over_first": ratios,
        "mean_ratio": statistics.fmean(ratios),
        "rate_each": args.rate,
        "rooms_each": args.rooms,
        "step_seconds": args.step_seconds,
        "pinning": pin.note,
        "failed": failed,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = RESULTS_DIR / f"side-by-side-{stamp}.json"
    out.write_text(json.dumps(summary, indent=2) + "\n")
    for name in (args.first, args.second):
        values = ", ".join(f"{v:.1f}" for v in cpu[name])
        print(f"{name}: mean {statistics.fmean(cpu[name]):.2f}% of a core ({values})")
    print(
        f"{args.second} / {args.first}: {statistics.fmean(ratios):.3f} "
        f"(per round {', '.join(f'{r:.3f}' for r in ratios)}); results: {out}"
    )
    if failed:
        print("FAILED: " + "; ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
