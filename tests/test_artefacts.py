"""Arrays saved as safetensors: what goes in comes back bit for bit, and saving never talks to the user."""

import subprocess
import sys

import numpy as np

from tightfit.artefacts import load_arrays, save_arrays


def test_a_read_only_array_saves_silently_and_loads_back_bit_for_bit(tmp_path):
    """A read-only array (a pandas view, a memory map) made torch print "The given NumPy array is not writable"
    into `tightfit fit`'s output (hotel_rates). torch warns once per process, so the check runs in a fresh one."""
    script = (
        "import warnings, numpy as np; warnings.simplefilter('error')\n"
        "from tightfit.artefacts import save_arrays\n"
        "a = np.arange(6.0).reshape(2, 3); a.flags.writeable = False\n"
        f"save_arrays({str(tmp_path / 'a.safetensors')!r}, {{'a': a}})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "not writable" not in done.stderr, done.stderr
    values = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)[:, ::2]  # not contiguous either
    values.flags.writeable = False
    save_arrays(tmp_path / "b.safetensors", {"b": values})
    loaded = load_arrays(tmp_path / "b.safetensors")["b"].numpy()
    assert loaded.dtype == np.float32 and np.array_equal(loaded, values)
