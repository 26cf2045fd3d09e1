"""Look at and listen to a model: prototype sounds, figures, reconstructions.

:func:`write_gallery` writes, into one folder:

* ``prototypes/<k>_<class>.wav``: every prototype played as sound (its
  single log-mel frame held for ``seconds``, inverted with
  :meth:`speechbrain_protos.features.LogMel.inverse`);
* ``prototypes.png``: all prototypes side by side (mel bins upward);
* ``reconstructions/<clip>_input.wav`` and ``..._reconstruction.wav``: some
  clips and their reconstruction by the prototype the model chose, with a
  PNG of both log-mel spectrograms;
* ``index.html``: a page that shows and plays all of the above.

Authors
 * speechbrain-protos developers 2026
"""

import html
import logging
import os
import re

import soundfile
import torch

logger = logging.getLogger(__name__)


def _safe(name):
    return re.sub(r"[^\w.-]+", "_", name).strip("_")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    return pyplot


@torch.no_grad()
def prototype_audio(model, logmel, seconds=1.5, seed=0):
    """Every prototype as a waveform ``[K, samples]``.

    Arguments
    ---------
    model : PrototypeReconstructor
        Trained model.
    logmel : LogMel
        The front end the model was trained with.
    seconds : float
        Length of each sound.
    seed : int
        Seed of Griffin-Lim's initial phase.

    Returns
    -------
    torch.Tensor
        ``[K, samples]`` at ``logmel.sample_rate``.

    Example
    -------
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> logmel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
    >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
    >>> prototype_audio(model, logmel, seconds=0.5).shape
    torch.Size([2, 7936])
    """
    n_frames = logmel.n_frames(int(seconds * logmel.sample_rate))
    prototypes = model.prototypes.detach().cpu()
    frames = prototypes[:, None, :].expand(-1, n_frames, -1)
    return logmel.inverse(frames.contiguous(), seed=seed)


def plot_prototypes(prototypes, class_names, path, title="Prototypes"):
    """Saves a PNG of prototype spectra ``[K, F]`` side by side.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "p.png")
    >>> plot_prototypes(torch.rand(3, 16), ["a", "b", "c"], path) == path
    True
    """
    pyplot = _pyplot()
    width = max(4.0, 0.45 * len(class_names) + 2.0)
    figure, axes = pyplot.subplots(figsize=(width, 4.5))
    image = axes.imshow(
        prototypes.detach().cpu().T.numpy(),
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
    )
    axes.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
    axes.set_ylabel("mel bin")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="normalised log-mel")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    pyplot.close(figure)
    return path


def plot_reconstruction(feats, reconstruction, path, title):
    """Saves a PNG of a clip's log-mel ``[T, F]`` above its reconstruction."""
    pyplot = _pyplot()
    figure, axes = pyplot.subplots(2, 1, figsize=(6, 5), sharex=True)
    for axis, values, name in zip(
        axes, (feats, reconstruction), ("input", "reconstruction")
    ):
        axis.imshow(
            values.detach().cpu().T.numpy(),
            origin="lower",
            aspect="auto",
            cmap="magma",
            vmin=0,
            vmax=1,
        )
        axis.set_ylabel(f"{name}\nmel bin")
    axes[1].set_xlabel("frame")
    axes[0].set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)
    return path


@torch.no_grad()
def write_reconstructions(model, logmel, examples, class_names, folder, seed=0):
    """Writes input / reconstruction WAV pairs and a PNG per clip.

    Arguments
    ---------
    model : PrototypeReconstructor
        Trained model (put in eval mode here).
    logmel : LogMel
        Its front end.
    examples : list of (str, torch.Tensor, int)
        ``(clip id, waveform [samples] at logmel's rate, true class)``.
    class_names : list of str
        Names of the classes (prototype k is class k in supervised mode).
    folder : str
        Output folder.
    seed : int
        Seed of Griffin-Lim.

    Returns
    -------
    list of dict
        One entry per clip: id, true and chosen class, file paths.
    """
    os.makedirs(folder, exist_ok=True)
    model.eval()
    entries = []
    for clip_id, wav, label in examples:
        feats = logmel(wav[None].to(model.prototypes.device))
        errors = model(feats)
        choice = errors.argmin(dim=1)
        recon = model.reconstruct(feats, choice)
        audio = logmel.inverse(recon.cpu(), n_samples=wav.numel(), seed=seed)[0]
        stem = _safe(clip_id)
        paths = {
            "input": os.path.join(folder, f"{stem}_input.wav"),
            "reconstruction": os.path.join(folder, f"{stem}_reconstruction.wav"),
            "figure": os.path.join(folder, f"{stem}.png"),
        }
        soundfile.write(paths["input"], wav.cpu().numpy(), logmel.sample_rate)
        soundfile.write(paths["reconstruction"], audio.numpy(), logmel.sample_rate)
        chosen = int(choice)
        true_name = class_names[label]
        chosen_name = class_names[chosen] if chosen < len(class_names) else str(chosen)
        plot_reconstruction(
            feats[0],
            recon[0],
            paths["figure"],
            f"{true_name}\nreconstructed by prototype {chosen}: {chosen_name}",
        )
        entries.append(
            {"id": clip_id, "true": true_name, "chosen": chosen_name, **paths}
        )
    return entries


def write_gallery(model, logmel, class_names, folder, examples=(), seconds=1.5, seed=0):
    """Writes prototype sounds, figures, reconstructions and an HTML page.

    Arguments
    ---------
    model : PrototypeReconstructor
        Trained model.
    logmel : LogMel
        Its front end.
    class_names : list of str
        Name of each prototype (its class, or a cluster name).
    folder : str
        Output folder (created).
    examples : list of (str, torch.Tensor, int)
        Clips to reconstruct (see :func:`write_reconstructions`).
    seconds : float
        Length of each prototype sound.
    seed : int
        Seed of Griffin-Lim.

    Returns
    -------
    dict
        ``prototypes`` (WAV paths), ``figure``, ``reconstructions`` and
        ``index`` (the HTML page).

    Example
    -------
    >>> from speechbrain_protos.features import LogMel
    >>> from speechbrain_protos.lobes import PrototypeReconstructor
    >>> logmel = LogMel(sample_rate=16000, n_fft=512, hop_length=128, n_mels=32)
    >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
    >>> clips = [("clip", torch.rand(4000) - 0.5, 1)]
    >>> report = write_gallery(model, logmel, ["a", "b"], str(getfixture("tmpdir")),
    ...                        clips, seconds=0.5)
    >>> len(report["prototypes"]), len(report["reconstructions"])
    (2, 1)
    """
    os.makedirs(os.path.join(folder, "prototypes"), exist_ok=True)
    waves = prototype_audio(model, logmel, seconds, seed)
    prototype_paths = []
    for index, (name, wave) in enumerate(zip(class_names, waves)):
        path = os.path.join(folder, "prototypes", f"{index:02d}_{_safe(name)}.wav")
        soundfile.write(path, wave.numpy(), logmel.sample_rate)
        prototype_paths.append(path)
    figure = plot_prototypes(
        model.prototypes, class_names, os.path.join(folder, "prototypes.png")
    )
    reconstructions = write_reconstructions(
        model,
        logmel,
        examples,
        class_names,
        os.path.join(folder, "reconstructions"),
        seed,
    )
    index = _write_index(folder, class_names, prototype_paths, figure, reconstructions)
    logger.info("Gallery written to %s", folder)
    return {
        "prototypes": prototype_paths,
        "figure": figure,
        "reconstructions": reconstructions,
        "index": index,
    }


def _write_index(folder, class_names, prototype_paths, figure, reconstructions):
    def rel(path):
        return html.escape(os.path.relpath(path, folder))

    rows = "\n".join(
        f"<tr><td>{index}</td><td>{html.escape(name)}</td>"
        f'<td><audio controls src="{rel(path)}"></audio></td></tr>'
        for index, (name, path) in enumerate(zip(class_names, prototype_paths))
    )
    clips = "\n".join(
        f"<h3>{html.escape(entry['id'])}: {html.escape(entry['true'])}, "
        f"reconstructed by {html.escape(entry['chosen'])}</h3>"
        f'<p>input <audio controls src="{rel(entry["input"])}"></audio> '
        "reconstruction "
        f'<audio controls src="{rel(entry["reconstruction"])}"></audio></p>'
        f'<img src="{rel(entry["figure"])}" width="480">'
        for entry in reconstructions
    )
    page = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<title>Playable prototypes</title></head><body>"
        "<h1>Playable prototypes</h1>"
        f'<img src="{rel(figure)}" width="720">'
        f"<h2>Prototypes</h2><table>{rows}</table>"
        f"<h2>Reconstructions</h2>{clips}</body></html>"
    )
    path = os.path.join(folder, "index.html")
    with open(path, "w", encoding="utf-8") as fout:
        fout.write(page)
    return path
