"""Sweeps survive each other: a second sweep of one folder refuses at once, naming the
holder; the lock dies with its holder, even by SIGKILL (real processes)."""

import os
import signal
import subprocess
import sys
import time

from test_sweep import read_lines, write_study

from latentdim.studies import load_study
from latentdim.sweep import LOCK, RecordStore


def _sweep(path, out, *extra):
    command = [sys.executable, "-m", "latentdim", "sweep", str(path), "-o", str(out), "-j", "1"]
    return [*command, "--no-report", *extra]


def test_a_second_sweep_of_one_folder_refuses_until_the_holder_dies(tmp_path):
    path = write_study(tmp_path, steps=150)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    holder = subprocess.Popen(_sweep(path, out), start_new_session=True, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not read_lines(out / "records.jsonl"):  # the holder is mid-sweep
        assert holder.poll() is None, holder.stderr.read().decode()
        assert time.monotonic() < deadline, "the first sweep recorded nothing"
        time.sleep(0.05)
    second = subprocess.run(_sweep(path, out), env=env, capture_output=True, text=True, timeout=60)
    assert second.returncode == 2
    (line,) = second.stderr.strip().splitlines()  # one line, no traceback
    holder_name = f"latentdim sweep, pid {holder.pid} on "
    assert line.startswith(f"latentdim: error: {out} is being swept by {holder_name}")
    assert "wait for it to finish" in line

    os.killpg(holder.pid, signal.SIGKILL)
    holder.wait()
    finished = len(read_lines(out / "records.jsonl"))
    assert finished < 16, "the kill must land mid-sweep"
    resumed = subprocess.run(_sweep(path, out), env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    records = RecordStore(out / "records.jsonl").load()
    assert set(records) == {c.id for c in load_study(path).cells()}
    assert len(read_lines(out / "records.jsonl")) == 16  # no cell written twice
    assert f"pid {holder.pid} " not in (out / LOCK).read_text()  # it names the resumed sweep now
