"""Keeps the backends' start-up chatter out of a script's output; everything else passes unchanged.

TensorFlow's and XLA's C++ code logs through absl before the scripts can
configure it: on a CPU machine every script printed lines such as
"Could not find cuda drivers", "failed call to cuInit" or "oneDNN custom
operations are on", whatever TF_CPP_MIN_LOG_LEVEL says. The filter sits
on file descriptor 2: a thread reads what anything in the process writes
there and drops only those known informational lines (listed in CHATTER),
and tf.function's retracing warning, which every λ setting of a search
triggers by design (each setting compiles its own loop). Set
AESAMPLING_BACKEND_LOGS=1 to see everything.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import sys
import threading

CHATTER = re.compile(
    rb"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|[IW]\d{4} [\d:.]+ +\d+ \S+\.cc:\d+\] "  # absl INFO and WARNING lines from C++
    rb"|E\d{4} [\d:.]+ +\d+ (cuda_platform|cuda_executor|cuda_diagnostics)\.cc:\d+\] .*(cuInit|CUDA driver|kernel driver)"
    rb"|E\d{4} [\d:.]+ +\d+ node_def_util\.cc:\d+\] NodeDef mentions attribute use_unbounded_threadpool"
    rb"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\."
    rb")")
ENV = "AESAMPLING_BACKEND_LOGS"


def _forward(read_fd: int, out_fd: int) -> None:
    with os.fdopen(read_fd, "rb") as stream:
        for line in stream:
            if not CHATTER.match(line):
                os.write(out_fd, line)


def filter_backend_chatter() -> None:
    """Routes file descriptor 2 through the filter for the rest of the process (no-op with AESAMPLING_BACKEND_LOGS=1)."""
    if os.environ.get(ENV, "") not in ("", "0"):
        return
    logging.getLogger("tensorflow").addFilter(lambda record: "triggered tf.function retracing" not in record.getMessage())
    real_stderr = os.dup(2)
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    reader = threading.Thread(target=_forward, args=(read_fd, real_stderr), daemon=True)
    reader.start()

    def drain() -> None:
        sys.stderr.flush()
        os.dup2(real_stderr, 2)  # closes the pipe's last write end: the reader sees EOF
        reader.join(timeout=5)

    atexit.register(drain)
