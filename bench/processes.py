"""Child processes of the benchmark: start them with a log file, wait for a sign of life, stop them by pid."""

import os
import signal
import subprocess
import time
from pathlib import Path


def start(argv, log_path, cwd=None, env=None):
    """Start argv in its own process group with stdout and stderr going to log_path."""
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            [str(a) for a in argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    finally:
        log.close()


def stop(proc, grace=20.0):
    """SIGTERM one process we started, SIGKILL it if it outlives the grace period; returns its exit code."""
    if proc is None or proc.poll() is not None:
        return None if proc is None else proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait(10)


def kill_leftovers(pids, grace=10.0):
    """SIGTERM, then SIGKILL, the given pids (children of processes we started) that are still alive."""
    alive = [p for p in pids if _alive(p)]
    for pid in alive:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in alive if _alive(p)]
    for pid in alive:
        _signal(pid, signal.SIGKILL)


def wait_for_line(proc, log_path, marker, timeout):
    """Return the first line of log_path that contains marker; fail if proc exits or the timeout passes."""
    deadline = time.monotonic() + timeout
    log_path = Path(log_path)
    while time.monotonic() < deadline:
        if log_path.exists():
            for line in log_path.read_text(errors="replace").splitlines():
                if marker in line:
                    return line
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[:3]} exited with {proc.returncode} before {marker!r}; see {log_path}")
        time.sleep(0.2)
    raise TimeoutError(f"no {marker!r} in {log_path} after {timeout:.0f} s")


def wait_until(predicate, timeout, what, interval=0.2):
    """Poll predicate until it returns a true value; raise TimeoutError naming what we waited for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception:
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def tail(path, lines=20):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); count it as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
