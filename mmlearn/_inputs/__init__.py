"""Fitted modality inputs: cells of a batch of rows -> the array a network reads (private).

One class per modality kind, shared by every deep model (the deep encoders and
JointFusion's branches): :class:`ImageInput`, :class:`LogMelInput`, :class:`TokenInput`,
:class:`TabularInput`. Each learns what it needs from the training rows in ``fit`` and
converts any batch of present cells in ``convert``; :mod:`mmlearn._nn.data` streams them.
"""

from mmlearn._inputs.audio import LogMelInput
from mmlearn._inputs.base import ModalityInput
from mmlearn._inputs.image import ImageInput
from mmlearn._inputs.tabular import TableRows, TabularInput
from mmlearn._inputs.text import TokenInput

__all__ = ["ImageInput", "LogMelInput", "ModalityInput", "TableRows", "TabularInput",
           "TokenInput"]
