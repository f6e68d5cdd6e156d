"""`make bench`: run every benchmark script in turn (each prints its table and writes results/<name>.json)."""

import subprocess
import sys
from pathlib import Path

SCRIPTS = [
    "engine.py", "estimate.py", "plan.py", "tabular_tfm.py", "tabular.py", "lora_memory.py", "deadlines.py",
    "tabular_tfm_regression.py", "pretrain_tricks.py", "compress.py", "forecast.py", "forecast_short.py",
    "forecast_selection.py", "forecast_selection.py --disjoint", "forecast_reuse.py", "forecast_long_seasons.py",
    "serve.py",
    "tfm_memory.py", "active.py", "sharding.py",
]  # fmt: skip

if __name__ == "__main__":
    here = Path(__file__).parent
    for script in SCRIPTS:  # a script's name, then its options
        print(f"== {script}", flush=True)
        name, *options = script.split()
        subprocess.run([sys.executable, str(here / name), *options], check=True)
