"""Benchmark 1: a sweep of N small MLPs, batched engine vs a Python loop over the same models.

Both sides train exactly the same N members (same configs, seeds, init and batch order) on
MNIST-1D resident on the device; the loop calls ``rc.train.train`` once per model, the engine
``rc.experiments.batched.train_many`` once for all. Printed: both wall times, the ratio loop / engine, and the
largest difference in final test accuracy (a check that both did the same work).
On CUDA the engine is also timed with bf16 autocast and with torch.compile (after a warm-up call,
so compile time is excluded and reported separately).
"""

from __future__ import annotations

import time

import torch
from common import banner, parser

import relucourse as rc
from relucourse import experiments
from relucourse.experiments import batched as engine
from relucourse.timing import measure


def sweep_configs(n: int, steps: int) -> list[rc.RunConfig]:
    """N members: 4 init schemes x N/4 seeds of one 4 x 64 ReLU MLP (a typical chapter sweep)."""
    inits = ["kaiming_normal", "xavier_normal", "pytorch_default", "kaiming_uniform"]
    base = rc.RunConfig(model=rc.ModelConfig(width=64, depth=4, activation="relu"),
                        train=rc.TrainConfig(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=128,
                                             steps=steps, eval_every=max(steps // 4, 1)))
    return [base.replace(**{"model.init": inits[i % 4], "train.seed": i}) for i in range(n)]


def run_loop(cfgs: list[rc.RunConfig], data: rc.data.Dataset) -> list[rc.records.Record]:
    """The one-model path, one config after another (``rc.fit``, uncached)."""
    return [rc.fit(cfg, data=data, progress=False)[1] for cfg in cfgs]


def timed(fn, device: torch.device):
    """One synchronised timing of ``fn`` (rc.timing.measure) and fn's own result."""
    box = {}
    t = measure(lambda: box.setdefault("r", fn()), device, warmup=0, repeats=1)
    return t.median_s, box["r"]


def main(argv: list[str] | None = None) -> None:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    device = rc.pick_device(args.device)
    print(banner("engine: batched sweep vs Python loop", device))
    sizes = [8] if args.quick else [8, 32, 64]
    steps = 100 if args.quick else (1000 if device.type != "cpu" or args.full else 300)
    data = experiments.load_data(sweep_configs(1, steps)[0], device)
    print(f"MLP 4 x 64 relu, SGD+momentum, batch 128, {steps} steps, MNIST-1D ({len(data.y_train)} "
          f"train samples) on {device.type}")
    warm = sweep_configs(2, 10)  # warm-up: first-call allocations and kernel selection
    run_loop(warm, data)
    engine.train_many(warm, data, progress=False)
    header = f"{'N':>4} {'loop s':>9} {'engine s':>9} {'loop/engine':>12} {'max |d acc|':>12}"
    print(header)
    for n in sizes:
        cfgs = sweep_configs(n, steps)
        t_loop, ref = timed(lambda c=cfgs: run_loop(c, data), device)
        t_eng, got = timed(lambda c=cfgs: engine.train_many(c, data, progress=False), device)
        diff = max(abs(a.final_test_acc - b.final_test_acc) for a, b in zip(ref, got, strict=True))
        print(f"{n:>4} {t_loop:>9.2f} {t_eng:>9.2f} {t_loop / t_eng:>11.1f}x {diff:>12.4f}")
        if device.type == "cuda":
            t_bf, _ = timed(lambda c=cfgs: engine.train_many(c, data, bf16=True, progress=False),
                            device)
            start = time.perf_counter()
            engine.train_many(cfgs, data, compile=True, progress=False)
            first = time.perf_counter() - start
            t_co, _ = timed(lambda c=cfgs: engine.train_many(c, data, compile=True, progress=False),
                            device)
            print(f"     engine bf16 {t_bf:.2f} s ({t_loop / t_bf:.1f}x); engine compile {t_co:.2f} s "
                  f"({t_loop / t_co:.1f}x; first call incl. compilation {first:.1f} s)")
    # How far apart do two *loop* runs of the same models land when only float rounding differs
    # (here: a different thread count, so different summation orders)? That is the yardstick
    # for the engine's max |d acc|: training amplifies last-bit differences over many steps.
    cfgs = sweep_configs(sizes[0], steps)
    threads = torch.get_num_threads()
    ref = run_loop(cfgs, data)
    with rc.timing.threads(1 if threads > 1 else 2):
        other = run_loop(cfgs, data)
    diff = max(abs(a.final_test_acc - b.final_test_acc) for a, b in zip(ref, other, strict=True))
    print(f"rounding yardstick: loop vs loop with {threads} -> "
          f"{1 if threads > 1 else 2} threads, N={sizes[0]}: max |d acc| = {diff:.4f}")
    print("ratio = loop time / engine time for the same N models, measured back to back.")


if __name__ == "__main__":
    main()
