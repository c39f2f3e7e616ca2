"""The networks the course trains: a configurable MLP and a small CNN.

Both use stable, named blocks so probes can target layers by name: hidden layer ``i`` is
``blocks.i`` with children ``linear`` (or ``conv``), ``norm`` and ``act`` (e.g. ``blocks.3.act``).
The classifier is ``head``. Initialisation is applied here via ``init.py``.

Options for "why depth is easy now" (chapters/08_diagnostics.ipynb): the MLP's ``norm`` can be a
BatchNorm or a LayerNorm, and ``residual=True`` adds an identity shortcut around every block whose
input and output widths match (all but the first), x <- x + act(norm(linear(x))), as in He et
al. (2016). The CNN (chapters/07_cnn.ipynb) takes a kernel size and a ``readout``: global average
pooling, or flattening every position into the head as the MNIST-1D baseline CNN does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from relucourse.activations import get_activation
from relucourse.config import ModelConfig
from relucourse.init import init_layer_

ARCHITECTURES = ("mlp", "cnn")
# How the CNN turns its last feature map into the head's input.
READOUTS = ("avgpool", "flatten")


class Block(nn.Module):
    """linear -> (BatchNorm) -> activation."""

    def __init__(self, linear: nn.Module, norm: nn.Module, act: nn.Module) -> None:
        super().__init__()
        self.linear = linear
        self.norm = norm
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.linear(x)))


def _init_block_layers(
    layers: list[nn.Module], activation: str, activation_kwargs: dict[str, Any], init: str,
    init_kwargs: dict[str, Any], bias_init: float | None,
) -> None:
    # kaiming_* take the activation's own gain (init.activation_gain), unless init_kwargs names one
    for layer in layers:
        init_layer_(layer, init, activation=activation, activation_kwargs=activation_kwargs,
                    bias=bias_init, **init_kwargs)


class MLP(nn.Module):
    """``depth`` hidden layers of ``width`` units, then a linear ``head``.

    ``bias_init`` sets every bias (None keeps PyTorch's default); the head uses the same init as
    the hidden layers with a gain of 1 (``linear``) for the PyTorch-default-free schemes.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        width: int = 64,
        depth: int = 4,
        activation: str = "relu",
        activation_kwargs: dict[str, Any] | None = None,
        init: str = "pytorch_default",
        init_kwargs: dict[str, Any] | None = None,
        bias_init: float | None = 0.0,
        batchnorm: bool = False,
        layernorm: bool = False,
        residual: bool = False,
    ) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"depth and width must be >= 1, got depth={depth}, width={width}")
        if batchnorm and layernorm:
            raise ValueError("choose one normalisation: batchnorm or layernorm, not both")
        activation_kwargs = dict(activation_kwargs or {})
        init_kwargs = dict(init_kwargs or {})
        self.activation = activation
        blocks = []
        # skip[i]: block i has an identity shortcut (residual, and its input is as wide as its output)
        self.skip: list[bool] = []
        fan_in = in_features
        for _ in range(depth):
            linear = nn.Linear(fan_in, width)
            norm = (nn.BatchNorm1d(width) if batchnorm else nn.LayerNorm(width) if layernorm
                    else nn.Identity())
            blocks.append(Block(linear, norm, get_activation(activation, **activation_kwargs)))
            self.skip.append(residual and fan_in == width)
            fan_in = width
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(width, out_features)
        _init_block_layers([b.linear for b in self.blocks], activation, activation_kwargs, init,
                           init_kwargs, bias_init)
        head_init = init if init in ("pytorch_default", "normal", "constant") else "xavier_normal"
        init_layer_(self.head, head_init, activation="identity", bias=bias_init,
                    **{k: v for k, v in init_kwargs.items() if k in ("std", "value")})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1)
        for block, skip in zip(self.blocks, self.skip, strict=True):
            x = x + block(x) if skip else block(x)
        return self.head(x)


class SmallCNN(nn.Module):
    """Conv blocks (conv -> norm -> act -> pool) and a linear head; 1-D or 2-D inputs.

    ``input_shape`` is one sample's (C, L) for 1-D data (MNIST-1D: (1, 40)) or (C, H, W) for
    images (digits: (1, 8, 8)); inputs arrive flat or shaped and are viewed as (N, *input_shape).
    Convolutions are "same"-padded (odd ``kernel_size``, padding ``kernel_size // 2``); max pooling
    halves each spatial size after every block while it is at least 2, so the 8x8 digits can take
    as many blocks as MNIST-1D's length 40. ``readout="avgpool"`` averages the last feature map
    over positions before the head; ``"flatten"`` keeps every position (channels x positions
    inputs to the head), like the MNIST-1D baseline CNN of Greydanus (2020): with three blocks of
    25 channels on MNIST-1D that is about 5k parameters.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        num_classes: int,
        channels: tuple[int, ...] = (16, 32),
        activation: str = "relu",
        activation_kwargs: dict[str, Any] | None = None,
        init: str = "pytorch_default",
        bias_init: float | None = 0.0,
        batchnorm: bool = False,
        init_kwargs: dict[str, Any] | None = None,
        kernel_size: int = 3,
        readout: str = "avgpool",
    ) -> None:
        super().__init__()
        dims = len(input_shape) - 1
        if dims not in (1, 2):
            raise ValueError(f"input_shape must be (C, L) or (C, H, W), got {input_shape}")
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd and >= 1 (same padding), got {kernel_size}")
        if readout not in READOUTS:
            raise ValueError(f"unknown readout {readout!r}; valid: {', '.join(READOUTS)}")
        self.input_shape = tuple(input_shape)
        in_channels = self.input_shape[0]
        conv_cls = nn.Conv1d if dims == 1 else nn.Conv2d
        norm_cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        pool_cls = nn.MaxPool1d if dims == 1 else nn.MaxPool2d
        activation_kwargs = dict(activation_kwargs or {})
        blocks = []
        c_in = in_channels
        for c_out in channels:
            conv = conv_cls(c_in, c_out, kernel_size=kernel_size, padding=kernel_size // 2)
            norm = norm_cls(c_out) if batchnorm else nn.Identity()
            block = Block(conv, norm, get_activation(activation, **activation_kwargs))
            blocks.append(block)
            c_in = c_out
        self.blocks = nn.ModuleList(blocks)
        self.pool = pool_cls(2)
        # Pool after block i only while every spatial size is still >= 2.
        sizes, self.pool_after = list(self.input_shape[1:]), []
        for _ in blocks:
            self.pool_after.append(min(sizes) >= 2)
            if self.pool_after[-1]:
                sizes = [s // 2 for s in sizes]
        self.readout = readout
        self.global_pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        positions = 1 if readout == "avgpool" else int(torch.tensor(sizes).prod())
        self.head = nn.Linear(c_in * positions, num_classes)
        _init_block_layers([b.linear for b in self.blocks], activation, activation_kwargs, init,
                           dict(init_kwargs or {}), bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(len(x), *self.input_shape)
        for block, pool in zip(self.blocks, self.pool_after, strict=True):
            x = block(x)
            if pool:
                x = self.pool(x)
        if self.readout == "avgpool":
            x = self.global_pool(x)
        return self.head(x.flatten(1))


def build_model(cfg: ModelConfig, in_features: int, num_classes: int,
                input_shape: tuple[int, ...] | None = None) -> nn.Module:
    """Build the model a ``ModelConfig`` describes (seed first: init is random; ``experiments.fit``
    and ``experiments.init_model`` do). A CNN needs ``input_shape`` (``Dataset.input_shape``);
    without one it reads the ``in_features`` inputs as a 1-channel 1-D signal."""
    if cfg.arch == "mlp":
        return MLP(in_features, num_classes, width=cfg.width, depth=cfg.depth,
                   activation=cfg.activation, activation_kwargs=cfg.activation_kwargs,
                   init=cfg.init, init_kwargs=cfg.init_kwargs, bias_init=cfg.bias_init,
                   batchnorm=cfg.batchnorm, layernorm=cfg.layernorm, residual=cfg.residual)
    if cfg.arch == "cnn":
        channels = tuple([cfg.width] * cfg.depth)
        shape = tuple(input_shape) if input_shape is not None else (1, in_features)
        return SmallCNN(shape, num_classes, channels=channels,
                        activation=cfg.activation, activation_kwargs=cfg.activation_kwargs,
                        init=cfg.init, bias_init=cfg.bias_init, batchnorm=cfg.batchnorm,
                        init_kwargs=cfg.init_kwargs, kernel_size=cfg.kernel_size,
                        readout=cfg.readout)
    raise ValueError(f"unknown architecture {cfg.arch!r}; valid: {', '.join(ARCHITECTURES)}")
