"""Recovery by distillation: the masks hold exactly, and the student moves towards the teacher."""

from __future__ import annotations

import copy


def test_recovery_keeps_the_masks_and_reduces_the_distillation_loss() -> None:
    import torch

    from compile.sparsity.eligibility import SparsityRules
    from compile.sparsity.mask import is_two_four
    from compile.sparsity.recover import image_batches, recover
    from compile.sparsity.torch_prune import masks_hold, prune_module
    from tests.sparsity.sparse_models import small_cnn

    teacher = small_cnn().eval()
    student = copy.deepcopy(teacher)
    pruned = prune_module(student, SparsityRules(min_channels=8))
    assert sorted(pruned.masks) == ["2", "8"]
    images = torch.randn(12, 4, 12, 12, generator=torch.Generator().manual_seed(0))
    batches = image_batches(images, batch_size=6, seed=0)
    assert batches(0)[0].shape == (6, 4, 12, 12)
    before = student[2].weight.detach().clone()
    stats = recover(student, teacher, pruned.masks, batches, steps=25, lr=3e-2, batch_size=6, log=lambda _: None)
    after = student[2].weight.detach()
    assert masks_hold(student, pruned.masks)
    assert is_two_four(after.numpy(), 1) and is_two_four(student[8].weight.detach().numpy(), 1)
    kept = pruned.masks["2"]
    assert not torch.equal(before[kept], after[kept])  # the kept weights did train (a large lr)
    assert (after[~kept] == 0).all()
    assert stats.steps == 25 and stats.loss_last < stats.loss_first


def test_augmentation_keeps_shape_and_is_seeded() -> None:
    import torch

    from compile.sparsity.recover import augment_images

    batch = torch.arange(2 * 3 * 16 * 16, dtype=torch.float32).reshape(2, 3, 16, 16)
    first = augment_images(batch, torch.Generator().manual_seed(3))
    second = augment_images(batch, torch.Generator().manual_seed(3))
    assert first.shape == batch.shape and torch.equal(first, second)
    assert not torch.equal(first, batch)


def test_batch_norm_recalibration_only_after_the_first_pruned_layer() -> None:
    import torch
    from torch import nn

    from compile.sparsity.eligibility import SparsityRules
    from compile.sparsity.recover import recalibrate_batch_norm
    from compile.sparsity.torch_prune import prune_module

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 1), nn.BatchNorm2d(8), nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)).eval()
    pruned = prune_module(model, SparsityRules(min_channels=8))
    assert list(pruned.masks) == ["2"]
    data = torch.randn(6, 4, 5, 5)
    early = model[1].running_mean.clone()
    assert recalibrate_batch_norm(model, pruned.masks, [(data[:3],), (data[3:],)]) == 1
    assert torch.equal(model[1].running_mean, early)  # before the pruned layer: untouched
    with torch.no_grad():
        expected = model[2](model[1](model[0](data))).mean(dim=(0, 2, 3))
    assert torch.allclose(model[3].running_mean, expected, atol=1e-5)
    assert not model[3].training and model[3].momentum == 0.1


def test_least_squares_refit_keeps_the_masks_and_beats_magnitude_pruning() -> None:
    import torch
    from torch import nn

    from compile.sparsity.eligibility import SparsityRules
    from compile.sparsity.reconstruct import reconstruct_pruned
    from compile.sparsity.torch_prune import masks_hold, prune_module

    torch.manual_seed(0)
    teacher = nn.Sequential(nn.Conv2d(4, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 1), nn.ReLU(),
                            nn.Conv2d(16, 16, 3, padding=1), nn.Flatten(), nn.Linear(16 * 25, 8)).eval()
    student = copy.deepcopy(teacher)
    pruned = prune_module(student, SparsityRules(min_channels=8))
    assert sorted(pruned.masks) == ["2", "4", "6"]
    data = torch.randn(32, 4, 5, 5)

    def error(model: nn.Module) -> float:
        with torch.no_grad():
            return float((model[:3](data) - teacher[:3](data)).pow(2).mean())

    before = error(student)
    refitted = reconstruct_pruned(student, teacher, pruned.masks, [(data[:16],), (data[16:],)])
    assert sorted(refitted) == ["2", "6"]  # the 3x3 conv is not re-fitted
    assert masks_hold(student, pruned.masks)
    assert error(student) < 0.8 * before
