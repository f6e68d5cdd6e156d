"""`import tightfit` stays light: no torch, no plotting, no optional back ends."""

import subprocess
import sys


def test_import_does_not_load_heavy_modules():
    code = (
        "import sys, tightfit; heavy = [m for m in ('torch', 'matplotlib', 'peft', 'sklearn', 'onnxruntime', "
        "'rich') if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_lazy_names_resolve():
    import tightfit

    assert callable(tightfit.run_limited) and callable(tightfit.track_peak)
    assert tightfit.MemoryMonitor.__name__ == "MemoryMonitor"
