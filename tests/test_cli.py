"""`tightfit info`: the JSON form has the documented keys and agrees with the probe."""

import json
import subprocess
import sys

EXPECTED_KEYS = {
    "cores_physical",
    "cores_logical",
    "cores_usable",
    "ram_total_bytes",
    "ram_available_bytes",
    "cgroup_memory_limit_bytes",
    "cpu_isa",
    "cpu_bf16",
    "cuda",
    "platform",
    "python",
    "torch",
}


def test_info_json_parses_with_documented_keys():
    out = subprocess.run(
        [sys.executable, "-m", "tightfit.cli", "info", "--json"], capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout)
    assert set(info) == EXPECTED_KEYS
    assert info["cores_logical"] >= info["cores_physical"] >= 1
    assert isinstance(info["cuda"], list)
    assert {"avx2", "avx512_vnni", "amx_int8"} <= set(info["cpu_isa"])


def test_info_table_names_the_machine(capsys):
    from tightfit.cli import main

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "CPU cores" in out and "RAM" in out and "CUDA" in out
