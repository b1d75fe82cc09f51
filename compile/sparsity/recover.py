"""Recovery: a short knowledge-distillation fine-tuning of the pruned model from the dense one.

The dense model is the teacher, the pruned one the student; the loss is the KL divergence between
their softened outputs on unlabeled inputs (images with light augmentation: random resized crop and
horizontal flip on the preprocessed tensors). By default only the pruned layers' weights train.
Gradients of pruned weights are masked and the masks re-applied after every optimiser step, so the
2:4 pattern survives exactly. Batch-norm statistics and dropout stay in eval mode: statistics
re-estimated on ~100 images of ~100 classes are biased (an optional recalibration is provided).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from compile.sparsity.torch_prune import apply_masks

if TYPE_CHECKING:
    import torch

#: Softening temperature of the distillation loss.
TEMPERATURE = 2.0
#: Random resized crop: smallest share of the image area kept.
MIN_CROP_AREA = 0.35


@dataclass
class RecoveryStats:
    steps: int
    batch_size: int
    lr: float
    seconds: float
    loss_first: float
    loss_last: float

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch_size": self.batch_size, "lr": self.lr, "seconds": round(self.seconds, 2),
                "loss_first": self.loss_first, "loss_last": self.loss_last}


def augment_images(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random resized crop (back to the input size) and horizontal flip, per image, on NCHW tensors."""
    import torch
    import torch.nn.functional as F

    _, _, height, width = batch.shape
    out = []
    for image in batch:
        area = float(torch.empty(1).uniform_(MIN_CROP_AREA, 1.0, generator=generator))
        ratio = float(torch.empty(1).uniform_(3 / 4, 4 / 3, generator=generator))
        crop_h = max(8, min(height, int(round((area * height * width / ratio) ** 0.5))))
        crop_w = max(8, min(width, int(round((area * height * width * ratio) ** 0.5))))
        top = int(torch.randint(0, height - crop_h + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop_w + 1, (1,), generator=generator))
        crop = image[:, top:top + crop_h, left:left + crop_w].unsqueeze(0)
        crop = F.interpolate(crop, size=(height, width), mode="bilinear", align_corners=False)
        if bool(torch.rand(1, generator=generator) < 0.5):
            crop = crop.flip(-1)
        out.append(crop)
    return torch.cat(out)


def image_batches(images: torch.Tensor, batch_size: int, seed: int = 0) -> Callable[[int], tuple[torch.Tensor, ...]]:
    """Step -> one augmented batch drawn (without replacement within an epoch) from ``images``."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []

    def draw(step: int) -> tuple[torch.Tensor, ...]:
        nonlocal order
        picked: list[int] = []
        while len(picked) < batch_size:
            if not order:
                order = torch.randperm(len(images), generator=generator).tolist()
            picked.append(order.pop())
        return (augment_images(images[picked], generator),)

    return draw


def _first_output(output: Any) -> torch.Tensor:
    if isinstance(output, (tuple, list)):
        return output[0]
    if isinstance(output, dict):
        return next(iter(output.values()))
    return output


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) on softened class scores; mean squared error for other outputs."""
    import torch.nn.functional as F

    if student.dim() == 2 and student.shape[1] > 1:
        t = TEMPERATURE
        return F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1),
                        reduction="batchmean", log_target=True) * t * t
    return F.mse_loss(student, teacher)


def recover(student: torch.nn.Module, teacher: torch.nn.Module, masks: dict[str, torch.Tensor],
            batches: Callable[[int], tuple[torch.Tensor, ...]], steps: int, lr: float, batch_size: int,
            progress: bool = False, log: Callable[[str], None] = print, scope: str = "pruned") -> RecoveryStats:
    """Fine-tune ``student`` towards ``teacher`` for ``steps`` batches, keeping ``masks`` exact."""
    import torch
    from tqdm import tqdm

    teacher.eval()
    student.eval()  # frozen batch-norm statistics and no dropout; the weights still train
    params = trainable_parameters(student, masks, scope)
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    layers = dict(student.named_modules())
    grad_masks = [(layers[name].weight, mask) for name, mask in masks.items()]
    losses: list[float] = []
    started = time.perf_counter()
    bar = tqdm(range(steps), desc="recover (KD)", unit="step", disable=not progress, leave=False)
    for step in bar:
        inputs = batches(step)
        with torch.no_grad():
            target = _first_output(teacher(*inputs))
        loss = distillation_loss(_first_output(student(*inputs)), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for weight, mask in grad_masks:
            if weight.grad is not None:
                weight.grad.mul_(mask.to(weight.grad.dtype))
        optimizer.step()
        apply_masks(student, masks)
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{losses[-1]:.4f}")
    bar.close()
    seconds = time.perf_counter() - started
    for param in student.parameters():
        param.requires_grad_(True)
    if steps:
        log(f"  recovery: {steps} steps x {batch_size} in {seconds:.1f}s, KD loss {losses[0]:.4f} -> {_tail_mean(losses):.4f}")
    return RecoveryStats(steps, batch_size, lr, seconds, losses[0] if losses else 0.0, _tail_mean(losses))


def recalibrate_batch_norm(student: torch.nn.Module, masks: dict[str, torch.Tensor],
                           batches: list[tuple[torch.Tensor, ...]]) -> int:
    """Re-estimate the running statistics of the batch norms after the first pruned layer.

    Pruning shifts the activations those layers normalise; their old statistics are the largest
    single source of the accuracy lost, and re-estimating them costs one forward pass over the data.
    Returns how many batch-norm layers were re-estimated."""
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm

    modules = list(student.named_modules())
    first = min((i for i, (name, _) in enumerate(modules) if name in masks), default=len(modules))
    norms = [m for i, (_, m) in enumerate(modules) if i > first and isinstance(m, _BatchNorm) and m.track_running_stats]
    if not norms or not batches:
        return 0
    saved = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over every batch
        norm.train()
    try:
        with torch.no_grad():
            for batch in batches:
                student(*batch)
    finally:
        for norm, momentum in zip(norms, saved, strict=True):
            norm.momentum = momentum
            norm.eval()
    return len(norms)


def trainable_parameters(student: torch.nn.Module, masks: dict[str, torch.Tensor],
                         scope: str = "pruned") -> list[torch.nn.Parameter]:
    """What recovery trains; everything else is frozen.

    ``pruned``: only the pruned layers' weights (the default: on ~100 images, updating every layer
    after the first pruned one with Adam moved the well-trained ones and lost accuracy);
    ``after-first-pruned``: every parameter from the first pruned layer on (registration order).
    Either way the layers before the first pruned one get no gradient, which spares the backward
    pass through the early, high-resolution layers (most of the cost)."""
    named = list(student.named_parameters())
    if scope == "pruned":
        wanted = {f"{name}.weight" for name in masks}
        chosen = [name in wanted for name, _ in named]
    else:
        first = min((i for i, (name, _) in enumerate(named) if name.rsplit(".", 1)[0] in masks), default=0)
        chosen = [i >= first for i in range(len(named))]
    trainable = []
    for (_, param), keep in zip(named, chosen, strict=True):
        param.requires_grad_(keep)
        if keep:
            trainable.append(param)
    return trainable


def _tail_mean(losses: list[float], window: int = 10) -> float:
    tail = losses[-window:]
    return sum(tail) / len(tail) if tail else 0.0
