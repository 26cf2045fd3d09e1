"""The paper's spectral transformations (eq. 1-4), as pure tensor functions.

Every function takes spectra ``[..., F]`` (normalised log-mel frames) and
parameters with the same leading shape ``[...]`` (one value per frame, and per
prototype where the caller broadcasts over prototypes):

* :func:`gain` adds a constant to every bin (eq. 1).
* :func:`pitch_shift` moves content from frequency nu to ``factor * nu``
  (eq. 2 with s = 1 / factor), reading the spectrum at fractional bins with
  linear interpolation. Positions are computed in float64 and clamped to the
  first and last bins (the border value is repeated). With bin coordinates in
  real mel (:func:`speechbrain_protos.features.mel_bin_centers`) the shift is
  mel-aware; with ``linspace(0, 1, F)`` it is the authors' code, nearly a
  linear stretch of the mel axis. A factor of exactly 1 is the identity.
* :func:`low_filter` and :func:`high_filter` add an affine-in-log response
  that is zero on the passband side of a cutoff (eq. 3-4). Two shapes:
  ``"hinge"`` (default: the paper's affine filter with a cutoff, exactly zero
  past the cutoff, no transcendental function in the hot loop) and
  ``"softplus"`` (the authors' code: a soft knee, softplus with beta 10).

:class:`SpectralTransforms` holds the constants of one mel layout and applies
the four in the paper's order (eq. 5): gain, pitch, low, high.

Authors
 * speechbrain-protos developers 2026
"""

import math
from typing import NamedTuple, Optional

import torch

from speechbrain_protos.features import HTK_MEL_FACTOR, mel_bin_centers

FILTER_SHAPES = ("hinge", "softplus")
PITCH_WARPS = ("mel", "linear")
SOFTPLUS_SHARPNESS = 10.0  # beta of the authors' soft knee
# beyond sharpness * distance > this, the soft knee is the identity (torch's
# softplus default; the kernels copy the rule)
SOFTPLUS_THRESHOLD = 20.0
FILTER_SPAN = 2.0  # the filter reaches `slope` half a band from its cutoff


def gain(spectrum, amount):
    """Adds a per-frame gain to every bin (eq. 1).

    Arguments
    ---------
    spectrum : torch.Tensor
        Log-mel frames ``[..., F]``.
    amount : torch.Tensor
        Gains ``[...]`` in normalised log units (1 = 170 dB).

    Returns
    -------
    torch.Tensor
        ``spectrum + amount[..., None]``.

    Example
    -------
    >>> gain(torch.zeros(2, 3), torch.tensor([0.1, -0.1]))
    tensor([[ 0.1000,  0.1000,  0.1000],
            [-0.1000, -0.1000, -0.1000]])
    """
    return spectrum + amount.unsqueeze(-1)


def pitch_warp_constants(bin_coords):
    """Per-bin constants of the mel-aware warp Phi(f, s) (eq. 2).

    With A = 2595 and u = 10^(f/A) - 1, Phi(f, s) - f = (A / ln 10)
    log1p(c_f (s - 1)) where c_f = u / (1 + u) = 1 - 10^(-f/A). Dividing by
    the bin spacing gives the shift in bins. Writing it this way makes s = 1
    an exact zero shift.

    Arguments
    ---------
    bin_coords : torch.Tensor
        Evenly spaced coordinate of each bin, ``[F]`` (F >= 2), in mel (or
        in [0, 1] for the authors' variant).

    Returns
    -------
    c : torch.Tensor
        Float64 ``[F]``, the c_f above.
    bins_per_unit : float
        A / (ln 10 * spacing): multiplies the log1p to give bins.

    Example
    -------
    >>> c, scale = pitch_warp_constants(torch.linspace(0.0, 1.0, 5))
    >>> c.shape, round(scale, 1)
    (torch.Size([5]), 4508.0)
    """
    coords = torch.as_tensor(bin_coords, dtype=torch.float64)
    if coords.dim() != 1 or coords.numel() < 2:
        raise ValueError(
            f"bin_coords must be a 1-D tensor of at least 2 bins; got shape "
            f"{list(coords.shape)}"
        )
    spacing = float(coords[1] - coords[0])
    if spacing <= 0:
        raise ValueError("bin_coords must be increasing")
    c = -torch.expm1(-coords * (math.log(10.0) / HTK_MEL_FACTOR))
    return c, HTK_MEL_FACTOR / (math.log(10.0) * spacing)


def pitch_positions(factor, bin_coords):
    """Fractional bin each output bin reads from, for a pitch factor.

    Arguments
    ---------
    factor : torch.Tensor
        Positive pitch factors ``[...]``: content at nu moves to factor * nu.
    bin_coords : torch.Tensor
        Evenly spaced bin coordinates ``[F]`` (see
        :func:`pitch_warp_constants`).

    Returns
    -------
    torch.Tensor
        Float64 positions ``[..., F]``, clamped to ``[0, F - 1]``.

    Example
    -------
    >>> coords = torch.linspace(0.0, 1.0, 5)
    >>> pitch_positions(torch.tensor([1.0, 2.0]), coords).round(decimals=3)
    tensor([[0.0000, 1.0000, 2.0000, 3.0000, 4.0000],
            [0.0000, 0.5000, 1.0000, 1.5000, 2.0000]], dtype=torch.float64)
    """
    c, bins_per_unit = pitch_warp_constants(bin_coords)
    c = c.to(factor.device)
    inverse_minus_one = (1.0 / factor.to(torch.float64) - 1.0).unsqueeze(-1)
    shift = bins_per_unit * torch.log1p(c * inverse_minus_one)
    steps = torch.arange(c.numel(), dtype=torch.float64, device=c.device)
    return (steps + shift).clamp(0.0, c.numel() - 1.0)


def interpolate_bins(spectrum, positions):
    """Reads ``spectrum`` at fractional bins with linear interpolation.

    Arguments
    ---------
    spectrum : torch.Tensor
        ``[..., F]`` values; broadcastable to the shape of ``positions``.
    positions : torch.Tensor
        ``[..., F]`` positions in ``[0, F - 1]``.

    Returns
    -------
    torch.Tensor
        ``[..., F]``: ``(1 - w) spectrum[i] + w spectrum[i + 1]`` with
        ``i = floor(position)`` and ``w`` its fractional part.

    Example
    -------
    >>> interpolate_bins(torch.tensor([0.0, 10.0, 20.0]),
    ...                  torch.tensor([0.0, 0.25, 2.0], dtype=torch.float64))
    tensor([ 0.0000,  2.5000, 20.0000])
    """
    n_bins = spectrum.shape[-1]
    spectrum = spectrum.expand(positions.shape)
    lower = positions.floor().clamp(max=n_bins - 1)
    weight = (positions - lower).to(spectrum.dtype)
    lower = lower.long()
    upper = (lower + 1).clamp(max=n_bins - 1)
    below = spectrum.gather(-1, lower)
    above = spectrum.gather(-1, upper)
    return (1.0 - weight) * below + weight * above


def pitch_shift(spectrum, factor, bin_coords):
    """Shifts the pitch of log-mel frames by a factor (eq. 2).

    Arguments
    ---------
    spectrum : torch.Tensor
        Log-mel frames ``[..., F]``.
    factor : torch.Tensor
        Pitch factors ``[...]`` (2.0 is an octave up; 1.0 is the identity).
    bin_coords : torch.Tensor
        Bin coordinates ``[F]``: mel centres for the mel-aware shift, or
        ``linspace(0, 1, F)`` for the authors' near-linear stretch.

    Returns
    -------
    torch.Tensor
        Shifted frames ``[..., F]``.

    Example
    -------
    >>> frame = torch.tensor([[0.0, 0.0, 1.0, 0.0, 0.0]])
    >>> octave_down = torch.tensor([0.5])
    >>> pitch_shift(frame, octave_down, torch.linspace(0, 1, 5)).round(decimals=2)
    tensor([[0., 1., 0., 0., 0.]])
    """
    return interpolate_bins(spectrum, pitch_positions(factor, bin_coords))


def _hinge(distance, shape):
    """Knee function of the filters: relu, or the authors' softplus."""
    if shape == "hinge":
        return torch.relu(distance)
    if shape == "softplus":
        return torch.nn.functional.softplus(
            distance, beta=SOFTPLUS_SHARPNESS, threshold=SOFTPLUS_THRESHOLD
        )
    raise ValueError(f"filter shape must be one of {FILTER_SHAPES}; got {shape!r}")


def filter_response(cutoff, slope, unit_freqs, side, shape="hinge"):
    """Log-domain response of a low or high frequency filter.

    ``low``: slope * h(2 (cutoff - f)); ``high``: slope * h(2 (f - cutoff)),
    with f the bin's frequency in [0, 1] (bin index / (F - 1)) and h the
    knee function of ``shape``. A positive slope boosts the filtered side, a
    negative one attenuates it; the passband side stays (almost, for
    ``softplus``) untouched.

    Arguments
    ---------
    cutoff : torch.Tensor
        Cutoffs ``[...]`` in [0, 1] of the bin axis.
    slope : torch.Tensor
        Slopes ``[...]``: the response half the band away from the cutoff.
    unit_freqs : torch.Tensor
        ``[F]`` bin frequencies in [0, 1].
    side : str
        ``"low"`` or ``"high"``.
    shape : str
        ``"hinge"`` or ``"softplus"``.

    Returns
    -------
    torch.Tensor
        ``[..., F]`` response to add to the spectrum.

    Example
    -------
    >>> filter_response(torch.tensor(0.5), torch.tensor(-1.0),
    ...                 torch.linspace(0, 1, 5), "low")
    tensor([-1.0000, -0.5000, -0.0000, -0.0000, -0.0000])
    """
    if side == "low":
        distance = cutoff.unsqueeze(-1) - unit_freqs
    elif side == "high":
        distance = unit_freqs - cutoff.unsqueeze(-1)
    else:
        raise ValueError(f"side must be 'low' or 'high'; got {side!r}")
    return slope.unsqueeze(-1) * _hinge(FILTER_SPAN * distance, shape)


def low_filter(spectrum, cutoff, slope, unit_freqs, shape="hinge"):
    """Adds a low-frequency filter (eq. 3); see :func:`filter_response`.

    Example
    -------
    >>> low_filter(torch.zeros(3), torch.tensor(1.0), torch.tensor(0.5),
    ...            torch.linspace(0, 1, 3))
    tensor([1.0000, 0.5000, 0.0000])
    """
    return spectrum + filter_response(cutoff, slope, unit_freqs, "low", shape)


def high_filter(spectrum, cutoff, slope, unit_freqs, shape="hinge"):
    """Adds a high-frequency filter (eq. 4); see :func:`filter_response`.

    Example
    -------
    >>> high_filter(torch.zeros(3), torch.tensor(0.0), torch.tensor(0.5),
    ...             torch.linspace(0, 1, 3))
    tensor([0.0000, 0.5000, 1.0000])
    """
    return spectrum + filter_response(cutoff, slope, unit_freqs, "high", shape)


class TransformParams(NamedTuple):
    """Per-frame transformation parameters; ``None`` when inactive.

    Arguments
    ---------
    gain : torch.Tensor, optional
        Gains ``[B, T, K]``.
    factor : torch.Tensor, optional
        Pitch factors ``[B, T, K]``.
    filters : torch.Tensor, optional
        ``[B, T, K, 4]``: low cutoff, low slope, high cutoff, high slope.

    Example
    -------
    >>> params = TransformParams(gain=torch.rand(2, 5, 3))
    >>> params.select(torch.tensor([0, 2])).gain.shape
    torch.Size([2, 5])
    """

    gain: Optional[torch.Tensor] = None
    factor: Optional[torch.Tensor] = None
    filters: Optional[torch.Tensor] = None

    def select(self, choice):
        """Parameters of one prototype per clip: ``[B, T, K, ...]`` to
        ``[B, T, ...]``, where ``choice`` is a long tensor ``[B]``."""

        def pick(values):
            if values is None:
                return None
            index = choice.view(-1, 1, 1).expand(-1, values.shape[1], 1)
            if values.dim() == 4:
                index = index.unsqueeze(-1).expand(-1, -1, -1, values.shape[-1])
            return values.gather(2, index).squeeze(2)

        return TransformParams(*(pick(values) for values in self))


class SpectralTransforms(torch.nn.Module):
    """Constants of the transformations for one mel layout, and eq. 5.

    Arguments
    ---------
    n_mels : int
        Number of mel bins F.
    sample_rate : int
        Sample rate of the features (for the mel-aware pitch shift).
    f_min : float
        Lowest filterbank frequency in Hz.
    f_max : float, optional
        Highest filterbank frequency in Hz (default: Nyquist).
    pitch_warp : str
        ``"mel"`` (default): the pitch shift works in real mel units, so a
        factor multiplies frequencies in Hz. ``"linear"``: the authors' code,
        which applies the formula to bins scaled to [0, 1] (nearly a linear
        stretch of the mel axis).
    filter_shape : str
        ``"hinge"`` (default) or ``"softplus"`` (see module docstring).

    Example
    -------
    >>> transforms = SpectralTransforms(n_mels=8, sample_rate=16000)
    >>> prototypes = torch.rand(3, 8)
    >>> params = TransformParams(gain=torch.zeros(2, 5, 3),
    ...                          factor=torch.ones(2, 5, 3),
    ...                          filters=torch.zeros(2, 5, 3, 4))
    >>> out = transforms(prototypes, params)
    >>> out.shape, bool((out == prototypes).all())
    (torch.Size([2, 5, 3, 8]), True)
    """

    def __init__(
        self,
        n_mels,
        sample_rate,
        f_min=0.0,
        f_max=None,
        pitch_warp="mel",
        filter_shape="hinge",
    ):
        super().__init__()
        if pitch_warp not in PITCH_WARPS:
            raise ValueError(
                f"pitch_warp must be one of {PITCH_WARPS}; got {pitch_warp!r}"
            )
        if filter_shape not in FILTER_SHAPES:
            raise ValueError(
                f"filter_shape must be one of {FILTER_SHAPES}; got {filter_shape!r}"
            )
        self.pitch_warp = pitch_warp
        self.filter_shape = filter_shape
        unit_freqs = torch.linspace(0.0, 1.0, n_mels, dtype=torch.float64)
        if pitch_warp == "mel":
            bin_coords = mel_bin_centers(n_mels, sample_rate, f_min, f_max)
        else:
            bin_coords = unit_freqs
        self.register_buffer("bin_coords", bin_coords, persistent=False)
        self.register_buffer("unit_freqs", unit_freqs, persistent=False)
        # The fused kernels' warp constants, computed here on the CPU: from a
        # buffer on a GPU, the spacing would be a host sync on every forward.
        warp_c, self.bins_per_unit = pitch_warp_constants(bin_coords)
        self.register_buffer("warp_c", warp_c, persistent=False)

    def forward(self, spectrum, params):
        """Applies gain, pitch, low and high filters in that order (eq. 5).

        Arguments
        ---------
        spectrum : torch.Tensor
            Frames ``[..., F]`` (e.g. prototypes ``[K, F]``), broadcastable
            against the parameters' shape.
        params : TransformParams
            Parameters ``[...]`` (``[..., 4]`` for filters); inactive ones are
            ``None`` and skipped.

        Returns
        -------
        torch.Tensor
            Transformed frames.
        """
        out = spectrum
        if params.gain is not None:
            out = gain(out, params.gain)
        if params.factor is not None:
            out = pitch_shift(out, params.factor, self.bin_coords)
        if params.filters is not None:
            unit_freqs = self.unit_freqs.to(out.dtype)
            low_cut, low_slope, high_cut, high_slope = params.filters.unbind(-1)
            out = low_filter(out, low_cut, low_slope, unit_freqs, self.filter_shape)
            out = high_filter(out, high_cut, high_slope, unit_freqs, self.filter_shape)
        return out
