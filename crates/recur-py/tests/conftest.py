"""Shared helpers of the pytest suite: fixture paths and the `recur` binary."""

import os
import pathlib
import shutil
import subprocess

import pytest

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent
FIXTURES = HERE / "fixtures"


def recur_binary():
    """The `recur` command: $RECUR_BIN, else a build in the repository's target directory, else
    one on PATH; None when there is none."""
    if os.environ.get("RECUR_BIN"):
        return os.environ["RECUR_BIN"]
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    for profile in ("release", "debug"):
        candidate = target / profile / "recur"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("recur")


@pytest.fixture(scope="session")
def recur_cli():
    """Runs the `recur` binary with arguments, checking that it succeeds. Skips the test when
    there is no binary, unless RECUR_REQUIRE_CLI is set (CI), where that fails it."""
    binary = recur_binary()
    if binary is None:
        if os.environ.get("RECUR_REQUIRE_CLI"):
            pytest.fail("RECUR_REQUIRE_CLI is set but no recur binary was found (set RECUR_BIN)")
        pytest.skip("no recur binary (build it with `cargo build -p recur-cli` or set RECUR_BIN)")

    def run(*args):
        done = subprocess.run([binary, *map(str, args)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done

    return run
