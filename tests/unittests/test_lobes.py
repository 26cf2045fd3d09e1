"""PrototypeReconstructor: size, shapes, masking, switches, learning."""

import pytest
import torch

from speechbrain_protos.lobes import PrototypeReconstructor, reflect_pad_frames
from speechbrain_protos.losses import PrototypeObjective

# Part of the smoke subset of make check-latest and make check-oldest.
pytestmark = pytest.mark.smoke

TINY = dict(n_mels=32, start_dim=4, n_pools=2)


@pytest.mark.parametrize("n_prototypes", [1, 33, 128])
def test_parameter_count_matches_the_paper(n_prototypes):
    model = PrototypeReconstructor(n_prototypes)  # paper sizes, 128 mels
    count = sum(p.numel() for p in model.parameters())
    assert count == 479_465 + 518 * n_prototypes


@pytest.mark.parametrize("n_frames", [1, 5, 16, 17, 45])
def test_any_number_of_frames(n_frames):
    model = PrototypeReconstructor(3, **TINY)
    feats = torch.rand(2, n_frames, 32)
    params = model.predict_transforms(feats)
    assert params.gain.shape == params.factor.shape == (2, n_frames, 3)
    assert params.filters.shape == (2, n_frames, 3, 4)
    errors = model(feats, torch.tensor([1.0, 0.5]))
    assert errors.shape == (2, 3) and torch.isfinite(errors).all()


def test_padding_content_is_irrelevant_and_batching_matches_a_lone_clip():
    model = PrototypeReconstructor(4, **TINY).eval()
    clip = torch.rand(1, 18, 32)
    batch = torch.rand(2, 20, 32)
    batch[1, :18] = clip[0]
    lengths = torch.tensor([1.0, 18 / 20])
    with torch.no_grad():
        alone = model(clip)  # padded to 20 internally, like the batch
        batched = model(batch, lengths)
        batch[1, 18:] = 50.0
        garbage = model(batch, lengths)
    torch.testing.assert_close(batched[1], alone[0], rtol=1e-5, atol=1e-7)
    assert torch.equal(batched, garbage)


def test_reflect_padding_of_short_clips():
    feats = torch.arange(6.0).view(2, 3, 1)
    padded = reflect_pad_frames(feats, torch.tensor([3, 1]), 6)
    assert padded[0, :, 0].tolist() == [0, 1, 2, 1, 0, 1]
    assert padded[1, :, 0].tolist() == [3, 3, 3, 3, 3, 3]


def test_raw_stage_compares_the_plain_prototypes():
    model = PrototypeReconstructor(3, active_transforms=(), **TINY)
    feats = torch.rand(2, 9, 32)
    expected = (feats[:, :, None, :] - model.prototypes).pow(2).mean(dim=(1, 3))
    torch.testing.assert_close(model(feats), expected, rtol=1e-6, atol=1e-8)
    assert model.predict_transforms(feats) == (None, None, None)


def test_transforms_start_near_identity():
    model = PrototypeReconstructor(5, **TINY)
    params = model.predict_transforms(torch.rand(2, 16, 32))
    assert params.gain.abs().max() < 1e-3
    assert (params.factor - 1).abs().max() < 1e-3
    assert params.filters[..., 1::2].abs().max() < 1e-3  # slopes
    assert (params.filters[..., 0::2] - 0.5).abs().max() < 1e-3  # cutoffs


def test_inactive_transforms_do_not_run_or_train():
    model = PrototypeReconstructor(3, active_transforms=("gain",), **TINY)
    model(torch.rand(2, 16, 32)).sum().backward()
    assert model.decoders["gain"].head.weight.grad is not None
    assert model.decoders["pitch"].head.weight.grad is None
    assert model.decoders["filters"].head.weight.grad is None
    assert model.active_transforms == ("gain",)


def test_switch_is_saved_in_the_state_dict():
    model = PrototypeReconstructor(2, active_transforms=("gain", "filters"), **TINY)
    fresh = PrototypeReconstructor(2, active_transforms=(), **TINY)
    fresh.load_state_dict(model.state_dict())
    assert fresh.active_transforms == ("gain", "filters")


def test_reference_and_fused_lobes_agree():
    torch.manual_seed(0)
    model = PrototypeReconstructor(3, **TINY)
    with torch.no_grad():  # move the heads away from identity
        for decoder in model.decoders.values():
            decoder.head.weight.normal_(0, 0.1)
    feats, lengths = torch.rand(2, 13, 32), torch.tensor([1.0, 0.7])
    fused = model(feats, lengths)
    model.reconstruction_impl = "reference"
    torch.testing.assert_close(fused, model(feats, lengths), rtol=1e-5, atol=1e-7)


def test_bf16_networks_give_float32_errors_close_to_float32():
    """Under autocast the convolutions run in bf16, while the transform
    parameters, the errors and the gradients of the prototypes are float32."""
    torch.manual_seed(0)
    model = PrototypeReconstructor(3, **TINY)
    with torch.no_grad():
        for decoder in model.decoders.values():
            decoder.head.weight.normal_(0, 0.1)
    feats, lengths = torch.rand(2, 13, 32), torch.tensor([1.0, 0.7])
    full = model(feats, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        params = model.predict_transforms(feats, lengths)
        mixed = model(feats, lengths)
    assert {values.dtype for values in params} == {torch.float32}
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, full, rtol=0.02, atol=1e-5)
    assert not torch.equal(mixed, full)  # the networks did run in bf16
    mixed.sum().backward()
    assert model.prototypes.grad.dtype == torch.float32
    assert torch.isfinite(model.prototypes.grad).all()


def test_reconstruct_by_chosen_prototype():
    model = PrototypeReconstructor(3, active_transforms=(), **TINY)
    feats = torch.rand(2, 7, 32)
    out = model.reconstruct(feats, torch.tensor([2, 1]))
    assert out.shape == (2, 7, 32)
    assert torch.equal(out[0, 3], model.prototypes[2].detach())
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        model.reconstruct(feats, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="one prototype index per clip"):
        model.reconstruct(feats, torch.tensor([0]))


def test_beta_starts_at_softplus_of_minus_four():
    model = PrototypeReconstructor(2, **TINY)
    assert model.beta.item() == pytest.approx(0.018150, abs=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown transforms"):
        PrototypeReconstructor(2, active_transforms=("gain", "reverb"), **TINY)
    with pytest.raises(ValueError, match="divisible"):
        PrototypeReconstructor(2, n_mels=40, n_pools=4)
    with pytest.raises(ValueError, match="n_prototypes"):
        PrototypeReconstructor(0, **TINY)
    model = PrototypeReconstructor(2, **TINY)
    with pytest.raises(ValueError, match=r"\[batch, frames, 32\]"):
        model(torch.rand(2, 10, 16))
    with pytest.raises(ValueError, match="empty"):
        model(torch.rand(2, 0, 32))
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        model(torch.rand(2, 10, 32), torch.tensor([1.0, 0.0]))


def synthetic_classes(n_clips, generator):
    """Two classes: two fixed spectral shapes under random per-frame gains."""
    bins = torch.linspace(0, 1, 32)
    shapes = torch.stack([0.6 - 0.4 * bins, 0.2 + 0.4 * bins])
    labels = torch.arange(n_clips) % 2
    gains = 0.1 * torch.randn(n_clips, 16, 1, generator=generator)
    noise = 0.02 * torch.randn(n_clips, 16, 32, generator=generator)
    return shapes[labels][:, None, :] + gains + noise, labels


def test_supervised_training_learns():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = PrototypeReconstructor(2, active_transforms=("gain",), **TINY)
    objective = PrototypeObjective("supervised")
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    feats, labels = synthetic_classes(32, generator)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss, _ = objective(model(feats), model.beta, labels)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    test_feats, test_labels = synthetic_classes(32, generator)
    with torch.no_grad():
        accuracy = (model(test_feats).argmin(dim=1) == test_labels).float().mean()
    assert losses[-1] < 0.2 * losses[0], losses[::10]
    assert accuracy > 0.9


def test_typical_transformations_follow_the_chosen_prototypes_in_training():
    torch.manual_seed(0)
    model = PrototypeReconstructor(3, n_mels=32, start_dim=4, n_pools=2)
    with torch.no_grad():
        for decoder in model.decoders.values():
            decoder.head.bias.normal_()
    feats = torch.rand(4, 12, 32)
    lengths = torch.tensor([1.0, 0.5, 1.0, 0.75])
    model.eval()
    model(feats, lengths)
    assert model.typical_gain.abs().max() == 0  # eval never updates them
    model.train()
    errors = model(feats, lengths)
    model.eval()
    choice = errors.argmin(dim=1)
    params = model.predict_transforms(feats, lengths).select(choice)
    counts = (lengths * 12).round().long()
    for k in range(3):
        clips = (choice == k).nonzero().flatten().tolist()
        if not clips:
            assert model.typical_gain[k] == 0
            continue
        clip_means = [params.gain[b, : counts[b]].mean() for b in clips]
        expected = 0.05 * torch.stack(clip_means).mean()
        assert torch.allclose(model.typical_gain[k], expected, atol=1e-6)
        log_means = [params.factor[b, : counts[b]].log().mean() for b in clips]
        assert torch.allclose(
            model.typical_log_factor[k],
            0.05 * torch.stack(log_means).mean(),
            atol=1e-6,
        )
    typical = model.typical_params(7, pitch=2.0)
    assert typical.gain.shape == (1, 7, 3) and typical.filters.shape == (1, 7, 3, 4)
    assert torch.allclose(typical.factor[0, 3], 2.0 * model.typical_log_factor.exp())
    assert "typical_gain" in model.state_dict()
