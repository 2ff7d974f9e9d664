"""Settings for the whole test session: the unit tests and the chapters under nbval."""

import os
import platform

# Which kernels torch runs depends on the CPU: with AVX-512, its softmax and MKL's and oneDNN's matrix products round
# differently from a CPU with AVX2 alone, and over 900 pretraining steps that moves what the chapters print (measured:
# the base model's validation loss 0.416 against 0.415, its fact recall 96.1 % against 94.4 %). Every x86 CPU the course
# runs on has AVX2: pinned to it, the trained models and the chapters' outputs are the same on all of them. Set here,
# before anything imports torch; the notebook kernels nbval starts inherit it. (.ci/run pins it for its builds too.)
if platform.machine().lower() in ("x86_64", "amd64"):
    for name, value in (("ATEN_CPU_CAPABILITY", "avx2"), ("MKL_ENABLE_INSTRUCTIONS", "AVX2"),
                        ("ONEDNN_MAX_CPU_ISA", "AVX2")):
        os.environ.setdefault(name, value)


def pytest_configure(config):
    # Under pytest-xdist, each worker and every notebook kernel it starts (a child process, which inherits this
    # environment) computes on one thread. With torch's default of one thread per core, two workers on two cores ask
    # for four: measured on 2 cores, chapter 08 took 592 s in such a run against 65 s alone.
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = str(max(1, (os.cpu_count() or 1) // workers))
        os.environ.update(OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
        import torch

        torch.set_num_threads(int(threads))
