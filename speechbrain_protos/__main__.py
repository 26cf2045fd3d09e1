"""Command line: ``python -m speechbrain_protos <command>`` (or ``speechbrain-protos``).

Commands::

    export RUN_FOLDER --out MODEL_DIR        training run -> model folder
           [--onnx]                          (and model.onnx)
    classify MODEL_DIR FILE... [--json]      one line per file: label, score
             [--files-from LIST|-] [--manifest CSV] [--batch-size N]
    render MODEL_DIR --out DIR               every prototype as a WAV
    reconstruct MODEL_DIR FILE --out WAV     rebuild a file (--prototype LABEL:
                                             timbre transfer)
    explain MODEL_DIR FILE --out PNG         how the model explains a file
    gallery MODEL_DIR --out DIR              HTML page to see and hear a model
    check                                    torch, torchaudio, SpeechBrain and
                                             numba import together: versions

``<command> --help`` tells more. Results go to stdout, one line each;
errors are one line on stderr, with exit code 1. ``classify`` reports each
file it cannot classify and goes on with the others, then exits with 1.

Authors
 * speechbrain-protos developers 2026
"""

import argparse
import json
import logging
import os
import sys

from speechbrain_protos.audio import AudioFileError
from speechbrain_protos.environment import (
    COMPILED_IMPORTS,
    DependencyError,
    check_imports,
    describe,
)
from speechbrain_protos.model_folder import DEFAULT_LICENSE


def _out(line):
    """One line of a command's result on stdout."""
    sys.stdout.write(f"{line}\n")


def _load(model_dir, device):
    from speechbrain_protos.inference import PrototypeClassifier

    return PrototypeClassifier.from_hparams(
        source=model_dir, run_opts={"device": device}
    )


def _prototype(value):
    """A prototype given on the command line: an index or a label."""
    return int(value) if value.isdigit() else value


def cmd_export(args):
    from speechbrain_protos.export import export_model

    folder = export_model(
        args.run_folder,
        args.out,
        overwrite=args.overwrite,
        license=args.license,
        datasets=args.dataset or (),
        onnx=args.onnx,
    )
    _out(folder)


def _read_file_list(source):
    """Paths listed one per line in a text file (``-``: stdin); blank lines
    and lines starting with ``#`` are skipped."""
    if source == "-":
        lines = sys.stdin.read().splitlines()
    else:
        if not os.path.isfile(source):
            raise FileNotFoundError(f"file list {source} does not exist")
        with open(source, encoding="utf-8") as fin:
            lines = fin.read().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _classify_inputs(args, class_names):
    """(path, true label or None) of every file the command names."""
    items = [(path, None) for path in args.files]
    if args.files_from:
        items += [(path, None) for path in _read_file_list(args.files_from)]
    if args.manifest:
        from speechbrain_protos.gallery import read_test_manifest

        labelled = read_test_manifest(args.manifest)
        unknown = sorted({label for _, label in labelled} - set(class_names))
        if unknown:
            raise ValueError(
                f"{args.manifest}: labels {unknown} are not classes of the model "
                f"({', '.join(class_names)})"
            )
        items += labelled
    if not items:
        raise ValueError("nothing to classify: give FILEs, --files-from or --manifest")
    return items


def _report(result, truth, as_json):
    """One file's line on stdout (or its error on stderr)."""
    if result.error is not None:
        sys.stderr.write(f"error: {result.error}\n")
        if as_json:
            _out(json.dumps({"file": result.path, "error": result.error}))
        return
    if as_json:
        record = {"file": result.path, "label": result.label, "score": result.score}
        record.update(index=result.index, probabilities=result.probabilities)
        if truth is not None:
            record["true_label"] = truth
        _out(json.dumps(record))
    else:
        _out(f"{result.path}\t{result.label}\t{result.score:.4f}")


def cmd_classify(args):
    from tqdm import tqdm

    from speechbrain_protos.metrics import label_accuracy

    model = _load(args.model, args.device)
    items = _classify_inputs(args, model.class_names)
    window = 8 * args.batch_size  # files classified before their lines print
    truths, predictions, failed = [], [], 0
    progress = tqdm(total=len(items), unit="file", disable=not sys.stderr.isatty())
    for start in range(0, len(items), window):
        part = items[start : start + window]
        results = model.classify_files([path for path, _ in part], args.batch_size)
        for (_, truth), result in zip(part, results):
            _report(result, truth, args.json)
            failed += result.error is not None
            if truth is not None and result.error is None:
                truths.append(truth)
                predictions.append(result.label)
        progress.update(len(part))
    progress.close()
    if args.manifest:
        scores = label_accuracy(model.class_names, truths, predictions)
        summary = {"OA": scores["OA"], "AA": scores["AA"], "classified": len(truths)}
        summary["failed"] = failed
        if args.json:
            _out(json.dumps({"summary": summary}))
        else:
            _out(
                f"OA {summary['OA']:.1f}%\tAA {summary['AA']:.1f}%\t"
                f"{len(truths)} labelled files classified, {failed} failed"
            )
    return 1 if failed else 0


def cmd_render(args):
    model = _load(args.model, args.device)
    from speechbrain_protos.gallery import safe_name

    os.makedirs(args.out, exist_ok=True)
    chosen = args.prototype or range(model.n_prototypes)
    for item in chosen:
        index = model.prototype_index(item)
        path = os.path.join(
            args.out, f"{index:02d}_{safe_name(model.prototype_label(index))}.wav"
        )
        model.render_prototype(
            index, args.duration, args.pitch, args.gain_db, args.seed, path=path
        )
        _out(path)


def cmd_reconstruct(args):
    import soundfile

    model = _load(args.model, args.device)
    result = model.reconstruct_file(args.file, prototype=args.prototype, seed=args.seed)
    soundfile.write(args.out, result.waveform[0].numpy(), result.sample_rate)
    _out(f"{args.out}\tprototype {result.prototype}\t{result.label}")


def cmd_explain(args):
    model = _load(args.model, args.device)
    limit = {} if args.max_seconds is None else {"max_seconds": args.max_seconds}
    report = model.explain_file(args.file, out=args.out, top=args.top, **limit)
    _out(report["figure"])
    for label, index, error in report["ranking"]:
        _out(f"{index}\t{label}\t{1e3 * error:.3f}")


def cmd_gallery(args):
    from speechbrain_protos.gallery import read_test_manifest, write_gallery

    model = _load(args.model, args.device)
    items = read_test_manifest(args.test_manifest) if args.test_manifest else None
    examples = [(path, "") for path in args.examples] if args.examples else None
    report = write_gallery(
        model, args.out, items, examples, seconds=args.duration, seed=args.seed
    )
    _out(report["index"])


def cmd_check(args):
    check_imports(COMPILED_IMPORTS)
    _out(f"dependencies import: {describe()}")


def build_parser():
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="python -m speechbrain_protos",
        description="Playable-prototype models: export, classify, listen, explain.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name, function, help_text):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(function=function)
        if name not in ("export", "check"):
            sub.add_argument("model", help="model folder (written by export)")
            sub.add_argument("--device", default="cpu", help="cpu (default) or cuda:0")
        return sub

    sub = command(
        "export", cmd_export, "turn a finished training run into a model folder"
    )
    sub.add_argument("run_folder", help="the recipe's output folder")
    sub.add_argument("--out", required=True, help="model folder to write")
    sub.add_argument("--overwrite", action="store_true", help="replace a model there")
    sub.add_argument(
        "--license",
        default=DEFAULT_LICENSE,
        help=f"Hub license id for the model card ({DEFAULT_LICENSE}); the weights "
        "inherit the terms of the training data",
    )
    sub.add_argument(
        "--dataset",
        action="append",
        help="Hub id of the training data, for the model card (repeat)",
    )
    sub.add_argument(
        "--onnx",
        action="store_true",
        help="also write model.onnx: the errors from log-mel features (needs onnx)",
    )

    sub = command("classify", cmd_classify, "classify audio files")
    sub.add_argument("files", nargs="*", help="audio files (any rate, mono or not)")
    sub.add_argument(
        "--files-from", metavar="LIST", help="text file of paths, one a line (-: stdin)"
    )
    sub.add_argument(
        "--manifest",
        metavar="CSV",
        help="CSV with columns path,label: also prints OA and AA at the end",
    )
    sub.add_argument("--batch-size", type=int, default=16, help="clips per batch (16)")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")

    sub = command("render", cmd_render, "write every prototype as a WAV")
    sub.add_argument("--out", required=True, help="output folder")
    sub.add_argument(
        "--prototype", action="append", type=_prototype, help="label or index (repeat)"
    )
    sub.add_argument("--duration", type=float, default=2.0, help="seconds (2.0)")
    sub.add_argument("--pitch", type=float, default=1.0, help="factor (2.0: octave up)")
    sub.add_argument("--gain-db", type=float, default=0.0, help="peak dBFS (<= 0)")
    sub.add_argument("--seed", type=int, default=0, help="Griffin-Lim seed")

    sub = command("reconstruct", cmd_reconstruct, "rebuild a file from a prototype")
    sub.add_argument("file", help="audio file")
    sub.add_argument("--out", required=True, help="WAV to write")
    sub.add_argument(
        "--prototype", type=_prototype, help="label or index (default: the best one)"
    )
    sub.add_argument("--seed", type=int, default=0, help="Griffin-Lim seed")

    sub = command("explain", cmd_explain, "figure of how the model explains a file")
    sub.add_argument("file", help="audio file")
    sub.add_argument("--out", help="PNG to write (default: beside the file)")
    sub.add_argument("--top", type=int, default=5, help="prototypes ranked (5)")
    sub.add_argument(
        "--max-seconds",
        type=float,
        help="longest file explained (default 30); longer ones are refused",
    )

    sub = command("gallery", cmd_gallery, "HTML page to see and hear a model")
    sub.add_argument("--out", required=True, help="output folder")
    sub.add_argument(
        "--test-manifest", help="CSV with columns path,label: adds accuracy"
    )
    sub.add_argument("--examples", nargs="+", help="files to reconstruct")
    sub.add_argument("--duration", type=float, default=2.0, help="prototype seconds")
    sub.add_argument("--seed", type=int, default=0, help="Griffin-Lim seed")

    command("check", cmd_check, "check that the compiled dependencies import")
    return parser


def main(argv=None):
    """Runs one command; returns the process exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s - %(message)s")
    try:
        code = args.function(args)
    except (
        FileNotFoundError,
        FileExistsError,
        AudioFileError,
        ValueError,
        DependencyError,
    ) as error:
        sys.stderr.write(f"error: {error}\n")
        return 1
    return code or 0


if __name__ == "__main__":
    sys.exit(main())
