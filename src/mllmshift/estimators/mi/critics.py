r"""Critics :math:`T_\theta(x, y)` for the variational MI bounds (InfoNCE, NWJ, MINE, SMILE).

Two architectures, as in Poole et al. (ICML 2019):

- **separable** :math:`T(x, y) = f(x)^\top g(y)` with two MLPs ``f``, ``g`` into a
  shared ``embed_dim``-space. All n² pair scores of a sample are one matrix
  product, so every other sample can serve as a negative cheaply.
- **joint** :math:`T(x, y) = h([x; y])`, one MLP on the concatenation. More
  expressive, but each pair needs its own forward pass (n² passes for all pairs).

Both expose ``pairs(x, y)`` → ``T(x_i, y_i)`` (shape n) and ``cross(x, y)`` →
``T(x_i, y_j)`` (shape n × m).
"""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden_size: int, n_layers: int, out_dim: int) -> nn.Sequential:
    """``n_layers`` hidden layers of ``hidden_size`` ReLU units, then a linear map to ``out_dim``."""
    if n_layers < 1 or hidden_size < 1:
        raise ValueError("a critic MLP needs at least one hidden layer of at least one unit")
    layers: list[nn.Module] = []
    d = in_dim
    for _ in range(n_layers):
        layers += [nn.Linear(d, hidden_size), nn.ReLU()]
        d = hidden_size
    layers.append(nn.Linear(d, out_dim))
    return nn.Sequential(*layers)


class Critic(nn.Module):
    """A score function T(x, y) ∈ ℝ."""

    separable: bool = False

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``T(x_i, y_i)`` for matched rows; shape (n,)."""
        raise NotImplementedError

    def cross(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``T(x_i, y_j)`` for every i, j; shape (n, m)."""
        raise NotImplementedError


class SeparableCritic(Critic):
    r"""``T(x, y) = f(x)ᵀ g(y)`` (a bilinear score of two learned embeddings)."""

    separable = True

    def __init__(self, x_dim: int, y_dim: int, hidden_size: int = 128, n_layers: int = 2,
                 embed_dim: int = 32) -> None:
        super().__init__()
        self.f = mlp(x_dim, hidden_size, n_layers, embed_dim)
        self.g = mlp(y_dim, hidden_size, n_layers, embed_dim)

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.f(x) * self.g(y)).sum(dim=1)

    def cross(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.f(x) @ self.g(y).T


class JointCritic(Critic):
    """``T(x, y) = h([x; y])`` (an MLP on the concatenated pair)."""

    separable = False

    def __init__(self, x_dim: int, y_dim: int, hidden_size: int = 128, n_layers: int = 2) -> None:
        super().__init__()
        self.h = mlp(x_dim + y_dim, hidden_size, n_layers, 1)

    def pairs(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.h(torch.cat([x, y], dim=1)).squeeze(1)

    def cross(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        n, m = len(x), len(y)
        xx = x.unsqueeze(1).expand(n, m, x.shape[1])
        yy = y.unsqueeze(0).expand(n, m, y.shape[1])
        return self.h(torch.cat([xx, yy], dim=2)).squeeze(2)


CRITICS = {"separable": SeparableCritic, "joint": JointCritic}


def make_critic(kind: str, x_dim: int, y_dim: int, hidden_size: int, n_layers: int, embed_dim: int) -> Critic:
    """The critic ``kind`` ('separable' or 'joint')."""
    if kind == "separable":
        return SeparableCritic(x_dim, y_dim, hidden_size, n_layers, embed_dim)
    if kind == "joint":
        return JointCritic(x_dim, y_dim, hidden_size, n_layers)
    raise ValueError(f"unknown critic {kind!r}; choose one of {sorted(CRITICS)}")

