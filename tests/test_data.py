"""data: offline datasets on the device, seeded subsets and batches, and the CIFAR-10 /
Fashion-MNIST readers on tiny files written here in torchvision's exact layouts (CIFAR's pickles
through a restricted unpickler: a file that asks to run code is refused, and the code never runs)."""

from __future__ import annotations

import builtins
import gzip
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from relucourse import data
from relucourse.data import Dataset


def test_mnist1d_shapes_and_determinism() -> None:
    ds = data.load_mnist1d()
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.y_train.shape == (4000,) and ds.y_test.shape == (1000,)
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    assert ds.num_classes == 10 and ds.n_features == 40
    assert set(ds.y_train.tolist()) == set(range(10))
    assert ds.device == torch.device("cpu")
    np_state = np.random.get_state()[1].copy()
    data._mnist1d_arrays.cache_clear()  # regenerate from scratch: same seed, same data
    fresh = data.load_mnist1d()
    assert torch.equal(ds.x_train, fresh.x_train) and torch.equal(ds.y_test, fresh.y_test)
    assert np.array_equal(np.random.get_state()[1], np_state), "loading changed NumPy's global RNG"


def test_digits_standardised_and_stratified() -> None:
    ds = data.load_digits()
    assert ds.x_train.shape == (1347, 64) and ds.x_test.shape == (450, 64)
    assert ds.n_features == 64 and ds.num_classes == 10
    assert ds.x_train.mean(0).abs().max().item() < 1e-4
    std = ds.x_train.std(0, unbiased=False)
    informative = std > 0.5  # a few corner pixels are always 0: their std stays 0
    assert informative.sum() > 55
    torch.testing.assert_close(std[informative], torch.ones(int(informative.sum())), atol=1e-3, rtol=0)
    # stratified: each class's share of the test split matches the train split within one sample
    train_share = torch.bincount(ds.y_train, minlength=10) / len(ds.y_train)
    test_count = torch.bincount(ds.y_test, minlength=10).float()
    assert (test_count - train_share * len(ds.y_test)).abs().max() <= 1.0
    again = data.load_digits()
    assert torch.equal(ds.x_train, again.x_train)
    other = data.load_digits(seed=1)
    assert not torch.equal(ds.y_train, other.y_train)


def test_subset_is_seeded(tiny_dataset: Dataset) -> None:
    a = tiny_dataset.subset(30, seed=1)
    b = tiny_dataset.subset(30, seed=1)
    c = tiny_dataset.subset(30, seed=2)
    assert a.x_train.shape == (30, 8) and torch.equal(a.x_train, b.x_train)
    assert not torch.equal(a.x_train, c.x_train)
    assert torch.equal(a.x_test, tiny_dataset.x_test)  # the test split is never subsampled
    rows = {tuple(r) for r in tiny_dataset.x_train.tolist()}
    assert all(tuple(r) in rows for r in a.x_train.tolist())
    assert len({tuple(r) for r in a.x_train.tolist()}) == 30  # without replacement
    with pytest.raises(ValueError, match="exceeds"):
        tiny_dataset.subset(97)


@pytest.mark.parametrize("n_train", [-10, -1, 0, True, 2.5, "10", None])
def test_subset_refuses_a_bad_n_train(tiny_dataset: Dataset, n_train: object) -> None:
    # -10 once sliced off the last 10 samples and trained on the rest without a word
    with pytest.raises(ValueError, match=rf"^n_train={n_train!r} is invalid: must be an int in \[1, 96\]"):
        tiny_dataset.subset(n_train)  # type: ignore[arg-type]


def test_subset_bounds_are_inclusive(tiny_dataset: Dataset) -> None:
    assert tiny_dataset.subset(1).x_train.shape == (1, 8)
    assert tiny_dataset.subset(96).x_train.shape == (96, 8)
    with pytest.raises(ValueError, match=r"n_train=97 exceeds the 96 training samples"):
        tiny_dataset.subset(97)


@pytest.mark.parametrize("n_train", [-10, 0, 3.0])
def test_load_dataset_refuses_a_bad_n_train_before_loading(n_train: object,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded the data before checking n_train")

    monkeypatch.setattr(data, "load_digits", no_load)
    with pytest.raises(ValueError, match=rf"^n_train={n_train!r} is invalid"):
        data.load_dataset("digits", n_train=n_train)  # type: ignore[arg-type]


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True, None])
def test_batches_refuse_a_bad_batch_size_when_called(tiny_dataset: Dataset, batch_size: object) -> None:
    # -1 once made an endless loop that yielded nothing; the check runs at the call, not at next()
    with pytest.raises(ValueError, match=rf"^batch_size={batch_size!r} is invalid: must be an int >= 1"):
        tiny_dataset.batches(batch_size, torch.Generator())  # type: ignore[arg-type]


def test_batches_of_no_samples_is_an_error() -> None:
    empty = Dataset("empty", torch.zeros(0, 3), torch.zeros(0, dtype=torch.int64), torch.zeros(2, 3),
                    torch.zeros(2, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match="no training samples"):
        empty.batches(4, torch.Generator())


@pytest.mark.parametrize("batch_size", [8, 32, 96, 500])
def test_batches_cover_every_index_once_per_epoch(tiny_dataset: Dataset, batch_size: int) -> None:
    n = len(tiny_dataset.y_train)  # 96, divisible by 8 and 32
    per_epoch = n // min(batch_size, n)
    stream = tiny_dataset.batches(batch_size, torch.Generator().manual_seed(0))
    epochs = [torch.cat([next(stream) for _ in range(per_epoch)]) for _ in range(3)]
    for idx in epochs:
        assert idx.dtype == torch.int64
        assert sorted(idx.tolist()) == list(range(n))
    assert not torch.equal(epochs[0], epochs[1])  # reshuffled each epoch


def test_batches_drop_the_ragged_tail(tiny_dataset: Dataset) -> None:
    stream = tiny_dataset.batches(40, torch.Generator().manual_seed(0))
    first, second = next(stream), next(stream)
    assert len(first) == len(second) == 40
    assert len(set(first.tolist()) | set(second.tolist())) == 80  # no repeats within an epoch


def test_batches_are_seeded(tiny_dataset: Dataset) -> None:
    a = tiny_dataset.batches(16, torch.Generator().manual_seed(5))
    b = tiny_dataset.batches(16, torch.Generator().manual_seed(5))
    for _ in range(10):
        assert torch.equal(next(a), next(b))


def test_dataset_to_and_repr(tiny_dataset: Dataset) -> None:
    moved = tiny_dataset.to("cpu")
    assert moved.device.type == "cpu" and torch.equal(moved.x_train, tiny_dataset.x_train)
    assert "Dataset('tiny', train=(96, 8), test=(48, 8), classes=3, device=cpu)" == repr(moved)


# --- CIFAR-10: root/cifar-10-batches-py/{data_batch_1..5,test_batch}, pickled dicts with bytes keys


def write_cifar(root: Path, per_batch: int = 4, n_test: int = 3,
                protocol: int = pickle.DEFAULT_PROTOCOL) -> dict[str, np.ndarray]:
    """Each image is three constant colour planes (R, G, B), so the plane layout is checkable."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    written: dict[str, np.ndarray] = {}
    for name, n in [*[(f"data_batch_{i}", per_batch) for i in range(1, 6)], ("test_batch", n_test)]:
        colours = rng.integers(0, 256, size=(n, 3), dtype=np.uint8)
        rows = np.repeat(colours, 1024, axis=1)  # (n, 3072): 1024 R, then 1024 G, then 1024 B
        labels = rng.integers(0, 10, size=n).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({b"batch_label": name.encode(), b"labels": labels, b"data": rows,
                         b"filenames": [b"x.png"] * n}, f, protocol=protocol)
        written[name] = colours
        written[name + "_labels"] = np.asarray(labels)
    return written


@pytest.mark.parametrize("flatten", [False, True])
def test_cifar10_reader(tmp_path: Path, flatten: bool) -> None:
    w = write_cifar(tmp_path)
    ds = data.load_cifar10(tmp_path, flatten=flatten)
    assert ds.name == "cifar10" and ds.num_classes == 10
    assert ds.x_train.shape == ((20, 3072) if flatten else (20, 3, 32, 32))
    assert ds.x_test.shape == ((3, 3072) if flatten else (3, 3, 32, 32))
    assert ds.x_train.dtype == torch.float32 and ds.y_train.dtype == torch.int64
    want_y = np.concatenate([w[f"data_batch_{i}_labels"] for i in range(1, 6)])
    assert ds.y_train.tolist() == want_y.tolist()
    assert ds.y_test.tolist() == w["test_batch_labels"].tolist()
    x = ds.x_train.reshape(20, 3, 32, 32)
    # every colour plane is constant (the R/G/B planes were read in the right order)...
    assert torch.equal(x.amax(dim=(2, 3)), x.amin(dim=(2, 3)))
    # ...and normalised per channel with training statistics: x = (p/255 - mean_c) / std_c
    colours = np.concatenate([w[f"data_batch_{i}"] for i in range(1, 6)]).astype(np.float64) / 255
    expect = (colours - colours.mean(0)) / colours.std(0)
    np.testing.assert_allclose(x[:, :, 0, 0].numpy(), expect, atol=1e-4)
    test_expect = (w["test_batch"] / 255 - colours.mean(0)) / colours.std(0)
    np.testing.assert_allclose(ds.x_test.reshape(3, 3, 32, 32)[:, :, 5, 7].numpy(), test_expect, atol=1e-4)


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_cifar_batches_load_at_every_protocol(tmp_path: Path, protocol: int) -> None:
    """2 is the original files' (Python 2), 4 Python 3's default, 5 numpy's buffer form."""
    w = write_cifar(tmp_path, protocol=protocol)
    x, y = data._read_cifar_batch(tmp_path / "cifar-10-batches-py" / "test_batch")
    assert x.dtype == np.uint8 and x.shape == (3, 3, 32, 32)
    assert np.array_equal(x[:, :, 0, 0], w["test_batch"]) and y.tolist() == w["test_batch_labels"].tolist()


class RunsAShellCommand:
    """Pickles as a call of os.system: what a booby-trapped "dataset" file would hold."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


class CallsEval:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (builtins.eval, ("1 + 1",))


@pytest.mark.parametrize("where", ["whole file", "inside labels"])
def test_a_cifar_file_that_runs_code_is_refused_and_nothing_runs(tmp_path: Path, where: str) -> None:
    write_cifar(tmp_path)
    marker = tmp_path / "pwned"
    payload = RunsAShellCommand(f"touch {marker}")
    batch = tmp_path / "cifar-10-batches-py" / "data_batch_3"
    trap = payload if where == "whole file" else {b"data": np.zeros((1, 3072), np.uint8),
                                                  b"labels": [payload]}
    batch.write_bytes(pickle.dumps(trap))
    with pytest.raises(pickle.UnpicklingError) as err:
        data.load_cifar10(tmp_path)
    message = str(err.value)
    assert str(batch) in message and f"{os.system.__module__}.system" in message
    assert "refusing" in message
    assert not marker.exists(), "the pickled command ran"


def test_other_globals_are_refused_too(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [CallsEval()]}))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load the global builtins.eval"):
        data._read_cifar_batch(path)


def test_a_pickle_that_is_not_a_batch_is_named(tmp_path: Path) -> None:
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(ValueError, match=r"test_batch: not a CIFAR-10 batch"):
        data._read_cifar_batch(path)


def test_cifar10_through_load_dataset(tmp_path: Path) -> None:
    write_cifar(tmp_path)
    ds = data.load_dataset("cifar10", root=tmp_path, n_train=7, seed=3)
    assert ds.x_train.shape == (7, 3, 32, 32)
    with pytest.raises(ValueError, match="root="):
        data.load_dataset("cifar10")


# --- Fashion-MNIST: root/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_fashion(root: Path, gz: bool, n_train: int = 6, n_test: int = 4) -> dict[str, np.ndarray]:
    folder = root / "FashionMNIST" / "raw"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    for stem, array in arrays.items():
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(idx_bytes(array))
        else:
            (folder / stem).write_bytes(idx_bytes(array))
    return arrays


@pytest.mark.parametrize("gz", [True, False])
@pytest.mark.parametrize("flatten", [True, False])
def test_fashionmnist_reader(tmp_path: Path, gz: bool, flatten: bool) -> None:
    arrays = write_fashion(tmp_path, gz)
    ds = data.load_fashionmnist(tmp_path, flatten=flatten)
    assert ds.name == "fashionmnist" and ds.num_classes == 10
    assert ds.x_train.shape == ((6, 784) if flatten else (6, 1, 28, 28))
    assert ds.x_test.shape == ((4, 784) if flatten else (4, 1, 28, 28))
    assert ds.y_train.dtype == torch.int64 and ds.x_train.dtype == torch.float32
    assert ds.y_train.tolist() == arrays["train-labels-idx1-ubyte"].tolist()
    assert ds.y_test.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    px = arrays["train-images-idx3-ubyte"].astype(np.float64) / 255
    expect = (px - px.mean()) / px.std()
    np.testing.assert_allclose(ds.x_train.reshape(6, 28, 28).numpy(), expect, atol=1e-4)


def test_idx_rejects_other_formats(tmp_path: Path) -> None:
    bad = tmp_path / "bad-idx"
    bad.write_bytes(bytes([0, 0, 0x0D, 1]) + (4).to_bytes(4, "big") + b"\0" * 16)  # float32 IDX
    with pytest.raises(ValueError, match="unsigned-byte IDX"):
        data._read_idx(bad)


@pytest.mark.parametrize("loader", [data.load_cifar10, data.load_fashionmnist])
def test_missing_files_name_the_offline_choices(tmp_path: Path, loader) -> None:
    with pytest.raises(FileNotFoundError) as err:
        loader(tmp_path)
    message = str(err.value)
    for piece in ("download=True", "mnist1d", "digits", str(tmp_path)):
        assert piece in message


@pytest.mark.parametrize("loader", [data.load_cifar10, data.load_fashionmnist])
def test_download_without_torchvision_is_a_clear_error(tmp_path: Path, loader,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_torchvision(name: str, *args, **kwargs):
        if name == "torchvision" or name.startswith("torchvision."):
            raise ImportError("No module named 'torchvision' (simulated)")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    with pytest.raises(RuntimeError, match="needs a working torchvision") as err:
        loader(tmp_path, download=True)
    assert "simulated" in str(err.value) and str(tmp_path) in str(err.value)


def test_unknown_dataset_lists_names() -> None:
    with pytest.raises(ValueError, match="'imagenet'") as err:
        data.load_dataset("imagenet")
    for name in data.DATASETS:
        assert name in str(err.value)


def test_load_dataset_offline_names() -> None:
    ds = data.load_dataset("digits", n_train=100, seed=0)
    assert ds.x_train.shape == (100, 64)
    assert data.load_dataset("mnist1d").x_train.shape == (4000, 40)


def test_validation_split_is_disjoint_seeded_and_fixed_under_subsets() -> None:
    full = data.load_dataset("digits")
    a = data.load_dataset("digits", val_fraction=0.2, seed=3)
    b = data.load_dataset("digits", val_fraction=0.2, seed=3)
    c = data.load_dataset("digits", val_fraction=0.2, seed=4)
    assert a.has_val and len(a.y_val) == round(0.2 * len(full.y_train))
    assert len(a.y_train) + len(a.y_val) == len(full.y_train)
    assert torch.equal(a.x_val, b.x_val) and not torch.equal(a.x_val, c.x_val)
    rows = lambda x: {tuple(r.tolist()) for r in x}  # noqa: E731
    assert not rows(a.x_val) & rows(a.x_train)  # disjoint
    assert rows(a.x_val) | rows(a.x_train) == rows(full.x_train)
    small = data.load_dataset("digits", val_fraction=0.2, seed=3, n_train=100)
    assert torch.equal(small.x_val, a.x_val) and len(small.y_train) == 100
    assert torch.equal(a.x_test, full.x_test)  # the test split is never touched
    assert not full.has_val and "val=" in repr(a)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, "0.2", True])
def test_validation_fraction_must_be_in_the_open_unit_interval(fraction: object) -> None:
    with pytest.raises(ValueError, match="val_fraction"):
        data.load_dataset("digits").split_validation(fraction)  # type: ignore[arg-type]
