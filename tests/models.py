"""Small real Keras models for error-path and API tests (built here, never mocked).

Behaviour tests use the trained digits models (root conftest / amaxcheck.testing.digits);
these tiny architectures exist to exercise model shapes the digits CNN does not have.
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops


def tiny_cnn(shape=(12, 12, 3), n_classes=4, head="dense_softmax", seed=0, name="tiny"):
    """A small conv net whose final layer is chosen by ``head``."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input(shape, name="image")
    x = layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = layers.GlobalAveragePooling2D()(x)
    if head == "dense_softmax":
        out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    elif head == "activation_softmax":
        out = layers.Activation("softmax", name="act")(layers.Dense(n_classes, name="logits")(x))
    elif head == "softmax_layer":
        out = layers.Softmax(name="sm")(layers.Dense(n_classes, name="logits")(x))
    elif head == "logits":
        out = layers.Dense(n_classes, name="logits")(x)
    else:
        raise ValueError(head)
    return keras.Model(inp, out, name=name)


class SubclassedNet(keras.Model):
    """A subclassed model: no declared inputs/outputs, softmax applied inside call()."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.conv = layers.Conv2D(4, 3, padding="same", activation="relu")
        self.pool = layers.GlobalAveragePooling2D()
        self.dense = layers.Dense(n_classes)

    def call(self, x, training=False):
        return ops.softmax(self.dense(self.pool(self.conv(x))))


class StopGradient(layers.Layer):
    """Cuts the gradient (like argmax/rounding steps in real pipelines)."""

    def call(self, x):
        return ops.stop_gradient(x)


class ExplodesAboveHalf(layers.Layer):
    """Returns NaN once any input value passes 0.6: a numerically broken layer."""

    def call(self, x):
        return ops.log(0.6 - ops.max(x, axis=(1, 2, 3), keepdims=True)) + x


def no_gradient_model():
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(2, 3, padding="same", name="conv")(inp)
    x = StopGradient(name="cut_here")(x)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def dead_relu_model():
    """Every ReLU is off for every input in [0, 1]: non-negative inputs, non-positive weights, zero bias."""
    inp = keras.Input((8, 8, 1))
    x = layers.Conv2D(2, 3, padding="same", activation="relu", kernel_initializer="zeros", name="dead_conv")(inp)
    x = layers.Flatten()(x)
    model = keras.Model(inp, layers.Dense(3, activation="softmax")(x))
    conv = model.get_layer("dead_conv")
    conv.kernel.assign(-np.abs(np.random.default_rng(0).normal(size=conv.kernel.shape)).astype(np.float32))
    return model


def off_at_mid_grey_model():
    """ReLUs that are off near mid-grey (where the ascent starts) but fire elsewhere in [0, 1]."""
    inp = keras.Input((8, 8, 1))
    flat = layers.Flatten()(inp)
    hidden = layers.Dense(4, activation="relu", name="contrast_detector")(flat)
    model = keras.Model(inp, layers.Dense(3, activation="softmax")(hidden))
    kernel = np.zeros((64, 4), np.float32)
    for unit in range(4):  # unit fires when pixel 2u is brighter than pixel 2u+1 by more than 0.3
        kernel[2 * unit, unit], kernel[2 * unit + 1, unit] = 1.0, -1.0
    model.get_layer("contrast_detector").set_weights([kernel, np.full(4, -0.3, np.float32)])
    return model


def nan_model():
    inp = keras.Input((8, 8, 1))
    x = ExplodesAboveHalf(name="explodes")(inp)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def integer_input_model():
    inp = keras.Input((10,), dtype="int32")
    x = layers.Embedding(50, 4)(inp)
    x = layers.Flatten()(x)
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def tabular_model(n_features=20, n_classes=3, seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((n_features,), name="features")
    x = layers.Dense(16, activation="relu")(inp)
    return keras.Model(inp, layers.Dense(n_classes, activation="softmax")(x))


def multi_io_model():
    img = keras.Input((8, 8, 1), name="image")
    meta = keras.Input((3,), name="meta")
    x = layers.Flatten()(layers.Conv2D(4, 3, padding="same", activation="relu")(img))
    x = layers.Concatenate()([x, meta])
    cls = layers.Dense(4, activation="softmax", name="cls")(x)
    box = layers.Dense(4, name="box")(x)
    return keras.Model([img, meta], [cls, box])


def video_model():
    inp = keras.Input((4, 8, 8, 1))
    x = layers.Flatten()(layers.Conv3D(2, 3, padding="same")(inp))
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def undefined_size_model():
    inp = keras.Input((None, None, 1))
    x = layers.GlobalAveragePooling2D()(layers.Conv2D(2, 3, padding="same")(inp))
    return keras.Model(inp, layers.Dense(3, activation="softmax")(x))


def single_softmax_unit_model():
    """A softmax over one unit: 1.0 for every input (a single sigmoid unit is a binary head, see test_heads)."""
    inp = keras.Input((8, 8, 1))
    return keras.Model(inp, layers.Dense(1, activation="softmax")(layers.Flatten()(inp)))


def weights_of(model) -> list[np.ndarray]:
    return [np.array(w) for w in model.get_weights()]
