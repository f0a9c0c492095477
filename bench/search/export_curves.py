"""Writes bench/search/curves.json from a finished run of bench/search/grid48.toml (or
curves72.json from grid72.toml, given as GRID): every
trial's configuration (its values and their indices in the grid's lists) and its
validation accuracy at each of its 8 epochs, read back with `runner list` and `runner
show --format json`.

Run: python3 bench/search/export_curves.py SWEEP_ID [RUNNER] [GRID] > bench/search/curves.json
"""

import json
import subprocess
import sys
import tomllib

AXES = ["train.optimizer", "head.2.rate", "head.1.units"]


def runner(binary, *args):
    return json.loads(subprocess.run([binary, *args], check=True, capture_output=True).stdout)


def main(sweep, binary, grid_file):
    with open(grid_file, "rb") as file:
        grid = tomllib.load(file)["sweep"]
    axes = [{"key": key, "values": grid[key]} for key in AXES]
    configurations = []
    for summary in runner(binary, "list", "--sweep", sweep, "--format", "json"):
        run = runner(binary, "show", summary["run"], "--format", "json")
        assert run["status"] == "finished", run["run"]
        index = []
        for axis in axes:
            value = run["params"].get(axis["key"])
            if value is None:
                # An optimizer is recorded as its fields.
                value = {
                    name: run["params"][f"{axis['key']}.{name}"] for name in ("type", "lr")
                }
            matches = [i for i, listed in enumerate(axis["values"]) if same(listed, value)]
            assert len(matches) == 1, (axis["key"], value)
            index.append(matches[0])
        history = sorted(run["history"], key=lambda row: row["epoch"])
        configurations.append({
            "run": run["run"],
            "index": index,
            "val_accuracy": [row["val_accuracy"] for row in history],
        })
    expected = 1
    for axis in axes:
        expected *= len(axis["values"])
    assert len(configurations) == expected, (len(configurations), expected)
    json.dump({"sweep": sweep, "axes": axes, "configurations": configurations}, sys.stdout, indent=1)
    print()


def same(listed, recorded):
    if isinstance(listed, dict):
        return all(abs(recorded[k] - v) < 1e-12 if isinstance(v, float) else recorded[k] == v
                   for k, v in listed.items())
    return abs(float(listed) - float(recorded)) < 1e-12


if __name__ == "__main__":
    main(
        sys.argv[1],
        sys.argv[2] if len(sys.argv) > 2 else "target/release/runner",
        sys.argv[3] if len(sys.argv) > 3 else "bench/search/grid48.toml",
    )
