"""Settings for the whole test session: the unit tests and the chapters under nbval."""

import os


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
