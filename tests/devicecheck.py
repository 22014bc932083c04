"""A device check that needs no GPU: data that stand for tensors on *another* device.

``foreign(x)`` wraps a tensor so that it may be measured (shape, len, dtype), sliced and split,
and moved with ``.to(...)`` (which gives a plain tensor), but any computation on it raises. A public
function that takes data and computes with the model must move the data to the model's device
first; if it forgets, a foreign input makes it fail here just as a CPU tensor would fail against a
model on a GPU.
"""

import torch
from torch import Tensor

_KEEP = {"__getitem__", "split", "chunk", "__len__", "__get__", "size", "dim", "numel", "is_floating_point",
         "detach", "float", "long", "double", "clone", "contiguous",
         "__repr__", "__format__", "as_tensor"}  # fmt: skip
_MOVE = {"to", "cuda", "cpu"}


class ForeignDeviceError(AssertionError):
    """Data were used without being moved to the model's device."""


class Foreign(Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", repr(func))
        if name in _MOVE or (name == "as_tensor" and kwargs.get("device") is not None):
            with torch._C.DisableTorchFunctionSubclass():
                return func(*args, **kwargs).clone()  # a plain tensor, "on the model's device"
        if name not in _KEEP:
            raise ForeignDeviceError(f"{name} computed on data that were not moved to the model's device")
        with torch._C.DisableTorchFunctionSubclass():
            out = func(*args, **kwargs)
        return _wrap(out)


def _wrap(out):
    if isinstance(out, Tensor) and not isinstance(out, Foreign):
        return out.as_subclass(Foreign)
    if isinstance(out, tuple | list):
        return type(out)(_wrap(o) for o in out)
    return out


def foreign(x: Tensor) -> Foreign:
    """``x`` as data on another device than the model's."""
    return x.as_subclass(Foreign)
