"""The ``tightfit`` command: thin — parse arguments, call the library, print tables.

tightfit info [--json]      what this machine offers (cores, RAM, cgroup limit, CUDA, CPU ISA)
tightfit fit [DATA] --target COLUMN --budget memory=2GB,time=5min,latency=10ms [--test TEST] [--out DIR]
                            the best tabular model that fits the budget (no DATA: embedded breast_cancer)
tightfit predict RUN_DIR DATA [--out predictions.csv] [--proba] [--interval 0.8]
                            predictions of a saved run for a file of any size (read in chunks)
tightfit serve RUN_DIR [--port 8000]
                            the saved run as an HTTP endpoint: POST /predict, GET /health, GET /model
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tightfit import __version__
from tightfit.errors import TightfitError
from tightfit.hardware import Hardware
from tightfit.report import print_table, write_report
from tightfit.units import format_bytes


def _info(args: argparse.Namespace) -> int:
    hw = Hardware.probe()
    if args.json:
        print(hw.to_json())
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"tightfit {__version__} — this machine", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("CPU cores", f"{hw.cores_physical} physical, {hw.cores_logical} logical, {hw.cores_usable} usable")
    table.add_row("RAM", f"{format_bytes(hw.ram_total_bytes)} total, {format_bytes(hw.ram_available_bytes)} available")
    limit = hw.cgroup_memory_limit_bytes
    table.add_row("cgroup memory limit", "none" if limit is None else format_bytes(limit))
    flags = [name for name, present in hw.cpu_isa.items() if present]
    table.add_row("CPU int8/bf16 ISA", ", ".join(flags) or "none of " + ", ".join(hw.cpu_isa))
    table.add_row("CPU native bf16", "yes" if hw.cpu_bf16 else "no (emulated, slower than fp32)")
    if not hw.cuda:
        table.add_row("CUDA", "none visible to torch")
    for dev in hw.cuda:
        precisions = ", ".join(p for p, ok in (("bf16", dev.bf16), ("fp16", dev.fp16)) if ok) or "fp32 only"
        table.add_row(
            f"cuda:{dev.index}",
            f"{dev.name} (sm {dev.capability}), {format_bytes(dev.free_bytes)} free of "
            f"{format_bytes(dev.total_bytes)}, {precisions}",
        )
    table.add_row("software", f"Python {hw.python}, torch {hw.torch}, {hw.platform}")
    Console().print(table)
    return 0


def _import_from_here() -> None:
    """Let user code in the working folder import, as ``python -m`` and uvicorn do: an installed console script's
    ``sys.path`` starts at its own bin folder, so ``--model mymodule:make`` (or a pickle of ``mymodule.Net``)
    run where ``mymodule.py`` lies would not otherwise be found."""
    here = str(Path.cwd())
    if here not in sys.path:
        sys.path.insert(0, here)


def _load_workload(spec: str):
    import importlib

    from tightfit.errors import ConfigError

    module_name, sep, attr = spec.partition(":")
    if not (sep and module_name and attr):
        raise ConfigError(f"--model must look like 'package.module:callable'; got {spec!r}.")
    _import_from_here()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module_name.startswith(exc.name):
            raise  # the module itself was found; something it imports is missing: the user's own traceback
        raise ConfigError(
            f"--model {spec!r}: no module {exc.name!r} importable from {Path.cwd()}; run tightfit from the folder "
            "that holds it, or add that folder to PYTHONPATH."
        ) from None
    make = getattr(module, attr, None)
    if not callable(make):
        found = "is not callable" if hasattr(module, attr) else "is not defined"
        raise ConfigError(f"--model {spec!r}: {attr!r} {found} in {module.__file__}; name a function that returns "
                          "(model, train_data).")  # fmt: skip
    made = make()
    if not (isinstance(made, tuple) and len(made) == 2):
        raise ConfigError(f"{spec} must return (model, train_data); got {type(made).__name__}.")
    return made


def _base_config(text: str):
    from tightfit.train import TrainConfig

    values = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, _, value = item.partition("=")
        values[key.strip()] = int(value) if value.strip().isdigit() else float(value) if "." in value else value
    return TrainConfig(**{"verbose": False, **values})


def _plan(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.plan import plan

    command = Budget.parse(f"time={args.time}") if args.time else Budget()
    deadline = _command_deadline(command, None, args) if args.time else None
    model, data = _load_workload(args.model)
    budget = Budget.parse(args.budget)
    result = plan(model, data, budget, base_config=_base_config(args.config), deadline=deadline,
                  verbose=not args.quiet, world_size=args.world_size)  # fmt: skip
    rows, notes = result.rows()
    print_table(f"tightfit plan under {budget}", rows, notes)
    print("chosen:", "none fits" if result.chosen is None else result.chosen)
    out = Path(args.out)
    chart = result.plot(out / "plan.png")
    if args.plot:
        print("chart:", result.plot(args.plot))
    usage = [
        "import json",
        "from tightfit.train import TrainConfig, Trainer",
        f"config = TrainConfig.from_dict(json.load(open({str(out / 'run.json')!r}))['chosen_config'])",
        "Trainer(model, loss_fn, config).fit(train_data)",
    ]
    if args.world_size > 1 and result.chosen is not None:
        from tightfit.plan.launch import launch_files

        files = launch_files(result.chosen, args.world_size, args.model, out, nodes=args.nodes, device=result.device)
        usage = [f"sh {files['torchrun']}", f"accelerate launch --config_file {files['accelerate']} {files['script']}"]
        print("launch:", files["torchrun"].read_text().splitlines()[-1])
        print("    or: accelerate launch --config_file", files["accelerate"], files["script"])
    page = write_report(out, "plan", result.leaderboard, charts=[chart], usage=usage,
                        extra={"chosen_config": None if result.chosen is None else result.chosen.to_dict(),
                               "world_size": args.world_size})  # fmt: skip
    _say_binding(result.leaderboard, page)
    return 0 if result.chosen is not None else 1


def _triage(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.plan import WorkloadFacts, estimate, triage
    from tightfit.plan.search import _head, unless_below_the_process
    from tightfit.train.techniques import TECHNIQUES

    model, data = _load_workload(args.model)
    budget = Budget.parse(args.budget)
    config = _base_config(args.config)
    est = estimate(model, _head(data, 4), config, device=budget.resolve_device())
    peak = est.device_peak if est.device.startswith("cuda") else est.process_peak
    facts = WorkloadFacts(memory_bytes=peak, context=f"micro_batch {config.micro_batch}, {config.precision}")
    floor = est.allowances.get("process_baseline") if not est.device.startswith("cuda") else None
    result = unless_below_the_process(triage(budget, facts, TECHNIQUES), floor, budget)
    print(f"binding constraint: {result.binding}\nevidence: {result.evidence}")
    for rank, technique in enumerate(result.techniques, 1):
        print(f"  {rank}. {technique}: {TECHNIQUES.technique(technique).summary}")
    return 0


def _read_table(path: str, quiet: bool = False):
    """The one reader (``tightfit.read``), its assumptions printed as notes."""
    from tightfit.read import read_table

    frame, notes = read_table(path)
    for note in [] if quiet else notes:
        print("note:", note)
    return frame


def _split_target(frame, target: str | None, path: str):
    from tightfit.errors import DataError

    if target is None or target not in frame.columns:
        raise DataError(
            f"--target must name the column to predict in {path}; got {target!r}. Columns: {list(frame.columns)}."
        )
    return frame.drop(columns=[target]), frame[target]


def _fit(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.tabular.autofit import CHILD_IMPORTS, AutoFit, default_table
    from tightfit.tabular.candidates import select_candidates
    from tightfit.tabular.target import clean_target

    budget = Budget.parse(args.budget) if args.budget else Budget()
    deadline = _command_deadline(budget, CHILD_IMPORTS, args)
    if args.data is None:
        frame, target, source = default_table(), "diagnosis", "embedded breast_cancer (569 rows, 30 features)"
    else:
        frame, target, source = _read_table(args.data, args.quiet), args.target, args.data
    X, y = _split_target(frame, target, source)
    if not args.quiet:
        print(f"tightfit fit: {source}, target {target!r}, budget {budget}")
    candidates = select_candidates(args.models, clean_target(X, y)[2]) if args.models else None
    metric = None if args.decision_metric.lower() == "none" else args.decision_metric
    auto = AutoFit(budget, candidates=candidates, cv=args.cv, decision_metric=metric, verbose=not args.quiet,
                   rare_classes=args.rare_classes)  # fmt: skip
    auto.fit(X, y, deadline=deadline)
    out = Path(args.out)
    auto.best_.save(out / "model")  # write_report below writes run.json (AutoFit.save would write it twice)
    rows, notes = auto.search_.rows()
    print_table(f"tightfit fit: {auto.task_}, {args.cv}-fold {auto.metric}", rows, notes)
    chart = auto.search_.plot(out / "quality_vs_cost.png", title="tightfit fit: quality vs cost")
    usage = [
        f"tightfit predict {out} new_rows.csv --out predictions.csv   # or: tightfit serve {out}",
        "import tightfit",
        f"pipe = tightfit.load({str(out)!r})",
        "pipe.predict(X_new)  # or pipe.predict_proba(X_new)",
    ]
    page = write_report(out, "fit", auto.search_, charts=[chart], usage=usage, extra=auto.run_info(),
                        notes=auto.notes_ + auto.best_.notes_,
                        features=auto.best_.processor_.feature_names_out_)  # fmt: skip
    for note in auto.notes_ + auto.best_.notes_:
        print("note:", note)
    print(f"chosen: {auto.best_name_}; saved {out}/model/ (predict with: tightfit predict {out} DATA)")
    _say_binding(auto.search_, page)
    if args.test:
        X_test, y_test = _split_target(_read_table(args.test, args.quiet), target, args.test)
        scores = auto.best_.evaluate(X_test, y_test)
        print("test:", ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from tightfit.serve import predict_file
    from tightfit.serve.loading import load_table_model

    pipe = load_table_model(args.run_dir, trust=args.trust)
    summary = predict_file(pipe, args.data, args.out, proba=args.proba, chunk_rows=args.chunk_rows,
                           verbose=not args.quiet, interval=args.interval)  # fmt: skip
    for note in summary.notes:
        print("note:", note)
    print(f"predicted {summary.rows:,} rows with {pipe.model_name} in {summary.seconds:.2f} s "
          f"({summary.rows_per_s:,.0f} rows/s); wrote {summary.out}")  # fmt: skip
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tightfit.serve import serve

    serve(args.run_dir, host=args.host, port=args.port, trust=args.trust, verbose=not args.quiet)
    return 0


REPORT_S = 2.5  # kept back from a command's search for saving and the report (measured 2.1 s, 2 cores)


def _command_deadline(budget, preload: Sequence[str] | None, args: argparse.Namespace):
    """The command's deadline less the time its report needs, counted from the process's start when run from
    the command line (the budget covers start-up and reading the data too), else from this call; and the warm
    server for its children (``preload``; None: it starts none) started now, so that its imports overlap the
    reading."""
    from tightfit import guard
    from tightfit.measure import Deadline

    if preload is not None:
        guard.warm_up(preload)
    keep = REPORT_S if budget.time is not None else 0.0
    if getattr(args, "since_process_start", False):
        return Deadline.since_process_start(budget.time, keep=keep)
    return Deadline(budget.time, keep=keep)


def _say_binding(board, page: Path) -> None:
    """The binding limit with its evidence, the stated limits this command could not honour, and the files."""
    if board.interrupted:
        print("interrupted (Ctrl-C): kept the finished entries; the rest are marked skipped")
    print(f"binding limit: {board.binding.binding} ({board.binding.evidence})")
    if board.binding.techniques:
        print("techniques that relax it:", ", ".join(board.binding.techniques))
    if board.ignored:
        print("not honoured by this command:", ", ".join(board.ignored))
    for note in board.budget.beyond(Hardware.probe()):
        print("note:", note)
    print(f"report: {page} (with run.json and leaderboard.csv)")


def _season(text: str) -> int | str:
    """``--season``: ``auto`` or a positive whole number of points."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is neither 'auto' nor a whole number of points >= 1")
    return int(text)


def _fraction(text: str, name: str) -> float:
    from tightfit.errors import bad_param

    try:
        return float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise bad_param(name, "tightfit compress", "a fraction (0.01) or a percentage (1%)", text) from None


def _load_module(path: str, trust: bool):
    """A TorchScript file, or (``--trust``) a torch.save'd module: a pickle, which can run any code."""
    import torch

    from tightfit.errors import DataError

    if not Path(path).is_file():
        raise DataError(f"MODEL_PATH {path!r} is not a file (a TorchScript file, or a torch.save'd nn.Module).")
    try:
        return torch.jit.load(path)
    except RuntimeError:
        from tightfit.artefacts import refuse_untrusted

        refuse_untrusted(path, trust, "torch.save'd nn.Module (not TorchScript)")
        _import_from_here()
        try:
            model = torch.load(path, weights_only=False)
        except (AttributeError, ModuleNotFoundError) as exc:  # a pickle holds a class's name, not its code
            raise DataError(
                f"{path} was saved with a class tightfit cannot import here ({exc}). A torch.save'd module needs "
                "its class importable: run tightfit from the folder of the module that defines it (a class "
                "defined in the saving script's __main__ cannot be found: move it into a module), or save "
                "TorchScript instead, which holds its code: torch.jit.script(model).save(path)."
            ) from None
    if not isinstance(model, torch.nn.Module):
        raise DataError(f"{path} holds a {type(model).__name__}, not an nn.Module; save the module itself.")
    return model


def _load_inputs(path: str):
    import numpy as np
    import torch

    from tightfit.errors import DataError

    if not Path(path).is_file():
        raise DataError(f"--inputs {path!r} is not a file (.npy with one input, or .npz with one array per input).")
    loaded = np.load(path)
    arrays = [loaded[k] for k in loaded.files] if hasattr(loaded, "files") else [loaded]
    return tuple(torch.from_numpy(a.astype(np.float32) if a.dtype == np.float64 else a) for a in arrays)


def _compress(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.compress import compress
    from tightfit.errors import ConfigError
    from tightfit.files import atomic_write_text

    named = (("latency", args.latency), ("size", args.size), ("time", args.time))
    limits = ",".join(f"{k}={v}" for k, v in named if v)
    budget = Budget.parse(limits) if limits else Budget()
    deadline = _command_deadline(budget, None, args)
    if Path(args.model_path).is_dir():
        return _compress_run(args, budget, deadline)
    if args.inputs is None:
        raise ConfigError("tightfit compress MODEL.pt needs --inputs (a .npy or .npz of example inputs).")
    model = _load_module(args.model_path, args.trust)
    inputs = _load_inputs(args.inputs)
    report = compress(
        model,
        inputs,
        budget=budget,
        max_quality_drop=_fraction(args.max_drop, "--max-drop"),
        techniques=tuple(t.strip() for t in args.techniques.split(",") if t.strip()),
        batch_sizes=tuple(int(b) for b in args.batch_sizes.split(",")),
        sparsity=_fraction(args.sparsity, "--sparsity"),
        verbose=not args.quiet,
        deadline=deadline,
    )
    big = report.batch_sizes[-1]
    columns = [(f"p50_at_{b}_s", f"p50 @{b}") for b in report.batch_sizes] + [("quality_drop", "quality drop")]
    rows, notes = report.leaderboard.rows(columns)
    print_table("tightfit compress (quality: mean cosine of outputs to the original's on --inputs)", rows, notes)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "report.json", report.to_json())
    chart = report.plot(out / "pareto.png")
    artefact = report.best.save(out / "best") if report.best is not None else None
    usage = [
        "from tightfit.compress import load_exported",
        f"model, sidecar = load_exported({str(artefact or out / 'best.onnx')!r})",
        f"outputs = model(*inputs)  # the same positional inputs as --inputs, any batch size (timed at {big})",
    ]
    extra = {"batch_sizes": list(report.batch_sizes), "max_quality_drop": report.max_quality_drop}
    return _compress_outcome(
        out, report.leaderboard, usage, columns, extra, [chart],
        f"chosen: {report.best and report.best.name}; wrote {artefact} (+ .json sidecar), {out}/report.json, "
        f"{out}/pareto.png", f"no variant keeps quality within {args.max_drop} and meets {budget}; see "
        f"{out}/report.json",
    )  # fmt: skip


def _compress_outcome(out: Path, board, usage, columns, extra, charts, chosen_says: str, none_says: str) -> int:
    """The common report of both compress paths, the binding limit, and the line saying what was chosen (exit 0)
    or that nothing qualified (exit 1)."""
    page = write_report(out, "compress", board, charts=charts, usage=usage, columns=columns, extra=extra)
    _say_binding(board, page)
    print(chosen_says if board.chosen is not None else none_says)
    return 0 if board.chosen is not None else 1


def _compress_run(args: argparse.Namespace, budget, deadline) -> int:
    """A saved table model: the original beside its distilled students; the chosen one saved as a run."""
    from tightfit.errors import ConfigError
    from tightfit.serve.loading import load_table_model
    from tightfit.tabular.shrink import BATCH_ROWS, compress_pipeline

    if args.data is None:
        raise ConfigError(f"tightfit compress {args.model_path} needs --data: rows of its table to distil on "
                          "(the training file; with --target its labels score every variant)")  # fmt: skip
    pipe = load_table_model(args.model_path, trust=args.trust)
    frame = _read_table(args.data, args.quiet)
    X, y = (frame, None) if args.target is None else _split_target(frame, args.target, args.data)
    students = tuple(s.strip() for s in args.students.split(",") if s.strip())
    report = compress_pipeline(pipe, X, y, budget=budget, max_quality_drop=_fraction(args.max_drop, "--max-drop"),
                               students=students, deadline=deadline, verbose=not args.quiet)  # fmt: skip
    columns = [("latency_p50_s", "p50 1 row"), (f"p50_at_{BATCH_ROWS}_s", f"p50 {BATCH_ROWS:,} rows"),
               ("quality_drop", "quality drop"), ("fit_s", "distil")]  # fmt: skip
    rows, notes = report.leaderboard.rows(columns)
    print_table(f"tightfit compress {args.model_path} (quality: held-out {report.metric})", rows, notes)
    out = Path(args.out)
    if report.best is not None:
        report.best.save(out / "model")
    usage = ["import tightfit", f"model = tightfit.load({str(out)!r})", "model.predict(rows)  # a DataFrame with the "
             "training columns; CLI: tightfit predict / tightfit serve " + str(out)]  # fmt: skip
    extra = {"max_quality_drop": report.max_quality_drop, "metric": report.metric}
    return _compress_outcome(
        out, report.leaderboard, usage, columns, extra, [],
        f"chosen: {report.best_name}; wrote {out}/model/ (tightfit predict|serve {out}), {out}/report.html",
        f"no variant keeps {report.metric} within {args.max_drop} and meets {budget}; see {out}/run.json",
    )  # fmt: skip


def _series_table(path: str, args: argparse.Namespace):
    """A series file with ``--id``, ``--date`` and ``--target`` renamed to unique_id, ds and y."""
    from tightfit.errors import DataError

    frame = _read_table(path, args.quiet)
    roles = {"--id": (args.id_col, "unique_id"), "--date": (args.date_col, "ds"), "--target": (args.target_col, "y")}
    renames = {}
    for flag, (column, role) in roles.items():
        if column is None:
            continue
        if column not in frame.columns:
            raise DataError(f"{flag} {column!r} is not a column of {path}; its columns: {list(frame.columns)}.")
        if role in frame.columns and role != column:
            raise DataError(f"{flag} {column!r} would become {role!r}, which {path} already has; rename one of them.")
        renames[column] = role
    return frame.rename(columns=renames)


def _user_names(forecast, args: argparse.Namespace):
    """The forecast's unique_id and ds columns under the names ``--id`` and ``--date`` gave them."""
    back = {role: column for column, role in ((args.id_col, "unique_id"), (args.date_col, "ds")) if column}
    return forecast.rename(columns=back)


def _forecast(args: argparse.Namespace) -> int:
    if args.from_run:
        return _forecast_from_run(args)
    from tightfit.budget import Budget
    from tightfit.errors import ConfigError
    from tightfit.files import atomic_write_text
    from tightfit.timeseries import Forecaster
    from tightfit.timeseries.combine import describe_members
    from tightfit.timeseries.forecaster import CHILD_IMPORTS

    if args.horizon is None:
        raise ConfigError("tightfit forecast needs --horizon (steps to forecast), or --from RUN_DIR to reuse a fit.")
    limits = [f"{name}={value}" for name, value in (("time", args.time), ("latency", args.latency)) if value]
    budget = Budget.parse(",".join(limits))
    deadline = _command_deadline(budget, CHILD_IMPORTS, args)
    frame = _series_table(args.data, args)
    models = [m.strip() for m in args.models.split(",")] if args.models else "auto"
    fc = Forecaster(args.horizon, args.season, budget=budget, models=models, metric=args.metric,
                    n_windows=args.windows, step_size=args.step, chronos_path=args.chronos,
                    ensemble=None if args.ensemble == "best" else args.ensemble,
                    verbose=not args.quiet)  # fmt: skip
    related = _series_table(args.pretrain, args) if args.pretrain else None
    fc.fit(frame, deadline=deadline, then_save=True, pretrain=related)
    for note in fc.notes_:
        print("note:", note)
    columns = [(m, m) for m in ("mase", "smape", "rmse", "mae") if m != args.metric] + [("cv_s", "validation")]
    columns += [("latency_p95_s", "p95 per series")] if budget.latency is not None else []
    rows, notes = fc.search_.rows(columns)
    print_table(f"tightfit forecast: {fc.series_.freq}, horizon {args.horizon}, {args.metric} over validation "
                "windows", rows, notes)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "forecasts.csv", _user_names(fc.predict(), args).to_csv(index=False))
    fc.save(out / "model")
    plot = fc.plot(out / "forecast.png")
    usage = [
        "import pandas as pd, tightfit",
        f"forecasts = pd.read_csv({str(out / 'forecasts.csv')!r})  # unique_id, ds, {fc.chosen_} and its intervals",
        f"fc = tightfit.load({str(out)!r})  # the fitted forecaster",
        "fc.predict(new_history)  # newer data, no refit; CLI: tightfit forecast --from RUN_DIR new.csv",
    ]
    page = write_report(out, "forecast", fc.search_, charts=[plot], usage=usage, columns=columns, notes=fc.notes_,
                        extra={"members": fc.members_, "horizon": args.horizon})  # fmt: skip
    how = f" ({describe_members(fc.members_, fc.weights_)})" if len(fc.members_) > 1 else ""
    print(f"chosen: {fc.chosen_}{how}; wrote {out}/forecasts.csv, {out}/model/, {out}/leaderboard.csv, {plot}")
    _say_binding(fc.search_, page)
    return 0


def _forecast_from_run(args: argparse.Namespace) -> int:
    """Forecast newer history with a saved forecaster, without refitting it."""
    from tightfit.errors import ConfigError
    from tightfit.files import atomic_write_text
    from tightfit.measure import stopwatch
    from tightfit.serve import load

    fc = load(args.from_run)
    if not hasattr(fc, "fitted_"):
        raise ConfigError(f"--from {args.from_run!r} holds a table model; `tightfit predict` predicts with it.")
    fitted_horizon = fc.horizon
    if args.horizon is not None and args.horizon != fitted_horizon:
        raise ConfigError(f"--horizon {args.horizon}: the run at {args.from_run!r} forecasts {fitted_horizon} steps; "
                          "fit again for another horizon.")  # fmt: skip
    forecast, seconds = stopwatch(fc.predict, _series_table(args.data, args))
    for note in fc.predict_notes_:
        print("note:", note)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "forecasts.csv", _user_names(forecast, args).to_csv(index=False))
    print(f"forecast {forecast['unique_id'].nunique():,} series x {fitted_horizon} steps with {fc.chosen_} "
          f"(fitted, not refitted) in {seconds:.2f} s; wrote {out}/forecasts.csv")  # fmt: skip
    return 0


def _recipe(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.errors import ConfigError
    from tightfit.tabular.backends import model_spec
    from tightfit.tabular.recipe import recipe

    if args.data is not None:
        return _recipe_for_table(args)
    if args.rows is None or args.features is None:
        raise ConfigError("tightfit recipe needs --rows and --features (the table's shape), or --data and --target "
                          "(a table to search the settings on).")  # fmt: skip
    memories = [Budget.parse(f"memory={size}").memory for size in args.memory.split(",") if size.strip()]
    name = model_spec(args.model).name
    result = recipe(name, args.rows, args.features, memories, device=args.device, n_classes=args.classes,
                    measure=args.measure)  # fmt: skip
    notes = [result.note] if result.note else []
    notes.append(f"{result.estimates} fake-tensor estimates of the real architecture (random weights); the peak is "
                 "the step's tensors plus " + ("the CUDA context and cuBLAS workspace" if args.device.startswith("cuda")
                                               else "this training process (measured in a child)"))  # fmt: skip
    if args.measure:
        notes.append("measured step: the chosen step's tensors, two real steps in a fresh child on this CPU")
    print_table(f"tightfit recipe {name}: {args.rows:,} rows x {args.features} features on {args.device}",
                result.table(), notes)  # fmt: skip
    if args.json:
        from tightfit.artefacts import write_json

        write_json(args.json, result.to_dict())
        print("wrote", args.json)
    return 0 if all(r.shape is not None for r in result.rows_by_memory) else 1


def _recipe_for_table(args: argparse.Namespace) -> int:
    """``tightfit recipe MODEL --data F --target T``: the settings searched and measured on the user's own table
    (:func:`~tightfit.tabular.autotune.choose_config`), a leaderboard and a memory-vs-time Pareto chart."""
    from tightfit.budget import Budget
    from tightfit.tabular.autotune import CHILD_IMPORTS, TABLE_COLUMNS, choose_config

    budget = Budget.parse(args.budget) if args.budget else Budget()
    deadline = _command_deadline(Budget(time=args.search_time), CHILD_IMPORTS, args)
    X, y = _split_target(_read_table(args.data, args.quiet), args.target, args.data)
    choice = choose_config(args.model, X, y, budget, probe_steps=args.probe_steps, deadline=deadline,
                           verbose=not args.quiet)  # fmt: skip
    out = Path(args.out)
    rows, notes = choice.rows()
    print_table(f"tightfit recipe {choice.model_name} on {args.data}: held-out log loss after a "
                f"{args.probe_steps}-step probe", rows, [*notes, *choice.notes])  # fmt: skip
    chart = choice.plot(out / "pareto.png")
    usage = [
        "from tightfit.tabular import TabularPipeline",
        f"pipe = TabularPipeline({choice.model_name!r}, tuning_strategy={choice.strategy!r},",
        f"                       tuning_params={choice.tuning_params!r})",
        "pipe.fit(X, y)   # or: TabularPipeline(..., tuning_params='auto') searches at fit",
    ]
    page = write_report(out, "recipe", choice.leaderboard, charts=[chart], usage=usage, columns=TABLE_COLUMNS,
                        extra={"chosen_setting": choice.to_dict() | {"leaderboard": None}},
                        notes=choice.notes)  # fmt: skip
    print(f"chosen: {choice.label} -> tuning_strategy={choice.strategy!r}, tuning_params={choice.tuning_params}")
    _say_binding(choice.leaderboard, page)
    return 0


def _label(args: argparse.Namespace) -> int:
    """``tightfit label``: the pool rows to label next (``--out`` CSV with prediction and uncertainty), or with
    ``--simulate`` the strategies' learning curves on a fully labelled table, beside random sampling."""
    from tightfit.budget import Budget
    from tightfit.errors import DataError

    budget = Budget.parse(args.budget) if args.budget else Budget()
    frame = _read_table(args.pool, args.quiet)
    if args.simulate:
        return _label_simulation(args, frame, budget)
    if args.labelled is not None:
        labelled = _read_table(args.labelled, args.quiet)
        X_labelled, y_labelled = _split_target(labelled, args.target, args.labelled)
        pool = frame.drop(columns=[args.target]) if args.target in frame.columns else frame
    elif args.target in frame.columns:  # one file: the rows with a label are labelled, the rest are the pool
        known = frame[args.target].notna()
        X_labelled, y_labelled = frame.loc[known].drop(columns=[args.target]), frame.loc[known, args.target]
        pool = frame.loc[~known].drop(columns=[args.target])
        if pool.empty:
            raise DataError(f"every row of {args.pool} has a {args.target!r} label: nothing left to label (use "
                            "--simulate to compare strategies on it).")  # fmt: skip
    else:
        X_labelled = y_labelled = None
        pool = frame
    import pandas as pd

    from tightfit.tabular.active import ActiveLearner
    from tightfit.tabular.preprocess import identifier_columns, identifier_note

    learner = ActiveLearner(args.model, strategy=args.strategy, batch_size=args.n, budget=budget)
    if X_labelled is not None and len(y_labelled) == 0:
        X_labelled = y_labelled = None
    rows = pool.reset_index(drop=True)
    whole = rows if X_labelled is None else pd.concat([X_labelled, rows], ignore_index=True)
    ids = identifier_columns(whole)  # on every row: the labelled rows of a counter are not consecutive
    read = rows.drop(columns=ids)
    suggestion = learner.suggest(read, None if X_labelled is None else X_labelled.drop(columns=ids), y_labelled)
    if ids:
        suggestion.notes.insert(0, identifier_note(ids))
    table = suggestion.to_frame(rows).rename(columns={"pool_row": "row"})  # the rows as given, identifiers too
    table["row"] = pool.index[suggestion.rows]  # the row's position in the pool file
    from tightfit.files import atomic_save

    atomic_save(Path(args.out), lambda tmp: table.to_csv(tmp, index=False), suffix=".csv")
    for note in suggestion.notes:
        print("note:", note)
    print(f"{len(table)} rows to label next ({suggestion.how}); wrote {args.out}")
    return 0


def _label_simulation(args: argparse.Namespace, frame, budget) -> int:
    from tightfit.tabular.active_simulation import simulate
    from tightfit.viz import plot_learning_curves

    X, y = _split_target(frame, args.target, args.pool)
    strategies = tuple(dict.fromkeys([args.strategy, "random"]))
    board, curves = simulate(X, y, strategies=strategies, model=args.model, batch_size=args.n, rounds=args.rounds,
                             budget=budget, verbose=not args.quiet)  # fmt: skip
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from tightfit.files import atomic_save

    atomic_save(out / "learning_curve.csv", lambda tmp: curves.to_csv(tmp, index=False), suffix=".csv")
    chart = plot_learning_curves(curves, out / "learning_curve.png", title=f"tightfit label --simulate: {args.pool}")
    rows, notes = board.rows([("final_roc_auc", "final ROC AUC"), ("labels", "labels"), ("round_s", "s/round"),
                              ("forecast_at_twice", "forecast at 2x labels")])  # fmt: skip
    print_table(f"tightfit label --simulate: {args.model}, {args.n} rows per round", rows, notes)
    page = write_report(out, "label", board, charts=[chart], columns=[("final_roc_auc", "final ROC AUC")],
                        usage=[f"tightfit label POOL.csv --target {args.target} --strategy {board.chosen.name} "
                               f"--n {args.n} --out to_label.csv"])  # fmt: skip
    print(f"best: {board.chosen.name}; wrote {out}/learning_curve.csv, {chart}")
    _say_binding(board, page)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tightfit", description="Fit machine learning to the machine you have.")
    parser.add_argument("--version", action="version", version=f"tightfit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="what this machine offers")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(run=_info)
    fit = commands.add_parser("fit", help="the best tabular model that fits a budget")
    fit.add_argument(
        "data", nargs="?", help="CSV, Parquet, JSON (Lines) or Excel file (default: the embedded breast_cancer table)"
    )
    fit.add_argument("--target", help="the column to predict")
    fit.add_argument("--budget", default="", help="e.g. memory=2GB,time=5min,latency=10ms,size=50MB")
    fit.add_argument("--test", help="a held-out CSV/Parquet file to score the chosen model on")
    fit.add_argument("--out", default="tightfit-run", help="where model/, run.json and report.html go")
    fit.add_argument("--cv", type=int, default=3, help="cross-validation folds")
    fit.add_argument(
        "--rare-classes",
        choices=("refuse", "drop"),
        default="refuse",
        help="a class with fewer rows than --cv: refuse (default), or drop its rows with a note",
    )
    fit.add_argument(
        "--decision-metric",
        default="balanced_accuracy",
        help="tune the decision threshold for: balanced_accuracy | f1_score | accuracy | mcc | none",
    )
    fit.add_argument("--models", help="comma-separated subset of the candidates, e.g. 'TinyTFM zero-shot,LightGBM'")
    fit.add_argument("--quiet", action="store_true", help="no progress bars")
    fit.set_defaults(run=_fit)
    pred = commands.add_parser("predict", help="predict a file with a saved run")
    pred.add_argument("run_dir", help="a folder written by `tightfit fit --out` (or by TabularPipeline.save)")
    pred.add_argument(
        "data", help="CSV (any delimiter, maybe compressed), Parquet, JSON (Lines) or Excel with the training columns"
    )
    pred.add_argument("--out", default="predictions.csv", help="where the predictions go (CSV)")
    pred.add_argument("--proba", action="store_true", help="add one probability column per class")
    pred.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="COVERAGE",
        help="regression (TinyTFM, or any model tightfit fit chose): add the central interval of this "
        "coverage, e.g. 0.8, as lower/upper",
    )
    pred.add_argument("--chunk-rows", type=int, default=50_000, help="rows read and predicted at a time")
    pred.add_argument("--trust", action="store_true", help="allow pickle files (old runs, TabICL, TabPFN)")
    pred.add_argument("--quiet", action="store_true", help="no progress bar")
    pred.set_defaults(run=_predict)
    srv = commands.add_parser("serve", help="serve a saved run over HTTP")
    srv.add_argument("run_dir", help="a folder written by `tightfit fit --out`")
    srv.add_argument("--host", default="127.0.0.1", help="interface to listen on (0.0.0.0: every one)")
    srv.add_argument("--port", type=int, default=8000)
    srv.add_argument("--trust", action="store_true", help="allow pickle files (old runs, TabICL, TabPFN)")
    srv.add_argument("--quiet", action="store_true", help="no access log")
    srv.set_defaults(run=_serve)
    comp = commands.add_parser("compress", help="the fastest compressed variant that keeps quality")
    comp.add_argument("model_path", help="a torch.save'd nn.Module (or TorchScript file), or a tightfit fit run folder")
    comp.add_argument("--inputs", help=".npy (one input) or .npz (one array per input), rows first (for a module)")
    comp.add_argument("--data", help="a run folder's table rows to distil on: the training CSV/Parquet")
    comp.add_argument("--target", help="the label column of --data (scores every variant's held-out ROC AUC)")
    comp.add_argument("--students", default="LightGBM,MLP", help="a run folder's students to distil (LightGBM,MLP)")
    comp.add_argument("--latency", help="p95 limit at the smallest batch size, e.g. 15ms")
    comp.add_argument("--size", help="size limit, e.g. 30MB")
    comp.add_argument("--time", help="time budget for the whole command, e.g. 2min (a variant is not started after it)")
    comp.add_argument("--max-drop", default="1%", help="largest accepted drop of output fidelity (default 1%%)")
    comp.add_argument("--techniques", default="dynamic_int8,onnx,onnx_int8,onnx_static_int8,prune,prune+onnx_int8")
    comp.add_argument("--batch-sizes", default="1,32", help="batch sizes to time (default 1,32)")
    comp.add_argument("--sparsity", default="30%", help="fraction pruned (default 30%%)")
    comp.add_argument("--out", default="tightfit-compress", help="where report.json, pareto.png and best.* go")
    comp.add_argument("--trust", action="store_true", help="allow a torch.save'd module (a pickle) as MODEL_PATH")
    comp.add_argument("--quiet", action="store_true", help="no progress bar")
    comp.set_defaults(run=_compress)
    fc = commands.add_parser("forecast", help="the best forecaster validated within a time budget")
    fc.add_argument("data", help="CSV/Parquet in long format (unique_id, ds, y, or the columns --id, --date, --target "
                    "name), or a date column and one numeric column per series")  # fmt: skip
    fc.add_argument("--horizon", type=int, help="steps to forecast (required unless --from)")
    fc.add_argument("--id", dest="id_col", help="the column naming each series (long format; default unique_id)")
    fc.add_argument("--date", dest="date_col", help="the column of dates or time steps (default ds)")
    fc.add_argument("--target", dest="target_col", help="the column to forecast (default y)")
    fc.add_argument(
        "--from",
        dest="from_run",
        metavar="RUN_DIR",
        help="forecast DATA (newer history) with the forecaster saved in RUN_DIR, without refitting",
    )
    fc.add_argument(
        "--season",
        type=_season,
        default="auto",
        help="points per season (1: none; default auto: from the frequency, e.g. 12 for monthly)",
    )
    fc.add_argument("--time", help="time budget for the whole run, e.g. 2min")
    fc.add_argument("--latency", help="p95 limit on forecasting one series with a fitted model, e.g. 20ms")
    fc.add_argument("--models", help="comma-separated subset of the stack, e.g. AutoETS,LightGBM")
    fc.add_argument("--metric", default="mase", help="mase | smape | rmse | mae")
    fc.add_argument("--windows", type=int, default=3, help="rolling-origin validation windows")
    fc.add_argument(
        "--step",
        type=int,
        default=None,
        help="points between validation cut-offs (default: a horizon, closer when the series are short)",
    )
    fc.add_argument(
        "--ensemble",
        choices=["statistical", "best", "median", "weighted", "auto"],
        default="statistical",
        help="statistical (default): the mean of AutoETS, AutoTheta and AutoARIMA (AutoARIMA alone on "
        "series of at most 50 points) unless one model is clearly better on validation; best: the "
        "best model alone; or combine the top 3: their median, inverse-error weighted mean, or "
        "whichever validates best",
    )
    fc.add_argument(
        "--pretrain",
        metavar="RELATED",
        help="CSV/Parquet of related series (same frequency): the neural models also enter pretrained",
    )
    fc.add_argument(
        "--chronos", metavar="PATH", help="a local Chronos-Bolt checkpoint folder: the zero-shot model joins the stack"
    )
    fc.add_argument(
        "--out", default="tightfit-forecast", help="where forecasts.csv, model/, leaderboard.csv and forecast.png go"
    )
    fc.add_argument("--quiet", action="store_true", help="no progress bar")
    fc.set_defaults(run=_forecast)
    lab = commands.add_parser("label", help="which rows to label next (active learning), or --simulate")
    lab.add_argument("pool", help="CSV/Parquet: the unlabelled rows (rows with a --target value count as labelled)")
    lab.add_argument("--target", required=True, help="the label column")
    lab.add_argument("--labelled", help="a CSV/Parquet file of labelled rows (with --target)")
    lab.add_argument("--n", type=int, default=10, help="rows to suggest (per round with --simulate)")
    lab.add_argument("--strategy", default="margin", help="margin | entropy | least_confident | qbc | random")
    lab.add_argument("--model", default="TinyTFM", help="a TabularPipeline model name")
    lab.add_argument("--budget", default="", help="e.g. labels=200")
    lab.add_argument("--out", default="to_label.csv", help="the CSV of rows to label (a folder with --simulate)")
    lab.add_argument(
        "--simulate",
        action="store_true",
        help="POOL is fully labelled: compare the strategy with random sampling on a held-out quarter",
    )
    lab.add_argument("--rounds", type=int, default=8, help="with --simulate: query rounds")
    lab.add_argument("--quiet", action="store_true", help="no progress bar")
    lab.set_defaults(run=_label)
    rec = commands.add_parser("recipe", help="fine-tuning recipes per memory size for a tabular foundation model")
    rec.add_argument("model", help="TinyTFM or TabICL (its real architecture, random weights: no download)")
    rec.add_argument("--rows", type=int, help="rows of the table to fine-tune on")
    rec.add_argument("--features", type=int, help="features of the table")
    rec.add_argument("--classes", type=int, default=10, help="classes of the target (default 10)")
    rec.add_argument("--memory", default="2GB,4GB,8GB,16GB", help="memory sizes, comma-separated")
    rec.add_argument("--device", default="cuda", help="device planned for: cuda (default; modelled here) or cpu")
    rec.add_argument("--measure", action="store_true", help="run each chosen step for real on this CPU too")
    rec.add_argument("--json", help="write the table as JSON here too")
    rec.add_argument("--data", help="a CSV/Parquet table: search and measure the settings on it instead")
    rec.add_argument("--target", help="with --data: the column to predict")
    rec.add_argument("--budget", default="", help="with --data: e.g. memory=2GB,time=5min (time: the full fit)")
    rec.add_argument("--search-time", help="with --data: when the search itself must end, e.g. 10min")
    rec.add_argument("--probe-steps", type=int, default=20, help="with --data: optimizer steps of each probe")
    rec.add_argument("--out", default="tightfit-recipe", help="with --data: where report.html, run.json go")
    rec.add_argument("--quiet", action="store_true", help="no progress bar")
    rec.set_defaults(run=_recipe)
    for name, run, text in (
        ("plan", _plan, "search the fastest config that fits"),
        ("triage", _triage, "name the binding constraint"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--model", required=True, help="package.module:callable returning (model, train_data)")
        sub.add_argument("--budget", default="", help="e.g. memory=2GB,time=10min")
        sub.add_argument("--config", default="", help="base recipe, e.g. micro_batch=64,epochs=3")
        if name == "plan":
            sub.add_argument("--plot", help="write the Pareto chart here too (PNG; it is always in --out)")
            sub.add_argument(
                "--time",
                help="time for planning itself, e.g. 1min (--budget time= bounds the planned "
                "training run); trials stop at it and the configs measured so far are kept",
            )
            sub.add_argument("--out", default="tightfit-plan", help="where report.html, run.json, leaderboard.csv go")
            sub.add_argument(
                "--world-size",
                type=int,
                default=1,
                help="plan per rank for this many devices (DDP, "
                "FSDP on CUDA) and write the launch files (torchrun line, Accelerate config, script)",
            )
            sub.add_argument("--nodes", type=int, default=1, help="with --world-size: machines the ranks span")
            sub.add_argument("--quiet", action="store_true", help="no progress bar")
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.since_process_start = argv is None  # the command line's own run: its budget counts from the start
    try:
        return args.run(args)
    except TightfitError as exc:
        print(f"tightfit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside a search (which keeps what finished): stop without a traceback
        print("tightfit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
