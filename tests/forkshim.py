"""A stand-in for `python` in tests: runs scripts in processes forked from a warm server.

Importing TensorFlow takes seconds per process, and the Makefile chain starts
dozens of processes. For the tests, a server imports TensorFlow and
aesampling once; each `python tests/forkshim.py scripts/x.py --flags` call
(the client) asks the server to fork a child that runs the real script file
as __main__ with the client's arguments, working directory, environment,
file-size limit and standard streams, and exits with the script's status.
Killing the client (even with SIGKILL) kills the child, so interrupt tests
behave as with a plain interpreter.

    python tests/forkshim.py --serve SOCKET     the server (see `server`)
    python tests/forkshim.py SCRIPT ARGS...     a client; needs AESAMPLING_FORKSHIM set to SOCKET
"""

from __future__ import annotations

import atexit
import os
import resource
import runpy
import signal
import subprocess
import sys
import tempfile
import threading
import time
from multiprocessing.connection import Client, Listener
from multiprocessing.reduction import recv_handle, send_handle

SOCKET_ENV = "AESAMPLING_FORKSHIM"
PIDFILE_ENV = "AESAMPLING_FORKSHIM_PIDFILE"  # where a child writes its pid (for tests that kill it)


def _run_child(conn) -> None:
    """In the forked child: take over the client's request, run the script, report its status."""
    argv, cwd, environ, fsize = conn.recv()
    fds = [recv_handle(conn) for _ in range(3)]
    for fd, target in zip(fds, (0, 1, 2)):
        os.dup2(fd, target)
        os.close(fd)

    def die_with_client():
        try:
            conn.recv()
        except (EOFError, OSError):
            os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=die_with_client, daemon=True).start()
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(environ)
    tempfile.tempdir = None  # read TMPDIR again, as a fresh interpreter would
    if environ.get(PIDFILE_ENV):
        with open(environ[PIDFILE_ENV], "w") as f:
            f.write(str(os.getpid()))
    if fsize != resource.RLIM_INFINITY:  # writes past the limit fail with EFBIG, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    sys.argv = list(argv)
    sys.path.insert(0, os.path.dirname(os.path.abspath(argv[0])))
    code = 0
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if isinstance(e.code, str):
            print(e.code, file=sys.stderr)
    except BaseException:  # noqa: BLE001 - report like the interpreter would
        import traceback

        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()  # as the interpreter does on exit (e.g. scripts/_quiet.py drains its stderr filter)
    sys.stdout.flush()
    sys.stderr.flush()
    conn.send(code)
    os._exit(code)


def server(address: str) -> None:
    """Imports the heavy modules once, then forks a child per client request."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import aesampling.experiments  # noqa: F401
    import keras  # noqa: F401
    from aesampling import backend

    if not backend.is_jax():
        import tensorflow  # noqa: F401

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically
    with Listener(address, family="AF_UNIX") as listener:
        print("ready", flush=True)
        while True:
            conn = listener.accept()
            if os.fork() == 0:
                listener.close()
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                _run_child(conn)
            conn.close()


def client(argv: list[str]) -> int:
    """Sends this process's request to the server and returns the script's exit status."""
    with Client(os.environ[SOCKET_ENV], family="AF_UNIX") as conn:
        conn.send((argv, os.getcwd(), dict(os.environ), resource.getrlimit(resource.RLIMIT_FSIZE)[0]))
        for fd in (0, 1, 2):
            try:
                os.fstat(fd)
            except OSError:
                fd = os.open(os.devnull, os.O_RDWR)
            send_handle(conn, fd, 0)
        try:
            return int(conn.recv())
        except EOFError:  # the child died without reporting (e.g. killed)
            return 1


def start_server(address: str) -> subprocess.Popen:
    """Starts a server process on `address` and waits until it accepts requests."""
    process = subprocess.Popen([sys.executable, __file__, "--serve", address], stdout=subprocess.PIPE, text=True)
    if process.stdout.readline().strip() != "ready":
        process.kill()
        raise RuntimeError("the fork server did not start")
    return process


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        server(sys.argv[2])
    else:
        sys.exit(client(sys.argv[1:]))
