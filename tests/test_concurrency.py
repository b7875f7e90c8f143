"""Sweeps survive each other and signals (real processes): a second sweep of one folder
refuses at once, naming the holder; the lock dies with its holder, even by SIGKILL;
SIGINT and SIGTERM stop the workers, keep every finished record and say how to resume."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_sweep import read_lines, write_study

from latentdim.studies import load_study
from latentdim.sweep import LOCK, RecordStore


def _sweep(path, out, jobs=1):
    command = [sys.executable, "-m", "latentdim", "sweep", str(path), "-o", str(out), "-j", str(jobs)]
    return [*command, "--no-report"]


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


def _children(pid):
    """Pids of the processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    if int(handle.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_the_sweep_and_its_workers_and_says_how_to_resume(tmp_path, signum, code):
    path = write_study(tmp_path, steps=150)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = _sweep(path, out, jobs=2)
    driver = subprocess.Popen(command, start_new_session=True, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not read_lines(out / "records.jsonl"):
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "the sweep recorded nothing"
        time.sleep(0.05)
    workers = [p for p in _children(driver.pid) if _alive(p)]
    assert workers, "a pool sweep has worker processes"
    os.kill(driver.pid, signum)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == code, stderr
    assert "run the same command to resume" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "orphaned workers"
    recorded = RecordStore(out / "records.jsonl").load(repair=False)
    assert f"{len(recorded)} cells are recorded" in stderr
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(read_lines(out / "records.jsonl")) == 16  # finished cells kept, none twice


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_stops_estimate_and_its_workers(tmp_path, signum, code):
    rows = np.random.default_rng(0).normal(size=(400, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", rows)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "latentdim", "estimate", str(tmp_path / "x.npy"), "-j", "2"]
    command += ["--seeds", "2", "--steps", "100000", "--no-baselines"]
    driver = subprocess.Popen(command, start_new_session=True, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len([p for p in _children(driver.pid) if _alive(p)]) < 2:  # both seeds' workers started
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "estimate started no workers"
        time.sleep(0.05)
    time.sleep(3)  # into training
    workers = [p for p in _children(driver.pid) if _alive(p)]
    os.kill(driver.pid, signum)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == code, stderr
    (line,) = stderr.strip().splitlines()
    name = signal.Signals(signum).name
    assert line == f"latentdim: estimate interrupted ({name}); nothing was written: run the command again"
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "orphaned workers"
