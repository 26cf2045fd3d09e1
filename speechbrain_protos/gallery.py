"""A static HTML page to look at and listen to a model.

:func:`write_gallery` takes a loaded
:class:`~speechbrain_protos.inference.PrototypeClassifier` and writes, into
one folder (no server, nothing fetched from the internet):

* ``prototypes/<k>_<label>.wav`` and ``.png``: every prototype played with
  its typical transformations, and its spectrum;
* ``prototypes.png``: all prototypes side by side;
* with test items: per-class accuracy and ``confusion_matrix.png``;
* ``examples/``: a few inputs, their reconstruction by the best prototype,
  a timbre transfer (the same input played by another class's prototype),
  and the explanation figure of each;
* ``index.html``: the page that shows and plays all of the above.

Authors
 * speechbrain-protos developers 2026
"""

import csv
import html
import logging
import os
import re

import soundfile
from tqdm import tqdm

from speechbrain_protos.audio import read_audio
from speechbrain_protos.figures import plot_prototype_spectrum, plot_prototypes
from speechbrain_protos.metrics import label_accuracy, write_confusion_matrix

logger = logging.getLogger(__name__)

N_EXAMPLES = 4


def safe_name(name):
    """A file-name-safe version of a label.

    Example
    -------
    >>> safe_name("Keyboards/Accordion (ord)")
    'Keyboards_Accordion_ord'
    """
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


def read_test_manifest(path):
    """Reads a CSV of labelled audio files: columns ``path`` and ``label``.

    Relative paths are taken from the CSV's folder. Every problem names the
    file and the row.

    Returns
    -------
    list of (str, str)
        ``(absolute audio path, label)`` per row.

    Example
    -------
    >>> folder = getfixture("tmpdir")
    >>> csv_path = str(folder / "test.csv")
    >>> _ = open(csv_path, "w").write("path,label\\nnotes/a.wav,flute\\n")
    >>> read_test_manifest(csv_path)[0][1]
    'flute'
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"test manifest {path} does not exist")
    root = os.path.dirname(os.path.abspath(path))
    with open(path, newline="", encoding="utf-8") as fin:
        reader = csv.DictReader(fin)
        columns = reader.fieldnames or []
        if not {"path", "label"} <= set(columns):
            raise ValueError(
                f"test manifest {path} needs the columns 'path' and 'label'; "
                f"found {columns}"
            )
        items = []
        for row_number, row in enumerate(reader, start=2):
            if not row["path"] or not row["label"]:
                raise ValueError(f"{path}, line {row_number}: empty path or label")
            items.append((os.path.join(root, row["path"]), row["label"]))
    if not items:
        raise ValueError(f"test manifest {path} lists no files")
    return items


def evaluate_items(classifier, items, batch_size=16):
    """Classifies labelled files; accuracy per class and the confusion.

    Arguments
    ---------
    classifier : PrototypeClassifier
        The model.
    items : list of (str, str)
        ``(audio path, label)``; labels must be classes of the model.
    batch_size : int
        Files per batch.

    Returns
    -------
    dict
        ``OA``, ``AA`` (percent), ``per_class`` {label: (accuracy, clips)},
        ``confusion`` (long ``[C, C]``, rows true) and ``predictions``.
    """
    names = classifier.class_names
    unknown = sorted({label for _, label in items} - set(names))
    if unknown:
        raise ValueError(
            f"test labels {unknown} are not classes of the model ({', '.join(names)})"
        )
    predictions = classifier.classify_files(
        [p for p, _ in items], batch_size, on_error="raise"
    )
    scores = label_accuracy(
        names, [label for _, label in items], [r.label for r in predictions]
    )
    scores["predictions"] = predictions
    return scores


def pick_examples(items, count):
    """Up to ``count`` items, each of a different label, in order."""
    chosen, seen = [], set()
    for path, label in items:
        if label not in seen:
            seen.add(label)
            chosen.append((path, label))
        if len(chosen) == count:
            break
    return chosen


def _write_prototypes(classifier, folder, seconds, seed):
    model = classifier.mods.model
    logmel = classifier.mods.compute_features
    bin_hz = logmel.bin_frequencies()
    typical = model.typical_prototypes()
    entries = []
    for index in tqdm(range(classifier.n_prototypes), desc="rendering prototypes"):
        label = classifier.prototype_label(index)
        stem = os.path.join(folder, f"{index:02d}_{safe_name(label)}")
        classifier.render_prototype(index, seconds, seed=seed, path=stem + ".wav")
        plot_prototype_spectrum(
            model.prototypes[index].cpu(),
            typical[index].cpu(),
            bin_hz,
            stem + ".png",
            f"prototype {index}: {label}",
        )
        entries.append(
            {"index": index, "label": label, "wav": stem + ".wav", "png": stem + ".png"}
        )
    return entries


def _write_examples(classifier, examples, folder, seed):
    entries = []
    for number, (path, label) in enumerate(
        tqdm(examples, desc="reconstructing examples")
    ):
        stem = os.path.join(folder, f"{number:02d}_{safe_name(label)}")
        wav = read_audio(path, classifier.sample_rate, classifier.min_samples())
        soundfile.write(stem + "_input.wav", wav.numpy(), classifier.sample_rate)
        explained = classifier.explain_file(
            path, out=stem + "_explained.png", seed=seed
        )
        best = explained["reconstruction"]
        soundfile.write(
            stem + "_reconstruction.wav", best.waveform[0].numpy(), best.sample_rate
        )
        other = (best.prototype + 1) % classifier.n_prototypes
        transfer = classifier.reconstruct_file(path, prototype=other, seed=seed)
        soundfile.write(
            stem + "_transfer.wav", transfer.waveform[0].numpy(), transfer.sample_rate
        )
        entries.append(
            {
                "name": os.path.basename(path),
                "label": label,
                "chosen": best.label,
                "transfer_label": transfer.label,
                "input": stem + "_input.wav",
                "reconstruction": stem + "_reconstruction.wav",
                "transfer": stem + "_transfer.wav",
                "figure": explained["figure"],
            }
        )
    return entries


def write_gallery(
    classifier, folder, test_items=None, examples=None, seconds=2.0, seed=0
):
    """Writes the gallery of a model.

    Arguments
    ---------
    classifier : PrototypeClassifier
        A loaded model.
    folder : str
        Output folder (created).
    test_items : list of (str, str), optional
        Labelled files ``(path, label)``: adds accuracy per class and the
        confusion matrix; the first files of distinct labels are the
        examples unless ``examples`` is given.
    examples : list of (str, str), optional
        ``(path, label)`` of the inputs to reconstruct (label may be "").
    seconds : float
        Length of each prototype sound.
    seed : int
        Seed of Griffin-Lim's phase.

    Returns
    -------
    dict
        ``index`` (the HTML page), ``prototypes`` and ``examples`` (lists
        of dicts with their files), ``scores`` (or None).

    Example
    -------
    >>> from speechbrain_protos.model_folder import model_config, write_model_folder
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.inference import PrototypeClassifier
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> import torch
    >>> tmp = getfixture("tmpdir")
    >>> logmel = LogMel(n_fft=512, hop_length=256, n_mels=32)
    >>> protos = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
    >>> model = PrototypeClassifier.from_hparams(source=write_model_folder(
    ...     str(tmp / "m"), model_config(logmel, protos, ["a", "b"]),
    ...     protos.state_dict()))
    >>> soundfile.write(str(tmp / "x.wav"), torch.rand(4000).numpy() - 0.5, 16000)
    >>> report = write_gallery(model, str(tmp / "g"), [(str(tmp / "x.wav"), "b")],
    ...                        seconds=0.3)
    >>> len(report["prototypes"]), len(report["examples"]), report["scores"]["OA"] >= 0
    (2, 1, True)
    """
    folder = os.path.abspath(folder)
    for sub in ("prototypes", "examples"):
        os.makedirs(os.path.join(folder, sub), exist_ok=True)
    prototypes = _write_prototypes(
        classifier, os.path.join(folder, "prototypes"), seconds, seed
    )
    overview = plot_prototypes(
        classifier.mods.model.prototypes,
        [f"{e['index']}: {e['label']}" for e in prototypes],
        os.path.join(folder, "prototypes.png"),
    )
    scores = None
    if test_items:
        scores = evaluate_items(classifier, test_items)
        _, scores["confusion_png"] = write_confusion_matrix(
            scores["confusion"],
            classifier.class_names,
            folder,
            title=f"OA {scores['OA']:.1f}%  AA {scores['AA']:.1f}%",
        )
    if examples is None:
        examples = pick_examples(test_items or [], N_EXAMPLES)
    example_entries = _write_examples(
        classifier, examples, os.path.join(folder, "examples"), seed
    )
    index = _write_index(folder, prototypes, overview, scores, example_entries)
    logger.info("Gallery written to %s", index)
    return {
        "index": index,
        "prototypes": prototypes,
        "examples": example_entries,
        "scores": scores,
    }


def _write_index(folder, prototypes, overview, scores, examples):
    def rel(path):
        return html.escape(os.path.relpath(path, folder))

    def audio(path):
        return f'<audio controls preload="metadata" src="{rel(path)}"></audio>'

    cards = "\n".join(
        f"<div class='card'><h3>{e['index']}: {html.escape(e['label'])}</h3>"
        f"<img src='{rel(e['png'])}' width='320' alt='spectrum'><br>"
        f"{audio(e['wav'])}</div>"
        for e in prototypes
    )
    sections = [
        "<h2>Prototypes</h2><p>Each prototype held for a while with its typical "
        "gain, pitch and filters, turned into sound.</p>"
        f"<img src='{rel(overview)}' width='720' alt='all prototypes'>"
        f"<div class='cards'>{cards}</div>"
    ]
    if scores is not None:
        rows = "\n".join(
            f"<tr><td>{html.escape(name)}</td><td>{clips}</td><td>{acc:.1f}</td></tr>"
            for name, (acc, clips) in scores["per_class"].items()
        )
        sections.append(
            f"<h2>Test files</h2><p>OA {scores['OA']:.1f}% &nbsp; "
            f"AA {scores['AA']:.1f}%</p>"
            "<table><tr><th>class</th><th>files</th><th>accuracy (%)</th></tr>"
            f"{rows}</table>"
            f"<img src='{rel(scores['confusion_png'])}' width='560' "
            "alt='confusion matrix'>"
        )
    if examples:
        blocks = "\n".join(
            f"<div class='example'><h3>{html.escape(e['name'])}"
            f"{' (' + html.escape(e['label']) + ')' if e['label'] else ''}: "
            f"heard as {html.escape(e['chosen'])}</h3>"
            f"<p>input {audio(e['input'])}</p>"
            f"<p>reconstruction by {html.escape(e['chosen'])} "
            f"{audio(e['reconstruction'])}</p>"
            f"<p>played by {html.escape(e['transfer_label'])} (timbre transfer) "
            f"{audio(e['transfer'])}</p>"
            f"<img src='{rel(e['figure'])}' width='760' alt='explanation'></div>"
            for e in examples
        )
        sections.append(f"<h2>Examples</h2>{blocks}")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>Playable prototypes</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1100px}"
        ".cards{display:flex;flex-wrap:wrap;gap:1em}"
        ".card{border:1px solid #ccc;padding:.5em}"
        "td,th{padding:2px 10px;text-align:left}"
        "</style></head><body><h1>Playable prototypes</h1>"
        + "".join(sections)
        + "</body></html>"
    )
    path = os.path.join(folder, "index.html")
    with open(path, "w", encoding="utf-8") as fout:
        fout.write(page)
    return path
