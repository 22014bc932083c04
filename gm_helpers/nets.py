"""The building blocks every family shares: one MLP builder and one way to read a condition.

A condition is either a context vector (``context_features=k``: float tensors of shape (B, k)) or a
class label (``n_classes=n``: integers of shape (B,), embedded in ``embedding_dim`` learned
dimensions, or one-hot with ``embedding_dim=None``). Generators, critics, VAEs and flows all read it
through :class:`Condition`, and all their ``sample(n, context)`` methods accept the same three
forms: no context, one condition for all n samples, or one condition per sample.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Condition", "Residual", "mlp"]


def mlp(
    in_features: int,
    out_features: int,
    hidden: Sequence[int] = (64, 64),
    activation: Callable[[], nn.Module] = nn.ReLU,
    residual: bool = False,
) -> nn.Sequential:
    """A multilayer perceptron: Linear layers of widths ``hidden`` with ``activation`` between them.

    The last layer is linear (no activation). ``hidden=()`` gives a single linear map. With
    ``residual=True`` every hidden layer after the first adds its input to its output,
    h <- h + act(W h + b) (pidgan's ``ResGenerator``, after He et al., arXiv:1512.03385): deep, narrow
    networks then train as easily as shallow ones; the hidden widths must then all be equal.

    Example:
        >>> mlp(3, 2, hidden=(16, 16))
        Sequential(
          (0): Linear(in_features=3, out_features=16, bias=True)
          (1): ReLU()
          (2): Linear(in_features=16, out_features=16, bias=True)
          (3): ReLU()
          (4): Linear(in_features=16, out_features=2, bias=True)
        )
    """
    if isinstance(hidden, int):
        raise ValueError(f"hidden lists the hidden-layer widths, e.g. ({hidden}, {hidden}), not {hidden}")
    hidden = tuple(hidden)
    if any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ValueError(f"hidden must be a sequence of positive layer widths, got {hidden!r}")
    if residual and len(set(hidden)) > 1:
        raise ValueError(f"residual=True adds each hidden layer to the next: give equal widths, got {hidden}")
    sizes = [in_features, *hidden]
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        block = nn.Sequential(nn.Linear(a, b), activation())
        layers += [Residual(block)] if residual and i > 0 else list(block)
    layers.append(nn.Linear(sizes[-1], out_features))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """x + block(x): a skip connection around ``block`` (which must keep the width)."""

    def __init__(self, block: nn.Module):
        super().__init__()
        self.block = block

    def forward(self, x: Tensor) -> Tensor:
        return x + self.block(x)


class Condition(nn.Module):
    """How a network reads its condition: a context vector, or a class label it embeds.

    ``Condition(context_features=k)`` takes float contexts of shape (B, k) as they are;
    ``Condition(n_classes=n)`` takes integer labels of shape (B,) and embeds them in
    ``embedding_dim`` learned dimensions (one-hot vectors with ``embedding_dim=None``);
    ``Condition()`` is the unconditional case and refuses any condition. ``features`` is the
    width of what it hands on (0 when unconditional).

    Example:
        >>> Condition(n_classes=10, embedding_dim=4)(torch.tensor([3, 7])).shape
        torch.Size([2, 4])
        >>> Condition(n_classes=3, embedding_dim=None)(torch.tensor([2]))
        tensor([[0., 0., 1.]])
    """

    def __init__(self, context_features: int = 0, n_classes: int = 0, embedding_dim: int | None = 16):
        super().__init__()
        if context_features and n_classes:
            raise ValueError("give either context_features (a vector) or n_classes (a label), not both")
        if context_features < 0 or n_classes < 0 or n_classes == 1:
            raise ValueError(
                f"need context_features >= 0 and n_classes 0 or >= 2, got {context_features}, {n_classes}"
            )
        self.context_features, self.n_classes = context_features, n_classes
        self.embedding = nn.Embedding(n_classes, embedding_dim) if n_classes and embedding_dim else None
        if n_classes:
            self.features = embedding_dim or n_classes
        else:
            self.features = context_features

    @property
    def labels(self) -> bool:
        """Whether the condition is a class label (else a context vector, or none)."""
        return self.n_classes > 0

    def forward(self, context: Tensor | None, batch: int | None = None) -> Tensor | None:
        """The condition as a float tensor (B, features) for a network's input, or None."""
        if not self.features:
            if context is not None:
                raise ValueError(
                    "this model is unconditional but got a condition; build it with "
                    "context_features=... or n_classes=... to condition it"
                )
            return None
        if context is None:
            raise ValueError("this model is conditional: pass context= (a vector or a class label)")
        batch = len(context) if batch is None else batch
        if not self.labels:
            if context.shape != (batch, self.context_features) or not context.is_floating_point():
                raise ValueError(
                    f"context must be a float tensor of shape ({batch}, {self.context_features}), "
                    f"got {context.dtype} of shape {tuple(context.shape)}"
                )
            return context
        if context.shape != (batch,) or context.dtype not in (torch.int32, torch.int64):
            raise ValueError(
                f"the condition must be integer class labels of shape ({batch},), "
                f"got {context.dtype} of shape {tuple(context.shape)}"
            )
        if len(context) and (context.min() < 0 or context.max() >= self.n_classes):
            raise ValueError(f"class labels must lie in 0..{self.n_classes - 1}")
        if self.embedding is None:
            return F.one_hot(context, self.n_classes).float()
        return self.embedding(context)

    def expand(self, context, n: int, device: torch.device | str | None = None) -> Tensor | None:
        """The condition of ``n`` samples from what a ``sample(n, context)`` call was given.

        ``context`` may be None (unconditional), one condition shared by all samples (a label as an
        int or 0-d tensor; a vector of shape (k,)), or one per sample ((n,) labels, (n, k) vectors).
        The result is on ``device``.
        """
        if context is None:
            return None
        context = torch.as_tensor(context)
        context = context if device is None else context.to(device)
        if self.labels:
            if context.ndim == 0:
                context = context.expand(n)
        else:
            context = context if context.is_floating_point() else context.to(torch.get_default_dtype())
            if context.ndim == 1:
                context = context.expand(n, -1)
        if len(context) != n:
            raise ValueError(f"asked for {n} samples but got {len(context)} conditions")
        return context
