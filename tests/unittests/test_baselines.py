"""The baselines' models: the authors' sizes, masks that ignore padding,
K-means that finds clusters, and a cosine loss that prefers the right class."""

import pytest
import torch

from speechbrain_protos.baselines import (
    AngularMarginLoss,
    ConvAutoencoder,
    EcapaClassifier,
    TemporalConvClassifier,
    kmeans,
)


def test_direct_classifier_has_the_authors_parameter_counts():
    counts = {
        n_classes: sum(
            p.numel() for p in TemporalConvClassifier(128, n_classes).parameters()
        )
        for n_classes in (33, 128)
    }
    assert counts == {33: 123193, 128: 129368}


def test_direct_classifier_ignores_padding():
    torch.manual_seed(0)
    model = TemporalConvClassifier(n_mels=32, n_classes=4).eval()
    short, long = torch.rand(1, 37, 32), torch.rand(1, 80, 32)
    padded = torch.zeros(2, 80, 32)
    padded[0, :37], padded[1] = short[0], long[0]
    together = model(padded, torch.tensor([37 / 80, 1.0]))
    # Frames past the clip's end (and their pooled columns) never win the max.
    alone = model(pad_to_multiple(short), torch.tensor([37 / 48]))
    assert torch.allclose(together[1], model(long)[0], atol=1e-5)
    assert torch.allclose(together[0], alone[0], atol=1e-5)


def pad_to_multiple(feats, multiple=16):
    """Zero-pads frames to a multiple (what a batch would hold)."""
    missing = -feats.shape[1] % multiple
    return torch.cat([feats, torch.zeros(1, missing, feats.shape[2])], dim=1)


def test_direct_classifier_rejects_mels_it_cannot_pool():
    with pytest.raises(ValueError, match="multiple of 16"):
        TemporalConvClassifier(n_mels=40, n_classes=3)


def test_autoencoder_has_the_authors_size_and_reconstructs_in_range():
    model = ConvAutoencoder()
    assert sum(p.numel() for p in model.parameters()) == 155425
    out = model(torch.rand(3, 19, 128))
    assert out.shape == (3, 19, 128)
    assert out.min() >= 0 and out.max() <= 1


def test_autoencoder_embedding_averages_valid_frames_only():
    torch.manual_seed(0)
    model = ConvAutoencoder(channels=4).eval()
    clip = torch.rand(1, 24, 32)
    padded = torch.cat([clip, torch.rand(1, 40, 32)], dim=1)  # 64 frames
    embedded = model.embed(padded, torch.tensor([24 / 64]))
    latent = model.encode(padded)[..., :3]  # the first 24 frames: 3 pooled columns
    assert torch.allclose(embedded, latent.mean(dim=-1).flatten(1), atol=1e-6)
    assert embedded.shape == (1, 4 * 32 // 8)


def test_autoencoder_outputs_are_float32_under_autocast():
    """With ``--precision=bf16`` the reconstruction error and the K-means
    points are computed in float32."""
    torch.manual_seed(0)
    model = ConvAutoencoder(channels=4).eval()
    feats = torch.rand(2, 24, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        reconstruction, embedded = model(feats), model.embed(feats)
    assert reconstruction.dtype == embedded.dtype == torch.float32
    torch.testing.assert_close(reconstruction, model(feats), rtol=0.02, atol=0.01)


def test_kmeans_recovers_separated_clusters():
    generator = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    labels = torch.arange(3).repeat_interleave(50)
    points = centres[labels] + 0.5 * torch.randn(150, 2, generator=generator)
    found = kmeans(points, 3, torch.Generator().manual_seed(1))
    assignment = torch.cdist(points, found).argmin(dim=1)
    # Each true cluster maps to exactly one found cluster, and back.
    pairs = {(int(a), int(b)) for a, b in zip(labels, assignment)}
    assert len(pairs) == 3
    assert torch.allclose(found[assignment[::50]], centres, atol=0.3), (
        "centroids are the cluster means"
    )


@pytest.mark.smoke
def test_ecapa_classifier_scores_are_cosines_and_train():
    torch.manual_seed(0)
    model = EcapaClassifier(32, 3, channels=[16, 16, 16, 16, 48], lin_neurons=8)
    loss_fn = AngularMarginLoss()
    feats = torch.rand(6, 20, 32)
    feats[:2, :, :10] += 1.0  # three easily told apart classes
    feats[2:4, :, 10:20] += 1.0
    feats[4:, :, 20:] += 1.0
    targets = torch.tensor([0, 0, 1, 1, 2, 2])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for _ in range(30):
        scores = model(feats)
        loss = loss_fn(scores, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert scores.abs().max() <= 1 + 1e-5
    assert losses[-1] < 0.5 * losses[0]
    assert torch.equal(scores.argmax(dim=1), targets)
