"""ReLU in convolutional networks: the chapter's CNNs, time to a target, and its decomposition.

Chapter: "ReLU in convolutional networks" (chapters/07_cnn.ipynb).

Krizhevsky, Sutskever & Hinton (2012, Figure 1) count *epochs* to 25% training error on CIFAR-10:
a four-layer CNN with ReLUs gets there six times sooner than the same network with tanh units,
with each network's learning rate chosen to make it as fast as possible. A W&B report (Thakur,
"ReLU vs. Sigmoid Function in Deep Neural Networks") trained a vanilla CNN on CIFAR-10, found that
sigmoid "took more than double the amount of time" and put it under "computational speed". Wall
time to a target mixes two different things, and this module separates them:

    time to target = (steps to target) x (time per step)
    time ratio (a / b) = steps ratio (a / b) x per-step ratio (a / b)

The steps come from training records (``steps_to_accuracy``: the first evaluation step at which
an accuracy curve reaches the target); the time per step is best measured apart from training,
interleaved on one machine (``step_timings``, ``timing.interleaved``), because a record's wall time
also holds evaluations and whatever else the machine was doing at that moment.

The CNN is the course's ``models.SmallCNN`` (``arch="cnn"``): three blocks conv -> act -> max pool
and a linear head on the flattened last feature map, which with 25 channels on MNIST-1D has about
5k parameters, like the MNIST-1D baseline CNN of Greydanus (2020), reported at about 94% test
accuracy.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from relucourse.answers import quiz_answer
from relucourse.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from relucourse.data import INPUT_SHAPES
from relucourse.experiments import init_model, training_step
from relucourse.records import Record
from relucourse.stats import mean_std
from relucourse.timing import Timing, interleaved

ACTIVATIONS = ("sigmoid", "tanh", "relu")
KRIZHEVSKY_TARGET_ERROR = 0.25  # Figure 1: epochs to 25% training error on CIFAR-10
KRIZHEVSKY_SPEEDUP = 6.0  # ReLU vs tanh, in epochs (their words: "six times faster")
MNIST1D_CNN_TEST_ACC = 0.94  # Greydanus (2020): the baseline CNN's reported test accuracy


def cnn_config(activation: str, dataset: str = "mnist1d", width: int = 25, depth: int = 3,
               steps: int = 1000, lr: float = 1e-2, optimizer: str = "adam",
               batch_size: int = 128, eval_every: int = 50, val_fraction: float = 0.1,
               readout: str = "flatten", kernel_size: int = 3, init: str = "kaiming_normal",
               seed: int = 0) -> RunConfig:
    """The chapter's CNN run: ``depth`` conv blocks of ``width`` channels, each activation with
    its own gain in a fan-in init (``kaiming_normal``: Var[W] = gain^2 / fan_in with
    ``init.activation_gain``, 2/fan_in for ReLU), zero biases, a validation split for ``tune``."""
    return RunConfig(
        data=DataConfig(name=dataset, val_fraction=val_fraction),
        model=ModelConfig(arch="cnn", width=width, depth=depth, activation=activation, init=init,
                          bias_init=0.0, readout=readout, kernel_size=kernel_size),
        train=TrainConfig(optimizer=optimizer, lr=lr, batch_size=batch_size, steps=steps,
                          eval_every=eval_every, seed=seed))


@quiz_answer
def conv_parameters(in_channels: int, out_channels: int, kernel_size: int, dims: int = 1,
                    bias: bool = True) -> int:
    """Weights and biases of one convolution: out x in x k^dims (+ out biases)."""
    return out_channels * in_channels * kernel_size**dims + (out_channels if bias else 0)


@quiz_answer
def cnn_parameters(dataset: str = "mnist1d", width: int = 25, depth: int = 3,
                   kernel_size: int = 3, readout: str = "flatten", num_classes: int = 10) -> int:
    """Parameters of the course CNN on ``dataset``, counted on the built model."""
    model = ModelConfig(arch="cnn", width=width, depth=depth, kernel_size=kernel_size,
                        readout=readout)
    shape = INPUT_SHAPES[dataset]
    net = init_model(model, math.prod(shape), num_classes, seed=0, input_shape=shape)
    return sum(p.numel() for p in net.parameters())


def steps_to_accuracy(record: Record, accuracy: float, metric: str = "train_acc") -> int | None:
    """First evaluation step at which ``metric`` (an accuracy curve) is >= ``accuracy``; None if
    never. ``train_acc`` is averaged over the ``eval_every`` steps before each evaluation, so the
    answer means "within that many steps"."""
    if not metric.endswith("_acc"):
        raise ValueError(f"metric must be an accuracy curve (train_acc, val_acc, test_acc), "
                         f"not {metric!r}; for a loss use Record.steps_to")
    for step, value in zip(record.steps, getattr(record, metric), strict=True):
        if value >= accuracy:
            return step
    return None


def seconds_per_step(record: Record) -> float:
    """The run's wall time over the steps it trained (evaluations included)."""
    return record.wall_time_s / record.steps[-1] if record.steps else float("nan")


@dataclass(frozen=True)
class TimeToTarget:
    """Steps (per seed; None = never) and wall time to a target for one configuration.

    Unreached seeds count as the whole run, so when ``reached < seeds`` the means are lower
    bounds (``lower_bound``)."""

    label: str
    target: float
    metric: str
    steps: tuple[int | None, ...]
    run_steps: tuple[int, ...]
    seconds_per_step: tuple[float, ...]

    @property
    def reached(self) -> int:
        return sum(s is not None for s in self.steps)

    @property
    def lower_bound(self) -> bool:
        return self.reached < len(self.steps)

    def _steps(self) -> list[int]:
        return [s if s is not None else n for s, n in zip(self.steps, self.run_steps, strict=True)]

    @property
    def mean_steps(self) -> tuple[float, float]:
        return mean_std(self._steps())

    @property
    def mean_seconds(self) -> tuple[float, float]:
        return mean_std([s * t for s, t in zip(self._steps(), self.seconds_per_step, strict=True)])

    def text(self) -> str:
        ge = ">= " if self.lower_bound else ""
        (m, s), (tm, ts) = self.mean_steps, self.mean_seconds
        return (f"{self.label:10s} {ge}{m:7.0f} ± {s:5.0f} steps   {ge}{tm:6.2f} ± {ts:5.2f} s   "
                f"(reached by {self.reached}/{len(self.steps)} seeds)")


def time_to_target(label: str, records: Sequence[Record], target: float,
                   metric: str = "train_acc") -> TimeToTarget:
    """``TimeToTarget`` of one configuration's records (one per seed)."""
    return TimeToTarget(label, target, metric,
                        tuple(steps_to_accuracy(r, target, metric) for r in records),
                        tuple(r.steps[-1] for r in records),
                        tuple(seconds_per_step(r) for r in records))


@quiz_answer
def time_ratio(steps_ratio: float, per_step_ratio: float) -> float:
    """Wall-time ratio of two runs to one target: steps ratio x per-step time ratio."""
    return steps_ratio * per_step_ratio


@dataclass(frozen=True)
class Decomposition:
    """How much of a wall-time ratio ``num / den`` comes from steps and how much from cost per
    step: ``time_ratio = steps_ratio x per_step_ratio``, and in log terms the share of each."""

    num: str
    den: str
    steps_ratio: float
    per_step_ratio: float
    lower_bound: bool  # num did not reach the target with every seed: steps_ratio is a minimum

    @property
    def time_ratio(self) -> float:
        return time_ratio(self.steps_ratio, self.per_step_ratio)

    @property
    def per_step_share(self) -> float:
        """log(per-step ratio) / log(time ratio): the fraction of the slowdown (on a log scale)
        that the cost per step explains (NaN when the time ratio is 1)."""
        total = math.log(self.time_ratio)
        return math.log(self.per_step_ratio) / total if total != 0 else float("nan")

    def text(self) -> str:
        ge = ">= " if self.lower_bound else ""
        return (f"{self.num} / {self.den}: time {ge}{self.time_ratio:.2f}x = steps "
                f"{ge}{self.steps_ratio:.2f}x * per step {self.per_step_ratio:.2f}x")


def decompose(num: TimeToTarget, den: TimeToTarget, per_step_ratio: float) -> Decomposition:
    """Split ``num``'s wall time to the target over ``den``'s into steps and cost per step, with
    the per-step ratio measured apart (``step_timings``). ``den`` must reach the target with
    every seed (otherwise the ratio has no value)."""
    if den.lower_bound:
        raise ValueError(f"{den.label} did not reach the target with every seed; choose a "
                         "reference that does")
    return Decomposition(num.label, den.label, num.mean_steps[0] / den.mean_steps[0],
                         per_step_ratio, num.lower_bound)


def train_step(model: ModelConfig, dataset: str = "mnist1d", batch_size: int = 128,
               optimizer: str = "adam", lr: float = 1e-2, device: torch.device | str = "cpu",
               seed: int = 0, num_classes: int = 10) -> Callable[[], None]:
    """A closure running one training step (forward, cross-entropy, backward, optimiser step) of
    the model ``model`` describes, on a fixed random batch shaped like ``dataset``'s samples."""
    shape = INPUT_SHAPES[dataset]
    return training_step(model, math.prod(shape), num_classes, batch_size,
                         TrainConfig(optimizer=optimizer, lr=lr), input_shape=shape, device=device,
                         seed=seed)


def step_timings(model: ModelConfig, activations: Sequence[str] = ACTIVATIONS,
                 dataset: str = "mnist1d", batch_size: int = 128, optimizer: str = "adam",
                 device: torch.device | str = "cpu", repeats: int = 10,
                 warmup: int = 3) -> dict[str, Timing]:
    """Time one training step of ``model`` with each activation, interleaved call by call."""
    fns = {a: train_step(ModelConfig(**{**_fields(model), "activation": a}), dataset, batch_size,
                         optimizer, device=device) for a in activations}
    return interleaved(fns, repeats=repeats, warmup=warmup, device=device)


def _fields(model: ModelConfig) -> dict[str, object]:
    import dataclasses

    return {f.name: getattr(model, f.name) for f in dataclasses.fields(model)}


@dataclass(frozen=True)
class Sizes:
    """The chapter's run sizes in the active mode (``runtime.by_mode``): one place, so the
    training cells and the self-contained timing cell use the same network and batch."""

    width: int
    steps: int
    eval_every: int
    batch_size: int
    target_error: float  # training-error target (Krizhevsky et al.'s 25% at full size)
    target_acc: float  # test-accuracy target


def mnist1d_sizes() -> Sizes:
    """MNIST-1D: 8 channels and 200 steps of batch 64 in fast mode; the baseline's 25 channels,
    1000 steps of batch 128 and Krizhevsky's 25% training error at full size (in 2000-step runs
    the tuned ReLU network was at about 95% test accuracy from step 750 on; sigmoid was still
    improving, so final accuracies compare the activations at this budget, not at convergence)."""
    from relucourse.runtime import by_mode

    return Sizes(width=by_mode(8, 25), steps=by_mode(200, 1000), eval_every=by_mode(20, 25),
                 batch_size=by_mode(64, 128), target_error=by_mode(0.5, 0.25),
                 target_acc=by_mode(0.5, 0.9))


def digits_sizes() -> Sizes:
    """The 8x8 digits (2-D convolutions): an easier task, so shorter runs."""
    from relucourse.runtime import by_mode

    return Sizes(width=by_mode(8, 16), steps=by_mode(60, 600), eval_every=by_mode(6, 30),
                 batch_size=64, target_error=0.25, target_acc=by_mode(0.8, 0.95))
