import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

def run_cli(*args, cwd=None, env=None, timeout=600, process=False):
    """Run `deep_t2i ARGS` and return a CompletedProcess (returncode, stdout, stderr). By default in this process, through
    `deep_t2i.cli.main` as the console script calls it (no 3-4 s of imports per call); `process=True` runs the installed
    console script in a new process (the entry point itself, timeouts, signals). The tests of the entry point use both."""
    argv = [*map(str, args)]
    if process:
        e = {**os.environ, **(env or {})}
        return subprocess.run([str(BIN / 'deep_t2i'), *argv], capture_output=True, text=True, cwd=cwd, env=e, timeout=timeout)
    import contextlib, io, warnings
    from unittest import mock
    import torch
    from deep_t2i.cli import main
    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    state = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads(), torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, warnings.formatwarning)
    try:
        with mock.patch.dict(os.environ, {k: str(v) for k, v in (env or {}).items()}), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter('always')                      # a warning an earlier test already showed is shown again (a new process would show it once)
            warnings.showwarning = lambda msg, cat, fn, ln, file=None, line=None: sys.stderr.write(warnings.formatwarning(msg, cat, fn, ln, line))   # to stderr, not to pytest's record
            if cwd is not None: os.chdir(cwd)
            try: rc = main(argv)
            except SystemExit as e: rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)   # argparse's usage errors
    finally:
        os.chdir(here)
        torch.use_deterministic_algorithms(state[0]); torch.set_num_threads(state[1])   # what --deterministic set stays with its command
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark, warnings.formatwarning = state[2:]
        import matplotlib.pyplot as plt; plt.close('all')
    return subprocess.CompletedProcess(['deep_t2i', *argv], rc, out.getvalue(), err.getvalue())

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

def damsm_term_of(encoder, data, tmp_path, batch_size, **overrides):
    "(GANTrainer, its adversarial and DAMSM loss terms of G on a first batch) for birds with image encoder 'cnn', 'torchvision' (random local weights) or 'tf'."
    from deep_t2i.core import get_config
    from deep_t2i.trainer_gan import GANTrainer
    w = random_inception_weights(Path(tmp_path) / 'inc.pth') if encoder == 'torchvision' else None
    cfg = get_config('birds', 'small', batch_size=batch_size, image_encoder='cnn' if encoder == 'cnn' else 'inception', **overrides)
    damsm = damsm_run(Path(tmp_path) / 'damsm', cfg, data, w)
    t = GANTrainer(cfg, data, damsm, Path(tmp_path) / 'gan', progress=False, inception_weights=w)
    return (t, *gan_step_parts(t))

def grad_norm(module):
    "L2 norm of the gradients a backward pass left on `module`'s parameters (0 if none)."
    import torch
    gs = [p.grad.float().norm() for p in module.parameters() if p.grad is not None]
    return float(torch.stack(gs).norm()) if gs else 0.0

def untouched_by_backward(module)->bool:
    "True when no backward pass has left a gradient (not even zeros) on any of `module`'s parameters."
    return all(p.grad is None for p in module.parameters())

def check_g_losses_grads(t, adv, damsm_loss):
    "Backward G's two loss terms of GANTrainer `t` one after the other: each reaches G, and neither D (frozen while G's losses are computed) nor the frozen DAMSM gets a gradient."
    damsm_loss.backward(retain_graph=True)
    assert grad_norm(t.G) > 0, "the DAMSM term gives the generator no gradient"
    g = grad_norm(t.G)
    adv.backward()                                                     # through D: D must stay without gradient
    assert grad_norm(t.G) != g, "the adversarial term gives the generator no gradient"
    assert untouched_by_backward(t.D), "G's losses left gradients on D"
    assert untouched_by_backward(t.damsm), "G's losses left gradients on the frozen DAMSM"

def record_start(t, *names)->dict:
    "Make trainer `t` record the parameters of its modules `names` when training starts (after set-up and any resume, at `wrap`); returns the dict it fills."
    start, wrap = {}, t.wrap
    def recording_wrap():
        start.update({n: [p.detach().clone() for p in getattr(t, n).parameters()] for n in names}); wrap()
    t.wrap = recording_wrap
    return start

def share_changed(before:list, module)->float:
    "The share of `module`'s parameter tensors that differ from `before` (compared as parameters: BatchNorm and spectral-norm buffers move without learning)."
    import torch
    return sum(not torch.equal(a, p.detach().to(a.device)) for a, p in zip(before, module.parameters())) / len(before)

def make_shapes_folder(d, n=48, seed=0):
    "The own-data example folder (`deep_t2i synth captions`) plus two bad entries: a missing picture and a path leaving the folder."
    import json
    from deep_t2i.synth import synth_captions
    d = synth_captions(Path(d), n=n, seed=seed, progress=False)
    with open(d / 'metadata.jsonl', 'a') as f:
        for r in ({'file_name': 'pics/missing.png', 'text': 'a lost picture'}, {'file_name': '../outside.png', 'text': 'escape'}):
            f.write(json.dumps(r) + '\n')
    return d

DOCS_MODULES = ('sphinx', 'myst_nb', 'pydata_sphinx_theme')

def need_docs_extra():
    "Skip (fail where DEEP_T2I_REQUIRE_DOCS is set, as .ci/run sets it) when the docs extra is not installed."
    import importlib.util
    miss = [m for m in DOCS_MODULES if importlib.util.find_spec(m) is None]
    if miss:
        msg = f"the docs extra is not installed (missing {', '.join(miss)}): `make docs-deps` or `pip install -e .[docs]` installs it"
        if os.environ.get('DEEP_T2I_REQUIRE_DOCS'): pytest.fail(msg)
        pytest.skip(msg)

@pytest.fixture(scope='session')
def docs_site(tmp_path_factory):
    "The documentation site built once per session by docs/build.py's Sphinx call (warnings are errors): (html folder, the CompletedProcess)."
    need_docs_extra()
    out = tmp_path_factory.mktemp('docs') / 'html'
    return out, docs_module('build').build(out, capture=True)

def docs_module(name):
    "docs/<name>.py imported as `docs_<name>` (docs/ is no package; `build` is also a PyPI package's name)."
    import importlib.util
    if f'docs_{name}' in sys.modules: return sys.modules[f'docs_{name}']
    spec = importlib.util.spec_from_file_location(f'docs_{name}', ROOT / 'docs' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec); sys.modules[spec.name] = mod; spec.loader.exec_module(mod)
    return mod
