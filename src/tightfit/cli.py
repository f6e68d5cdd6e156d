"""The ``tightfit`` command: thin — parse arguments, call the library, print tables.

tightfit info [--json]      what this machine offers (cores, RAM, cgroup limit, CUDA, CPU ISA)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from tightfit import __version__
from tightfit.errors import TightfitError
from tightfit.hardware import Hardware
from tightfit.measure._units import format_bytes


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


def _load_workload(spec: str):
    import importlib

    from tightfit.errors import ConfigError

    module_name, sep, attr = spec.partition(":")
    if not sep:
        raise ConfigError(f"--model must look like 'package.module:callable'; got {spec!r}.")
    made = getattr(importlib.import_module(module_name), attr)()
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


def _print_rows(title: str, rows: list[dict[str, str]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for column in rows[0] if rows else []:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    Console().print(table)


def _plan(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.plan import plan

    model, data = _load_workload(args.model)
    result = plan(model, data, Budget.parse(args.budget), base_config=_base_config(args.config))
    rows = [r for r in result.rows() if r["verdict"] != "skipped"]
    _print_rows(f"tightfit plan under {args.budget}", rows)
    print("chosen:", "none fits" if result.chosen is None else result.chosen)
    if args.plot:
        print("chart:", result.plot(args.plot))
    return 0 if result.chosen is not None else 1


def _triage(args: argparse.Namespace) -> int:
    from tightfit.budget import Budget
    from tightfit.plan import WorkloadFacts, estimate, triage
    from tightfit.plan.search import _head

    model, data = _load_workload(args.model)
    budget = Budget.parse(args.budget)
    config = _base_config(args.config)
    est = estimate(model, _head(data, 4), config, device=budget.resolve_device())
    peak = est.device_peak if est.device.startswith("cuda") else est.process_peak
    facts = WorkloadFacts(memory_bytes=peak, context=f"micro_batch {config.micro_batch}, {config.precision}")
    result = triage(budget, facts)
    print(f"binding constraint: {result.binding}\nevidence: {result.evidence}")
    for rank, technique in enumerate(result.techniques, 1):
        print(f"  {rank}. {technique}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tightfit", description="Fit machine learning to the machine you have.")
    parser.add_argument("--version", action="version", version=f"tightfit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="what this machine offers")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(run=_info)
    for name, run, text in (
        ("plan", _plan, "search the fastest config that fits"),
        ("triage", _triage, "name the binding constraint"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--model", required=True, help="package.module:callable returning (model, train_data)")
        sub.add_argument("--budget", default="", help="e.g. memory=2GB,time=10min")
        sub.add_argument("--config", default="", help="base recipe, e.g. micro_batch=64,epochs=3")
        if name == "plan":
            sub.add_argument("--plot", help="write the Pareto chart here (PNG)")
        sub.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except TightfitError as exc:
        print(f"tightfit: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
