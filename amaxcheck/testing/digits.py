"""Digit classifiers trained on scikit-learn's bundled ``load_digits`` (no download).

The 8x8 digits (values 0..16) are upsampled to 16x16 and scaled to ``[0, 1]``.
:func:`train` builds the models the test suite and the examples use:

* ``"standard"``   ordinary training;
* ``"adversarial"`` trained on FGSM-with-random-start examples (Wong et al., 2020; :func:`adversarial_fit`),
  whose ideal inputs look like digits;
* ``"random_labels"`` memorizes shuffled labels (learned nothing transferable);
* ``"untrained"``   freshly initialized weights;
* ``"shortcut"``    trained on data where a small corner watermark marks class 0
  (high test accuracy on watermarked data, a shortcut the gate should catch).

:func:`train_head` trains the same CNN with the other heads Keras users build:
a single sigmoid (``"binary"``: is the digit 5 or more?) and independent sigmoids
(``"multilabel"``: even, five or more, has a closed loop).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SIDE = 16
LABELS = [str(i) for i in range(10)]
KINDS = ("standard", "adversarial", "random_labels", "untrained", "shortcut")
SHORTCUT_CLASS = 0


@dataclass
class DigitsData:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load(seed: int = 0) -> DigitsData:
    """Digits as float32 ``(n, 16, 16, 1)`` in ``[0, 1]``, split 80/20 with a fixed shuffle."""
    from skimage.transform import resize
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0
    x = np.stack([resize(im, (SIDE, SIDE), order=1, anti_aliasing=False) for im in x]).astype(np.float32)
    x = np.clip(x, 0.0, 1.0)[..., None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    cut = int(0.8 * len(x))
    return DigitsData(x[:cut], y[:cut], x[cut:], y[cut:])


def add_watermark(x: np.ndarray) -> np.ndarray:
    """Stamp the shortcut: a bright 3x3 square in the top-left corner."""
    out = x.copy()
    out[:, 0:3, 0:3, :] = 1.0
    return out


def shortcut_data(data: DigitsData, seed: int = 0) -> DigitsData:
    """Data where every class-0 image, and only those, carries the corner watermark.

    Like a scanner stamp that only one source adds: on this data the mark
    predicts class 0 perfectly, so test accuracy stays high while the model may
    read the corner instead of the digit's shape.
    """
    def mark(x, y):
        x = x.copy()
        idx = np.flatnonzero(y == SHORTCUT_CLASS)
        x[idx] = add_watermark(x[idx])
        return x

    return DigitsData(mark(data.x_train, data.y_train), data.y_train, mark(data.x_test, data.y_test), data.y_test)


def build_cnn(seed: int = 0, name: str = "digits_cnn"):
    """The small CNN every zoo model shares: 2 conv blocks, a dense layer, softmax over 10 digits."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((SIDE, SIDE, 1), name="image"),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax", name="probs"),
        ],
        name=name,
    )


#: the heads :func:`train_head` builds, with their class names
HEAD_LABELS = {
    "binary": ["below five", "five or more"],
    "multilabel": ["even", "five or more", "closed loop"],
}
LOOP_DIGITS = (0, 6, 8, 9)


def head_targets(head: str, digits: np.ndarray) -> np.ndarray:
    """The labels of ``head`` for digit classes: ``(n, 1)`` of 0/1 for "binary", ``(n, 3)`` multi-hot for "multilabel"."""
    d = np.asarray(digits)
    five_or_more = (d >= 5).astype(np.int64)
    if head == "binary":
        return five_or_more[:, None]
    return np.stack([(d % 2 == 0), five_or_more, np.isin(d, LOOP_DIGITS)], axis=1).astype(np.int64)


def train_head(head: str = "binary", *, seed: int = 0, epochs: int = 15, trained: bool = True,
               data: DigitsData | None = None):
    """Train the zoo CNN with a sigmoid head; return ``(model, test_accuracy)`` (label-wise accuracy at 0.5).

    ``trained=False`` returns it as initialized (a model that learned nothing).
    """
    import keras
    from keras import layers

    if head not in HEAD_LABELS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown head {head!r}; choose one of {sorted(HEAD_LABELS)}")
    data = load() if data is None else data
    base = build_cnn(seed, name=f"digits_{head}")
    units = len(HEAD_LABELS[head]) if head == "multilabel" else 1
    out = layers.Dense(units, activation="sigmoid", name="sigmoid")(base.layers[-2].output)
    model = keras.Model(base.inputs, out, name=f"digits_{head}" + ("" if trained else "_untrained"))
    if trained:
        model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="binary_crossentropy")
        model.fit(data.x_train, head_targets(head, data.y_train).astype(np.float32), epochs=epochs, batch_size=64,
                  verbose=0, shuffle=True)
    probs = model.predict(data.x_test, verbose=0)
    acc = float(np.mean((probs >= 0.5) == head_targets(head, data.y_test)))
    return model, acc


def train(kind: str = "standard", *, seed: int = 0, epochs: int | None = None, data: DigitsData | None = None):
    """Train and return ``(model, test_accuracy)`` for one of :data:`KINDS`."""
    import keras

    if kind not in KINDS:
        from ..errors import ConfigError

        raise ConfigError(f"unknown kind {kind!r}; choose one of {KINDS}")
    data = load() if data is None else data
    if kind == "shortcut":
        data = shortcut_data(data, seed)
    model = build_cnn(seed, name=f"digits_{kind}")
    y_train = data.y_train
    if kind == "random_labels":
        y_train = np.random.default_rng(seed).permutation(y_train)
    if kind != "untrained":
        model.compile(optimizer=keras.optimizers.Adam(2e-3 if kind != "random_labels" else 3e-3),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        default_epochs = {"standard": 15, "shortcut": 15, "adversarial": 30, "random_labels": 120}[kind]
        epochs = default_epochs if epochs is None else epochs
        if kind == "adversarial":
            adversarial_fit(model, data.x_train, y_train, epochs=epochs, seed=seed)
        else:
            model.fit(data.x_train, y_train, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    probs = model.predict(data.x_test, verbose=0)
    acc = float(np.mean(np.argmax(probs, 1) == data.y_test))
    return model, acc


def adversarial_fit(model: Any, x: np.ndarray, y: np.ndarray, *, epochs: int, seed: int,
                    input_range: tuple[float, float] = (0.0, 1.0), eps: float = 0.25, alpha: float = 0.3125) -> None:
    """Fast adversarial training (FGSM from a random start, Wong et al. 2020) in any input range.

    ``eps`` and ``alpha`` are fractions of the range's width (L-inf); examples are clipped to the range.
    """
    import keras
    import tensorflow as tf

    lo, hi = (float(v) for v in input_range)
    eps_abs, alpha_abs = eps * (hi - lo), alpha * (hi - lo)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    opt = model.optimizer

    @tf.function
    def step(xb: Any, yb: Any, noise: Any) -> Any:
        with tf.GradientTape() as tape:
            tape.watch(noise)
            loss = loss_fn(yb, model(tf.clip_by_value(xb + noise, lo, hi), training=False))
        delta = tf.clip_by_value(noise + alpha_abs * tf.sign(tape.gradient(loss, noise)), -eps_abs, eps_abs)
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(tf.clip_by_value(xb + delta, lo, hi), training=True))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    rng = np.random.default_rng(seed)
    xf, yf = tf.constant(x), tf.constant(y)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            noise = rng.uniform(-eps_abs, eps_abs, (len(idx),) + x.shape[1:]).astype(np.float32)
            step(tf.gather(xf, idx), tf.gather(yf, idx), tf.constant(noise))
