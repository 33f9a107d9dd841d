"""What a benchmark ran on, printed beside its figures (in the test kit: the benchmarks print it,
the tests check it)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def cpu_identity(cpuinfo: str) -> str:
    """The CPU's model name, family/model numbers and widest vector extension, from the text
    of /proc/cpuinfo. A virtual machine's model name can be as bare as "AMD EPYC", which
    several generations share (Zen 3 EPYCs are family 25 model 1, Zen 4 family 25 model 17):
    the numbers and the vector width tell them apart. Two machines named only "AMD EPYC, 2
    cores" ran the same benchmarks 1.2-1.7 times apart (benchmarks/RESULTS.md)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields:
                break  # the first processor's block is enough
            continue
        fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or platform.machine()
    parts = []
    if "cpu family" in fields and "model" in fields:
        parts.append(f"family {fields['cpu family']} model {fields['model']}")
    flags = set((fields.get("flags") or fields.get("Features") or "").split())  # x86 / Arm
    vector = next((v for v in ("avx512f", "avx2", "avx", "neon", "asimd") if v in flags), None)
    if vector is not None:
        parts.append(vector.upper() if vector.startswith("avx") else vector)
    return f"{name} ({', '.join(parts)})" if parts else name


def describe_machine() -> str:
    """CPU (model, family, vector width), cores and memory, read from /proc where it exists."""
    try:
        cpu = cpu_identity(Path("/proc/cpuinfo").read_text())
    except OSError:
        cpu = platform.processor() or platform.machine()
    mem = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kib / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"
