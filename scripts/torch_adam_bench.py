#!/usr/bin/python3
"""Time PyTorch's CPU Adam step on one large flat float32 parameter.

Purpose
-------
A comparison point for the Java/CPU Adam kernels: how long does
torch.optim.Adam.step() take on one parameter tensor of N float32 elements, and
what effective memory bandwidth does that correspond to?  The bandwidth counts
the minimum traffic of a fused Adam step, 28 bytes per parameter (reads p, g, m,
v = 16 bytes; writes p, m, v = 12 bytes), even though PyTorch's unfused
implementation makes several passes over memory.

As a baseline for what the machine's memory system allows, the same run also
times a plain streaming op, torch.add(a, b, out=c) over N floats (12 bytes per
element: two reads, one write).

Variants timed: foreach=False (plain per-tensor loop) and foreach=True, when this
torch's Adam accepts `foreach`; also fused=True when this torch supports it on
the CPU (torch >= 2.4); unsupported variants are skipped with a note.  The
gradient is preset to random values once and left unchanged between steps.

Usage
-----
    /usr/bin/python3 scripts/torch_adam_bench.py                  # N = 33,554,432, 2 threads
    /usr/bin/python3 scripts/torch_adam_bench.py --n 1048576 --threads 1 --steps 50
    /usr/bin/python3 scripts/torch_adam_bench.py --json           # machine-readable output

Times are per step, median over --steps timed steps after --warmup untimed ones
(min and max are reported too).  Memory needed: about 7 * 4 * N bytes (~0.9 GiB
at the default N).  Needs only torch (Debian: apt-get install python3-torch).
"""

import argparse
import inspect
import json
import platform
import statistics
import sys
import time

import torch

from torch_adam_reference import cpu_capability  # same folder: Python puts it on sys.path

ADAM_BYTES_PER_PARAM = 28   # read p, g, m, v; write p, m, v (4 bytes each)
ADD_BYTES_PER_ELEM = 12     # read a, b; write c


def summarize(times_s, bytes_per_call):
    med = statistics.median(times_s)
    return {
        "ms_median": med * 1e3,
        "ms_min": min(times_s) * 1e3,
        "ms_max": max(times_s) * 1e3,
        "gb_per_s": bytes_per_call / med / 1e9,
        "gb_per_s_best": bytes_per_call / min(times_s) / 1e9,
    }


def time_calls(fn, steps, warmup):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def adam_variants():
    """(label, extra kwargs) for each Adam implementation this torch can run on the CPU."""
    params = inspect.signature(torch.optim.Adam.__init__).parameters
    variants, skipped = [], []
    if "foreach" in params:
        variants.append(("foreach=False", {"foreach": False}))
        variants.append(("foreach=True", {"foreach": True}))
    else:
        variants.append(("default", {}))
        skipped.append("foreach (not a torch.optim.Adam option in this torch)")
    if "fused" in params:
        # CPU support for fused Adam arrived in torch 2.4; probe with a tiny tensor
        try:
            probe = torch.nn.Parameter(torch.zeros(4))
            probe.grad = torch.ones(4)
            torch.optim.Adam([probe], fused=True).step()
            variants.append(("fused=True", {"fused": True}))
        except (RuntimeError, ValueError, TypeError) as e:
            skipped.append("fused=True (%s)" % str(e).splitlines()[0])
    return variants, skipped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=33_554_432, help="number of parameters (default 33554432)")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per variant (default 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed warmup steps per variant (default 3)")
    ap.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = ap.parse_args()
    if args.n <= 0 or args.steps <= 0 or args.warmup < 0 or args.threads <= 0:
        ap.error("--n, --steps and --threads must be positive, --warmup non-negative")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    n = args.n
    results = []

    # Baseline: plain streaming add, 12 bytes per element.
    a = torch.randn(n, dtype=torch.float32)
    b = torch.randn(n, dtype=torch.float32)
    c = torch.empty(n, dtype=torch.float32)
    times = time_calls(lambda: torch.add(a, b, out=c), args.steps, args.warmup)
    results.append(dict(name="torch.add(a, b, out=c)", bytes_per_elem=ADD_BYTES_PER_ELEM,
                        **summarize(times, ADD_BYTES_PER_ELEM * n)))
    del a, b, c

    variants, skipped = adam_variants()
    for label, kwargs in variants:
        torch.manual_seed(args.seed)
        p = torch.nn.Parameter(torch.randn(n, dtype=torch.float32))
        p.grad = torch.randn(n, dtype=torch.float32)
        opt = torch.optim.Adam([p], lr=args.lr, **kwargs)
        with torch.no_grad():
            times = time_calls(opt.step, args.steps, args.warmup)
        results.append(dict(name="Adam " + label, bytes_per_elem=ADAM_BYTES_PER_PARAM,
                            **summarize(times, ADAM_BYTES_PER_PARAM * n)))
        del opt, p

    report = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_capability": cpu_capability(),
        "n": n,
        "threads": torch.get_num_threads(),
        "steps": args.steps,
        "warmup": args.warmup,
        "results": results,
        "skipped": skipped,
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return

    print("torch %s, %s, CPU capability %s, N = %d, threads = %d, %d timed steps after %d warmup" % (
        report["torch"], report["machine"], report["cpu_capability"], n, report["threads"],
        args.steps, args.warmup))
    header = "%-24s %8s %10s %10s %10s %10s" % ("op", "B/elem", "ms median", "ms min", "GB/s med", "GB/s best")
    print(header)
    print("-" * len(header))
    for r in results:
        print("%-24s %8d %10.2f %10.2f %10.2f %10.2f" % (
            r["name"], r["bytes_per_elem"], r["ms_median"], r["ms_min"], r["gb_per_s"], r["gb_per_s_best"]))
    for s in skipped:
        print("skipped: " + s)


if __name__ == "__main__":
    main()
