"""Models that save and load themselves: ``model.save(path)`` and ``Class.load(path)``.

Every model of the course derives from :class:`Model`, an ``nn.Module`` that remembers the
arguments it was built with. A checkpoint holds that configuration (plain values only), the
``state_dict`` and the name of what built the model, so that loading needs nothing but the file::

    flow = gm.flows.realnvp(2, transforms=4)
    flow.save("moons.pt")
    flow = gm.flows.Flow.load("moons.pt")      # the same flow, on the CPU

Checkpoints are read with ``torch.load(weights_only=True)``: a file can hold tensors and plain
values but no code, so loading a checkpoint from someone else cannot run anything.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from pathlib import Path

import torch
from torch import nn

__all__ = ["Model", "built_by", "checkpoint_info"]

_PLAIN = (type(None), bool, int, float, str)
FORMAT = "gm_helpers-checkpoint-1"


def _check_plain(value, where: str, tensors: bool = False) -> None:
    """Plain values only (tensors too with ``tensors``): what ``torch.load(weights_only=True)`` reads."""
    if isinstance(value, _PLAIN) or (tensors and isinstance(value, torch.Tensor)):
        return
    if isinstance(value, tuple | list):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]", tensors)
        return
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        for k, item in value.items():
            _check_plain(item, f"{where}[{k!r}]", tensors)
        return
    raise ValueError(
        f"cannot save {where} = {type(value).__name__}: a checkpoint keeps plain values only "
        "(numbers, strings, tuples, lists, dicts). Build the model from plain arguments, or save "
        "its state_dict() and rebuild it by hand."
    )


def _name(obj) -> str:
    return f"{obj.__module__}:{obj.__qualname__}"


def _resolve(name: str):
    module, _, qualname = name.partition(":")
    if not module.startswith("gm_helpers"):
        raise ValueError(f"refusing to load a checkpoint built by {name!r}: not part of gm_helpers")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


class Model(nn.Module):
    """An ``nn.Module`` that records its constructor's arguments and can ``save`` / ``load`` itself.

    Subclasses need nothing special: the arguments of the outermost ``__init__`` are recorded
    automatically (``model.config``). A subclass whose arguments are not plain values overrides
    :meth:`get_config` to return plain ones its constructor accepts.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return
        signature = inspect.signature(init)

        @functools.wraps(init)
        def recording_init(self, *args, **kw):
            if "_config" not in self.__dict__:  # the outermost constructor records
                bound = signature.bind(self, *args, **kw)
                bound.apply_defaults()
                config = dict(list(bound.arguments.items())[1:])
                for name, parameter in signature.parameters.items():
                    if parameter.kind is inspect.Parameter.VAR_KEYWORD:
                        config.update(config.pop(name))
                object.__setattr__(self, "_config", config)
                object.__setattr__(self, "_factory", type(self))
            init(self, *args, **kw)

        cls.__init__ = recording_init

    def get_config(self) -> dict:
        """The arguments that rebuild this model (before its weights are loaded)."""
        return dict(self.__dict__.get("_config", {}))

    def save(self, path: str | Path, *, half: bool = False, info: dict | None = None) -> Path:
        """Write configuration and weights to ``path`` (a ``.pt`` file); returns the path.

        ``half``: store the floating-point parameters in float16 (half the size; buffers such as a
        fitted coding keep their precision); ``load`` turns them back into the model's dtype.
        ``info``: plain values kept beside the weights (``checkpoint_info`` reads them).
        """
        config = self.get_config()
        _check_plain(config, f"the argument of {type(self).__name__}")
        _check_plain(info, "info", tensors=True)
        factory = self.__dict__.get("_factory", type(self))
        parameters = {name for name, _ in self.named_parameters()}
        state = {}
        for k, v in self.state_dict().items():
            v = v.detach().cpu()
            state[k] = v.half() if half and k in parameters and v.is_floating_point() else v
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = {"format": FORMAT, "factory": _name(factory), "config": config, "state": state, "info": info}
        torch.save(blob, path)
        return path

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str = "cpu"):
        """The model saved at ``path``, rebuilt and moved to ``device``, in eval mode.

        Raises a ``ValueError`` when the file is not a course checkpoint or holds another kind of
        model than ``cls``.
        """
        blob = _read(path)
        model = _resolve(blob["factory"])(**blob["config"])
        if not isinstance(model, cls):
            raise ValueError(f"{path} holds a {type(model).__name__}, not a {cls.__name__}")
        model.load_state_dict(blob["state"])
        return model.to(device).eval()


def _read(path: str | Path) -> dict:
    blob = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{path} is not a gm_helpers checkpoint (made by Model.save)")
    return blob


def checkpoint_info(path: str | Path) -> dict | None:
    """The ``info`` saved beside the weights of the checkpoint at ``path`` (None if none was given)."""
    return _read(path).get("info")


def built_by(factory, model: Model, **config) -> Model:
    """Mark ``model`` as built by ``factory(**config)`` (for builder functions such as ``realnvp``):
    ``save`` then records the builder and its arguments, and ``load`` calls it again."""
    object.__setattr__(model, "_config", config)
    object.__setattr__(model, "_factory", factory)
    return model
