"""What a benchmark run writes beside its figures: the facts of the run (when, the machine, its load) and the files
OUT.json and OUT.md."""

import json
import os
import platform
from datetime import datetime, timezone


def load_average():
    """The machine's load average over 1, 5 and 15 minutes, rounded."""
    return [round(x, 2) for x in os.getloadavg()]


def run_facts(params):
    """What a results file says before its figures: when the run started, its parameters, the machine, its load."""
    return {"started": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "params": params,
            "machine": f"{os.cpu_count()} cores, {platform.platform()}", "load_before": load_average()}


def write_json(out, figures):
    """``figures`` in OUT.json, its folder made if need be."""
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out + ".json", "w") as f:
        json.dump(figures, f, indent=1)
        f.write("\n")


def write_results(out, results, markdown):
    """``results`` in OUT.json and their table, ``markdown``, in OUT.md; the table printed too."""
    write_json(out, results)
    with open(out + ".md", "w") as f:
        f.write(markdown)
    print(markdown)
