"""The benchmark grid: encoder family x fusion x modalities x head -> candidate pipelines.

Three registries say what each axis value builds, so a new encoder family, fusion
strategy or head is one entry, not a rewrite:

- ``ENCODERS[family][modality](columns, options)`` returns the routes
  ``[(name, encoder, column or columns), ...]`` that encode those columns;
- ``FUSIONS[fusion](routes, head, options, memory)`` returns the estimator combining the
  routes and head, caching encoders in ``memory`` (a ``joblib.Memory`` or None) where it
  can (single-modality candidates use an EarlyFusion of that modality's routes alone);
  ``"voting"`` brings its own head (``OWN_HEAD``);
- ``HEADS[head](seed)`` returns a fresh final estimator.

:data:`PRESETS` name the grids ``mmlearn bench`` runs: ``"default"`` (the main job, sized
to finish in minutes) and ``"full"`` (every registered value of every axis).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.dummy import DummyClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.svm import SVC

from mmlearn.bench._cache import CachedEncoder

__all__ = [
    "ENCODERS",
    "FUSIONS",
    "HEADS",
    "DEFAULT_HEADS",
    "PRESETS",
    "Candidate",
    "EncoderOptions",
    "Preset",
    "build_candidates",
]

MODALITY_ORDER = ("image", "audio", "text", "tabular")

Route = tuple[str, object, "str | list[str]"]


@dataclass(frozen=True)
class EncoderOptions:
    """Settings the encoder factories read.

    Attributes
    ----------
    sample_rate : int or None
        Audio sample rate (Hz); None for the rate the data declares
        (:func:`mmlearn.set_sample_rate`).
    image_size : int, (H, W) or None
        Resize images to this size; None keeps their (common) size.
    random_state : int
        Seed for encoders that need one.
    """

    sample_rate: int | None = None
    image_size: int | tuple[int, int] | None = None
    random_state: int = 0


@dataclass
class Candidate:
    """One cell of the grid.

    Attributes
    ----------
    family : str
        Encoder family, e.g. ``"classical"``.
    fusion : str
        ``"early"`` (or another fused strategy) for several modalities, ``"<modality> only"``
        for one.
    modalities : tuple of str
        The modalities used, in the order image, audio, text, tabular.
    head : str
        The head's key, e.g. ``"svc"``.
    estimator : Pipeline
        The unfitted pipeline ``DataFrame -> label``.
    routes : list of (name, encoder, columns)
        The encoders inside ``estimator`` (without any cache wrapper), for warm-up runs.
    """

    family: str
    fusion: str
    modalities: tuple[str, ...]
    head: str
    estimator: object = field(repr=False)
    routes: list = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        """A unique readable label, e.g. ``classical / early / image+audio / svc``."""
        modalities = "+".join(self.modalities) or "none"
        return " / ".join([self.family, self.fusion, modalities, self.head])


# --------------------------------------------------------------------------- encoders

def _route_name(modality: str, column: str, n_columns: int) -> str:
    if n_columns == 1:
        return modality
    # Route names become feature-name prefixes and get_params keys: no "__", no spaces.
    return f"{modality}_" + re.sub(r"\W+", "_", str(column)).strip("_").lower()


def _per_column(modality: str, make: Callable[[], object]):
    def routes(columns: Sequence[str], options: EncoderOptions) -> list[Route]:
        return [(_route_name(modality, c, len(columns)), make(options), c) for c in columns]

    return routes


# Scaling is per modality, where it helps: MFCC statistics have wildly different ranges, and
# centred pixels make logistic regression converge much faster. TF-IDF rows are already
# L2-normalised; scaling each word by its standard deviation lets rare words dominate the
# distances (it cut emoji-name accuracy sharply for SVC and k-NN), so text is left as it is.

def _classical_image(options: EncoderOptions):
    from mmlearn.encoders import ImagePixelEncoder

    return make_pipeline(ImagePixelEncoder(size=options.image_size), StandardScaler())


def _classical_audio(options: EncoderOptions):
    from mmlearn.encoders import AudioMFCCEncoder

    # None reads the rate the data declares; an explicit one must agree with it.
    return make_pipeline(AudioMFCCEncoder(sample_rate=options.sample_rate), StandardScaler())


def _classical_text(options: EncoderOptions):
    return TfidfVectorizer(sublinear_tf=True)


def _classical_tabular(columns: Sequence[str], options: EncoderOptions) -> list[Route]:
    # Column kinds are resolved at fit time from the dtypes, so no data is needed here.
    numeric = make_pipeline(SimpleImputer(), StandardScaler())
    other = make_pipeline(SimpleImputer(strategy="most_frequent"),
                          OneHotEncoder(handle_unknown="ignore"))
    encoder = ColumnTransformer([
        ("num", numeric, make_column_selector(dtype_include="number")),
        ("cat", other, make_column_selector(dtype_exclude="number")),
    ])
    return [("tabular", encoder, list(columns))]


# Deep encoders are trained (supervised, early stopping on a seeded validation split) on each
# training fold; their ReLU embeddings are standardised so that SVC and k-NN see unit scales.

def _deep_image(options: EncoderOptions):
    from mmlearn.encoders import ImageCNNEncoder

    encoder = ImageCNNEncoder(size=options.image_size, random_state=options.random_state)
    return make_pipeline(encoder, StandardScaler())


def _deep_audio(options: EncoderOptions):
    from mmlearn.encoders import AudioCNNEncoder

    return make_pipeline(AudioCNNEncoder(sample_rate=options.sample_rate,
                                         random_state=options.random_state),
                         StandardScaler())


def _deep_text(options: EncoderOptions):
    from mmlearn.encoders import TextRNNEncoder

    return make_pipeline(TextRNNEncoder(random_state=options.random_state), StandardScaler())


# Pretrained encoders are frozen: fit learns no weights, so every fold costs one embedding
# pass (shared by the heads through the encoder cache). Their pooled features are
# standardised like the deep ones.
# Images at 96 pixels: the bench embeds every row once per fold, and 224 (the backbone's
# training size) costs about five times as much, for a few points of accuracy on emoji
# (docs/pretrained_images.md).
PRETRAINED_IMAGE_SIZE = 96


def _pretrained_image(options: EncoderOptions):
    from mmlearn.encoders import PretrainedImageEncoder

    size = options.image_size if options.image_size is not None else PRETRAINED_IMAGE_SIZE
    return make_pipeline(PretrainedImageEncoder(size=size), StandardScaler())


def _pretrained_audio(options: EncoderOptions):
    from mmlearn.encoders import PretrainedAudioEncoder

    # Its spectrogram images at the same size as the images, for the same cost reason.
    encoder = PretrainedAudioEncoder(sample_rate=options.sample_rate, size=PRETRAINED_IMAGE_SIZE)
    return make_pipeline(encoder, StandardScaler())


def _pretrained_text(options: EncoderOptions):
    from mmlearn.encoders import PretrainedTextEncoder

    return make_pipeline(PretrainedTextEncoder(), StandardScaler())


ENCODERS: dict[str, dict[str, Callable[[Sequence[str], EncoderOptions], list[Route]]]] = {
    "classical": {
        "image": _per_column("image", _classical_image),
        "audio": _per_column("audio", _classical_audio),
        "text": _per_column("text", _classical_text),
        "tabular": _classical_tabular,
    },
    # Tabular columns have no deep encoder of their own: both families share the classical
    # one, so a deep-vs-classical comparison differs only where the encoders do.
    "deep": {
        "image": _per_column("image", _deep_image),
        "audio": _per_column("audio", _deep_audio),
        "text": _per_column("text", _deep_text),
        "tabular": _classical_tabular,
    },
    "pretrained": {
        "image": _per_column("image", _pretrained_image),
        "audio": _per_column("audio", _pretrained_audio),
        "text": _per_column("text", _pretrained_text),
        "tabular": _classical_tabular,
    },
}


# ----------------------------------------------------------------------------- fusion

def _cached(routes: list[Route], memory) -> list[Route]:
    if memory is None:
        return routes
    return [(name, CachedEncoder(enc, memory=memory), cols) for name, enc, cols in routes]


def _single(routes: list[Route], head, options: EncoderOptions, memory) -> Pipeline:
    from mmlearn.fusion import EarlyFusion

    return Pipeline([("fusion", EarlyFusion(_cached(routes, memory))), ("head", head)])


def _early(routes: list[Route], head, options: EncoderOptions, memory) -> Pipeline:
    from mmlearn.fusion import EarlyFusion

    # Balanced blocks: otherwise 3,072 standardised pixels drown one TF-IDF row. On emoji
    # (32x32) this lifted classical fusion + SVC from 0.668 (= image only) to 0.734, and
    # cost 0.6 points with logistic regression on AV-digits (docs/bench.md).
    fusion = EarlyFusion(_cached(routes, memory), weights="balanced")
    return Pipeline([("fusion", fusion), ("head", head)])


# Folds of LateFusion's own cross-fitting inside each outer training fold. Every modality's
# encoder is trained LATE_CV + 1 times per outer fold, so 3 (not StackingClassifier's 5)
# keeps the deep family affordable.
LATE_CV = 3


def _per_modality_classifiers(routes: list[Route], memory) -> list[Route]:
    # Logistic regression gives each modality fast, reasonably calibrated probabilities;
    # the candidate's head then decides how to combine them.
    return [(name, make_pipeline(enc, LogisticRegression(max_iter=1000)), cols)
            for name, enc, cols in _cached(routes, memory)]


def _late(routes: list[Route], head, options: EncoderOptions, memory) -> Pipeline:
    from mmlearn.fusion import LateFusion

    fusion = LateFusion(_per_modality_classifiers(routes, memory), cv=LATE_CV)
    return Pipeline([("fusion", fusion), ("head", head)])


def _voting(routes: list[Route], head, options: EncoderOptions, memory) -> Pipeline:
    from mmlearn.heads import VotingHead

    return _late(routes, VotingHead(), options, memory)


def _joint_branch(encoder):
    # A deep encoder's network becomes a branch of the joint network (trained end to end,
    # so the scaler that follows it elsewhere has no role); any other encoder feeds an MLP
    # branch.
    from mmlearn.fusion import is_deep_encoder

    if isinstance(encoder, Pipeline) and is_deep_encoder(encoder.steps[0][1]):
        return encoder.steps[0][1]
    return encoder


def _joint(routes: list[Route], head, options: EncoderOptions, memory) -> Pipeline:
    from mmlearn.fusion import JointFusion

    fusion = JointFusion([(name, _joint_branch(enc), cols) for name, enc, cols in routes],
                         random_state=options.random_state)
    # The whole joint network is one encoder here: cached, every head of a fold shares it.
    fusion = fusion if memory is None else CachedEncoder(fusion, memory=memory)
    return Pipeline([("fusion", fusion), ("scale", StandardScaler()), ("head", head)])


FUSIONS: dict[str, Callable[..., object]] = {
    "early": _early,
    "late": _late,
    "voting": _voting,
    "joint": _joint,
}
# Fusions that bring their own head: one candidate each, whatever the heads axis says.
OWN_HEAD = {"voting": "voting"}


# ------------------------------------------------------------------------------ heads

def _mlp(seed: int):
    from mmlearn.heads import MLPHead

    return MLPHead(random_state=seed)


HEADS: dict[str, Callable[[int], object]] = {
    "svc": lambda seed: SVC(),
    "knn": lambda seed: KNeighborsClassifier(),
    "logreg": lambda seed: LogisticRegression(max_iter=1000, random_state=seed),
    "mlp": _mlp,
}
# The neural head trains for seconds per fold where the others take milliseconds: opt-in.
DEFAULT_HEADS = ("svc", "knn", "logreg")


# ------------------------------------------------------------------------------- grid

@dataclass(frozen=True)
class Preset:
    """A named grid: the axes, the cells left out, and the deep models' epoch budget.

    Attributes
    ----------
    families, fusions, heads : tuple of str
        Keys of :data:`ENCODERS`, :data:`FUSIONS` and :data:`HEADS`; an empty tuple means
        every registered key.
    skip : tuple of (family, fusion)
        Fused cells left out (their single-modality rows stay).
    max_epochs : int or None
        Upper bound on every ``max_epochs`` of the candidates' deep models (encoders,
        JointFusion, MLPHead); None keeps their own. Early stopping still applies below it.
    """

    families: tuple[str, ...] = ()
    fusions: tuple[str, ...] = ()
    heads: tuple[str, ...] = ()
    skip: tuple[tuple[str, str], ...] = ()
    max_epochs: int | None = None

    def axes(self) -> dict[str, tuple[str, ...]]:
        """``{"families": ..., "fusions": ..., "heads": ...}``, empty axes filled in with
        every key registered now (so a family added to :data:`ENCODERS` joins ``full``)."""
        return {"families": self.families or tuple(ENCODERS),
                "fusions": self.fusions or tuple(FUSIONS),
                "heads": self.heads or tuple(HEADS)}


#: The grids ``mmlearn bench --preset NAME`` runs (``docs/bench.md`` measures both).
PRESETS: dict[str, Preset] = {
    # The main job: deep or classical, and which fusion level, on the same folds. Deep late
    # fusion retrains each deep encoder on every inner fold of its cross-fitting (LATE_CV
    # + 1 trainings per outer fold), which alone would take several times the rest of the
    # grid: it is in "full". Heads share cached encoders, so two heads cost about one.
    "default": Preset(families=("classical", "deep"), fusions=("early", "late", "joint"),
                      heads=("logreg", "svc"), skip=(("deep", "late"),), max_epochs=10),
    "full": Preset(),
}


def _cap_epochs(estimator, max_epochs: int | None):
    """``estimator`` with every nested ``max_epochs`` parameter at most ``max_epochs``."""
    if max_epochs is None:
        return estimator
    params = estimator.get_params()
    capped = {key: max_epochs for key, value in params.items()
              if key.rsplit("__", 1)[-1] == "max_epochs" and isinstance(value, int)
              and value > max_epochs}
    return estimator.set_params(**capped)


def _majority_candidate() -> Candidate:
    # Reads no column: it predicts the most frequent training label, the score any
    # candidate must beat to have learnt something from the modalities.
    return Candidate("baseline", "majority class", (), "majority",
                     DummyClassifier(strategy="prior"), [])


def _check_keys(kind: str, wanted: Sequence[str], known: Mapping) -> None:
    unknown = [w for w in wanted if w not in known]
    if unknown or not wanted:
        raise ValueError(
            f"unknown {kind} {', '.join(map(repr, unknown)) or '(none given)'}; "
            f"choose from {', '.join(known)}."
        )


def build_candidates(
    modalities: Mapping[str, str],
    *,
    families: Sequence[str] = ("classical",),
    fusions: Sequence[str] = ("early",),
    heads: Sequence[str] = DEFAULT_HEADS,
    options: EncoderOptions | None = None,
    memory=None,
    skip: Sequence[tuple[str, str]] = (),
    max_epochs: int | None = None,
    baseline: bool = False,
) -> list[Candidate]:
    """Build every candidate pipeline of the grid.

    For each family: each modality alone, then (with two or more modalities) all of them
    combined by each fusion strategy; each with every head. Optionally last, the
    majority-class baseline.

    Parameters
    ----------
    modalities : dict of str -> str
        Column -> ``"image"``, ``"audio"``, ``"text"`` or ``"tabular"``.
    families : sequence of str, default=("classical",)
        Keys of :data:`ENCODERS`.
    fusions : sequence of str, default=("early",)
        Keys of :data:`FUSIONS`, used for the multi-modality candidates: ``"early"``
        (EarlyFusion with balanced modality blocks + head), ``"late"`` (LateFusion of
        per-modality logistic regressions, stacked by the head), ``"voting"`` (the same
        LateFusion + VotingHead; one candidate, whatever ``heads``), ``"joint"``
        (JointFusion's embedding, scaled, + head).
    heads : sequence of str, default=("svc", "knn", "logreg")
        Keys of :data:`HEADS`.
    options : EncoderOptions, default=None
    memory : joblib.Memory, default=None
        Wrap every encoder in a cache shared by the candidates (see ``docs/bench.md``).
    skip : sequence of (family, fusion), default=()
        Fused cells to leave out, e.g. ``[("deep", "late")]``.
    max_epochs : int, default=None
        Cap every deep model's ``max_epochs`` (see :class:`Preset`).
    baseline : bool, default=False
        Append ``baseline / majority class / none / majority``: a ``DummyClassifier``
        predicting the most frequent training label (its ``predict_proba`` is the
        training class frequencies).

    Returns
    -------
    candidates : list of Candidate

    Examples
    --------
    >>> from mmlearn.bench import build_candidates
    >>> cands = build_candidates({"image": "image", "audio": "audio"}, heads=["svc"])
    >>> for c in cands:
    ...     print(c.name)
    classical / image only / image / svc
    classical / audio only / audio / svc
    classical / early / image+audio / svc
    """
    options = options or EncoderOptions()
    _check_keys("encoder family", families, ENCODERS)
    _check_keys("fusion", fusions, FUSIONS)
    _check_keys("head", heads, HEADS)
    bad = {c: m for c, m in modalities.items() if m not in MODALITY_ORDER}
    if bad:
        raise ValueError(f"unknown modality for columns {bad}; use one of {MODALITY_ORDER}.")
    by_modality = {
        m: [c for c, kind in modalities.items() if kind == m]
        for m in MODALITY_ORDER if m in modalities.values()
    }
    if not by_modality:
        raise ValueError("no modality columns to benchmark.")

    candidates = []
    for family in families:
        registry = ENCODERS[family]
        missing = [m for m in by_modality if m not in registry]
        if missing:
            raise ValueError(f"encoder family {family!r} has no encoder for {missing}.")

        def routes(mods, registry=registry):
            return [r for m in mods for r in registry[m](by_modality[m], options)]

        # (fusion label, modalities, builder); heads innermost so cached encoders are reused
        # by consecutive candidates.
        cells = [(f"{m} only", (m,), None) for m in by_modality]
        if len(by_modality) > 1:
            cells += [(f, tuple(by_modality), f) for f in fusions if (family, f) not in skip]
        for label, mods, fusion in cells:
            build = _single if fusion is None else FUSIONS[fusion]
            for head in [OWN_HEAD[fusion]] if fusion in OWN_HEAD else heads:
                plain = routes(mods)
                final = None if head in OWN_HEAD.values() else HEADS[head](options.random_state)
                estimator = _cap_epochs(build(plain, final, options, memory), max_epochs)
                plain = [(name, _cap_epochs(enc, max_epochs), cols) for name, enc, cols in plain]
                candidates.append(Candidate(family, label, mods, head, estimator, plain))
    if baseline:
        candidates.append(_majority_candidate())
    return candidates
