"""The tabular search benchmark of issue #19, Optuna's side: the same replay as
benches/search_replay.rs, against the same recorded curves (bench/search/curves.json).

Each trial suggests one value per axis (categorical, as the grid lists them); epoch k of a
trial reports the configuration's recorded validation accuracy at epoch k and costs one
epoch; the pruner may stop the trial after any epoch; the search stops as soon as a
reported value is within 0.2 points of the grid's best. Prints the median epochs over 20
seeds for Optuna's TPESampler (its defaults) with, as Optuna recommends for TPE, the
HyperbandPruner, and with the SuccessiveHalvingPruner (asynchronous successive halving),
both with min_resource 1, reduction_factor 3 (and max_resource 8 for Hyperband).

Run: "$RUNNER_HOME/bench-venv/bin/python" bench/search/optuna_replay.py [CURVES.json]
         [--seeds N] [--margins 0.002,0.001]
"""

import argparse
import json
import statistics

import optuna

BUDGET = 2000


class Found(Exception):
    pass


def replay(table, target, pruner, seed):
    sizes = [len(axis["values"]) for axis in table["axes"]]
    curves = {tuple(c["index"]): c["val_accuracy"] for c in table["configurations"]}
    spent = {"epochs": 0, "found": False}

    def objective(trial):
        index = tuple(
            trial.suggest_categorical(f"axis{axis}", list(range(size)))
            for axis, size in enumerate(sizes)
        )
        curve = curves[index]
        for epoch, value in enumerate(curve, start=1):
            spent["epochs"] += 1
            if value >= target:
                spent["found"] = True
                trial.study.stop()
                return value
            if spent["epochs"] >= BUDGET:
                trial.study.stop()
                return value
            trial.report(value, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return curve[-1]

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=pruner(),
    )
    study.optimize(objective, n_trials=BUDGET)
    return spent["epochs"]


def main(path, seeds, margins):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open(path) as file:
        table = json.load(file)
    best = max(value for c in table["configurations"] for value in c["val_accuracy"])
    pruners = {
        "optuna tpe + hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=1, max_resource=8, reduction_factor=3
        ),
        "optuna tpe + successive halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3
        ),
        "optuna tpe, no pruner": lambda: optuna.pruners.NopPruner(),
    }
    for margin in margins:
        target = best - margin - 1e-9
        print(f"\noptuna {optuna.__version__}; target {target + 1e-9:.4f} (the grid's best minus "
              f"{margin * 100:.1f} points); median epochs over {seeds} seeds")
        print("| method | median epochs | min | max |")
        print("|---|---|---|---|")
        for name, pruner in pruners.items():
            epochs = [replay(table, target, pruner, seed) for seed in range(seeds)]
            print(f"| {name} | {statistics.median(epochs)} | {min(epochs)} | {max(epochs)} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("curves", nargs="?", default="bench/search/curves.json")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--margins", default="0.002,0.001,0.0")
    args = parser.parse_args()
    main(args.curves, args.seeds, [float(m) for m in args.margins.split(",")])
