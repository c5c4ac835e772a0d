"""Everything that differs between the Keras backends, in one module.

The library's compute is written once against Keras 3 (`keras.ops`,
`Model.stateless_call`); this module holds the few pieces that cannot be:

- `compile`: `tf.function` on TensorFlow, `jax.jit` on JAX (always XLA);
- `scan`: a loop that stacks one output per step (Keras's TensorFlow
  `ops.scan` needs outputs shaped like the carry; ours does not);
- `standard_normal` / `uniform_indices`: counter-based noise keyed by
  (seed, i, j), e.g. the noise ε_t of reinjection t of restart k is keyed
  by (seed, k, t). TensorFlow uses a stateless Philox generator, JAX its
  threefry keys; the two backends draw different (equally valid) numbers,
  each reproducible from the seed alone;
- `student_trainer`: one Adam step of the student classifier
  (GradientTape and `apply_gradients` on TensorFlow; `stateless_call`,
  `jax.value_and_grad` and `optimizer.stateless_apply` on JAX);
- `block_trainer`: K steps of a compiled model's own `train_step` in one
  compiled call (a `tf.function` loop on TensorFlow; `jax.lax.scan` over the
  stateless step on JAX);
- `describe` and `accelerators`: the backend, its version and its devices;
- `make_deterministic`: op determinism.

The backend is Keras's: TensorFlow by default, `KERAS_BACKEND=jax` for JAX.
Nothing here imports TensorFlow when the backend is JAX.
"""

from __future__ import annotations

import importlib
from typing import Callable

import keras

from aesampling.errors import UserInputError

SUPPORTED = ("tensorflow", "jax")
_NOISE_SALT = 0x5EED


def name() -> str:
    """The Keras backend in use: "tensorflow" or "jax"."""
    backend = keras.backend.backend()
    if backend not in SUPPORTED:
        raise UserInputError(f"aesampling runs on the Keras backends {SUPPORTED}, not {backend!r} "
                             "(set KERAS_BACKEND)")
    return backend


def is_jax() -> bool:
    return name() == "jax"


def version() -> str:
    """The version of the backend's library."""
    return importlib.import_module(name()).__version__


def accelerators() -> list[str]:
    """Names of the GPUs (or other accelerators) the backend sees; empty on a CPU-only machine."""
    if is_jax():
        import jax

        return [f"{d.platform}:{d.id} {getattr(d, 'device_kind', '')}".strip()
                for d in jax.devices() if d.platform != "cpu"]
    import tensorflow as tf

    return [d.name for d in tf.config.list_physical_devices("GPU")]


def accelerator_model() -> str | None:
    """The model name of the first accelerator (e.g. "NVIDIA H200"), or None without one."""
    if is_jax():
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
        return getattr(devices[0], "device_kind", devices[0].platform) if devices else None
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu") if gpus else None


def describe() -> dict:
    """The backend, its version and the Keras version, for run records."""
    return {"backend": name(), "backend_version": version(), "keras": keras.__version__}


def make_deterministic() -> None:
    """Same seed, same bits: TensorFlow's op determinism; JAX's CPU and GPU ops are deterministic
    except scatter-adds on GPU, which the library does not use."""
    if not is_jax():
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def compile(fn: Callable, *, jit_compile: bool = False, static_argnames: tuple[str, ...] = ()) -> Callable:
    """`fn` as one compiled function.

    TensorFlow: a tf.function (XLA when `jit_compile`); Python arguments are
    static there. JAX: jax.jit, which always compiles with XLA, with
    `static_argnames` static.
    """
    if is_jax():
        import jax

        return jax.jit(fn, static_argnames=static_argnames)
    import tensorflow as tf

    return tf.function(fn, jit_compile=jit_compile)


def wait(tensor):
    """`tensor` once the backend has finished computing it (JAX and GPUs compute asynchronously): what a timing
    waits on before it reads the clock."""
    if is_jax():
        import jax

        return jax.block_until_ready(tensor)
    import tensorflow as tf

    tf.reshape(tensor, [-1])[:1].numpy()  # reading an element waits for the device; no copy of the rest
    return tensor


def scan(body: Callable, carry, start, length: int):
    """Runs `carry, y_t = body(carry, t)` for t = start .. start + length - 1; returns (carry, stacked y_t).

    `length` is a Python int; the y_t are float32 tensors of one shape. Traceable.
    """
    if is_jax():
        import jax
        import jax.numpy as jnp

        return jax.lax.scan(body, carry, start + jnp.arange(length, dtype="int32"))
    import tensorflow as tf

    def step(i, carry, outputs):
        carry, y = body(carry, start + i)
        return i + 1, carry, outputs.write(i, y)

    _, carry, outputs = tf.while_loop(lambda i, *_: i < length, step,
                                      (tf.constant(0, tf.int32), carry, tf.TensorArray(tf.float32, size=length)))
    return carry, outputs.stack()


def _tf_key(seed, i, j):
    import tensorflow as tf

    key = tf.stack([tf.cast(seed, tf.int64), tf.constant(_NOISE_SALT, tf.int64)])
    key = tf.random.experimental.stateless_fold_in(key, tf.cast(i, tf.int64), alg="philox")
    return tf.random.experimental.stateless_fold_in(key, tf.cast(j, tf.int64), alg="philox")


def _jax_key(seed, i, j):
    import jax

    key = jax.random.fold_in(jax.random.key(seed), _NOISE_SALT)
    return jax.random.fold_in(jax.random.fold_in(key, i), j)


def standard_normal(seed, i, j, shape) -> object:
    """float32 N(0, I) draws of `shape` keyed by (seed, i, j); traceable."""
    if is_jax():
        import jax

        return jax.random.normal(_jax_key(seed, i, j), shape, dtype="float32")
    import tensorflow as tf

    return tf.random.stateless_normal(shape, seed=_tf_key(seed, i, j), alg="philox")


def uniform_indices(seed, i, j, count: int, maxval: int) -> object:
    """`count` int32 indices uniform in [0, maxval), keyed by (seed, i, j); traceable."""
    if is_jax():
        import jax

        return jax.random.randint(_jax_key(seed, i, j), (count,), 0, maxval, dtype="int32")
    import tensorflow as tf

    return tf.random.stateless_uniform((count,), seed=_tf_key(seed, i, j), maxval=maxval, dtype=tf.int32,
                                       alg="philox")


def variable_values(variables) -> list:
    """The current values of Keras variables as backend tensors."""
    return [v.value for v in variables]


class _TensorFlowTrainer:
    """The student's Adam step on TensorFlow: the weights live in the model's variables (state is empty)."""

    def __init__(self, student, optimizer, loss):
        self.student, self.optimizer, self.loss = student, optimizer, loss

    def initial_state(self):
        return ()

    def step(self, state, x, y, sample_weight=None):
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = self.loss(y, self.student(x, training=True), sample_weight=sample_weight)
        grads = tape.gradient(loss, self.student.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.student.trainable_variables))
        return state, loss

    def weights(self, state):
        return (variable_values(self.student.trainable_variables),
                variable_values(self.student.non_trainable_variables))

    def store(self, state) -> None:
        """Nothing to do: the step updated the variables in place."""


class _JaxTrainer:
    """The student's Adam step on JAX: state = (trainable, non-trainable, optimizer values), passed through."""

    def __init__(self, student, optimizer, loss):
        self.student, self.optimizer, self.loss = student, optimizer, loss

    def initial_state(self):
        return (variable_values(self.student.trainable_variables),
                variable_values(self.student.non_trainable_variables),
                variable_values(self.optimizer.variables))

    def step(self, state, x, y, sample_weight=None):
        import jax

        trainable, non_trainable, optimizer_values = state

        def loss_of(weights):
            predictions, updated = self.student.stateless_call(weights, non_trainable, x, training=True)
            return self.loss(y, predictions, sample_weight=sample_weight), updated

        (loss, non_trainable), grads = jax.value_and_grad(loss_of, has_aux=True)(trainable)
        trainable, optimizer_values = self.optimizer.stateless_apply(optimizer_values, grads, trainable)
        return (trainable, non_trainable, optimizer_values), loss

    def weights(self, state):
        return state[0], state[1]

    def store(self, state) -> None:
        """Writes the state back into the Keras variables (for checkpoints and saving)."""
        variables = [*self.student.trainable_variables, *self.student.non_trainable_variables,
                     *self.optimizer.variables]
        for variable, value in zip(variables, [*state[0], *state[1], *state[2]]):
            variable.assign(value)


def student_trainer(student, optimizer, loss):
    """The student's training step for this backend.

    The returned object has `initial_state()`, `step(state, x, y,
    sample_weight=None) -> (state, loss)` (traceable: it runs inside the compiled epoch), `weights(state)`
    -> (trainable, non-trainable) values for `models.apply`, and
    `store(state)`, which makes the Keras variables hold the state.
    """
    optimizer.build(student.trainable_variables)
    cls = _JaxTrainer if is_jax() else _TensorFlowTrainer
    return cls(student, optimizer, loss)


def block_trainer(model) -> Callable:
    """`train(xs, ys, sample_weights=None)`: K steps of a compiled Keras model in one compiled call.

    The K batches come stacked on a leading axis, xs of shape (K, rows, ...), ys likewise, sample_weights (K, rows)
    or None; step k is the model's own `train_step` on (xs[k], ys[k], sample_weights[k]), the step that
    `model.train_on_batch` takes (on the CPU, the same weights to the bit as K calls of it), and the result is left
    in the model's variables. One call per block spares the per-call work of `train_on_batch` (gathering and
    writing back every variable, converting the batch): a fifth to a third of the continual learner's step on two
    CPU cores (the benchmark's learner step). Nothing can be built inside the compiled call: a model that is not
    built yet, or that has metrics of its own, takes its first step through `train_on_batch`, which builds them.
    """
    pending = [True]  # the first call, which builds what the compiled loop cannot

    def first_step(xs, ys, sample_weights) -> int:
        """Steps taken before the compiled loop: 1 where Keras has to build something first, else 0."""
        pending[0] = False
        if model.built and model.metrics_names in ([], ["loss"]):
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            return 0
        model.train_on_batch(xs[0], ys[0], sample_weight=None if sample_weights is None else sample_weights[0])
        return 1

    if is_jax():
        import jax

        def groups():
            return (model.trainable_variables, model.non_trainable_variables, model.optimizer.variables,
                    model.metrics_variables)

        def run(state, data):
            return jax.lax.scan(lambda carry, step: (model.train_step(carry, step)[1], None), state, data)[0]

        compiled = jax.jit(run)

        def loop(data):
            state = compiled(tuple([v.value for v in group] for group in groups()), data)
            for group, values in zip(groups(), state):
                for variable, value in zip(group, values):
                    variable.assign(value)
    else:
        import tensorflow as tf

        def run(data):
            for k in tf.range(tf.shape(data[0])[0]):
                model.train_step(tuple(part[k] for part in data))

        compiled = tf.function(run, jit_compile=bool(model.jit_compile))
        loop = compiled

    def train(xs, ys, sample_weights=None):
        done = first_step(xs, ys, sample_weights) if pending[0] else 0
        data = (xs[done:], ys[done:]) if sample_weights is None else (xs[done:], ys[done:], sample_weights[done:])
        if len(data[0]):
            loop(data)

    return train
