"""One set of CPU kernels for the demo's training and drafting, so that its seeded numbers vary less between x86
machines.

torch, MKL and oneDNN pick their kernels by the CPU: AVX-512 on one machine, AVX2 on the next. Their sums round
differently, a few hundred optimizer steps carry the difference into other weights, and the demo's drafts and draft
goals change with the machine (measured: the same seeds gave ROUGE-L 0.586 and 2 contradictions with AVX2 kernels,
0.519 and 5 with AVX-512). Every x86-64 machine this demo runs on has AVX2, so the demo asks for those kernels.
With them two AMD EPYC machines (one with AVX-512, one without) trained the same weights; an Intel Xeon still trained
others (base loss 1.223 against 1.225): the pin narrows the spread, it does not remove it.
A variable already set wins; other architectures are left alone.
"""

from __future__ import annotations

import os
import platform

KERNEL_ENV = {
    "ATEN_CPU_CAPABILITY": "avx2",  # torch's own vectorised kernels
    "MKL_CBWR": "AVX2",  # MKL's conditional numerical reproducibility: the AVX2 code path on any newer CPU
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}


def pin_cpu_kernels() -> None:
    """Set ``KERNEL_ENV`` where unset, before torch runs its first operation."""
    if platform.machine().lower() in ("x86_64", "amd64"):
        for name, value in KERNEL_ENV.items():
            os.environ.setdefault(name, value)
