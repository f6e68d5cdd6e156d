"""Is TinyTFM worth exporting to ONNX for serving? Its encoded context against PyTorch, side by side.

TinyTFM encodes its context once (keys and values of every block's row attention); a query then costs only its own
rows. This exports that query path, with one member's encoded context baked in as constants, through
``tightfit.compress.export_onnx`` (fp32, and dynamic int8 per tensor: per channel, ONNX Runtime rejects the
quantised attention MatMuls), and times it against PyTorch on the same rows: one row (padded to the classifier's
minimum of 16, as it does) and 512 rows, median of ``--repeats`` interleaved rounds, plus graph size and the
largest probability difference. Table: the embedded breast_cancer table, TinyTFM fitted on all 569 rows. 2 threads.

    python benchmarks/tfm_onnx.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from _common import machine, write

from tightfit.compress import OnnxRunner, export_onnx, quantize_onnx_dynamic
from tightfit.measure import latency
from tightfit.tabular import TabularPipeline
from tightfit.tabular.autofit import default_table
from tightfit.tabular.classifier import _MIN_QUERY_ROWS

THREADS = 2


class EncodedQueries(torch.nn.Module):
    """Query rows -> class probabilities against one encoded context (the classifier's own query path)."""

    def __init__(self, model: torch.nn.Module, cache) -> None:
        super().__init__()
        self.model, self.cache = model, cache

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model.forward_queries(self.cache, query.unsqueeze(0))[0], dim=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(THREADS)
    warnings.simplefilter("ignore")
    frame = default_table()
    X, y = frame.drop(columns="diagnosis"), frame["diagnosis"]
    pipe = TabularPipeline().fit(X, y)
    member = pipe.model_._members()[0]
    rows = pipe.processor_.transform(X).astype(np.float32)[:, member.order]
    one = np.concatenate([rows[:1], np.zeros((_MIN_QUERY_ROWS - 1, rows.shape[1]), np.float32)])
    inputs = {"1 row": torch.tensor(one), "512 rows": torch.tensor(np.ascontiguousarray(rows[:512]))}
    module = EncodedQueries(pipe.model_.model_, member.caches[0]).eval()
    fp32, exporter = export_onnx(module, [inputs["1 row"]])
    graphs = {"onnx fp32": fp32, "onnx int8": quantize_onnx_dynamic(fp32, per_channel=False)}
    runners = {"pytorch": module} | {name: OnnxRunner(graph, threads=THREADS) for name, graph in graphs.items()}
    timings: dict[tuple[str, str], list[float]] = {}
    with torch.inference_mode():
        reference = module(inputs["512 rows"]).numpy()
        for _ in range(args.repeats):  # interleaved: every variant sees the same machine state each round
            for name, run in runners.items():
                for size, batch in inputs.items():
                    feed = batch if name == "pytorch" else batch.numpy()
                    timings.setdefault((name, size), []).append(latency(run, feed, min_repeats=10).p50_s)
        rows_out = []
        for name, run in runners.items():
            out = run(inputs["512 rows"]) if name == "pytorch" else run(inputs["512 rows"].numpy())
            out = np.asarray(out[0] if isinstance(out, (list, tuple)) else out)
            size = len(graphs[name]) if name in graphs else sum(p.numel() * 4 for p in module.parameters())
            row = {"variant": name, "size_mb": size / 1e6, "max_abs_diff": float(np.abs(out - reference).max())}
            row |= {f"p50_ms_{s.replace(' ', '_')}": 1e3 * float(np.median(timings[(name, s)])) for s in inputs}
            rows_out.append(row)
    import pandas as pd

    table = pd.DataFrame(rows_out)
    print(f"exporter: {exporter}; context {len(member.X_context)} rows x {rows.shape[1]} features; {THREADS} threads, "
          f"median of {args.repeats}\n" + table.round(4).to_string(index=False))  # fmt: skip
    path = write("tfm_onnx", {"machine": machine(), "threads": THREADS, "exporter": exporter, "rows": rows_out})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
