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

def random_inception_weights(path, seed=0):
    "A torchvision inception_v3 state dict with random weights, saved at `path` (stands in for a user's downloaded file)."
    import torch
    from torchvision.models import inception_v3
    torch.manual_seed(seed)
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    return Path(path)

def damsm_run(d, cfg, data, inception_weights=None):
    "A DAMSM run folder made by one training step (the step exports its encoders); returns the folder."
    from deep_t2i.trainer_damsm import DAMSMTrainer
    DAMSMTrainer(cfg, data, Path(d), progress=False, inception_weights=inception_weights).fit(max_steps=1)
    return Path(d)

def gan_step_parts(t):
    "Set up GANTrainer `t` and run its first batch up to the generator's loss terms: (adversarial, DAMSM)."
    t.setup()
    real, ids, lens, cls, words, sent, fakes = t.encode_batch(next(iter(t.loader)))
    return t.g_losses(fakes, ids, lens, cls, words, sent)

def damsm_term_of(encoder, data, tmp_path, batch_size):
    "(GANTrainer, its DAMSM loss term on a first batch) for birds with image encoder 'cnn', 'torchvision' (random local weights) or 'tf'."
    from deep_t2i.core import get_config
    from deep_t2i.trainer_gan import GANTrainer
    w = random_inception_weights(Path(tmp_path) / 'inc.pth') if encoder == 'torchvision' else None
    cfg = get_config('birds', 'small', batch_size=batch_size, image_encoder='cnn' if encoder == 'cnn' else 'inception')
    damsm = damsm_run(Path(tmp_path) / 'damsm', cfg, data, w)
    t = GANTrainer(cfg, data, damsm, Path(tmp_path) / 'gan', progress=False, inception_weights=w)
    return t, gan_step_parts(t)[1]

def grad_norm(module):
    "L2 norm of the gradients a backward pass left on `module`'s parameters (0 if none)."
    import torch
    gs = [p.grad.float().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(gs).norm()) if gs else 0.0

def make_shapes_folder(d, n=48, seed=0):
    "The own-data example folder (`deep_t2i synth captions`) plus two bad entries: a missing picture and a path leaving the folder."
    import json
    from deep_t2i.synth import synth_captions
    d = synth_captions(Path(d), n=n, seed=seed, progress=False)
    with open(d / 'metadata.jsonl', 'a') as f:
        for r in ({'file_name': 'pics/missing.png', 'text': 'a lost picture'}, {'file_name': '../outside.png', 'text': 'escape'}):
            f.write(json.dumps(r) + '\n')
    return d
