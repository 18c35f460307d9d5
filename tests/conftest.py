import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run_cli(*args, cwd=None, env=None, timeout=600):
    "Run the installed `deep_t2i` console script; returns the CompletedProcess."
    e = {**os.environ, **(env or {})}
    return subprocess.run([str(BIN / 'deep_t2i'), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=e, timeout=timeout)

@pytest.fixture(scope='session')
def anime_data(tmp_path_factory):
    d = tmp_path_factory.mktemp('anime')
    from deep_t2i.synth import synth_anime
    return synth_anime(d, n=120, seed=0, progress=False)

@pytest.fixture(scope='session')
def birds_data(tmp_path_factory):
    d = tmp_path_factory.mktemp('birds')
    from deep_t2i.synth import synth_birds
    return synth_birds(d, n=40, seed=0, n_classes=8, progress=False)
