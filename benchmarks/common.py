"""Shared bits of the benchmarks: the machine banner and the command-line flags.

Every benchmark prints where it ran (device, CPU/GPU name, core count, torch version, date) so a
number is never separated from its machine, and compares things measured side by side in one run.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform

import torch

import relucourse as rc


def cpu_name() -> str:
    """The CPU model from /proc/cpuinfo (Linux), else whatever platform reports."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_name()


def banner(title: str, device: torch.device) -> str:
    lines = [
        f"== {title} ==",
        f"date: {datetime.date.today().isoformat()} | device: {device.type} ({device_name(device)}) | "
        f"cpu: {cpu_name()}, {os.cpu_count()} logical cores, torch threads {torch.get_num_threads()}",
        f"torch {torch.__version__} | python {platform.python_version()} | relucourse {rc.__version__}"
        + (f" | CUDA {torch.version.cuda}" if device.type == "cuda" else ""),
    ]
    return "\n".join(lines)


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="about a minute in all: smallest sizes only")
    p.add_argument("--full", action="store_true",
                   help="largest sizes (activations up to 1e8 elements; notebooks in full mode)")
    p.add_argument("--device", default=None, help="auto (default), cuda, mps or cpu")
    return p
