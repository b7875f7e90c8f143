"""Sweeps survive each other and signals (real processes): a second sweep of one folder
refuses at once, naming the holder; the lock dies with its holder, even by SIGKILL;
SIGINT and SIGTERM stop the workers, keep every finished record and say how to resume."""

import json
import os
import resource
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from test_sweep import read_lines, write_study

from latentdim.studies import load_study
from latentdim.studies.records import RecordStore
from latentdim.studies.sweep import LOCK


def _default_sigint():
    """A child started from a background job inherits SIGINT ignored, and Python then
    installs no KeyboardInterrupt handler: the signal tests give it the default back."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _sweep(path, out, jobs=1):
    command = [sys.executable, "-m", "latentdim", "sweep", str(path), "-o", str(out), "-j", str(jobs)]
    return [*command, "--no-report"]


def test_a_second_sweep_of_one_folder_refuses_until_the_holder_dies(tmp_path):
    path = write_study(tmp_path, steps=300)
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


@pytest.mark.parametrize(("signum", "code", "jobs"), [(signal.SIGINT, 130, 2), (signal.SIGTERM, 143, 2),
                                                    (signal.SIGTERM, 143, 1)])
def test_a_signal_stops_the_sweep_and_its_workers_and_says_how_to_resume(tmp_path, signum, code, jobs):
    """With -j 1 the cells train in the driver itself: the signal must end the sweep,
    not be recorded as one failed cell while the sweep goes on."""
    path = write_study(tmp_path, steps=150)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = _sweep(path, out, jobs=jobs)
    options = dict(start_new_session=True, env=env, stderr=subprocess.PIPE, text=True)
    driver = subprocess.Popen(command, **options, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while not read_lines(out / "records.jsonl"):
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "the sweep recorded nothing"
        time.sleep(0.05)
    workers = [p for p in _children(driver.pid) if _alive(p)]
    assert workers or jobs == 1, "a pool sweep has worker processes"
    os.kill(driver.pid, signum)
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == code, stderr
    assert "run the same command to resume" in stderr.strip().splitlines()[-1]
    assert "Traceback" not in stderr
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "orphaned workers"
    recorded = RecordStore(out / "records.jsonl").load(repair=False)
    assert f"{len(recorded)} cells are recorded" in stderr
    assert all(r["status"] == "ok" for r in recorded.values()), "the signal was recorded as a failed cell"
    (entry,) = [json.loads(line) for line in read_lines(out / "sweeps.jsonl")]  # the stopped run is logged
    assert entry["stopped"] and entry["summary"]["ran"] == len(recorded) < 16
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
    options = dict(start_new_session=True, env=env, stderr=subprocess.PIPE, text=True)
    driver = subprocess.Popen(command, **options, preexec_fn=_default_sigint)
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


def _wait_for_records(driver, out):
    deadline = time.monotonic() + 120
    while not read_lines(out / "records.jsonl"):
        assert driver.poll() is None, driver.stderr.read()
        assert time.monotonic() < deadline, "the sweep recorded nothing"
        time.sleep(0.05)


def _check_stopped_cleanly(driver, out, workers, reason):
    """One line naming the problem and how many cells are kept; exactly those load."""
    _, stderr = driver.communicate(timeout=60)
    assert driver.returncode == 2, stderr
    assert "Traceback" not in stderr
    line = stderr.strip().splitlines()[-1]
    assert line.startswith(
        f"latentdim: error: cannot record a finished cell in {out / 'records.jsonl'}: {reason}"
    )
    assert line.endswith("run the same command to resume")
    kept = int(line.split("; the ")[1].split()[0])
    assert kept == len(RecordStore(out / "records.jsonl").load(repair=False)) >= 1
    assert (out / "records.jsonl").read_bytes().endswith(b"\n")  # the failed line was rolled back
    time.sleep(0.5)
    assert not [p for p in workers if _alive(p)], "orphaned workers"


def _resume_completes(command, env, out, path):
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert len(read_lines(out / "records.jsonl")) == len(load_study(path).cells())  # every cell once


def test_a_full_disk_mid_sweep_is_one_line_and_keeps_every_finished_cell(tmp_path):
    """The file-size limit (RLIMIT_FSIZE, honoured for root too) makes the kernel refuse
    to grow records.jsonl after a few records, as a full disk would."""
    path = write_study(tmp_path, steps=40, seeds=1)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = _sweep(path, out, jobs=2)

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (6000, 6000))

    driver = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, preexec_fn=limit_file_size)
    _wait_for_records(driver, out)
    workers = [p for p in _children(driver.pid) if _alive(p)]
    _check_stopped_cleanly(driver, out, workers, "File too large")
    _resume_completes(command, env, out, path)


def _can_mount_tmpfs(where) -> bool:
    where.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where)]
    return subprocess.run(mount, capture_output=True).returncode == 0


def test_a_tmpfs_that_fills_up_mid_sweep(tmp_path):
    """A real 1 MiB tmpfs, filled up after the first record (needs mount rights)."""
    mount = tmp_path / "mnt"
    if not _can_mount_tmpfs(mount):
        pytest.skip("mounting a tmpfs needs CAP_SYS_ADMIN; the RLIMIT_FSIZE test covers the same path")
    try:
        path = write_study(tmp_path / "study", steps=150, seeds=1, dims="[1, 2]")
        out = mount / "out"
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        command = _sweep(path, out, jobs=2)
        driver = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
        _wait_for_records(driver, out)
        workers = [p for p in _children(driver.pid) if _alive(p)]
        with open(mount / "filler", "wb", buffering=0) as handle, pytest.raises(OSError):
            while True:
                handle.write(b"\0" * 4096)
        _check_stopped_cleanly(driver, out, workers, "No space left on device")
        (mount / "filler").unlink()
        _resume_completes(command, env, out, path)
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_records_made_unwritable_mid_sweep(tmp_path):
    """records.jsonl turned read-only (chmod; for root, whom modes do not stop, the
    immutable attribute) after the first record."""
    path = write_study(tmp_path, steps=150, seeds=1, dims="[1, 2]")
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = _sweep(path, out, jobs=2)
    records = out / "records.jsonl"
    driver = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    _wait_for_records(driver, out)
    workers = [p for p in _children(driver.pid) if _alive(p)]
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(records)], capture_output=True).returncode != 0:
            driver.kill()
            pytest.skip("running as root where chattr +i is unavailable: no way to make a file unwritable")
        undo, reason = ["chattr", "-i", str(records)], "Operation not permitted"
    else:
        records.chmod(0o444)
        undo, reason = ["chmod", "644", str(records)], "Permission denied"
    try:
        _check_stopped_cleanly(driver, out, workers, reason)
    finally:
        subprocess.run(undo, check=True)
    _resume_completes(command, env, out, path)
