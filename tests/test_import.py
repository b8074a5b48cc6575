"""The classical path imports without torch, skorch, librosa or matplotlib (a fact, not a time)."""

import json
import subprocess
import sys

HEAVY = ("torch", "skorch", "librosa", "matplotlib")


def loaded_after(statement: str) -> list[str]:
    code = (f"import json, sys\n{statement}\n"
            f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def test_classical_fusion_and_encoders_do_not_load_torch():
    assert loaded_after("from mmlearn.fusion import EarlyFusion, LateFusion\n"
                        "from mmlearn.encoders import AudioMFCCEncoder, ImagePixelEncoder\n"
                        "from mmlearn.heads import VotingHead\n"
                        "import mmlearn, mmlearn.inputs") == []


def test_deep_names_load_torch_on_first_use():
    assert "torch" in loaded_after("from mmlearn.encoders import ImageCNNEncoder")
    assert "torch" in loaded_after("import mmlearn.fusion as f\nf.JointFusion")


def test_lazy_packages_list_and_resolve_their_names():
    import mmlearn.encoders
    import mmlearn.fusion
    import mmlearn.heads

    for package in (mmlearn.encoders, mmlearn.fusion, mmlearn.heads):
        for name in package.__all__:
            assert getattr(package, name).__name__ == name
        assert set(package.__all__) <= set(dir(package))
    try:
        mmlearn.encoders.NoSuchEncoder  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchEncoder" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
