"""
Cross-modal retrieval: emoji images from their names
====================================================

:class:`mmlearn.crossmodal.CrossModalAligner` learns one space for two paired modalities
(here an emoji's 64×64 image and its name) from training pairs; :func:`mmlearn.crossmodal.
retrieve` then searches it with a new text, and :func:`mmlearn.crossmodal.retrieval_recall_at_k`
scores the search on held-out pairs against chance. See the user guide page *Cross-modal
retrieval*; the tuned measurement, with a pretrained sentence encoder for the names, is
``python benchmarks/emoji_crossmodal_retrieval.py``.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA, TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from mmlearn.crossmodal import CrossModalAligner, retrieval_recall_at_k, retrieve
from mmlearn.datasets import load_emoji
from mmlearn.encoders import ImagePixelEncoder

# %%
# Align images and names on the training pairs
# --------------------------------------------
# Each encoder is fitted inside ``fit``, on the training pairs only: 16×16 pixels then PCA
# for the images, TF-IDF then TruncatedSVD for the names (CCA needs dense features).
emoji = load_emoji()
images, names = emoji.data["image"], emoji.data["name"]
train, test = train_test_split(np.arange(len(names)), test_size=0.25,
                               stratify=emoji.target, random_state=0)
aligner = CrossModalAligner(
    16,
    x_encoder=make_pipeline(ImagePixelEncoder(size=16), PCA(32, random_state=0)),
    y_encoder=make_pipeline(TfidfVectorizer(), TruncatedSVD(64, random_state=0)),
)
aligner.fit(images.iloc[train], names.iloc[train])
test_images = aligner.transform(images.iloc[test])
test_names = aligner.transform_y(names.iloc[test])

# %%
# Recall@k on held-out pairs, against chance
# ------------------------------------------
# Each held-out name ranks the held-out images; a hit is its own image among the first
# ``k``. A random ranking finds it with probability ``k / n``.
ks = [1, 2, 5, 10, 20, 50]
recall = retrieval_recall_at_k(test_names, test_images, k=ks)
chance = [k / len(test) for k in ks]
print({k: round(r, 3) for k, r in recall.items()})

fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
ax.plot(ks, list(recall.values()), "o-", label="name -> image, aligned space")
ax.plot(ks, chance, "s--", color="grey", label="chance (k / n)")
ax.set_xscale("log")
ax.set_xticks(ks, [str(k) for k in ks])
ax.set_xlabel("k")
ax.set_ylabel("recall@k")
ax.set_title(f"{len(test)} held-out emoji pairs")
ax.legend()
plt.show()

# %%
# Search with new text
# --------------------
# Any text the name encoder can read maps into the shared space: the three nearest
# held-out images of each query.
queries = ["cat face", "clock", "flag"]
top = retrieve(aligner.transform_y(queries), test_images, k=3)
test_cells = images.iloc[test].to_numpy()
test_text = names.iloc[test].to_numpy()
fig, axes = plt.subplots(len(queries), 3, figsize=(6, 2.1 * len(queries)),
                         layout="constrained")
for query, row, axes_row in zip(queries, top, axes, strict=True):
    for rank, (j, ax) in enumerate(zip(row, axes_row, strict=True), start=1):
        ax.imshow(test_cells[j])
        name = test_text[j] if len(test_text[j]) <= 22 else test_text[j][:21] + "…"
        ax.set_title(f"{rank}. {name}", fontsize=8)
        ax.axis("off")
    axes_row[0].text(-0.15, 0.5, repr(query), transform=axes_row[0].transAxes,
                     rotation=90, va="center", ha="right", fontsize=10)
plt.show()
