"""Artefacts that load without running code: JSON for configuration, safetensors for tensors and arrays, skops
for scikit-learn objects (LightGBM's booster travels inside as its own text model), and pickle only when the
caller says ``trust=True``.

Every reader turns a missing, truncated or corrupted file into a :class:`~tightfit.errors.DataError` that
names the file, and every header carries a format name and version that the reader checks. Writers are
atomic (:mod:`tightfit.files`); :func:`atomic_dir` does the same for a folder of files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from tightfit.errors import DataError
from tightfit.files import atomic_save, atomic_write_text

__all__ = [
    "atomic_dir",
    "check_header",
    "load_arrays",
    "load_pickle",
    "load_skops",
    "read_json",
    "refuse_untrusted",
    "save_arrays",
    "save_skops",
    "write_json",
]

# types a tightfit artefact may hold besides skops' defaults (scikit-learn, numpy, scipy, builtins)
TRUSTED_TYPES = [
    "collections.OrderedDict",
    "lightgbm.basic.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.sklearn.LGBMRegressor",
    "sklearn.tree._tree.Tree",  # the trees of RandomForest: arrays set through its own __setstate__
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",  # an MLP student's optimizer state: arrays
    "numpy.dtype",  # a dtype argument (OneHotEncoder's float64) travels as the type's name
    "tightfit.tabular.preprocess.TableProcessor",
    "tightfit.tabular.preprocess._numbers",  # the functions of its FunctionTransformers
    "tightfit.tabular.preprocess._datetime_parts",
    "tightfit.tabular.preprocess._datetime_names",
    "tightfit.tabular.preprocess._as_text",
    "tightfit.tabular.preprocess._level_name",
    "tightfit.tabular.classifier.TinyTFMClassifier",
    "tightfit.tabular.regressor.TinyTFMRegressor",
    "tightfit.tabular.distillation.DistilledStudent",
]


@contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``path``; on success it takes ``path``'s place (an existing one
    is moved aside first and removed after), on error it is removed and ``path`` is left as it was."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    old = target.parent / f".{target.name}.old"
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> Path:
    """``data`` as indented JSON, atomically; NumPy scalars and arrays become plain numbers and lists."""
    return atomic_write_text(path, json.dumps(data, indent=2, default=_plain) + "\n")


def read_json(path: str | os.PathLike) -> dict[str, Any]:
    """A JSON object from ``path``; a missing or unreadable file is a ``DataError`` naming it."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path} does not exist; was the artefact saved completely?") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); the file is truncated or corrupted.") from None
    if not isinstance(data, dict):
        raise DataError(f"{path} holds a JSON {type(data).__name__}, not the object tightfit writes.")
    return data


def check_header(data: dict[str, Any], path: str | os.PathLike, format_name: str, version: int) -> None:
    """Refuse a file that is not ``format_name`` or was written with another format version."""
    if data.get("format") != format_name:
        raise DataError(f"{path} is not a {format_name} file (its format is {data.get('format')!r}).")
    if data.get("format_version") != version:
        raise DataError(
            f"{path} has format version {data.get('format_version')!r}; this tightfit reads version {version}. "
            f"It was written by tightfit {data.get('tightfit_version', 'unknown')}: load it with that version."
        )


def save_arrays(path: str | os.PathLike, arrays: dict[str, Any], metadata: dict[str, str] | None = None) -> Path:
    """Tensors or arrays (torch or NumPy) to one safetensors file, atomically."""
    import torch
    from safetensors.torch import save_file

    # a read-only array (a pandas view) is copied: torch would warn on it, into the user's output
    tensors = {k: (v if torch.is_tensor(v) else torch.from_numpy(np.require(v, requirements=("C", "W"))))
               for k, v in arrays.items()}  # fmt: skip
    tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return atomic_save(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_arrays(path: str | os.PathLike) -> dict[str, Any]:
    """The torch tensors of a safetensors file; a missing or damaged file is a ``DataError`` naming it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not Path(path).exists():
        raise DataError(f"{path} does not exist; was the artefact saved completely?")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"{path} is not a readable safetensors file ({exc}); it is truncated or corrupted.") from None


def save_skops(path: str | os.PathLike, obj: Any) -> Path:
    """A scikit-learn-style object in skops' format (no pickle), atomically; deflated, since skops writes every
    fitted list of floats (an MLP's loss curve) as JSON nodes, several times the size of the arrays."""
    import zipfile

    import skops.io as sio

    return atomic_save(path, lambda tmp: sio.dump(obj, tmp, compression=zipfile.ZIP_DEFLATED))


def load_skops(path: str | os.PathLike, trusted: Iterable[str] = TRUSTED_TYPES) -> Any:
    """Load a skops file, allowing only skops' default types and ``trusted``: a file that names any other type
    is refused before anything in it is built."""
    import zipfile

    import skops.io as sio

    if not Path(path).exists():
        raise DataError(f"{path} does not exist; was the artefact saved completely?")
    allowed = set(trusted)
    try:
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in allowed]
        if untrusted:
            raise DataError(
                f"{path} holds types tightfit does not trust: {untrusted}; loading it could run their code. "
                "Inspect it with skops.io.get_untrusted_types and load it yourself if you trust its source."
            )
        return sio.load(path, trusted=sorted(allowed))
    except (zipfile.BadZipFile, json.JSONDecodeError, KeyError, EOFError) as exc:
        raise DataError(f"{path} is not a readable skops file ({exc!r}); it is truncated or corrupted.") from None


def refuse_untrusted(path: str | os.PathLike, trust: bool, what: str) -> None:
    """Raise unless the caller trusts ``path``, a pickle-based ``what``: a pickle runs whatever code its author
    put in it. Every pickle tightfit reads (its own, ``torch.save``'s) passes this check first."""
    if not trust:
        raise DataError(
            f"{path} is a pickle-based {what}: loading it can run any code its author put in it, so tightfit "
            "does not open it by default. Pass trust=True (CLI: --trust) only for a file you made yourself, "
            "then save it again to get the safe format."
        )


def load_pickle(path: str | os.PathLike, trust: bool, what: str) -> Any:
    """Unpickle ``path`` only when the caller trusts it (:func:`refuse_untrusted`)."""
    import pickle

    refuse_untrusted(path, trust, what)
    try:
        with open(path, "rb") as handle:
            return pickle.load(handle)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist.") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise DataError(f"{path} is not a readable {what} ({exc!r}); it is truncated or corrupted.") from None


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
