#!/usr/bin/env python3
"""Install GraphiQL's browser assets from npm and copy them into chatql/static/graphiql/.

The development GraphiQL page (chatql.graphiql) must work without internet access, so its
JS/CSS are served by the app itself. Third-party code is not committed: this script runs
``npm ci`` against web/graphiql/package-lock.json at install time and copies only the
files the page loads, plus a stamp recording which lock file produced them.

Never fails the install: if npm is missing or errors, it prints a warning to stderr and
exits 0; the server still runs and the IDE page explains that the assets are missing.

Usage: python scripts/build_graphiql_assets.py [--force]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NPM_PROJECT = ROOT / "web" / "graphiql"
LOCK_FILE = NPM_PROJECT / "package-lock.json"
NODE_MODULES = NPM_PROJECT / "node_modules"
NODE_MODULES_STAMP = NODE_MODULES / ".chatql-lock.sha256"
STATIC_DIR = ROOT / "chatql" / "static" / "graphiql"
STATIC_STAMP = STATIC_DIR / "STAMP.json"

# Flat name served by the app -> path inside node_modules. Keep in sync with
# chatql/graphiql.py (ASSET_FILES).
ASSETS: dict[str, str] = {
    "react.production.min.js": "react/umd/react.production.min.js",
    "react-dom.production.min.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.min.js": "graphiql/graphiql.min.js",
    "graphiql.min.css": "graphiql/graphiql.min.css",
    "graphql-ws.min.js": "graphql-ws/umd/graphql-ws.min.js",
}
VERSIONED_PACKAGES = ("graphiql", "react", "react-dom", "graphql-ws")


def warn(message: str) -> None:
    print(f"warning: build_graphiql_assets: {message}", file=sys.stderr)
    print(
        "warning: build_graphiql_assets: the server still runs, but the GraphiQL page will "
        "report missing assets until this script succeeds.",
        file=sys.stderr,
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def node_modules_current(lock_hash: str) -> bool:
    if not NODE_MODULES_STAMP.is_file():
        return False
    if NODE_MODULES_STAMP.read_text(encoding="utf-8").strip() != lock_hash:
        return False
    return all((NODE_MODULES / source).is_file() for source in ASSETS.values())


def static_current(lock_hash: str) -> bool:
    try:
        stamp = json.loads(STATIC_STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("package_lock_sha256") != lock_hash:
        return False
    files = stamp.get("files")
    if not isinstance(files, dict) or set(files) != set(ASSETS):
        return False
    for name, digest in files.items():
        target = STATIC_DIR / name
        if not target.is_file() or sha256_of(target) != digest:
            return False
    return True


def run_npm_ci() -> bool:
    npm = shutil.which("npm")
    if npm is None:
        warn("npm was not found on PATH (install Node.js 20+ with npm).")
        return False
    NODE_MODULES_STAMP.unlink(missing_ok=True)
    print(f"build_graphiql_assets: running npm ci in {NPM_PROJECT.relative_to(ROOT)}", flush=True)
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=NPM_PROJECT,
            check=False,
        )
    except OSError as exc:
        warn(f"could not run npm: {exc}")
        return False
    if result.returncode != 0:
        warn(f"`npm ci` failed with exit code {result.returncode}.")
        return False
    return True


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for package in VERSIONED_PACKAGES:
        try:
            manifest = json.loads((NODE_MODULES / package / "package.json").read_text("utf-8"))
            versions[package] = str(manifest["version"])
        except (OSError, ValueError, KeyError):
            versions[package] = "unknown"
    return versions


def copy_assets(lock_hash: str) -> bool:
    missing = [source for source in ASSETS.values() if not (NODE_MODULES / source).is_file()]
    if missing:
        warn(f"npm ci did not produce the expected files: {', '.join(missing)}")
        return False
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    # Invalidate first so an interrupted copy is never mistaken for a complete one.
    STATIC_STAMP.unlink(missing_ok=True)
    digests: dict[str, str] = {}
    for name, source in ASSETS.items():
        target = STATIC_DIR / name
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(NODE_MODULES / source, partial)
        os.replace(partial, target)
        digests[name] = sha256_of(target)
    stamp = {
        "package_lock_sha256": lock_hash,
        "versions": package_versions(),
        "files": digests,
    }
    STATIC_STAMP.write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", "utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Install GraphiQL browser assets from npm into chatql/static/graphiql/."
    )
    parser.add_argument(
        "--force", action="store_true", help="reinstall and recopy even if up to date"
    )
    args = parser.parse_args(argv)

    if not LOCK_FILE.is_file():
        warn(f"{LOCK_FILE.relative_to(ROOT)} is missing.")
        return 0
    lock_hash = sha256_of(LOCK_FILE)

    if not args.force and node_modules_current(lock_hash):
        print("build_graphiql_assets: node_modules is up to date with package-lock.json")
    else:
        if not run_npm_ci():
            return 0
        NODE_MODULES_STAMP.write_text(lock_hash + "\n", encoding="utf-8")

    if not args.force and static_current(lock_hash):
        print(f"build_graphiql_assets: {STATIC_DIR.relative_to(ROOT)} is up to date")
        return 0
    try:
        if not copy_assets(lock_hash):
            return 0
    except OSError as exc:
        warn(f"could not copy assets into {STATIC_DIR}: {exc}")
        return 0
    print(f"build_graphiql_assets: copied {len(ASSETS)} files into {STATIC_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
