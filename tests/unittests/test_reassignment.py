"""Empty-cluster reassignment copies everything a prototype owns."""

import torch

from speechbrain_protos.lobes import PrototypeReconstructor
from speechbrain_protos.reassignment import reassign_prototypes

TINY = dict(n_mels=32, start_dim=4, n_pools=2)


def trained_model(n_prototypes=4):
    torch.manual_seed(0)
    model = PrototypeReconstructor(n_prototypes, **TINY)
    with torch.no_grad():
        for decoder in model.decoders.values():
            decoder.head.weight.normal_()
            decoder.head.bias.normal_()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model(torch.rand(3, 16, 32)).sum().backward()
    optimizer.step()
    return model, optimizer


def test_last_prototype_is_reassigned_with_heads_and_optimizer_state():
    model, optimizer = trained_model()
    before = model.prototypes.detach().clone()
    pairs = reassign_prototypes(
        model,
        optimizer,
        torch.tensor([30, 0, 0, 0]),  # only prototype 0 is used
        noise_std=0.01,
        generator=torch.Generator().manual_seed(1),
    )
    assert sorted(k for k, _ in pairs) == [1, 2, 3] and {j for _, j in pairs} == {0}
    for k in (1, 2, 3):
        assert (model.prototypes[k] - before[0]).abs().max() < 0.06
        assert not torch.equal(model.prototypes[k], model.prototypes[0])
        for name, width in (("gain", 1), ("pitch", 1), ("filters", 4)):
            head = model.decoders[name].head
            rows_k = slice(k * width, (k + 1) * width)
            assert torch.equal(head.weight[rows_k], head.weight[0:width])
            assert torch.equal(head.bias[rows_k], head.bias[0:width])
            state = optimizer.state[head.weight]
            assert torch.equal(state["exp_avg"][rows_k], state["exp_avg"][0:width])
            assert torch.equal(
                state["exp_avg_sq"][rows_k], state["exp_avg_sq"][0:width]
            )
        proto_state = optimizer.state[model.prototypes]
        assert torch.equal(proto_state["exp_avg"][k], proto_state["exp_avg"][0])
        for buffer in model.typical_buffers():
            assert torch.equal(buffer[k], buffer[0])


def test_nothing_changes_when_every_prototype_is_used():
    model, optimizer = trained_model()
    before = model.prototypes.detach().clone()
    assert reassign_prototypes(model, optimizer, torch.tensor([5, 6, 7, 8])) == []
    assert torch.equal(model.prototypes, before)
    assert reassign_prototypes(model, optimizer, torch.zeros(4)) == []


def test_threshold_is_relative_to_a_uniform_share():
    model, _ = trained_model()
    # K * 1 / 200 = 0.02 is not below 0.02; K * 1 / 201 is.
    assert reassign_prototypes(model, None, torch.tensor([199, 1, 0, 0]))[0][0] == 2
    pairs = reassign_prototypes(
        model, None, torch.tensor([100, 100, 0, 1]), threshold=0.05
    )
    assert sorted(k for k, _ in pairs) == [2, 3]


def test_same_seed_same_changes():
    results = []
    for _ in range(2):
        model, optimizer = trained_model()
        pairs = reassign_prototypes(
            model,
            optimizer,
            torch.tensor([10, 20, 0, 0]),
            generator=torch.Generator().manual_seed(7),
        )
        results.append((pairs, model.prototypes.detach().clone()))
    assert results[0][0] == results[1][0]
    assert torch.equal(results[0][1], results[1][1])
