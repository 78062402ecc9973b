"""The sinabs peer of ``benchmarks/kernel_speed.py``: workloads A and B as sinabs IAF networks
in PyTorch, timed in this interpreter, which needs ``torch`` and ``sinabs`` (neither is a
dependency of snnc: they go in a venv of their own)::

    python3 -m venv /tmp/peer && /tmp/peer/bin/pip install torch==2.13.0 sinabs==3.1.3
    /tmp/peer/bin/python benchmarks/sinabs_peer.py --workload A --threads 2 [--reps 3]

``kernel_speed.py --sinabs /tmp/peer/bin/python`` runs this once per round, interleaved with
its other contestants. Prints one JSON line: the best wall time of ``--reps`` timed runs
after a warm-up run, and that run's CPU time.

The networks have the workloads' shapes (channels first, as torch has them), with torch's
default random weights: sinabs multiplies densely, so its time does not depend on the
weights or on how often its neurons spike. Each image is repeated over the steps as frames
of one batch (``IAFSqueeze``), the usual sinabs input for a constant image, so the first
convolution runs on every frame; the states are reset before each run.
"""

from __future__ import annotations

import argparse
import json
import time

import sinabs.layers as sl
import torch
from torch import nn

#: workload: (images, image shape, steps)
WORKLOADS = {"A": (397, (1, 8, 8), 100), "B": (256, (1, 28, 28), 50)}


def network(workload: str, frames: int) -> nn.Sequential:
    """The workload's layers with an IAF layer after each hidden one (as snnc lowers them)."""

    def iaf():
        return sl.IAFSqueeze(batch_size=frames)

    if workload == "A":  # conv16 - conv32/2 - dense64 - dense10 on 8x8 digits
        return nn.Sequential(
            nn.Conv2d(1, 16, 3), iaf(), nn.Conv2d(16, 32, 3, stride=2), iaf(),
            nn.Flatten(), nn.Linear(128, 64), iaf(), nn.Linear(64, 10),
        )  # fmt: skip
    return nn.Sequential(  # B: conv32 - conv64/2 - conv64/2 - dense256 - dense10 on 28x28
        nn.Conv2d(1, 32, 3), iaf(), nn.Conv2d(32, 64, 3, stride=2), iaf(),
        nn.Conv2d(64, 64, 3, stride=2), iaf(), nn.Flatten(), nn.Linear(1600, 256), iaf(),
        nn.Linear(256, 10),
    )  # fmt: skip


def run(net: nn.Sequential, x: torch.Tensor, steps: int) -> torch.Tensor:
    """All steps of all images: every image repeated over the steps, the states reset."""
    for layer in net:
        if isinstance(layer, sl.IAFSqueeze):
            layer.reset_states()
    n = x.shape[0]
    frames = x.unsqueeze(1).expand(n, steps, *x.shape[1:]).reshape(n * steps, *x.shape[1:])
    with torch.no_grad():
        return net(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--reps", type=int, default=1, help="timed runs (best is printed)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n, shape, steps = WORKLOADS[args.workload]
    x = torch.rand(n, *shape)
    net = network(args.workload, n)
    run(net, x, steps)  # warm-up: torch's allocator and thread pool
    best = None
    for _ in range(args.reps):
        wall, cpu = time.perf_counter(), time.process_time()
        run(net, x, steps)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if best is None or wall < best[0]:
            best = (wall, cpu)
    versions = {"torch": torch.__version__, "sinabs": _version("sinabs")}
    print(json.dumps({"wall": best[0], "cpu": best[1], "versions": versions}))


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


if __name__ == "__main__":
    main()
