"""Smaller and faster fitted models: int8 quantisation and magnitude pruning of the networks.

Each function takes a *fitted* estimator (a deep encoder, :class:`~mmlearn.heads.MLPHead`,
:class:`~mmlearn.fusion.JointFusion`, or any scikit-learn object that contains them, such
as a ``Pipeline`` or an ``EarlyFusion``) and returns a **new estimator of the same class**,
whose torch networks are replaced by compressed ones: ``transform``, ``predict`` and
``predict_proba`` work as before, ``clone`` gives the same unfitted estimator, and the
result pickles. The input estimator is never changed. A quantised estimator also saves
with :func:`mmlearn.io.save`: its networks are stored as their float class, a
quantisation plan (:func:`quantization_plan`) and int8 tensors (:func:`quantized_tensors`),
from which :func:`load_quantized` rebuilds them exactly.

Why functions and not new estimator classes: compression does not change what an
estimator *is* (its parameters, its input handling, its fitted vocabulary or log-mel
statistics), only the numbers inside its network. A wrapper class would have to forward
every method and attribute of every mmlearn estimator and of every scikit-learn meta
estimator around them; replacing the network in a deep copy keeps them all.

A network is found wherever a fitted estimator keeps one: a skorch net's ``module_``
(``net_.module_`` of the deep encoders, ``MLPHead`` and ``JointFusion``) or a bare
``module_`` (the pretrained encoders), in any step of a pipeline or a fusion
(:func:`find_networks`). :func:`network_inputs` records the tensors a network receives
from mmlearn's fitted inputs: the point where an exported graph begins
(:mod:`mmlearn.export`) and the data of a pruning fine-tune.

See ``docs/compression.md`` for the trade-offs measured on the shipped datasets.

The package holds one concept per module: :mod:`~mmlearn.compress.networks` (finding the
networks and their inputs), :mod:`~mmlearn.compress.quantization` (int8 quantisation),
:mod:`~mmlearn.compress.weight_only` (weight-only int8),
:mod:`~mmlearn.compress.storage` (saving and rebuilding quantised and structurally pruned
networks) and
:mod:`~mmlearn.compress.pruning` (magnitude pruning).
"""

from mmlearn.compress.networks import NetworkSlot, find_networks, network_bytes, network_inputs
from mmlearn.compress.pruning import prune, sparsity
from mmlearn.compress.quantization import QuantizedBlock, quantize
from mmlearn.compress.quantization import rebuild_block as _rebuild_block  # noqa: F401
from mmlearn.compress.storage import load_quantized, quantization_plan, quantized_tensors
from mmlearn.compress.weight_only import WeightOnlyInt8

# ``_rebuild_block`` is the name under which quantised estimators pickled before the
# module became a package refer to QuantizedBlock's rebuild function: they still load.

__all__ = [
    "NetworkSlot",
    "QuantizedBlock",
    "WeightOnlyInt8",
    "find_networks",
    "load_quantized",
    "network_bytes",
    "network_inputs",
    "prune",
    "quantization_plan",
    "quantize",
    "quantized_tensors",
    "sparsity",
]
