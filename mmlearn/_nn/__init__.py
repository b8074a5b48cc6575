"""The neural core of mmlearn, shared by every deep estimator (private).

- :mod:`~mmlearn._nn.training`: the one seeded skorch build-and-fit (classification and
  reconstruction), label encoding, device checks, training-parameter constraints;
- :mod:`~mmlearn._nn.data`: the lazy ``Dataset`` over fitted modality inputs and its
  ``DataLoader`` (worker count, batched decoding, errors raised as in the main process);
- :mod:`~mmlearn._nn.inference`: batched forward passes under ``torch.inference_mode``;
- :mod:`~mmlearn._nn.layers`: MLP layers and their parameter checks;
- :mod:`~mmlearn._nn.standardize`: the one per-feature standardiser;
- :mod:`~mmlearn._nn.logmel`: the one log-mel front end (NumPy only; the classical
  ``AudioMFCCEncoder`` uses it without importing torch).

Importing this package imports nothing heavy; each module imports torch only if it needs it.
"""
