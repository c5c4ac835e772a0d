"""The shape a model takes, and samples fitted to it.

A sample is one input of the model, of any shape s: (n,) for a dense
autoencoder, (H, W, C) for a convolutional one. The chains keep their state
as the n = ∏ s values of each sample (noise, starting moments and class
moments are drawn and stored that way, whatever s is) and hand r a batch of
shape (B, *s); samples leave the sampler in r's own shape. Data, which the
package stores as n values per row, meet a model through `fit_rows`; a
metric that needs vectors flattens its features itself.
"""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from aesampling.errors import UserInputError


def _one_tensor_shape(model, kind: str) -> tuple:
    """The full shape (batch first) of the model's single input or output tensor."""
    name = getattr(model, "name", type(model).__name__)
    try:
        tensors = getattr(model, kind)
    except (AttributeError, ValueError):  # a model never called or built has no inputs/outputs yet
        tensors = None
    if not tensors:
        raise UserInputError(f"model {name!r} has no defined {kind}: build it on a keras.Input of the sample's "
                             "shape before saving it")
    if len(tensors) > 1:
        raise UserInputError(f"model {name!r} has {len(tensors)} {kind}; aesampling needs a model with one input "
                             "(the sample) and one output")
    return tuple(tensors[0].shape)


def _per_sample(full_shape: tuple, model, kind: str) -> tuple[int, ...]:
    shape = full_shape[1:]
    if not shape or any(size is None for size in shape):
        raise UserInputError(f"model {model.name!r} has {kind[:-1]} shape {full_shape}: every size but the batch's "
                             "must be fixed (give its keras.Input a full shape)")
    return tuple(int(size) for size in shape)


def input_shape(model) -> tuple[int, ...]:
    """s, the shape of one input of the model (without the batch axis)."""
    return _per_sample(_one_tensor_shape(model, "inputs"), model, "inputs")


def output_shape(model) -> tuple[int, ...]:
    """The shape of one output of the model (without the batch axis)."""
    return _per_sample(_one_tensor_shape(model, "outputs"), model, "outputs")


def size(shape) -> int:
    """n = ∏ s, the number of values of one sample of shape s."""
    return math.prod(int(d) for d in shape)


def describe(shape) -> str:
    """'(28, 28, 1) (784 values)': a shape and its size, for messages."""
    return f"{tuple(shape)} ({size(shape)} values)"


def autoencoder_shape(model) -> tuple[int, ...]:
    """s for an autoencoder r whose outputs have as many values as its inputs (n in, n out); raises otherwise.

    Reinjection feeds r's output back to it, so the output must hold the n
    values of an input; it may be laid out differently ((784,) for (28, 28, 1)).
    """
    s_in, s_out = input_shape(model), output_shape(model)
    if size(s_in) != size(s_out):
        raise UserInputError(f"an autoencoder must map R^n to R^n; model {model.name!r} maps {describe(s_in)} "
                             f"-> {describe(s_out)}")
    return s_in


def fit_rows(x, shape, what: str) -> np.ndarray:
    """The rows of x (first axis) laid out in `shape` when each holds the n values of one; raises otherwise."""
    x = np.asarray(x)
    if x.ndim < 1 or size(x.shape[1:]) != size(shape):
        raise UserInputError(f"{what} have rows of shape {describe(x.shape[1:])} but the model takes "
                             f"{describe(shape)}")
    return x.reshape((len(x), *shape))


def to_model(x, shape):
    """A traceable batch of flat states (batch, n) in the model's input shape (batch, *s)."""
    return x if tuple(x.shape[1:]) == tuple(shape) else ops.reshape(x, (-1, *shape))


def to_flat(x):
    """A traceable batch (batch, ...) as rows of values (batch, n)."""
    return x if len(x.shape) == 2 else ops.reshape(x, (-1, size(x.shape[1:])))


def widest_layer(model) -> int:
    """The most values one sample takes in any layer's output, nested models' layers included (0 for a plain
    callable): what a batch holds at once while the model runs, per row, beside its input."""
    widest = 0
    layers = model._flatten_layers(include_self=True, recursive=True) if hasattr(model, "_flatten_layers") else ()
    for layer in layers:
        try:
            shape = tuple(layer.output.shape)[1:]
        except (AttributeError, ValueError, RuntimeError, TypeError):  # never called, or several outputs
            continue
        if all(isinstance(d, int) for d in shape):
            widest = max(widest, math.prod(shape))
    return widest
