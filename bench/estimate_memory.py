"""Peak memory of ``latentdim estimate`` on a large input (issue 13).

Makes a 200 000 x 784 float32 matrix (synthetic, n = 8, the MNIST-sized case), then
runs ``python -m latentdim estimate FILE`` in a subprocess and samples the resident
memory of its whole process tree (driver plus pool workers, summed) every 50 ms. The
peak is printed beside the input's own size and, with ``--old-tree``, beside the same
command run on another checkout (the code before the row caps) in the same run.

    python bench/estimate_memory.py --old-tree /tmp/old-estimate

Training steps are few (``--steps``): memory does not depend on them. ``--method``
(default ``maskaae``, what ``bench/results/estimate_memory.txt`` measured before the
default of ``latentdim estimate`` became ``vae``) is passed on; the VAE adds the local
dimension of every row, a Jacobian per row taken in chunks (the VAE's figures are in
the same file, measured with ``--method vae --no-band-run --old-tree T --old-method``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree(root: int) -> list[int]:
    """``root`` and every live descendant (Linux /proc)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += parents.get(pid, [])
    return found


def _rss(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
    return total


def measure(command: list[str], env: dict, tree: str) -> tuple[int, float, str]:
    """(peak summed RSS in bytes, wall seconds, stdout) of ``command`` run in ``tree``
    (``python -m`` puts the working folder first on the path)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        command, env=env, cwd=tree, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.read()))
    reader.start()
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _rss(_tree(proc.pid)))
        time.sleep(0.05)
    reader.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{out[0]}")
    return peak, time.perf_counter() - start, out[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--cols", type=int, default=784)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--method", choices=["maskaae", "vae"], default="maskaae")
    parser.add_argument("--old-tree", help="a checkout of the code before the row caps, measured too")
    parser.add_argument("--old-method", action="store_true", help="pass --method to the old tree too")
    parser.add_argument("--no-band-run", action="store_true", help="skip the run with the classical band")
    args = parser.parse_args()

    from latentdim.data.synthetic import make_dataset

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.npy"
        x = make_dataset(8, args.cols, samples=args.rows, seed=0).x
        np.save(path, x)
        size = x.nbytes
        del x
        base = [sys.executable, "-m", "latentdim", "estimate", str(path), "--steps", str(args.steps)]
        base += ["-j", str(args.jobs), "--seeds", "3"]
        method = ["--method", args.method]  # the old tree's only method was maskaae
        here = str(Path(__file__).resolve().parent.parent)
        runs = [
            ("this tree, --no-baselines", here, [*base, *method, "--no-baselines"]),
        ]
        if not args.no_band_run:
            runs.append(("this tree, with the classical band", here, [*base, *method]))
        if args.old_tree:
            old = [*base, *method] if args.old_method else base
            runs.append(
                (f"old tree ({args.old_tree}), --no-baselines", args.old_tree, [*old, "--no-baselines"])
            )
        print(
            f"input: {args.rows} x {args.cols} float32 = {size / 2**30:.2f} GiB; {args.steps} steps, "
            f"3 seeds, "
            f"-j {args.jobs}; peak = resident memory of the process tree, summed, sampled every 50 ms"
        )
        results = {}
        for label, tree, command in runs:
            env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": tree}
            peak, wall, out = measure(command, env, tree)
            results[label] = peak
            print(f"{label}: peak {peak / 2**30:.2f} GiB ({peak / size:.1f}x the input), {wall:.0f} s")
            for line in out.strip().splitlines():
                print(f"    {line}")
        if args.old_tree:
            new, old = results[runs[0][0]], results[runs[-1][0]]
            print(f"peak, this tree / old tree (--no-baselines): {new / old:.2f}")


if __name__ == "__main__":
    main()
