"""Cross-modal alignment and retrieval: a shared space for two paired modalities.

``CrossModalAligner`` learns it from paired samples (CCA or PLS, scikit-learn's);
``retrieve`` and ``retrieval_recall_at_k`` search it and score the search.
"""

from mmlearn.crossmodal.aligner import CrossModalAligner
from mmlearn.crossmodal.retrieval import retrieval_recall_at_k, retrieve

__all__ = ["CrossModalAligner", "retrieval_recall_at_k", "retrieve"]
