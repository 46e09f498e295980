"""What the PyTorch sides of the side-by-side benches share (the Python half
of side_by_side.rs): the thread count from the first argument, the timing
method (the same as the Rust side's), and the loop that answers the Rust
side's requests."""

import statistics
import sys
import time

import torch


def use_threads_from_argv():
    """Runs PyTorch on the thread count the Rust side passes as argument 1."""
    torch.set_num_threads(int(sys.argv[1]) if len(sys.argv) > 1 else torch.get_num_threads())


def median_time(f, reps, warmup=3):
    """The median wall time of `reps` calls of `f`, after `warmup` calls."""
    for _ in range(warmup):
        f()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def serve(workloads):
    """Answers the Rust side: for each workload name read from stdin, runs
    `workloads[name]()` (which returns seconds) and prints the seconds on a
    line of their own; an unknown name gets `nan`. Ends at end of input."""
    for line in sys.stdin:
        name = line.strip()
        if name:
            f = workloads.get(name)
            print(f() if f else float("nan"), flush=True)
