"""py-spy profiles of server processes during one workload, and a plain-text summary of where their CPU went."""

import collections
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path


def find_py_spy():
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Recording:
    """`py-spy record` attached to each of {label: pid} until stop(); raw collapsed stacks, one file per process."""

    def __init__(self, py_spy, processes, directory, name, rate=250):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.files = {}
        self.procs = []
        for label, pid in processes.items():
            out = self.directory / f"{name}--{label.replace(' ', '-')}.txt"
            self.files[label] = out
            # --nonblocking: never pause the process being measured; idle threads (epoll) are left out by default.
            argv = [py_spy, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
                    "--output", str(out), "--nonblocking"]
            self.procs.append(subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)  # let py-spy attach before the workload starts

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return {label: f for label, f in self.files.items() if f.exists()}


def read_stacks(path):
    """[(frames, count)] from py-spy's raw (collapsed) output: `frame;frame;... count` per line."""
    stacks = []
    for line in Path(path).read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def _short(frame):
    # "function (path/to/module.py:123)" -> "function (module.py:123)"
    name, _, where = frame.partition(" (")
    return f"{name} ({Path(where.rstrip(')')).name})" if where else name


_PLUMBING = ("<module>", "run (", "runApp", "ApplicationRunner", "UnixApplicationRunner", "runReactorWithLogging",
             "ReactorBase.run", "ReactorBase.mainLoop", "ContextTracker", "ThreadedContextTracker", "callWithContext",
             "callWithLogger", "Thread.run", "Thread._bootstrap", "ThreadWorker", "ThreadPool", "_PollLikeMixin",
             "EPollReactor.doPoll")


def _idle(frames):
    """The reactor blocked in epoll, or a thread-pool worker waiting for work: py-spy may count either as busy."""
    leaf = frames[-1]
    if leaf.startswith("EPollReactor.doPoll") and "epollreactor.py:227" in leaf:
        return True
    return leaf.startswith("Condition.wait") and len(frames) > 1 and frames[-2].startswith("Queue.get")


def summarize(path, top=10, rate=250):
    """Self time, inclusive time and the hottest call paths of one profile, as text lines."""
    everything = read_stacks(path)
    stacks = [(frames, count) for frames, count in everything if not _idle(frames)]
    idle = sum(c for _, c in everything) - sum(c for _, c in stacks)
    total = sum(c for _, c in stacks)
    if not total:
        return ["(no samples: the process was idle)"]
    own = collections.Counter()
    inclusive = collections.Counter()
    paths = collections.Counter()
    for frames, count in stacks:
        short = [_short(f) for f in frames]
        own[short[-1]] += count
        for frame in set(short):
            inclusive[frame] += count
        paths[" <- ".join(short[-1:-6:-1])] += count
    # Frames on (nearly) every stack are twistd's, the reactor's and the thread pool's entry points: they say nothing.
    inclusive = collections.Counter({f: c for f, c in inclusive.items()
                                     if c < 0.9 * total and not f.startswith(_PLUMBING)})
    lines = [f"{total} busy samples ≈ {total / rate:.1f} CPU-s; {idle} more samples were the reactor in epoll or an "
             "idle pool thread waiting for work, left out", "self time:"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in own.most_common(top)]
    lines += ["inclusive time (reactor, twistd and thread-pool plumbing left out):"]
    lines += [f"  {c / total:6.1%}  {f}" for f, c in inclusive.most_common(top)]
    lines += ["hottest paths (leaf <- callers):"]
    lines += [f"  {c / total:6.1%}  {p}" for p, c in paths.most_common(6)]
    return lines


if __name__ == "__main__":
    for name in sys.argv[1:]:
        print(f"== {name}")
        print("\n".join(summarize(name)))
