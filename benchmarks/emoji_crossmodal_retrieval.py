"""Emoji names <-> images: cross-modal retrieval through CrossModalAligner, held-out split.

The 1,911 emoji are split once, stratified by category and seeded: 75% train, 25% test (478
pairs). Images are ImagePixelEncoder(size=32) pixels reduced by PCA(64); names are embedded
by PretrainedTextEncoder (all-MiniLM-L6-v2) or by TF-IDF + TruncatedSVD(128). The aligner's
method and n_components are chosen on an inner split of the train pairs only (25% of them
held out for validation, by text->image recall@10); the chosen aligner is refitted on all
train pairs and scored once on the test pairs, in both directions:

- text->image: each test name ranks the 478 test images; a hit when its own image is in
  the top k;
- image->text: each test image ranks the 478 test names.

Chance is k / 478. The last line is text->image recall@10 divided by chance for MiniLM
(the issue's acceptance: >= 5).

    OMP_NUM_THREADS=1 python benchmarks/emoji_crossmodal_retrieval.py

Pixels and MiniLM embeddings are computed once for all emoji: neither encoder learns
anything from the data (a fixed resize; a pretrained model), so this leaks nothing. PCA,
TF-IDF and SVD are fitted inside the aligner, on the pairs it is fitted on.
"""

import time

import numpy as np
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from mmlearn.crossmodal import CrossModalAligner, retrieval_recall_at_k
from mmlearn.datasets import load_emoji
from mmlearn.encoders import ImagePixelEncoder
from mmlearn.encoders.pretrained_text import PretrainedTextEncoder

KS = [1, 5, 10]
GRID = [(method, n) for method in ("cca", "pls") for n in (8, 16, 32, 48)]


def make_aligner(method: str, n_components: int, text: str) -> CrossModalAligner:
    y_encoder = None
    if text == "tfidf":
        y_encoder = make_pipeline(TfidfVectorizer(), TruncatedSVD(128, random_state=0))
    return CrossModalAligner(n_components, method=method, max_iter=1000,
                             x_encoder=PCA(64, random_state=0), y_encoder=y_encoder)


def recalls(aligner: CrossModalAligner, images, texts) -> dict[str, dict[int, float]]:
    image_shared, text_shared = aligner.transform(images), aligner.transform_y(texts)
    return {"text->image": retrieval_recall_at_k(text_shared, image_shared, k=KS),
            "image->text": retrieval_recall_at_k(image_shared, text_shared, k=KS)}


def main() -> None:
    bunch = load_emoji()
    start = time.perf_counter()
    pixels = ImagePixelEncoder(size=32).fit_transform(bunch.data["image"])
    names = bunch.data["name"].to_numpy()
    minilm = PretrainedTextEncoder().fit_transform(bunch.data["name"])
    print(f"encoded {len(names)} images and names in {time.perf_counter() - start:.1f} s")
    texts = {"minilm": minilm, "tfidf": names}

    rows = np.arange(len(names))
    train, test = train_test_split(rows, test_size=0.25, stratify=bunch.target,
                                   random_state=0)
    inner_train, inner_val = train_test_split(train, test_size=0.25,
                                              stratify=bunch.target[train], random_state=0)
    print(f"train {len(train)} pairs (inner: {len(inner_train)} fit + {len(inner_val)} "
          f"validation), test {len(test)} pairs; chance@k = k / {len(test)}")

    results = {}
    for text, features in texts.items():
        start = time.perf_counter()
        scores = {}
        for method, n_components in GRID:
            aligner = make_aligner(method, n_components, text)
            aligner.fit(pixels[inner_train], features[inner_train])
            shared_images = aligner.transform(pixels[inner_val])
            shared_texts = aligner.transform_y(features[inner_val])
            scores[method, n_components] = retrieval_recall_at_k(shared_texts, shared_images,
                                                                 k=10)
        method, n_components = max(scores, key=scores.get)
        aligner = make_aligner(method, n_components, text).fit(pixels[train], features[train])
        results[text] = recalls(aligner, pixels[test], features[test])
        grid = ", ".join(f"{m}/{n}: {s:.3f}" for (m, n), s in scores.items())
        print(f"\n[{text}] inner-validation text->image recall@10 per method/n_components: "
              f"{grid}")
        print(f"[{text}] chosen: method={method!r}, n_components={n_components} "
              f"({time.perf_counter() - start:.0f} s for the search and the refit)")

    print(f"\nheld-out test, {len(test)} pairs")
    header = " ".join(f"{'R@' + str(k):>6s}" for k in KS)
    print(f"{'text encoder':14s} {'direction':12s} {header}")
    for text, by_direction in results.items():
        for direction, recall in by_direction.items():
            print(f"{text:14s} {direction:12s} " + " ".join(f"{recall[k]:6.3f}" for k in KS))
    print(f"{'chance':14s} {'k / n_test':12s} " + " ".join(f"{k / len(test):6.3f}" for k in KS))
    ratio = results["minilm"]["text->image"][10] / (10 / len(test))
    print(f"text->image recall@10 / chance (MiniLM names, {len(test)} test pairs): {ratio:.1f}")


if __name__ == "__main__":
    main()
