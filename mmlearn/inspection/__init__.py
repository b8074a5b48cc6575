"""Which modalities a fitted model relies on: permutation importance and ablation by modality."""

from mmlearn.inspection._ablation import modality_ablation
from mmlearn.inspection._importance import modality_importance
from mmlearn.inspection._plot import plot_modality_importance

__all__ = ["modality_ablation", "modality_importance", "plot_modality_importance"]
