"""Training-time feature augmentation of the authors' code.

Three independent, switchable perturbations of a batch of normalised log-mel
features, applied in this order:

1. *stretch*: a random linear stretch of the mel axis per clip (factor
   exp(stretch_std * N(0, 1)); output bin i reads input position
   s (i + 0.5) - 0.5, edge bins repeated), as ``grid_sample`` does it in the
   authors' code;
2. *bias*: one random offset per clip (``bias_std * N(0, 1)``, 0.05 is about
   8.5 dB);
3. *noise*: independent noise on every bin (``noise_std * N(0, 1)``).

Authors
 * speechbrain-protos developers 2026
"""

import torch

from speechbrain_protos.transforms import interpolate_bins


class FeatureAugmentation(torch.nn.Module):
    """Random mel-axis stretch, per-clip bias and per-bin noise.

    Arguments
    ---------
    stretch_std : float
        Standard deviation of the log stretch factor (official 0.15); 0 off.
    bias_std : float
        Standard deviation of the per-clip offset (official 0.05); 0 off.
    noise_std : float
        Standard deviation of the per-bin noise (official 0.01); 0 off.

    Example
    -------
    >>> augment = FeatureAugmentation(stretch_std=0.0, bias_std=0.0, noise_std=0.0)
    >>> feats = torch.rand(2, 10, 16)
    >>> torch.equal(augment(feats), feats)
    True
    >>> FeatureAugmentation()(feats).shape
    torch.Size([2, 10, 16])
    """

    def __init__(self, stretch_std=0.15, bias_std=0.05, noise_std=0.01):
        super().__init__()
        for name, value in (
            ("stretch_std", stretch_std),
            ("bias_std", bias_std),
            ("noise_std", noise_std),
        ):
            if value < 0:
                raise ValueError(f"{name} must be >= 0; got {value}")
        self.stretch_std = stretch_std
        self.bias_std = bias_std
        self.noise_std = noise_std

    def forward(self, feats):
        """Augments ``[B, T, F]`` features (use in training only)."""
        batch, n_frames, n_bins = feats.shape
        if self.stretch_std > 0:
            factor = torch.exp(
                self.stretch_std * torch.randn(batch, 1, device=feats.device)
            ).to(torch.float64)
            centres = torch.arange(n_bins, dtype=torch.float64, device=feats.device)
            positions = (factor * (centres + 0.5) - 0.5).clamp(0.0, n_bins - 1.0)
            positions = positions.unsqueeze(1).expand(batch, n_frames, n_bins)
            feats = interpolate_bins(feats, positions)
        if self.bias_std > 0:
            feats = feats + self.bias_std * torch.randn(
                batch, 1, 1, device=feats.device, dtype=feats.dtype
            )
        if self.noise_std > 0:
            feats = feats + self.noise_std * torch.randn_like(feats)
        return feats
