"""Emoji category from the name alone, 5-fold accuracy: PretrainedTextEncoder against TF-IDF.

Both candidates end in an SVC on the same shuffled, stratified folds. Last line: the accuracy
the pretrained sentence embeddings add over TF-IDF.

    python benchmarks/emoji_pretrained_text.py
"""

import time

import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.svm import SVC

from mmlearn.datasets import load_emoji
from mmlearn.encoders import PretrainedTextEncoder


def main() -> None:
    torch.set_num_threads(2)
    X, y = load_emoji(return_X_y=True)
    names = X["name"]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    tfidf = cross_val_score(make_pipeline(TfidfVectorizer(), SVC()), names, y, cv=cv)
    start = time.perf_counter()
    pretrained = cross_val_score(make_pipeline(PretrainedTextEncoder(), SVC()), names, y, cv=cv)
    seconds = time.perf_counter() - start
    print(f"TfidfVectorizer() + SVC()          {tfidf.mean():.4f} +- {tfidf.std():.4f}")
    print(f"PretrainedTextEncoder() + SVC()    {pretrained.mean():.4f} +- {pretrained.std():.4f}"
          f"   ({seconds:.0f} s for the 5 folds)")
    print(f"accuracy, pretrained - TF-IDF: {pretrained.mean() - tfidf.mean():+.4f}")


if __name__ == "__main__":
    main()
