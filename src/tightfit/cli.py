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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tightfit", description="Fit machine learning to the machine you have.")
    parser.add_argument("--version", action="version", version=f"tightfit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="what this machine offers")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(run=_info)
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
