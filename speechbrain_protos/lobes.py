"""The prototype reconstructor: encoder, transformation decoders, prototypes.

Architecture of the paper (sec. 3.4) as the authors built it:

* :class:`SpectroTemporalEncoder`: 2-D convolutions over (mel, time), halving
  both axes ``n_pools`` times; at every level a full-height convolution
  ("learned spectral pooling") collapses the mel axis into a few channels
  that the decoders use as skip connections.
* :class:`TransformDecoder`: a 1-D U-Net decoder over time, one per
  transformation, ending in a 1x1 head with ``n_outputs * K`` channels
  (prototype-major: channel ``k * n_outputs + p``).
* :class:`PrototypeReconstructor`: K prototype frames, the inverse temperature
  beta, and the decoders for gain, pitch and filters. Its forward gives the
  reconstruction error of every clip by every prototype.

Every block is convolution, ReLU, then batch norm (the authors' order); 3x3
and k=3 convolutions pad by reflection.

Authors
 * speechbrain-protos developers 2026
"""

import math

import torch
from torch import nn

from speechbrain_protos.lengths import (
    check_relative_lengths,
    frame_counts,
    reflect_indices,
)
from speechbrain_protos.precision import full_precision
from speechbrain_protos.reconstruction import (
    reconstruct_chosen,
    reconstruction_errors,
)
from speechbrain_protos.transforms import SpectralTransforms, TransformParams

TRANSFORMS = ("gain", "pitch", "filters")
OUTPUTS_PER_PROTOTYPE = {"gain": 1, "pitch": 1, "filters": 4}
HEAD_INIT_STD = 1e-5  # heads start near zero: transforms start near identity
TYPICAL_MOMENTUM = 0.05  # running means of the transformations (authors' value)
NEUTRAL_FILTERS = (0.5, 0.0, 0.5, 0.0)  # what the filter head gives at zero


def _conv_relu_bn(conv, channels, batch_norm):
    """A convolution followed by ReLU then batch norm."""
    return nn.Sequential(conv, nn.ReLU(), batch_norm(channels))


class SpectralLevel(nn.Module):
    """One encoder level: a 3x3 convolution and a mel-collapsing skip.

    Arguments
    ---------
    in_channels : int
        Input channels.
    out_channels : int
        Channels of the 3x3 convolution.
    n_bins : int
        Mel bins at this level (height of the collapsing convolution).
    skip_channels : int
        Channels of the collapsed skip output.
    downsample : bool
        Whether to halve both axes with a 2x2 stride-2 convolution.

    Example
    -------
    >>> level = SpectralLevel(1, 8, 32, 2, downsample=True)
    >>> down, skip = level(torch.rand(3, 1, 32, 16))
    >>> down.shape, skip.shape
    (torch.Size([3, 8, 16, 8]), torch.Size([3, 2, 16]))
    """

    def __init__(self, in_channels, out_channels, n_bins, skip_channels, downsample):
        super().__init__()
        self.conv = _conv_relu_bn(
            nn.Conv2d(in_channels, out_channels, 3, padding=1, padding_mode="reflect"),
            out_channels,
            nn.BatchNorm2d,
        )
        self.collapse = _conv_relu_bn(
            nn.Conv2d(out_channels, skip_channels, (n_bins, 1)),
            skip_channels,
            nn.BatchNorm2d,
        )
        self.down = (
            _conv_relu_bn(
                nn.Conv2d(out_channels, out_channels, 2, stride=2),
                out_channels,
                nn.BatchNorm2d,
            )
            if downsample
            else None
        )

    def forward(self, maps):
        """Returns (next level's maps or None, skip ``[B, C, T]``)."""
        maps = self.conv(maps)
        skip = self.collapse(maps).squeeze(2)
        return (self.down(maps) if self.down is not None else None), skip


class SpectroTemporalEncoder(nn.Module):
    """Shared encoder: mel-collapsed feature maps at every time resolution.

    Arguments
    ---------
    n_mels : int
        Mel bins F (divisible by ``2 ** n_pools``).
    start_dim : int
        Channels of the first level; doubled at every level.
    n_pools : int
        Number of halvings of both axes.
    skip_channels : int
        Channels of each collapsed skip connection.

    Example
    -------
    >>> encoder = SpectroTemporalEncoder(n_mels=32, start_dim=4, n_pools=2)
    >>> bottleneck, skips = encoder(torch.rand(3, 1, 32, 8))
    >>> bottleneck.shape, [tuple(s.shape) for s in skips]
    (torch.Size([3, 8, 2]), [(3, 2, 8), (3, 2, 4)])
    """

    def __init__(self, n_mels=128, start_dim=8, n_pools=4, skip_channels=2):
        super().__init__()
        if n_mels % 2**n_pools:
            raise ValueError(
                f"n_mels ({n_mels}) must be divisible by 2 ** n_pools ({2**n_pools})"
            )
        self.width = start_dim * 2 ** (n_pools - 1)
        levels = []
        in_channels = 1
        for level in range(n_pools):
            out_channels = start_dim * 2**level
            levels.append(
                SpectralLevel(
                    in_channels,
                    out_channels,
                    n_mels // 2**level,
                    skip_channels,
                    downsample=True,
                )
            )
            in_channels = out_channels
        levels.append(
            SpectralLevel(
                in_channels,
                2 * in_channels,
                n_mels // 2**n_pools,
                self.width,
                downsample=False,
            )
        )
        self.levels = nn.ModuleList(levels)

    def forward(self, maps):
        """Encodes ``[B, 1, F, T]`` (T divisible by ``2 ** n_pools``).

        Returns the bottleneck ``[B, width, T / 2 ** n_pools]`` and the skips,
        finest first (``[B, skip_channels, T / 2 ** r]``).
        """
        skips = []
        for level in self.levels:
            maps, skip = level(maps)
            skips.append(skip)
        return skips[-1], skips[:-1]


class TransformDecoder(nn.Module):
    """1-D U-Net decoder from the encoder's maps to per-frame outputs.

    Arguments
    ---------
    width : int
        Channels of the bottleneck and of every decoder level.
    n_pools : int
        Number of upsamplings (the encoder's number of poolings).
    skip_channels : int
        Channels of each skip connection.
    n_outputs : int
        Output channels (``values_per_prototype * K``).

    Example
    -------
    >>> decoder = TransformDecoder(width=8, n_pools=2, skip_channels=2, n_outputs=6)
    >>> skips = [torch.rand(3, 2, 8), torch.rand(3, 2, 4)]
    >>> decoder(torch.rand(3, 8, 2), skips).shape
    torch.Size([3, 6, 8])
    """

    def __init__(self, width, n_pools, skip_channels, n_outputs):
        super().__init__()
        self.ups = nn.ModuleList(
            nn.Sequential(
                _conv_relu_bn(
                    nn.Conv1d(width, width, 3, padding=1, padding_mode="reflect"),
                    width,
                    nn.BatchNorm1d,
                ),
                _conv_relu_bn(
                    nn.ConvTranspose1d(width, width - skip_channels, 2, stride=2),
                    width - skip_channels,
                    nn.BatchNorm1d,
                ),
            )
            for _ in range(n_pools)
        )
        self.regressor = _conv_relu_bn(
            nn.Conv1d(width, width, 3, padding=1, padding_mode="reflect"),
            width,
            nn.BatchNorm1d,
        )
        self.head = nn.Conv1d(width, n_outputs, 1)

    def forward(self, bottleneck, skips):
        """Decodes to ``[B, n_outputs, T]``; skips finest first."""
        hidden = bottleneck
        for up, skip in zip(self.ups, reversed(skips)):
            hidden = torch.cat([up(hidden), skip], dim=1)
        return self.head(self.regressor(hidden))


def reflect_pad_frames(feats, counts, n_frames):
    """Fills each clip's frames past its length by reflecting the clip.

    Frame j of clip b reads frame ``reflect(j)`` of the clip's own valid
    frames, so whatever padding the batch held is overwritten and each clip
    looks to the encoder as it would alone.

    Arguments
    ---------
    feats : torch.Tensor
        ``[B, T, F]`` features.
    counts : torch.Tensor
        Long ``[B]`` valid frame counts.
    n_frames : int
        Output length (>= T).

    Returns
    -------
    torch.Tensor
        ``[B, n_frames, F]``.

    Example
    -------
    >>> feats = torch.arange(4.0).view(1, 4, 1)
    >>> reflect_pad_frames(feats, torch.tensor([3]), 7).flatten()
    tensor([0., 1., 2., 1., 0., 1., 2.])
    """
    index = reflect_indices(counts, n_frames)
    index = index.unsqueeze(-1).expand(-1, -1, feats.shape[-1])
    return feats.gather(1, index)


class PrototypeReconstructor(nn.Module):
    """K playable prototypes and the networks that bend them to an input.

    For every frame and prototype the decoders predict a gain, a pitch
    factor, and low/high filters (cutoff, slope); the reconstruction of clip
    x by prototype k is R_k(x) = high(low(pitch(gain(P_k)))) (eq. 5). The
    forward pass returns the error matrix ``[B, K]`` of eq. 6 (mean over
    valid frames and mel bins), without materialising the reconstructions.

    Arguments
    ---------
    n_prototypes : int
        Number of prototypes K (one per class in supervised mode).
    n_mels : int
        Mel bins F, divisible by ``2 ** n_pools``.
    sample_rate : int
        Sample rate of the features (sets the mel-aware pitch shift).
    f_min : float
        Lowest filterbank frequency of the features, in Hz.
    f_max : float, optional
        Highest filterbank frequency of the features, in Hz.
    start_dim : int
        Channels of the first encoder level (paper: 8).
    n_pools : int
        Encoder poolings (paper: 4).
    skip_channels : int
        Channels of each mel-collapsed skip (paper: 2).
    gain_scale : float
        Gains are ``gain_scale * tanh(.)`` (paper code: 0.5).
    pitch_scale : float
        Pitch factors are ``exp(pitch_scale * tanh(.))`` (paper code: 1.0).
    filter_scale : float
        Filter slopes and cutoff offsets are ``filter_scale * tanh(.)``;
        cutoffs are 0.5 minus the offset (paper code: 0.25).
    pitch_warp : str
        ``"mel"`` (true mel-aware shift) or ``"linear"`` (the authors' code).
    filter_shape : str
        ``"hinge"`` (paper's affine filter) or ``"softplus"`` (authors' code).
    beta_init : float
        Initial raw inverse temperature; beta = softplus(raw) (paper: -4).
    active_transforms : sequence of str
        Transforms applied at start, a subset of ("gain", "pitch", "filters").
    reconstruction_impl : str
        ``"fused"`` (memory-light, default) or ``"reference"``.
    typical_momentum : float
        Momentum of the running means of each prototype's transformations
        (see :meth:`typical_params`), updated by every training forward.

    Example
    -------
    >>> model = PrototypeReconstructor(n_prototypes=3, n_mels=32, start_dim=4)
    >>> feats = torch.rand(2, 21, 32)
    >>> errors = model(feats, torch.tensor([1.0, 0.6]))
    >>> errors.shape
    torch.Size([2, 3])
    >>> model.reconstruct(feats, errors.argmin(dim=1)).shape
    torch.Size([2, 21, 32])
    >>> model.active_transforms = ["gain"]
    >>> model.active_transforms
    ('gain',)
    """

    def __init__(
        self,
        n_prototypes,
        n_mels=128,
        sample_rate=16000,
        f_min=0.0,
        f_max=None,
        start_dim=8,
        n_pools=4,
        skip_channels=2,
        gain_scale=0.5,
        pitch_scale=1.0,
        filter_scale=0.25,
        pitch_warp="mel",
        filter_shape="hinge",
        beta_init=-4.0,
        active_transforms=TRANSFORMS,
        reconstruction_impl="fused",
        typical_momentum=TYPICAL_MOMENTUM,
    ):
        super().__init__()
        if n_prototypes < 1:
            raise ValueError(f"n_prototypes must be >= 1; got {n_prototypes}")
        # Constructor arguments (see the config property).
        self._arguments = {
            "n_prototypes": n_prototypes,
            "n_mels": n_mels,
            "sample_rate": sample_rate,
            "f_min": f_min,
            "f_max": f_max,
            "start_dim": start_dim,
            "n_pools": n_pools,
            "skip_channels": skip_channels,
            "gain_scale": gain_scale,
            "pitch_scale": pitch_scale,
            "filter_scale": filter_scale,
            "pitch_warp": pitch_warp,
            "filter_shape": filter_shape,
            "beta_init": beta_init,
            "reconstruction_impl": reconstruction_impl,
            "typical_momentum": typical_momentum,
        }
        self.typical_momentum = typical_momentum
        self.n_prototypes = n_prototypes
        self.n_mels = n_mels
        self.n_pools = n_pools
        self.scales = {
            "gain": gain_scale,
            "pitch": pitch_scale,
            "filters": filter_scale,
        }
        self.reconstruction_impl = reconstruction_impl
        self.prototypes = nn.Parameter(0.5 + 0.01 * torch.randn(n_prototypes, n_mels))
        self.beta_raw = nn.Parameter(torch.tensor(float(beta_init)))
        self.encoder = SpectroTemporalEncoder(n_mels, start_dim, n_pools, skip_channels)
        self.decoders = nn.ModuleDict(
            {
                name: TransformDecoder(
                    self.encoder.width,
                    n_pools,
                    skip_channels,
                    OUTPUTS_PER_PROTOTYPE[name] * n_prototypes,
                )
                for name in TRANSFORMS
            }
        )
        for decoder in self.decoders.values():
            nn.init.normal_(decoder.head.weight, 0.0, HEAD_INIT_STD)
            nn.init.normal_(decoder.head.bias, 0.0, HEAD_INIT_STD)
        self.transforms = SpectralTransforms(
            n_mels, sample_rate, f_min, f_max, pitch_warp, filter_shape
        )
        self.register_buffer(
            "transform_active", torch.zeros(len(TRANSFORMS), dtype=torch.bool)
        )
        self.active_transforms = active_transforms
        # Running means of the transformations each prototype is used with:
        # gain, log pitch factor, and filters (cutoff, slope, cutoff, slope).
        self.register_buffer("typical_gain", torch.zeros(n_prototypes))
        self.register_buffer("typical_log_factor", torch.zeros(n_prototypes))
        self.register_buffer(
            "typical_filters", torch.tensor(NEUTRAL_FILTERS).repeat(n_prototypes, 1)
        )

    def typical_buffers(self):
        """The running-mean buffers, one row per prototype."""
        return (self.typical_gain, self.typical_log_factor, self.typical_filters)

    @property
    def config(self):
        """Constructor arguments that rebuild this model as it is now (the
        transforms in use included), as an inference YAML writes them.

        Example
        -------
        >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
        >>> model.active_transforms = ["gain"]
        >>> model.config["active_transforms"], model.config["n_prototypes"]
        (['gain'], 2)
        """
        return {**self._arguments, "active_transforms": list(self.active_transforms)}

    @property
    def active_transforms(self):
        """Names of the transforms in use, in the paper's order."""
        return tuple(
            name for name, on in zip(TRANSFORMS, self.transform_active.tolist()) if on
        )

    @active_transforms.setter
    def active_transforms(self, names):
        if isinstance(names, str):
            names = (names,)
        unknown = set(names) - set(TRANSFORMS)
        if unknown:
            raise ValueError(
                f"unknown transforms {sorted(unknown)}; expected names from "
                f"{TRANSFORMS}"
            )
        flags = torch.tensor([name in names for name in TRANSFORMS])
        self.transform_active.copy_(flags)

    @property
    def beta(self):
        """Inverse temperature of L_ce: softplus of the raw parameter."""
        return nn.functional.softplus(self.beta_raw)

    def _check_feats(self, feats, lengths):
        if feats.dim() != 3 or feats.shape[-1] != self.n_mels:
            raise ValueError(
                f"expected features [batch, frames, {self.n_mels}]; got shape "
                f"{list(feats.shape)}"
            )
        if feats.shape[0] == 0 or feats.shape[1] == 0:
            raise ValueError(f"empty feature batch: shape {list(feats.shape)}")
        lengths = check_relative_lengths(lengths, feats.shape[0]).to(feats.device)
        return frame_counts(lengths, feats.shape[1])

    @torch.no_grad()
    def load_prototypes(self, source):
        """Takes another model's prototypes and their typical transforms.

        The networks stay as they are: this swaps the sounds a model
        reconstructs with, e.g. to hear one model's decoders drive another
        model's prototypes.

        Arguments
        ---------
        source : PrototypeReconstructor or dict
            A model of the same K and F, or its state dict.

        Example
        -------
        >>> a = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
        >>> b = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
        >>> b.load_prototypes(a)
        >>> torch.equal(a.prototypes, b.prototypes)
        True
        """
        state = source.state_dict() if isinstance(source, nn.Module) else source
        names = ("prototypes", "typical_gain", "typical_log_factor", "typical_filters")
        own = self.state_dict()
        for name in names:
            if name not in state:
                raise ValueError(f"the source has no {name}")
            if state[name].shape != own[name].shape:
                raise ValueError(
                    f"{name} has shape {list(state[name].shape)} in the source, "
                    f"{list(own[name].shape)} here: models must have the same "
                    "number of prototypes and mel bins"
                )
        for name in names:
            own[name].copy_(state[name])

    def typical_prototypes(self, pitch=1.0, prototypes=None):
        """Every prototype through its typical transformations, ``[K, F]``.

        Arguments
        ---------
        pitch : float
            Extra pitch factor (see :meth:`typical_params`).
        prototypes : torch.Tensor, optional
            ``[K, F]`` frames to transform instead of the model's own.

        Example
        -------
        >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2)
        >>> torch.allclose(model.typical_prototypes(), model.prototypes, atol=1e-6)
        True
        """
        params = self.typical_params(1, pitch=pitch)
        everyone = TransformParams(
            *(
                None
                if values is None
                else values.expand(self.n_prototypes, -1, *values.shape[2:])
                for values in params
            )
        )
        choice = torch.arange(self.n_prototypes, device=self.prototypes.device)
        frames = self.prototypes if prototypes is None else prototypes
        return reconstruct_chosen(frames, everyone, choice, self.transforms, 1)[:, 0]

    def predict_transforms(self, feats, lengths=None):
        """Per-frame parameters of every active transform for every prototype.

        Arguments
        ---------
        feats : torch.Tensor
            ``[B, T, F]`` normalised log-mel features.
        lengths : torch.Tensor, optional
            Relative lengths ``[B]``.

        Returns
        -------
        TransformParams
            ``[B, T, K]`` gains and pitch factors, ``[B, T, K, 4]`` filters;
            ``None`` for inactive transforms (their decoders do not run).
        """
        return self._predict(feats, self._check_feats(feats, lengths))

    def _encoder_frames(self, frames):
        """Frames the encoder gets for a clip of ``frames`` frames (int or
        long tensor): a multiple of ``2 ** n_pools``, at least two of them."""
        multiple = 2**self.n_pools
        # (a + m - 1) // m, not -(-a // m): ONNX divides negatives towards 0
        padded = (frames + multiple - 1) // multiple * multiple
        if torch.is_tensor(padded):
            return padded.clamp_min(2 * multiple)
        return max(padded, 2 * multiple)

    def _decode(self, active, feats, counts, padded):
        """Raw decoder outputs ``{name: [B, C, padded]}`` (float32), each
        clip reflected past its own end to ``padded`` frames."""
        maps = reflect_pad_frames(feats, counts, padded)
        maps = (2.0 * maps - 1.0).transpose(1, 2).unsqueeze(1)
        bottleneck, skips = self.encoder(maps)
        # float32 from here on, also when the networks run in bf16/fp16
        return {
            name: full_precision(self.decoders[name](bottleneck, skips))
            for name in active
        }

    def _decode_as_alone(self, active, feats, counts):
        """Raw decoder outputs ``{name: [B, C, T]}`` in which every clip's
        frames are those it gets alone.

        Alone, a clip of n frames is reflected to ``_encoder_frames(n)``
        frames, and the convolutions' own padding at that end shapes its
        last frames. Clips are therefore encoded in groups of equal encoder
        length, so a batch-mate's length never changes a clip's result.
        """
        n_frames = feats.shape[1]
        lengths = self._encoder_frames(counts)
        groups = lengths.unique().tolist()
        if len(groups) == 1 and groups[0] >= n_frames:
            return self._decode(active, feats, counts, groups[0])
        outputs = {}
        for padded in groups:
            members = (lengths == padded).nonzero().flatten()
            decoded = self._decode(active, feats[members], counts[members], padded)
            for name, raw in decoded.items():
                if name not in outputs:
                    shape = (feats.shape[0], raw.shape[1], n_frames)
                    outputs[name] = raw.new_zeros(shape)
                kept = min(padded, n_frames)
                outputs[name][members, :, :kept] = raw[..., :kept]
        return outputs

    def _predict(self, feats, counts):
        active = self.active_transforms
        if not active:
            return TransformParams()
        if self.training:  # batch norm's statistics span the whole batch
            decoded = self._decode(
                active, feats, counts, self._encoder_frames(feats.shape[1])
            )
        else:
            decoded = self._decode_as_alone(active, feats, counts)
        return self._transform_params(decoded, feats.shape[0], feats.shape[1])

    def _transform_params(self, decoded, batch, n_frames):
        """TransformParams from raw decoder outputs ``{name: [B, C, >= T]}``."""
        outputs = {}
        for name, raw in decoded.items():
            raw = raw[..., :n_frames]
            raw = raw.transpose(1, 2).reshape(batch, n_frames, self.n_prototypes, -1)
            outputs[name] = self.scales[name] * torch.tanh(raw)
        filters = outputs.get("filters")
        if filters is not None:
            low_offset, low_slope, high_offset, high_slope = filters.unbind(-1)
            filters = torch.stack(
                [0.5 - low_offset, low_slope, 0.5 - high_offset, high_slope], dim=-1
            )
        return TransformParams(
            gain=outputs["gain"][..., 0] if "gain" in outputs else None,
            factor=torch.exp(outputs["pitch"][..., 0]) if "pitch" in outputs else None,
            filters=filters,
        )

    def forward(self, feats, lengths=None, return_beta=False):
        """Reconstruction error of every clip by every prototype (eq. 6).

        Arguments
        ---------
        feats : torch.Tensor
            ``[B, T, F]`` normalised log-mel features, any T.
        lengths : torch.Tensor, optional
            Relative lengths ``[B]`` in (0, 1]; padded frames are ignored.
        return_beta : bool
            Also return beta. A training loop wrapped in
            ``DistributedDataParallel`` must take beta from the forward
            output for its gradient to be synchronised.

        Returns
        -------
        errors : torch.Tensor
            ``[B, K]``: mean over valid frames and mel bins of
            ``(x - R_k(x)) ** 2``.
        beta : torch.Tensor
            The inverse temperature (only with ``return_beta``).
        """
        counts = self._check_feats(feats, lengths)
        params = self._predict(feats, counts)
        errors = reconstruction_errors(
            feats,
            self.prototypes,
            params,
            self.transforms,
            counts,
            impl=self.reconstruction_impl,
        )
        if self.training:
            self._update_typical(params, errors.detach().argmin(dim=1), counts)
        return (errors, self.beta) if return_beta else errors

    @torch.no_grad()
    def _update_typical(self, params, choice, counts):
        """Moves each used prototype's running means towards the time-mean
        transformations of the clips it reconstructs best."""
        selected = params.select(choice)
        log_factor = None if selected.factor is None else selected.factor.log()
        # No boolean indexing and no bincount: on a GPU each would wait for
        # the device (a data-dependent shape, a read of the largest index).
        used = torch.zeros(self.n_prototypes, device=choice.device)
        used.index_add_(0, choice, torch.ones_like(choice, dtype=used.dtype))
        seen = used > 0
        for values, buffer in (
            (selected.gain, self.typical_gain),
            (log_factor, self.typical_log_factor),
            (selected.filters, self.typical_filters),
        ):
            if values is None:
                continue
            frames = torch.arange(values.shape[1], device=counts.device)
            valid = (frames < counts[:, None]).to(values.dtype)
            valid = valid.view(*valid.shape, *[1] * (values.dim() - 2))
            clip_means = (values * valid).sum(dim=1) / valid.sum(dim=1)
            sums = torch.zeros_like(buffer).index_add_(0, choice, clip_means.to(buffer))
            shape = (-1, *[1] * (buffer.dim() - 1))
            means = sums / used.clamp(min=1).view(shape).to(buffer)
            step = torch.where(seen.view(shape), means - buffer, 0.0)
            buffer += self.typical_momentum * step

    def typical_params(self, n_frames, pitch=1.0, gain=0.0):
        """Each prototype's running-mean transformations held over time.

        Arguments
        ---------
        n_frames : int
            Frames T to hold them for.
        pitch : float
            Extra pitch factor on top of the typical one (2.0: an octave up).
        gain : float
            Extra gain in normalised log-mel units, on top of the typical one.

        Returns
        -------
        TransformParams
            ``[1, T, K]`` gains and factors, ``[1, T, K, 4]`` filters, for the
            active transforms (pitch and gain extras apply even when the
            model's own pitch or gain transform is off).

        Example
        -------
        >>> model = PrototypeReconstructor(2, n_mels=32, start_dim=4, n_pools=2,
        ...                                active_transforms=["filters"])
        >>> params = model.typical_params(5, pitch=2.0)
        >>> params.factor[0, :, 0]
        tensor([2., 2., 2., 2., 2.])
        >>> params.gain is None, params.filters.shape
        (True, torch.Size([1, 5, 2, 4]))
        """
        active = self.active_transforms

        def held(values):
            return (
                values.unsqueeze(0)
                .unsqueeze(0)
                .expand(1, n_frames, *values.shape)
                .clone()
            )

        gain_values = self.typical_gain if "gain" in active else None
        if gain:
            gain_values = (
                0.0 if gain_values is None else gain_values
            ) + torch.full_like(self.typical_gain, float(gain))
        log_factor = self.typical_log_factor if "pitch" in active else None
        if pitch != 1.0:
            if pitch <= 0:
                raise ValueError(f"pitch must be a positive factor; got {pitch}")
            log_factor = (0.0 if log_factor is None else log_factor) + torch.full_like(
                self.typical_log_factor, math.log(pitch)
            )
        return TransformParams(
            gain=None if gain_values is None else held(gain_values),
            factor=None if log_factor is None else held(log_factor.exp()),
            filters=held(self.typical_filters) if "filters" in active else None,
        )

    def reconstruct(self, feats, choice, lengths=None):
        """Reconstruction of each clip by one chosen prototype.

        Arguments
        ---------
        feats : torch.Tensor
            ``[B, T, F]`` features.
        choice : torch.Tensor
            Long ``[B]``: the prototype to reconstruct each clip with.
        lengths : torch.Tensor, optional
            Relative lengths ``[B]``.

        Returns
        -------
        torch.Tensor
            ``[B, T, F]`` reconstructions (padded frames included).
        """
        choice = torch.as_tensor(choice, device=feats.device).reshape(-1).long()
        if choice.shape[0] != feats.shape[0]:
            raise ValueError(
                f"expected one prototype index per clip ({feats.shape[0]}); got "
                f"{choice.shape[0]}"
            )
        if ((choice < 0) | (choice >= self.n_prototypes)).any():
            raise ValueError(
                f"prototype indices must lie in [0, {self.n_prototypes}); got "
                f"{choice.tolist()}"
            )
        params = self.predict_transforms(feats, lengths)
        return reconstruct_chosen(
            self.prototypes, params, choice, self.transforms, feats.shape[1]
        )
