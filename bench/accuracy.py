#!/usr/bin/env python3
"""The paper's three tables on data we can reach, against the baselines.

Trains every model of ``bench/accuracy.yaml`` on every data set there with
its recipe's ``train.py`` (one process per run, the budgets of the YAML),
then writes, from the runs' own result files:

* ``results/table1_transformations.md``: validation OA / AA / L_rec at the
  end of each curriculum stage (raw, + gain, + pitch, + filters,
  + cross-entropy, lr decay), supervised and unsupervised (paper, Table 1);
* ``results/table2_clustering.md``: ours without supervision against an
  autoencoder + K-means, test OA / AA (paper, Table 2);
* ``results/table3_classification.md``: ours with supervision against direct
  classification and SpeechBrain's ECAPA-TDNN, test OA / AA / L_rec
  (paper, Table 3);

each with the command, date, machine, each model's time and size, and the
paper's numbers for context.

Runs go to ``results/accuracy/<data set>/<model>/``. A finished run is
reused while its command stays the same (delete its folder to train it
again); a run whose config changed is deleted and trained again; an
interrupted one resumes from its last checkpoint (its time is then that of
the last attempt). ``--tables-only`` rewrites the tables from
finished runs.

    python bench/accuracy.py [--datasets fsdd,...] [--models ours_supervised,...]
                             [--tables-only]

The cross-SoundFont and zone-split rows need Debian's FluidR3 SoundFont
(``apt-get install fluid-soundfont-gm``).
"""

import argparse
import csv
import datetime
import json
import logging
import os
import shlex
import shutil
import subprocess
import sys
import time

import torch
import yaml
from report import cpu_model_name

from speechbrain_protos.data.fsdd import prepare_fsdd
from speechbrain_protos.data.soundfont import find_soundfont, prepare_rendered_dataset
from speechbrain_protos.experiment import merge_overrides
from speechbrain_protos.model_folder import (
    CHECKPOINT_WEIGHTS_FILE,
    RESULTS_FILE,
    load_weights,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
RECIPES = {
    "SOL": os.path.join(REPO, "recipes", "SOL", "instrument_id"),
    "LibriSpeech": os.path.join(REPO, "recipes", "LibriSpeech", "speaker_id"),
}
RUN_INFO = "bench_run.json"
SHARED_DATA_ENV = "SB_PROTOS_SHARED_DATA"
STATE_BUFFERS = (
    "running_mean",
    "running_var",
    "num_batches_tracked",
    "typical_",
    "transform_active",
)
logger = logging.getLogger("bench.accuracy")

# The paper's numbers (SOL 0.9 HQ and 128 LibriSpeech speakers), for context.
PAPER_TABLE1 = {  # (setting, mode) -> {SOL, LibriSpeech}: (OA, AA, L_rec)
    ("raw", "unsupervised"): {
        "SOL": (29.3, 13.2, 12.4),
        "LibriSpeech": (13.3, 13.2, 8.6),
    },
    ("gain", "unsupervised"): {
        "SOL": (32.2, 15.8, 3.4),
        "LibriSpeech": (44.4, 43.3, 3.4),
    },
    ("pitch", "unsupervised"): {
        "SOL": (37.6, 19.1, 2.6),
        "LibriSpeech": (46.8, 46.9, 2.6),
    },
    ("filters", "unsupervised"): {
        "SOL": (33.4, 14.6, 1.5),
        "LibriSpeech": (48.8, 49.5, 1.6),
    },
    ("raw", "supervised"): {
        "SOL": (28.4, 39.5, 12.9),
        "LibriSpeech": (60.5, 59.5, 8.6),
    },
    ("gain", "supervised"): {
        "SOL": (37.4, 40.1, 3.8),
        "LibriSpeech": (78.7, 79.1, 3.4),
    },
    ("pitch", "supervised"): {
        "SOL": (51.6, 46.1, 2.9),
        "LibriSpeech": (77.2, 77.8, 2.6),
    },
    ("filters", "supervised"): {
        "SOL": (55.1, 47.7, 2.1),
        "LibriSpeech": (88.8, 89.4, 1.6),
    },
    ("ce_temperature", "supervised"): {
        "SOL": (98.9, 94.5, 2.5),
        "LibriSpeech": (99.9, 99.9, 1.9),
    },
}
PAPER_TABLE2 = {
    "autoencoder_kmeans": {"SOL": (28.7, 12.3), "LibriSpeech": (11.0, 11.1)},
    "ours_unsupervised": {"SOL": (34.5, 15.4), "LibriSpeech": (48.6, 49.5)},
}
PAPER_TABLE3 = {
    "direct_classification": {
        "SOL": (97.8, 94.8, None),
        "LibriSpeech": (99.4, 99.5, None),
    },
    "ours_supervised": {"SOL": (99.3, 95.8, 2.6), "LibriSpeech": (99.9, 99.9, 2.6)},
}
STAGE_TITLES = {
    "raw": "Raw prototypes",
    "gain": "+ gain",
    "pitch": "+ pitch shifting",
    "filters": "+ frequency filters",
    "ce_temperature": "+ cross-entropy (trained beta)",
    "lr_decay": "+ lr decay (ours; not a row of the paper)",
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--config", default=os.path.join(HERE, "accuracy.yaml"), help="budgets"
    )
    parser.add_argument(
        "--results", default=os.path.join(REPO, "results"), help="tables folder"
    )
    parser.add_argument("--datasets", help="comma-separated subset of the data sets")
    parser.add_argument("--models", help="comma-separated subset of the models")
    parser.add_argument(
        "--tables-only", action="store_true", help="write tables from finished runs"
    )
    return parser.parse_args(argv)


def chosen(names, subset, what):
    """The names of ``subset`` (comma-separated), checked; all when None."""
    if not subset:
        return list(names)
    picked = [name.strip() for name in subset.split(",") if name.strip()]
    unknown = sorted(set(picked) - set(names))
    if unknown:
        raise SystemExit(f"unknown {what} {unknown}; choose among {sorted(names)}")
    return picked


def prepare_dataset(name, spec, work):
    """Prepares a data set; returns its train.py overrides."""
    folder = os.path.join(work, name)
    if spec["prepare"] == "soundfont_notes":
        if not os.path.isfile(spec["soundfont"]):
            raise SystemExit(
                f"{name} needs the SoundFont {spec['soundfont']} "
                "(Debian: apt-get install fluid-soundfont-gm)"
            )
        test = spec.get("test_soundfont")
        data = prepare_rendered_dataset(
            os.path.join(folder, "notes"),
            soundfont=spec["soundfont"],
            test_soundfont=find_soundfont() if test == "TimGM6mb" else test,
            progress=False,
        )
        return {
            "data_folder": data["data_folder"],
            "split_folder": data["split_folder"],
            "n_classes": len(data["classes"]),
        }
    data_folder = spec["data_folder"]
    if "{shared_data}" in data_folder:
        data_folder = data_folder.format(shared_data=find_shared_data())
    data_folder = os.path.abspath(os.path.join(REPO, data_folder))
    if spec["prepare"] == "fsdd":
        manifests = os.path.join(folder, "manifests")
        prepare_fsdd(data_folder, manifests, max_index=spec.get("max_index"))
        return {
            "data_folder": data_folder,
            "skip_prep": True,
            **{
                f"{split}_annotation": os.path.join(manifests, f"{split}.json")
                for split in ("train", "valid", "test")
            },
        }
    return {"data_folder": data_folder}


def find_shared_data():
    """The folder of real recordings (the LibriSpeech excerpt, FSDD):
    ``$SB_PROTOS_SHARED_DATA``, else ``shared/data`` beside the checkout or one
    of its parents."""
    candidates = (
        [os.environ[SHARED_DATA_ENV]] if os.environ.get(SHARED_DATA_ENV) else []
    )
    parent = REPO
    while os.path.dirname(parent) != parent:
        parent = os.path.dirname(parent)
        candidates.append(os.path.join(parent, "shared", "data"))
    for candidate in candidates:
        if os.path.isdir(os.path.join(candidate, "LibriSpeech")):
            return candidate
    raise SystemExit(
        "the shared recordings (LibriSpeech/, fsdd/) were not found; looked in "
        f"{', '.join(candidates)}. Set {SHARED_DATA_ENV} to that folder."
    )


def override_arguments(overrides):
    """``--key=value`` arguments; mappings and lists as flow-style YAML.

    Example
    -------
    >>> override_arguments(
    ...     {"lr": 0.002, "curriculum": {"patience": 3}, "noprogressbar": True}
    ... )
    ['--lr=0.002', '--curriculum={"patience": 3}', '--noprogressbar']
    """
    arguments = []
    for key, value in overrides.items():
        if value is True and key == "noprogressbar":
            arguments.append(f"--{key}")
        elif isinstance(value, str):
            arguments.append(f"--{key}={value}")
        else:
            arguments.append(f"--{key}={json.dumps(value)}")
    return arguments


def run_model(dataset, data_overrides, model, config, work):
    """Trains and tests one model on one data set (reused when finished)."""
    spec = config["datasets"][dataset]
    model_spec = config["models"][model]
    output = os.path.join(work, dataset, model)
    recipe = spec["recipe"]
    hparams = model_spec["hparams"].format(recipe=recipe.lower())
    overrides = {}
    for layer in (
        spec.get("overrides"),
        model_spec.get("overrides"),
        (spec.get("model_overrides") or {}).get(model),
        config.get("common_overrides"),
        data_overrides,
        {"output_folder": output},
    ):
        overrides = merge_overrides(overrides, layer)
    command = [
        sys.executable,
        "train.py",
        f"hparams/{hparams}",
        *override_arguments(overrides),
    ]
    info_path = os.path.join(output, RUN_INFO)
    previous = read_json(info_path)
    if previous is not None and previous["command"] != shlex.join(command[1:]):
        logger.warning(
            "%s / %s: the config changed since %s was trained; training it again",
            dataset,
            model,
            output,
        )
        shutil.rmtree(output)
        previous = None
    if previous is not None and previous.get("wall_seconds") is not None:
        if os.path.isfile(os.path.join(output, RESULTS_FILE)):
            logger.info("%s / %s: finished before, reused", dataset, model)
            return
    os.makedirs(output, exist_ok=True)
    write_json(
        info_path,
        {
            "command": shlex.join(command[1:]),
            "cwd": os.path.relpath(RECIPES[recipe], REPO),
            "wall_seconds": None,
        },
    )
    logger.info("%s / %s: %s", dataset, model, shlex.join(command[1:]))
    started = time.time()
    with open(os.path.join(output, "bench_stdout.log"), "a", encoding="utf-8") as log:
        process = subprocess.run(
            command, cwd=RECIPES[recipe], stdout=log, stderr=subprocess.STDOUT
        )
    seconds = time.time() - started
    if process.returncode != 0:
        raise SystemExit(
            f"{dataset} / {model} failed (exit {process.returncode}); "
            f"see {os.path.join(output, 'bench_stdout.log')}"
        )
    write_json(
        info_path,
        {
            "wall_seconds": round(seconds, 1),
            "finished": datetime.datetime.now().isoformat(timespec="seconds"),
            "command": shlex.join(command[1:]),
            "cwd": os.path.relpath(RECIPES[recipe], REPO),
        },
    )
    logger.info("%s / %s: done in %.1f min", dataset, model, seconds / 60)


def read_json(path):
    """A JSON file's content, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as fin:
        return json.load(fin)


def write_json(path, content):
    """Writes ``content`` to ``path`` as indented JSON."""
    with open(path, "w", encoding="utf-8") as fout:
        json.dump(content, fout, indent=1)


def parameter_count(output):
    """Parameters of a run's model: its checkpoint's tensors without the
    buffers (BatchNorm statistics, typical transforms, transform switches)."""
    save = os.path.join(output, "save")
    checkpoints = sorted(
        entry for entry in os.listdir(save) if entry.startswith("CKPT")
    )
    state = load_weights(os.path.join(save, checkpoints[-1], CHECKPOINT_WEIGHTS_FILE))
    return sum(
        tensor.numel()
        for key, tensor in state.items()
        if not any(part in key for part in STATE_BUFFERS)
    )


def read_run(work, dataset, model):
    """A finished run's results, or None."""
    output = os.path.join(work, dataset, model)
    paths = {
        "test": os.path.join(output, RESULTS_FILE),
        "info": os.path.join(output, RUN_INFO),
    }
    run = {key: read_json(path) for key, path in paths.items()}
    if None in run.values() or run["info"]["wall_seconds"] is None:
        return None  # not run, or not finished
    stages = os.path.join(output, "stage_results.csv")
    if os.path.isfile(stages):
        with open(stages, encoding="utf-8") as fin:
            run["stages"] = list(csv.DictReader(fin))
    run["parameters"] = parameter_count(output)
    return run


def fmt(value, digits=1):
    """A number for a table cell; '—' for None."""
    return "—" if value is None else f"{value:.{digits}f}"


def header(title, command, runs):
    """The lines every table file starts with."""
    total = sum(run["info"]["wall_seconds"] for run in runs.values())
    return [
        f"# {title}",
        "",
        "Generated by `bench/accuracy.py` (do not edit by hand). Re-run it to "
        "regenerate this file:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"- Written: {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}",
        f"- Machine: {cpu_model_name()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__} on the CPU ({torch.get_num_threads()} threads)",
        "- Budgets: `bench/accuracy.yaml` (epochs, lr and batch of each model); "
        "time is each model's whole run (data preparation, training, test).",
        f"- The bench's {len(runs)} finished runs (all tables) took "
        f"{total / 60:.1f} min in all.",
        "",
    ]


def dataset_section(config, dataset):
    """The heading of one data set."""
    return [f"## {config['datasets'][dataset]['title']}", ""]


def paper_row(values):
    """OA / AA (/ L_rec) of the paper as one cell."""
    return " / ".join(fmt(value) for value in values)


def write_table1(runs, config, datasets, path, command):
    lines = header(
        "Table 1: each transformation, read at the end of its curriculum stage",
        command,
        runs,
    )
    schedules = {
        mode: config["models"]
        .get(f"ours_{mode}", {})
        .get("overrides", {})
        .get("curriculum", {})
        .get("stages")
        for mode in ("unsupervised", "supervised")
    }
    supervised_stages = schedules["supervised"] or []
    cross_entropy = (
        "Our supervised runs keep L_ce off until the curriculum's ce_temperature "
        "stage, the paper's '+ cross-entropy' row."
        if "ce_temperature" in supervised_stages
        else "Our supervised runs use L_ce from the first stage, so the paper's "
        "separate '+ cross-entropy' row has no counterpart."
    )
    lines += [
        "Validation OA / AA (percent) and L_rec (10^3 x MSE per bin) of the best "
        "checkpoint of each stage of one curriculum run, as the paper's Table 1. "
        f"{cross_entropy} The lr-decay row is ours, not the paper's.",
        "",
    ]
    for dataset in datasets:
        recipe = config["datasets"][dataset]["recipe"]
        lines += dataset_section(config, dataset)
        lines += [
            "| setting | unsup. OA | AA | L_rec | sup. OA | AA | L_rec | paper unsup. "
            f"({recipe}) | paper sup. ({recipe}) |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        stages = {}
        for mode in ("unsupervised", "supervised"):
            run = runs.get((dataset, f"ours_{mode}"))
            for row in (run or {}).get("stages", []):
                stages.setdefault(row["stage"], {})[mode] = row
        for stage, title in STAGE_TITLES.items():
            if stage not in stages:
                continue
            cells = []
            for mode in ("unsupervised", "supervised"):
                row = stages[stage].get(mode)
                cells += (
                    [
                        fmt(float(row[key]), 2 if key == "L_rec" else 1)
                        for key in ("OA", "AA", "L_rec")
                    ]
                    if row
                    else [missing_stage(runs, dataset, mode, stage, schedules[mode])]
                    * 3
                )
            paper = [
                paper_row(PAPER_TABLE1[(stage, mode)][recipe])
                if (stage, mode) in PAPER_TABLE1
                else "—"
                for mode in ("unsupervised", "supervised")
            ]
            lines.append(f"| {title} | " + " | ".join(cells + paper) + " |")
        missing = [
            f"ours_{mode}"
            for mode in ("unsupervised", "supervised")
            if (dataset, f"ours_{mode}") not in runs
        ]
        if missing:
            lines.append(f"| *not run yet: {', '.join(missing)}* | | | | | | | | |")
        lines.append("")
        lines += transformation_verdicts(stages)
    write_lines(path, lines)


def missing_stage(runs, dataset, mode, stage, schedule):
    """The cell of a stage a run has no row for: not in its schedule (—),
    not reached, or no run yet."""
    if schedule is not None and stage not in schedule:
        return "—"
    return "not reached" if (dataset, f"ours_{mode}") in runs else "not run yet"


def transformation_verdicts(stages):
    """Did each added transformation lower L_rec and raise OA? (per mode)"""
    lines = []
    steps = [("raw", "gain"), ("gain", "pitch"), ("pitch", "filters")]
    for mode in ("unsupervised", "supervised"):
        changes = [
            (
                after,
                float(stages[after][mode]["OA"]) - float(stages[before][mode]["OA"]),
                float(stages[after][mode]["L_rec"])
                - float(stages[before][mode]["L_rec"]),
            )
            for before, after in steps
            if mode in stages.get(before, {}) and mode in stages.get(after, {})
        ]
        if not changes:
            continue
        lower = sum(rec < 0 for _, _, rec in changes)
        higher = sum(oa > 0 for _, oa, _ in changes)
        detail = "; ".join(
            f"{name}: OA {oa:+.1f}, L_rec {rec:+.2f}" for name, oa, rec in changes
        )
        lines += [
            f"- {mode.capitalize()}: adding a transformation lowered L_rec in "
            f"{lower} of {len(changes)} steps and raised OA in {higher} of "
            f"{len(changes)} ({detail}).",
        ]
    before, after = stages.get("filters", {}), stages.get("ce_temperature", {})
    if "supervised" in before and "supervised" in after:
        oa = float(after["supervised"]["OA"]) - float(before["supervised"]["OA"])
        rec = float(after["supervised"]["L_rec"]) - float(before["supervised"]["L_rec"])
        lines.append(
            f"- Supervised, adding L_ce: OA {oa:+.1f}, L_rec {rec:+.2f} (the paper: "
            "higher accuracy for a slightly higher L_rec)."
        )
    return lines + ([""] if lines else [])


def model_row(runs, config, dataset, model, keys, paper):
    """One table row: our scores, size, time, and the paper's."""
    title = config["models"][model]["title"]
    run = runs.get((dataset, model))
    if run is None:
        return (
            f"| {title} | "
            + " | ".join(["not run yet"] * (len(keys) + 2))
            + f" | {paper} |"
        )
    test = run["test"]
    cells = [fmt(test.get(key), 2 if key == "L_rec" else 1) for key in keys]
    cells.append(f"{run['parameters']:,}")
    cells.append(fmt(run["info"]["wall_seconds"] / 60))
    return f"| {title} | " + " | ".join(cells) + f" | {paper} |"


def write_comparison(runs, config, datasets, path, command, table):
    if table == 2:
        title = "Table 2: clustering without labels, test set"
        models = ("autoencoder_kmeans", "ours_unsupervised")
        keys = ("OA", "AA", "L_rec")
        paper_numbers = PAPER_TABLE2
        intro = (
            "Test OA / AA (percent) after naming each cluster by the majority class "
            "of its training clips (K = number of classes for both); L_rec in "
            "10^3 x MSE per bin (the autoencoder's own reconstruction)."
        )
    else:
        title = "Table 3: classification with labels, test set"
        models = ("direct_classification", "ecapa_tdnn", "ours_supervised")
        keys = ("OA", "AA", "L_rec")
        paper_numbers = PAPER_TABLE3
        intro = (
            "Test OA / AA (percent) of each model's checkpoint with the lowest "
            "validation error; L_rec in 10^3 x MSE per bin (classifiers "
            "reconstruct nothing: —)."
        )
    lines = header(title, command, runs) + [intro, ""]
    models = [model for model in models if model in config["models"]]
    for dataset in datasets:
        recipe = config["datasets"][dataset]["recipe"]
        lines += dataset_section(config, dataset)
        lines += [
            f"| model | OA | AA | L_rec | parameters | minutes | paper ({recipe}) |",
            "|---|---|---|---|---|---|---|",
        ]
        scored = []
        for model in models:
            paper = (
                paper_row(paper_numbers[model][recipe])
                if model in paper_numbers
                else "—"
            )
            lines.append(model_row(runs, config, dataset, model, keys, paper))
            if (dataset, model) in runs:
                scored.append((runs[(dataset, model)]["test"]["OA"], model))
        ours = models[-1] if models else None
        if ours and ours.startswith("ours") and len(scored) == len(models) > 1:
            best = max(scored)[1]
            if best == ours:
                runner_up = sorted(scored)[-2]
                lines += [
                    "",
                    f"Ours has the best OA here, {max(scored)[0] - runner_up[0]:.1f} "
                    f"points above {config['models'][runner_up[1]]['title']}.",
                ]
            else:
                lines += [
                    "",
                    f"**Ours loses here**: {config['models'][best]['title']} has the "
                    f"best OA ({fmt(max(scored)[0])} against "
                    f"{fmt(runs[(dataset, ours)]['test']['OA'])}).",
                ]
        lines.append("")
    write_lines(path, lines)


def write_lines(path, lines):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as fout:
        fout.write("\n".join(lines).rstrip() + "\n")
    logger.info("Wrote %s", path)


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = parse_args(argv)
    with open(args.config, encoding="utf-8") as fin:
        config = yaml.safe_load(fin)
    work = os.path.join(args.results, "accuracy")
    datasets = chosen(config["datasets"], args.datasets, "data sets")
    models = chosen(config["models"], args.models, "models")
    started = time.time()
    if not args.tables_only:
        for dataset in datasets:
            data_overrides = prepare_dataset(dataset, config["datasets"][dataset], work)
            for model in models:
                run_model(dataset, data_overrides, model, config, work)
    every_dataset = list(config["datasets"])
    runs = {}
    for dataset in every_dataset:
        for model in config["models"]:
            run = read_run(work, dataset, model)
            if run is not None:
                runs[(dataset, model)] = run
    command = "python bench/accuracy.py"
    write_table1(
        runs,
        config,
        every_dataset,
        os.path.join(args.results, "table1_transformations.md"),
        command,
    )
    write_comparison(
        runs,
        config,
        every_dataset,
        os.path.join(args.results, "table2_clustering.md"),
        command,
        2,
    )
    write_comparison(
        runs,
        config,
        every_dataset,
        os.path.join(args.results, "table3_classification.md"),
        command,
        3,
    )
    total = sum(run["info"]["wall_seconds"] for run in runs.values())
    logger.info(
        "%d runs finished (%.1f min of runs in all); this call took %.1f min",
        len(runs),
        total / 60,
        (time.time() - started) / 60,
    )


if __name__ == "__main__":
    main()
