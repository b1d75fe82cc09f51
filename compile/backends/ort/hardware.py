"""The CPU instruction set an ONNX Runtime artifact optimised at level "all" is tied to."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

#: CPU flags that change the kernels or tensor layouts ONNX Runtime picks at level "all".
LAYOUT_FLAGS = ("avx512f", "avx512_vnni", "avx512_bf16", "amx_int8", "avx_vnni", "avx2", "fma", "asimd", "sve")


@lru_cache(maxsize=1)
def cpu_isa() -> str:
    """E.g. ``x86_64:avx2+avx512_vnni+avx512f+fma``; stable for a machine, different across vector widths."""
    import platform

    flags: set[str] = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith(("flags", "Features")):
                flags = set(line.split(":", 1)[1].split())
                break
    present = sorted(flag for flag in LAYOUT_FLAGS if flag in flags)
    return f"{platform.machine()}:{'+'.join(present) or 'baseline'}"


def isa_mismatch(built_for: str | None) -> str | None:
    """Why an artifact built for ``built_for`` cannot run here, or ``None`` if it can."""
    if not built_for or built_for == cpu_isa():
        return None
    return f"it was optimised (level 'all') for {built_for}, but this CPU is {cpu_isa()}; rebuild it here (compile run --force)"
