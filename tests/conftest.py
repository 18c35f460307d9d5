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

def make_tiny_model(d, task='anime', with_image=False, **overrides):
    "Save an untrained small exported model (model.safetensors + model.json) in folder d; returns d."
    import torch
    from deep_t2i.core import get_config
    from deep_t2i.data_anime import AnimeTokenizer
    from deep_t2i.data_birds import WordTokenizer
    from deep_t2i.damsm import ImageEncoder
    from deep_t2i.export import save_model_files
    from deep_t2i.model import TextEncoder, Generator
    cfg = get_config(task, 'small', **overrides)
    tok = AnimeTokenizer() if task == 'anime' else WordTokenizer.build(['a red bird with a blue crown', 'a small yellow bird'], max_len=cfg.max_len)
    torch.manual_seed(0)
    mods = {'text': TextEncoder(len(tok.vocab), cfg.emb_sz), 'G': Generator(cfg)}
    if with_image: mods['image'] = ImageEncoder(cfg)
    save_model_files(Path(d) / 'model', cfg, tok.to_dict(), mods)
    return Path(d)
