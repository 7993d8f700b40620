"""bfloat16 linear layers whose weights oneDNN reorders once, not on every call (whole catalogs on a CPU with AMX).

    pack_linears(model)   # every bfloat16 nn.Linear in it swapped for a PackedLinear: the same numbers, sooner

torch's bfloat16 nn.Linear hands oneDNN the weight in torch's layout, which oneDNN reorders into its blocked one on
every call. torch.compile's freezing reorders it once (mkldnn._reorder_linear_weight) and calls
mkldnn._linear_pointwise with it; this does the same without compiling (~45 s on 2 cores for MiniLM, no faster
once compiled). The outputs equal nn.Linear's exactly (tests/test_onnx.py); 2,000 catalog texts embed ~1.1x as
fast (376 against 334 texts/s, the two alternating in one process for 4 rounds). The ops are torch's private ones
(torch is pinned): where they are missing or a probe disagrees with nn.Linear, nothing is swapped.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)

ROWS_HINT = 2048  # token rows a call is packed for: a batch of 64 catalog texts (~38 tokens each)


def _ops():
    """(reorder, linear) from torch.ops.mkldnn, or None where this torch has no such ops."""
    import torch

    mkldnn = torch.ops.mkldnn
    try:
        return mkldnn._reorder_linear_weight, mkldnn._linear_pointwise
    except (AttributeError, RuntimeError):  # torch.ops raises AttributeError for an op it does not know
        return None


def _packed_class():
    import torch

    class PackedLinear(torch.nn.Module):
        """nn.Linear's forward on a weight oneDNN reordered once (bfloat16, CPU)."""

        def __init__(self, linear: torch.nn.Linear, ops) -> None:
            super().__init__()
            reorder, self._linear = ops
            self.in_features, self.out_features = linear.in_features, linear.out_features
            # not Parameters: the reordered tensor is oneDNN's opaque layout, which .to() and state_dict cannot take
            self.packed = reorder(linear.weight.detach(), ROWS_HINT)
            self.bias = None if linear.bias is None else linear.bias.detach()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self._linear(x, self.packed, self.bias, "none", [], "")

        def extra_repr(self) -> str:
            return f"in_features={self.in_features}, out_features={self.out_features}, packed for oneDNN"

    return PackedLinear


def _agrees(linear, packed) -> bool:
    """The packed layer gives nn.Linear's output on a random batch (both bfloat16, exactly)."""
    import torch

    x = torch.randn(3, 5, linear.in_features, dtype=torch.bfloat16, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return torch.equal(packed(x), linear(x))


def pack_linears(module) -> int:
    """Swap every bfloat16 CPU nn.Linear under `module` for a PackedLinear; how many were swapped (0 where the ops
    are missing or the first one's probe disagrees, and the module is left as it was)."""
    import torch

    ops = _ops()
    targets = [
        (parent, name, child)
        for parent in module.modules()
        for name, child in parent.named_children()
        if type(child) is torch.nn.Linear and child.weight.dtype == torch.bfloat16 and child.weight.device.type == "cpu"
    ]
    if ops is None or not targets:
        return 0
    packed_class = _packed_class()
    try:
        first = packed_class(targets[0][2], ops)
        if not _agrees(targets[0][2], first):
            log.warning("oneDNN's packed bfloat16 linear disagrees with nn.Linear here: not used")
            return 0
    except RuntimeError as e:  # oneDNN without a primitive for this shape or CPU
        log.warning("oneDNN's packed bfloat16 linear does not run here (%s): not used", e)
        return 0
    for i, (parent, name, child) in enumerate(targets):
        setattr(parent, name, first if i == 0 else packed_class(child, ops))
    return len(targets)
