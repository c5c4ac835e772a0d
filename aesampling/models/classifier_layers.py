"""What the package reads inside a classifier C: its output activation and its feature layer φ.

Both are found by walking C's functional graph back from its output, through
nested models (a Sequential holding a Sequential, a backbone model followed
by a head): Sequential and functional Keras models work as they are.

- The output activation is that of the last layer that computes something
  (an Activation or Softmax layer, or a Dense layer's own activation).
- φ(x), the space sample quality is measured in, is by default the input of
  the output layer: the penultimate representation, past any trailing
  Activation, Softmax or Dropout layer. A named layer overrides it.
"""

from __future__ import annotations

import keras

from aesampling.errors import UserInputError

PASS_THROUGH = (keras.layers.Activation, keras.layers.Softmax, keras.layers.Dropout)


def _producer(tensor):
    """The layer (or nested model) whose output `tensor` is, or None for a model input."""
    history = getattr(tensor, "_keras_history", None)
    layer = history[0] if history else None
    return None if layer is None or isinstance(layer, keras.layers.InputLayer) else layer


def _input_of(tensor):
    """The tensor the producer of `tensor` was called on, in the same graph (a layer used in several graphs, as a
    nested model is, has one call node per graph)."""
    history = tensor._keras_history
    return history[0]._inbound_nodes[history[1]].input_tensors[0]


def _graph_output(model):
    if not isinstance(model, keras.Model) or not getattr(model, "outputs", None):
        name = getattr(model, "name", type(model).__name__)
        raise UserInputError(f"classifier {name!r} is not a functional or Sequential Keras model: its layers "
                             "cannot be read (build it with keras.Input, or wrap it in a functional model)")
    if len(model.outputs) != 1:
        raise UserInputError(f"classifier {model.name!r} has {len(model.outputs)} outputs; it needs one, the "
                             "class probabilities")
    return model.outputs[0]


def _activation_name(layer) -> str | None:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", None)


def output_activation(model) -> str | None:
    """The name of the activation that makes C's outputs ("sigmoid", "softmax", "linear", ...), or None when the
    last computing layer has none (e.g. a custom layer)."""
    tensor = _graph_output(model)
    layer = _producer(tensor)
    while isinstance(layer, keras.layers.Dropout):
        tensor = _input_of(tensor)
        layer = _producer(tensor)
    if isinstance(layer, keras.Model):
        return output_activation(layer)
    return None if layer is None else _activation_name(layer)


def _feature_tensor(model):
    """φ's symbolic tensor in `model`'s graph: the input of its output layer, through nested models."""
    tensor = _graph_output(model)
    layer = _producer(tensor)
    while isinstance(layer, PASS_THROUGH):
        tensor = _input_of(tensor)
        layer = _producer(tensor)
    if isinstance(layer, keras.Model):  # the classes come out of a nested model: φ is its own penultimate layer
        inner = keras.Model(layer.inputs, _feature_tensor(layer))
        return inner(_input_of(tensor))
    if layer is None or _producer(_input_of(tensor)) is None:
        raise UserInputError(f"classifier {model.name!r} has no hidden layer before its output: sample quality is "
                             "measured in a hidden layer's features (give a `feature_layer`)")
    return _input_of(tensor)


def _named_tensor(model, name: str):
    try:
        return model.get_layer(name).output
    except ValueError as e:
        names = ", ".join(layer.name for layer in model.layers)
        raise UserInputError(f"classifier {model.name!r} has no layer {name!r} to read features from "
                             f"(`feature_layer`); its layers: {names}") from e


def features_and_outputs(model, feature_layer: str | None = None) -> keras.Model:
    """A model x -> [φ(x), C(x)] sharing C's weights: φ the output of `feature_layer` (one of C's own layers,
    by name) or, when None, C's penultimate representation."""
    outputs = _graph_output(model)
    features = _feature_tensor(model) if feature_layer is None else _named_tensor(model, feature_layer)
    return keras.Model(model.inputs, [features, outputs], name=f"{model.name}_features")
