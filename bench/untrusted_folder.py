"""Loads a model folder an attacker wrote, with SpeechBrain's loader and ours.

Each case copies the format-1 fixture folder (tests/fixtures/
legacy_model_folder, the layout SpeechBrain's ``Pretrainer`` reads) and plants
one payload that would create a marker file: a HyperPyYAML tag that calls
``os.system`` at load time, one that starts a process, a PyYAML Python tag,
and a pickle in ``model.ckpt`` loaded with
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` (which some tools tell users to set).
Every load runs in its own process. For each loader it reports whether the
marker appeared (the attacker's command ran) and the first line of the error
it raised, if any::

    python bench/untrusted_folder.py [--json]

SpeechBrain's loader is ``EncoderClassifier.from_hparams(source=folder,
savedir=...)``; ours is ``PrototypeClassifier.from_hparams(source=folder)``.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import speechbrain
import torch
from report import emit

from speechbrain_protos.model_folder import HPARAMS_FILE, LEGACY_WEIGHTS_FILE

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(
    os.path.dirname(HERE), "tests", "fixtures", "legacy_model_folder"
)
LOADERS = {
    "speechbrain EncoderClassifier": (
        "from speechbrain.inference.classifiers import EncoderClassifier\n"
        "EncoderClassifier.from_hparams(source={folder!r}, savedir={savedir!r})"
    ),
    "speechbrain-protos PrototypeClassifier": (
        "from speechbrain_protos.inference import PrototypeClassifier\n"
        "PrototypeClassifier.from_hparams(source={folder!r}, savedir={savedir!r})"
    ),
}


class PicklePayload:
    """Unpickles into a call of os.system."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def yaml_payloads(marker):
    """YAML lines that create ``marker`` when HyperPyYAML loads them."""
    return {
        "yaml !apply:os.system": f"evil: !apply:os.system ['touch {marker}']",
        "yaml !new:subprocess.Popen": (
            f"evil: !new:subprocess.Popen\n    args: ['touch', '{marker}']"
        ),
        "yaml !!python/object/apply": (
            f"evil: !!python/object/apply:os.system ['touch {marker}']"
        ),
    }


def plant(case, folder, marker):
    """Copies the fixture to ``folder`` with the payload of ``case``."""
    shutil.copytree(FIXTURE, folder)
    if case == "pickle in model.ckpt":
        path = os.path.join(folder, LEGACY_WEIGHTS_FILE)
        state = torch.load(path, weights_only=True)
        state["evil"] = PicklePayload(f"touch {marker}")
        torch.save(state, path)
        return
    path = os.path.join(folder, HPARAMS_FILE)
    with open(path, encoding="utf-8") as fin:
        text = fin.read()
    with open(path, "w", encoding="utf-8") as fout:
        fout.write(text + "\n" + yaml_payloads(marker)[case] + "\n")


def try_loader(loader, case, work):
    """Runs one load in a fresh process; returns (command ran, error)."""
    folder = os.path.join(work, "model")
    marker = os.path.join(work, "ran")
    plant(case, folder, marker)
    code = LOADERS[loader].format(folder=folder, savedir=os.path.join(work, "cache"))
    env = dict(os.environ, TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD="1")
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=work,
    )
    error = None
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        error = lines[-1][:200] if lines else f"exit {done.returncode}"
    return os.path.exists(marker), error


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()
    cases = [*yaml_payloads("m"), "pickle in model.ckpt"]
    rows = []
    for case in cases:
        for loader in LOADERS:
            with tempfile.TemporaryDirectory() as work:
                ran, error = try_loader(loader, case, work)
            rows.append(
                {"payload": case, "loader": loader, "command_ran": ran, "error": error}
            )
    result = {
        "bench": "untrusted_folder",
        "speechbrain": speechbrain.__version__,
        "torch": torch.__version__,
        "rows": rows,
    }
    if args.json:
        emit(result, True, "untrusted_folder")
        return
    for row in rows:
        print(
            f"{row['payload']:<28} {row['loader']:<40} "
            f"ran: {'YES' if row['command_ran'] else 'no':<4} {row['error'] or ''}"
        )
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}))


if __name__ == "__main__":
    main()
