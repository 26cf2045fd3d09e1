"""PNG figures of prototypes and of how a model explains a sound.

Matplotlib runs headless (Agg); every function writes one PNG and returns
its path.

Authors
 * speechbrain-protos developers 2026
"""

import torch

SPECTROGRAM_STYLE = {"origin": "lower", "aspect": "auto", "cmap": "magma"}


def pyplot():
    """Matplotlib's pyplot on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt


def plot_prototypes(prototypes, class_names, path, title="Prototypes"):
    """Saves a PNG of prototype spectra ``[K, F]`` side by side.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "p.png")
    >>> plot_prototypes(torch.rand(3, 16), ["a", "b", "c"], path) == path
    True
    """
    plt = pyplot()
    width = max(4.0, 0.45 * len(class_names) + 2.0)
    figure, axes = plt.subplots(figsize=(width, 4.5))
    image = axes.imshow(
        prototypes.detach().cpu().T.numpy(),
        interpolation="nearest",
        **SPECTROGRAM_STYLE,
    )
    axes.set_xticks(range(len(class_names)), class_names, rotation=90, fontsize=7)
    axes.set_ylabel("mel bin")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="normalised log-mel")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def plot_prototype_spectrum(raw, typical, bin_hz, path, title):
    """Saves a PNG of one prototype: its frame and its typical rendering.

    Arguments
    ---------
    raw : torch.Tensor
        ``[F]`` the prototype frame.
    typical : torch.Tensor
        ``[F]`` the frame through its running-mean transformations.
    bin_hz : torch.Tensor
        ``[F]`` centre frequency of each mel bin in Hz.
    path : str
        Output PNG.
    title : str
        Figure title.

    Example
    -------
    >>> path = str(getfixture("tmpdir") / "s.png")
    >>> hz = torch.linspace(50, 8000, 16)
    >>> plot_prototype_spectrum(torch.rand(16), torch.rand(16), hz, path, "a") == path
    True
    """
    plt = pyplot()
    figure, axes = plt.subplots(figsize=(4.2, 2.6))
    axes.plot(bin_hz.cpu().numpy(), raw.detach().cpu().numpy(), label="prototype")
    axes.plot(
        bin_hz.cpu().numpy(),
        typical.detach().cpu().numpy(),
        label="typical transforms",
        alpha=0.8,
    )
    axes.set_xscale("log")
    axes.set_xlabel("frequency (Hz)")
    axes.set_ylabel("log-mel")
    axes.set_title(title, fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_explanation(result, ranking, path, title):
    """Saves a PNG of how a model explains a clip.

    Arguments
    ---------
    result : speechbrain_protos.inference.Reconstruction
        The clip's reconstruction by its best (or a chosen) prototype.
    ranking : list of (str, int, float)
        ``(label, prototype, error)``, best first.
    path : str
        Output PNG.
    title : str
        Figure title.

    Returns
    -------
    str
        ``path``.
    """
    plt = pyplot()
    error = (result.feats - result.reconstruction) ** 2
    figure = plt.figure(figsize=(11, 7.5))
    grid = figure.add_gridspec(4, 2, width_ratios=(3, 1.2))
    panels = (
        (result.feats, "input", {"vmin": 0, "vmax": 1}),
        (
            result.reconstruction,
            f"reconstruction by prototype {result.prototype} ({result.label})",
            {"vmin": 0, "vmax": 1},
        ),
        (error, "squared error", {}),
    )
    axes = None
    for row, (values, name, limits) in enumerate(panels):
        axes = figure.add_subplot(grid[row, 0], sharex=axes)
        axes.imshow(values.T.numpy(), **SPECTROGRAM_STYLE, **limits)
        axes.set_ylabel("mel bin")
        axes.set_title(name, fontsize=9)
    curves = figure.add_subplot(grid[3, 0], sharex=axes)
    for name, values in result.curves.items():
        if name == "pitch":
            curves.plot((12 * torch.log2(values)).numpy(), label="pitch (semitones)")
        else:
            curves.plot(values.numpy(), label=name)
    curves.set_xlabel("frame")
    curves.set_title("transformations", fontsize=9)
    if result.curves:
        curves.legend(fontsize=7, ncol=3)
    bars = figure.add_subplot(grid[:, 1])
    labels = [f"{label} (#{index})" for label, index, _ in ranking]
    values = [1e3 * error for _, _, error in ranking]
    bars.barh(range(len(ranking)), values, color="tab:purple")
    bars.set_yticks(range(len(ranking)), labels, fontsize=8)
    bars.invert_yaxis()
    bars.set_xlabel("L_rec (1e3 x MSE per bin)")
    bars.set_title("prototypes, best first", fontsize=9)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path
