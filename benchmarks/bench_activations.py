"""Benchmark 2: forward + backward cost of each activation, as time and as memory bandwidth.

An elementwise activation does almost no arithmetic per byte, so its speed is set by memory
traffic. The least traffic forward + backward can make is 5 float32 passes over n elements (read
x, write y; read grad_out and x (or y), write grad_in): 20 n bytes. Achieved bandwidth = 20 n / t.
The roof is the device's measured copy bandwidth (``dst.copy_(src)``: 8 n bytes per copy, timed
with ``rc.timing.measure`` at the same n). "roofline fraction" = achieved / copy bandwidth: near 1
means the activation costs about as much as moving its data, whatever its formula.
Timings: ``rc.timing.activation_cost`` (warm-up, device sync, median of repeats). The "new
buffer" row times ``torch.empty(n).fill_(1)``: every activation call allocates its output and its
gradient, and on a CPU a large fresh buffer costs page faults that can outweigh the formula.
"""

from __future__ import annotations

import os

import torch
from common import banner, parser

import relucourse as rc
from relucourse.timing import activation_cost, measure

ACTIVATIONS = ("relu", "sigmoid", "tanh", "softplus", "gelu")
BYTES_PER_ELEMENT = 5 * 4  # five float32 passes (see module docstring)
# Peak memory of one fwd+bwd step: x, grad_out, y, grad_in, plus a saved tensor and scratch.
LIVE_TENSORS = 8


def free_bytes(device: torch.device) -> int:
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2 * 2**30


def copy_bandwidth(numel: int, device: torch.device, repeats: int) -> float:
    """GB/s of a plain tensor copy: reads and writes 4 bytes per element each."""
    src = torch.randn(numel, device=device)
    dst = torch.empty_like(src)
    t = measure(lambda: dst.copy_(src), device, repeats=repeats)
    return 8 * numel / t.median_s / 1e9


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    device = rc.pick_device(args.device)
    print(banner("activations: forward+backward time and bandwidth", device))
    if args.quick:
        sizes = [10**6]
    elif args.full or device.type != "cpu":
        sizes = [10**6, 10**7, 10**8]
    else:
        sizes = [10**6, 10**7]
    budget = free_bytes(device) // 2
    kept = [n for n in sizes if n * 4 * LIVE_TENSORS <= budget]
    for n in sorted(set(sizes) - set(kept)):
        print(f"skipping n={n:.0e}: needs ~{n * 4 * LIVE_TENSORS / 2**30:.1f} GiB, "
              f"half the free memory is {budget / 2**30:.1f} GiB")
    repeats = 5 if args.quick else 10
    print(f"{'n':>6} {'activation':>10} {'ms':>9} {'GB/s':>8} {'roofline':>9} {'x relu':>7}")
    for n in kept:
        roof = copy_bandwidth(n, device, repeats)
        print(f"{n:>6.0e} {'copy':>10} {8 * n / roof / 1e6:>9.3f} {roof:>8.1f} {1.0:>9.2f} {'':>7}")
        # Each activation call allocates fresh output and gradient buffers; this row shows what
        # one new buffer costs (allocate + write 4 n bytes), which dominates large CPU sizes.
        fresh = measure(lambda n=n: torch.empty(n, device=device).fill_(1.0), device,
                        repeats=repeats).median_s
        print(f"{n:>6.0e} {'new buffer':>10} {fresh * 1e3:>9.3f} {4 * n / fresh / 1e9:>8.1f} "
              f"{4 * n / fresh / 1e9 / roof:>9.2f} {'':>7}")
        relu_s = None
        for name in ACTIVATIONS:
            t = activation_cost(name, n, device, repeats=repeats).median_s
            relu_s = relu_s or t
            gbs = BYTES_PER_ELEMENT * n / t / 1e9
            print(f"{n:>6.0e} {name:>10} {t * 1e3:>9.3f} {gbs:>8.1f} {gbs / roof:>9.2f} "
                  f"{t / relu_s:>6.2f}x")
    print("roofline = achieved bandwidth (20 bytes/element) / measured copy bandwidth; "
          "x relu = time / relu's time at the same n.")


if __name__ == "__main__":
    main()
