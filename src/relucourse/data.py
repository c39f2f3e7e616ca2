"""Datasets, loaded straight onto the device as tensors and batched by indexing.

The course's datasets are small enough to live on the device whole (as in cifar10-airbench), so no
DataLoader is needed. Offline first:

* ``mnist1d``: generated locally by ``mnist1d.data.make_dataset`` (no download), 40 features, 10 classes.
* ``digits``: scikit-learn's bundled 8x8 digits, 64 features, 10 classes.
* ``cifar10`` / ``fashionmnist``: read from the standard files under ``root``. With
  ``download=True`` the files are fetched by torchvision (needs internet and torchvision).

CIFAR-10's batches are pickles, and a plain ``pickle.load`` runs whatever a file asks for; they are
read with ``_CifarUnpickler``, which builds only numpy arrays, lists and dicts.
"""

from __future__ import annotations

import codecs
import gzip
import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

DATASETS = ("mnist1d", "digits", "cifar10", "fashionmnist")
INPUT_SHAPES = {"mnist1d": (1, 40), "digits": (1, 8, 8), "cifar10": (3, 32, 32),
                "fashionmnist": (1, 28, 28)}


@dataclass
class Dataset:
    """Train/validation/test tensors on one device. ``x`` is float32, ``y`` int64 class labels.

    The validation split (``x_val``, ``y_val``; None when there is none) is carved from the
    training data by ``split_validation``: hyper-parameters are chosen on it, so the test split is
    only read for final numbers (the fair protocol of ``experiments.tune``).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    num_classes: int
    x_val: torch.Tensor | None = None
    y_val: torch.Tensor | None = None

    @property
    def has_val(self) -> bool:
        return self.y_val is not None and len(self.y_val) > 0

    @property
    def n_features(self) -> int:
        return int(self.x_train[0].numel())

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    @property
    def input_shape(self) -> tuple[int, ...]:
        """(channels, *spatial) of one sample, as a CNN reads it: MNIST-1D is a 1-channel signal of
        length 40, the digits a 1-channel 8x8 image (the MLP flattens whatever it gets)."""
        return INPUT_SHAPES.get(self.name, tuple(self.x_train.shape[1:]))

    def to(self, device: torch.device | str) -> Dataset:
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Dataset(self.name, self.x_train.to(device), self.y_train.to(device),
                       self.x_test.to(device), self.y_test.to(device), self.num_classes,
                       move(self.x_val), move(self.y_val))

    def split_validation(self, fraction: float, seed: int = 0) -> Dataset:
        """Move a seeded ``fraction`` of the training samples to a validation split.

        The permutation comes from a generator seeded with ``seed`` (the data seed), so the same
        samples are held out for every model seed and every configuration compared.
        """
        if isinstance(fraction, bool) or not isinstance(fraction, int | float) or not (
                0.0 < fraction < 1.0):
            raise ValueError(f"val_fraction={fraction!r} is invalid: must be a number in (0, 1)")
        if self.has_val:
            raise ValueError(f"{self.name} already has a validation split")
        n = len(self.y_train)
        n_val = max(1, round(fraction * n))
        if n_val >= n:
            raise ValueError(f"val_fraction={fraction} leaves no training samples out of {n}")
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).to(self.device)
        val, train = idx[:n_val], idx[n_val:]
        return Dataset(self.name, self.x_train[train], self.y_train[train], self.x_test,
                       self.y_test, self.num_classes, self.x_train[val], self.y_train[val])

    def subset(self, n_train: int, seed: int = 0) -> Dataset:
        """The first ``n_train`` training samples of a seeded permutation."""
        _check_n_train(n_train, len(self.y_train))
        g = torch.Generator().manual_seed(seed)
        idx = torch.randperm(len(self.y_train), generator=g)[:n_train].to(self.device)
        return Dataset(self.name, self.x_train[idx], self.y_train[idx], self.x_test, self.y_test,
                       self.num_classes, self.x_val, self.y_val)

    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        """Endless stream of index tensors: a fresh shuffle per epoch, drawn from ``generator``.

        ``batch_size`` is checked here, not at the first ``next()`` (a generator body runs late);
        a batch larger than the training split is cut to the split.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size={batch_size!r} is invalid: must be an int >= 1")
        n = len(self.y_train)
        if n == 0:
            raise ValueError(f"{self.name}: no training samples to batch")
        return self._batches(min(batch_size, n), generator)

    def _batches(self, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
        n = len(self.y_train)
        while True:
            perm = torch.randperm(n, generator=generator).to(self.device)
            for start in range(0, n - batch_size + 1, batch_size):
                yield perm[start : start + batch_size]

    def __repr__(self) -> str:
        val = f"val={tuple(self.x_val.shape)}, " if self.x_val is not None else ""
        return (f"Dataset({self.name!r}, train={tuple(self.x_train.shape)}, {val}"
                f"test={tuple(self.x_test.shape)}, classes={self.num_classes}, "
                f"device={self.device.type})")


def _check_n_train(n_train: object, available: int | None = None) -> None:
    """``n_train`` is an int in [1, available] (a negative one once sliced off the tail silently)."""
    rule = "must be an int >= 1" if available is None else f"must be an int in [1, {available}]"
    if isinstance(n_train, bool) or not isinstance(n_train, int):
        raise ValueError(f"n_train={n_train!r} is invalid: {rule} (got {type(n_train).__name__})")
    if n_train < 1:
        raise ValueError(f"n_train={n_train!r} is invalid: {rule}")
    if available is not None and n_train > available:
        raise ValueError(f"n_train={n_train} exceeds the {available} training samples: {rule}")


def _standardize(x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zero mean, unit variance per feature, using training statistics only."""
    mean = x_train.mean(axis=0, keepdims=True)
    std = x_train.std(axis=0, keepdims=True) + 1e-6
    return (x_train - mean) / std, (x_test - mean) / std


def _to_dataset(name: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                y_test: np.ndarray, num_classes: int, device: torch.device | str) -> Dataset:
    as_x = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32)  # noqa: E731
    as_y = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.int64)  # noqa: E731
    return Dataset(name, as_x(x_train), as_y(y_train), as_x(x_test), as_y(y_test),
                   num_classes).to(device)


@lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int) -> tuple[np.ndarray, ...]:
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    # make_dataset reseeds NumPy's global RNG; restore it so loading data changes no global state.
    state = np.random.get_state()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(state)
    return d["x"], d["y"], d["x_test"], d["y_test"]


def load_mnist1d(device: torch.device | str = "cpu", seed: int = 42) -> Dataset:
    """MNIST-1D (Greydanus 2020): 4000 train / 1000 test sequences of length 40, generated offline.

    ``seed=42`` reproduces the reference dataset's generation settings.
    """
    x, y, xt, yt = _mnist1d_arrays(seed)
    return _to_dataset("mnist1d", x, y, xt, yt, 10, device)


def load_digits(device: torch.device | str = "cpu", test_fraction: float = 0.25,
                seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 digits (1797 images), split with a fixed seed and standardised."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    x_tr, x_te, y_tr, y_te = train_test_split(
        bunch.data.astype(np.float32), bunch.target, test_size=test_fraction,
        random_state=seed, stratify=bunch.target)
    x_tr, x_te = _standardize(x_tr, x_te)
    return _to_dataset("digits", x_tr, y_tr, x_te, y_te, 10, device)


def _need_files(paths: list[Path], name: str, root: Path, download: bool) -> None:
    missing = [p for p in paths if not p.exists()]
    if not missing:
        return
    if not download:
        raise FileNotFoundError(
            f"{name} files not found under {root} (missing {missing[0].name}). Pass download=True "
            f"(needs internet and torchvision), or use an offline dataset: mnist1d or digits."
        )
    try:
        import torchvision.datasets as tvd
    except Exception as err:  # torchvision absent or broken beside this torch build
        raise RuntimeError(
            f"downloading {name} needs a working torchvision ({err}). Install a torchvision that "
            f"matches your torch, or place the files under {root} yourself."
        ) from err
    if name == "cifar10":
        tvd.CIFAR10(str(root), train=True, download=True)
    else:
        tvd.FashionMNIST(str(root), train=True, download=True)


def _numpy_core(submodule: str, name: str) -> object:
    """``numpy._core.<submodule>.<name>`` (numpy 2), or ``numpy.core`` on numpy 1."""
    import importlib

    try:
        module = importlib.import_module(f"numpy._core.{submodule}")
    except ImportError:
        module = importlib.import_module(f"numpy.core.{submodule}")
    return getattr(module, name)


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR-10 batch and nothing else: only these globals may be loaded.

    A batch is a dict of bytes keys -> a uint8 array, lists of ints/bytes and a bytes label, so it
    needs numpy's array reconstructors (old ``numpy.core`` and numpy 2's ``numpy._core`` names; the
    buffer form ``_frombuffer`` comes from protocol 5) and, from Python 3 pickles at protocol <= 2,
    ``_codecs.encode`` for bytes. Any other global (``os.system``, ``builtins.eval``...) is refused
    before it is looked up, so nothing it names can run.
    """

    ALLOWED = {
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_core("multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_core("multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"): lambda: _numpy_core("numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"): lambda: _numpy_core("numeric", "_frombuffer"),
        ("_codecs", "encode"): lambda: codecs.encode,
    }

    def __init__(self, file: BinaryIO, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> object:
        load = self.ALLOWED.get((module, name))
        if load is None:
            raise pickle.UnpicklingError(
                f"{self.path}: refusing to load the global {module}.{name}; a CIFAR-10 batch only "
                f"needs numpy arrays, lists and dicts (is this file really a CIFAR-10 batch?)")
        return load()


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        batch = _CifarUnpickler(f, path).load()
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise ValueError(f"{path}: not a CIFAR-10 batch (expected a dict with b'data' and b'labels')")
    data = np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
    return data, np.asarray(batch[b"labels"], dtype=np.int64)


def load_cifar10(root: str | Path, device: torch.device | str = "cpu", download: bool = False,
                 flatten: bool = False) -> Dataset:
    """CIFAR-10 from torchvision's layout: ``root/cifar-10-batches-py/{data_batch_1..5,test_batch}``.

    Images become float32 in [0, 1], normalised per channel with training statistics.
    """
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    train_files = [folder / f"data_batch_{i}" for i in range(1, 6)]
    _need_files([*train_files, folder / "test_batch"], "cifar10", root, download)
    parts = [_read_cifar_batch(p) for p in train_files]
    x_tr = np.concatenate([p[0] for p in parts]).astype(np.float32) / 255.0
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = _read_cifar_batch(folder / "test_batch")
    x_te = x_te.astype(np.float32) / 255.0
    mean = x_tr.mean(axis=(0, 2, 3), keepdims=True)
    std = x_tr.std(axis=(0, 2, 3), keepdims=True) + 1e-6
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    if flatten:
        x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    return _to_dataset("cifar10", x_tr, y_tr, x_te, y_te, 10, device)


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST family's format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _idx_path(folder: Path, stem: str) -> Path:
    plain = folder / stem
    return plain if plain.exists() else folder / f"{stem}.gz"


def load_fashionmnist(root: str | Path, device: torch.device | str = "cpu",
                      download: bool = False, flatten: bool = True) -> Dataset:
    """Fashion-MNIST from torchvision's layout: ``root/FashionMNIST/raw/*-idx?-ubyte[.gz]``."""
    root = Path(root)
    folder = root / "FashionMNIST" / "raw"
    stems = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    _need_files([_idx_path(folder, s) for s in stems], "fashionmnist", root, download)
    x_tr, y_tr, x_te, y_te = (_read_idx(_idx_path(folder, s)) for s in stems)
    x_tr = x_tr.astype(np.float32) / 255.0
    x_te = x_te.astype(np.float32) / 255.0
    mean, std = x_tr.mean(), x_tr.std() + 1e-6
    x_tr, x_te = (x_tr - mean) / std, (x_te - mean) / std
    if flatten:
        x_tr, x_te = x_tr.reshape(len(x_tr), -1), x_te.reshape(len(x_te), -1)
    else:
        x_tr, x_te = x_tr[:, None], x_te[:, None]
    return _to_dataset("fashionmnist", x_tr, y_tr.astype(np.int64), x_te, y_te.astype(np.int64),
                       10, device)


def load_dataset(name: str, device: torch.device | str = "cpu", root: str | Path | None = None,
                 download: bool = False, n_train: int | None = None, seed: int = 0,
                 val_fraction: float = 0.0) -> Dataset:
    """Load any course dataset by name.

    ``val_fraction`` > 0 first holds out that seeded fraction of the training split for
    validation (the same samples whatever ``n_train`` is); ``n_train`` then keeps a seeded subset
    of what remains for training. Features were standardised with statistics of the whole
    training split, validation included: a mild, common shortcut that leaks no labels.
    """
    if n_train is not None:  # fail before loading; the upper bound is checked by ``subset``
        _check_n_train(n_train)
    if name == "mnist1d":
        ds = load_mnist1d(device)
    elif name == "digits":
        ds = load_digits(device)
    elif name in ("cifar10", "fashionmnist"):
        if root is None:
            raise ValueError(f"{name} needs root=<folder with its files> (or download=True)")
        loader = load_cifar10 if name == "cifar10" else load_fashionmnist
        ds = loader(root, device=device, download=download)
    else:
        raise ValueError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")
    if val_fraction:
        ds = ds.split_validation(val_fraction, seed)
    return ds.subset(n_train, seed) if n_train is not None else ds
