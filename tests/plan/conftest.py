"""Make the zoo of test architectures importable as ``zoo`` (also used by benchmarks/estimate.py)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
