"""A busy neighbour: another process's multi-threaded torch work, running
while a bench measures, as DataLoader workers, a second training job or a
shared cluster node produce.

Run alone, it multiplies 512 x 512 float32 matrices on ``--threads`` torch
threads until it is killed. :func:`busy_neighbour` starts it for the
duration of a ``with`` block and waits until it is computing.

Example::

    python bench/contention.py --threads 2   # until Ctrl-C
"""

import argparse
import contextlib
import os
import subprocess
import sys
import time

import torch

READY = "busy"


def spin(threads, size=512):
    """Matrix products on ``threads`` torch threads, forever."""
    torch.set_num_threads(threads)
    a, b = torch.rand(size, size), torch.rand(size, size)
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()
    while True:
        a = (a @ b).clamp_(-1.0, 1.0)


@contextlib.contextmanager
def busy_neighbour(threads=2):
    """Runs :func:`spin` in another process for the duration of the block.

    Arguments
    ---------
    threads : int
        torch threads of the neighbour (0: no neighbour, the block runs
        alone).

    Yields
    ------
    subprocess.Popen or None
        The neighbour's process.
    """
    if threads <= 0:
        yield None
        return
    # A neighbour as found in the wild: torch's default OpenMP waits
    # (spinning), not the passive ones this package sets for itself.
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    neighbour = subprocess.Popen(
        [sys.executable, __file__, "--threads", str(threads)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        if neighbour.stdout.readline().strip() != READY:
            raise RuntimeError("the busy neighbour did not start")
        time.sleep(0.5)  # let its thread pool spin up
        yield neighbour
    finally:
        neighbour.kill()
        neighbour.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    spin(parser.parse_args().threads)


if __name__ == "__main__":
    main()
