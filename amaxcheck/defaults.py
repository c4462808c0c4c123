"""Every default amaxcheck uses, in one place.

:class:`amaxcheck.ascent.config.AscentConfig`, :func:`amaxcheck.check`, the
gate CLI, ``[tool.amaxcheck]``, the pytest plugin and the hypothesis
strategies all read their defaults from here, so they cannot drift apart.
This module imports nothing (no TensorFlow).
"""
from __future__ import annotations

# --------------------------------------------------------------------------- the ascent
#: ascent steps per sample
STEPS = 256
#: independent starts per class, all in one batch (4 in 0.1: 2 changed no verdict of the validation zoo at
#: half the work, benchmarks/results/budget_zoo.md)
RESTARTS = 2
#: drives every random number of the ascent
SEED = 0
#: the model's raw input range
INPUT_RANGE = (0.0, 1.0)
#: Adam step size in parameter space
LEARNING_RATE = 0.05
#: weight of total variation in the default objective ``class_log_prob() - TV_WEIGHT * total_variation()``
TV_WEIGHT = 0.05
#: ``stop_plateau``: the least rise of the clean objective (log-probability units) that counts as progress
PLATEAU_TOL = 0.01
#: a sample stops once its clean objective has not risen by PLATEAU_TOL for this many steps (None: never)
STOP_PLATEAU = 64
#: steps per compiled chunk (best iterate and early stop are checked between chunks)
CHECK_EVERY = 16
#: most samples optimized at once
MAX_BATCH = 256
#: how optimized variables become an input
PARAMETERIZATION = "pixel"
#: per-step random transforms ("auto" scales with the image size)
TRANSFORMS = "auto"
#: what the class scores mean: "auto" (read from the model), "softmax", "binary" or "multilabel"
HEAD = "auto"
#: every head amaxcheck reads (see ``AscentConfig.head``)
HEADS = ("auto", "softmax", "binary", "multilabel")
#: where the ascent runs: None (TensorFlow's own placement), "all" or device names (``AscentConfig.devices``)
DEVICES = None

# --------------------------------------------------------------------------- the checks
#: target probability the best restart must reach
MIN_CONFIDENCE = 0.9
#: the target must rank within the top k classes
TOP_K = 1
#: a class (and the model) is degenerate above this value
MAX_DEGENERACY = 0.5
#: with labelled reference data, the share of a class's real examples the model must recognize
MIN_RECALL = 0.5
#: a class fails below this naturalness (0: reported, not enforced -- an ordinary CNN is not a defect)
MIN_NATURALNESS = 0.0
#: an inconclusive verdict fails the gate (--strict)
STRICT = False
#: restarts per class of each learned-nothing control twin
CONTROL_RESTARTS = 2
#: re-initialized twins the verdict compares the model with (the spread of the null)
CONTROL_TWINS = 3
#: classes each control twin ascends (a fixed sample: the controls do not depend on the classes checked;
#: 4 in 0.1: 2 changed no verdict, class outcome or reach answer of the digits zoo, benchmarks/results/budget_zoo.md)
CONTROL_CLASSES = 2
#: seed of the controls' twins and ascent (fixed: the verdict must not change with the user's seed)
CONTROL_SEED = 0

# --------------------------------------------------------------------------- trigger reversal (Neural Cleanse)
#: most optimization steps per class (classes stop early on patience)
TRIGGER_STEPS = 600
#: steps between two decisions of the cost schedule (one "epoch")
TRIGGER_EPOCH_STEPS = 10
#: reference images per step (Neural Cleanse: 32; 16 gave the same mask norms on the digits zoo at half the cost)
TRIGGER_BATCH_SIZE = 16
#: Adam step size on the mask and pattern variables (Neural Cleanse: 0.1)
TRIGGER_LEARNING_RATE = 0.1
#: weight of the mask's L1 sum once the attack succeeds (Neural Cleanse: 1e-3)
TRIGGER_INIT_COST = 1e-3
#: cost up by this factor after ``patience`` successful epochs, down by its 1.5th power after failing ones
TRIGGER_COST_MULTIPLIER = 1.5
#: attack success the schedule steers to (Neural Cleanse: 0.99)
TRIGGER_SUCCESS_TARGET = 0.99
#: epochs before the cost moves (Neural Cleanse: 5)
TRIGGER_PATIENCE = 5
#: epochs without a 1 % smaller mask before a class stops, once its cost went both up and down
TRIGGER_EARLY_STOP_PATIENCE = 10
#: share of the reference images held out to measure attack success
TRIGGER_HELD_OUT = 0.25
#: most stamped images in one forward pass (classes x batch size)
TRIGGER_MAX_IMAGES = 512
#: fewest reference images trigger reversal accepts
TRIGGER_MIN_REFERENCE = 10
#: anomaly index above which a class with a small mask is flagged (Neural Cleanse: 2)
TRIGGER_ANOMALY_THRESHOLD = 2.0
#: a flagged trigger's mask is at most this share of the median class's mask (the effect size a planted stamp shows)
TRIGGER_MAX_RATIO = 0.5
#: fewest classes for which the median absolute deviation across classes is a usable statistic
TRIGGER_MIN_CLASSES = 6

# --------------------------------------------------------------------------- outputs
#: real reference images shown per class in the HTML report (``--html``, ``--amax-html``), the first of each class
HTML_REFERENCE_EXAMPLES = 4

# --------------------------------------------------------------------------- caches
#: compiled engines kept per live model (tracing costs seconds; each engine holds a traced graph)
ENGINE_CACHE_SIZE = 8
#: synthesis results and control statistics kept per process (plain arrays; no model is held)
RESULT_CACHE_SIZE = 64
