"""Exported models and `deep_t2i generate`: files, seeds, captions, errors."""
import subprocess, sys
import numpy as np
import pytest
from PIL import Image
from conftest import run_cli, make_tiny_model
from deep_t2i.inference import load_model

@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory): return make_tiny_model(tmp_path_factory.mktemp('model'))

@pytest.fixture(scope='module')
def tiny_birds_model(tmp_path_factory): return make_tiny_model(tmp_path_factory.mktemp('bmodel'), 'birds', width=0.0625, min_ch=8)

def px(p): return np.asarray(Image.open(p))

def test_generate_folder_layout_and_seeds(tiny_model, tmp_path):
    r = run_cli('generate', '--model', tiny_model, '--seed', 3, '--n', 2, '--grid', '--out', tmp_path / 'a', 'blue hair red eyes', 'red hair blue eyes')
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / 'a').iterdir()) == ['0_0.png', '0_1.png', '1_0.png', '1_1.png', 'grid.png']
    assert Image.open(tmp_path / 'a' / '0_0.png').size == (64, 64)
    run_cli('generate', '--model', tiny_model, '--seed', 3, '--out', tmp_path / 'b.png', 'blue hair red eyes')
    assert np.array_equal(px(tmp_path / 'b.png'), px(tmp_path / 'a' / '0_0.png'))        # same seed, same pixels
    assert not np.array_equal(px(tmp_path / 'a' / '0_0.png'), px(tmp_path / 'a' / '0_1.png'))   # samples differ
    run_cli('generate', '--model', tiny_model, '--seed', 4, '--out', tmp_path / 'c.png', 'blue hair red eyes')
    assert not np.array_equal(px(tmp_path / 'b.png'), px(tmp_path / 'c.png'))             # other seed, other image

def test_generate_errors(tiny_model, tmp_path):
    r = run_cli('generate', '--model', tiny_model, '--out', tmp_path / 'x.png', 'teal hair red eyes')
    assert r.returncode == 2 and 'blonde' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('generate', '--model', tiny_model, '--n', 2, '--out', tmp_path / 'x.png', 'blue hair red eyes')
    assert r.returncode == 2 and 'folder' in r.stderr
    r = run_cli('generate', '--model', tmp_path / 'missing', '--out', tmp_path / 'x.png', 'blue hair red eyes')
    assert r.returncode == 1 and 'not found' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli('generate', '--model', tiny_model, '--out', tmp_path / 'x.png')
    assert r.returncode == 2

def test_generate_to_an_image_file(tiny_model, tmp_path):
    "--out with an image suffix is that one file, in that format (not a folder of that name); several images with a file name are an error."
    for name, fmt in (('x.jpg', 'JPEG'), ('x.WEBP', 'WEBP')):
        r = run_cli('generate', '--model', tiny_model, '--seed', 3, '--out', tmp_path / name, 'blue hair red eyes')
        assert r.returncode == 0, r.stderr
        assert (tmp_path / name).is_file() and Image.open(tmp_path / name).format == fmt and Image.open(tmp_path / name).size == (64, 64)
    r = run_cli('generate', '--model', tiny_model, '--n', 2, '--out', tmp_path / 'y.jpeg', 'blue hair red eyes')
    assert r.returncode == 2 and 'folder' in r.stderr and not (tmp_path / 'y.jpeg').exists()
    r = run_cli('generate', '--model', tiny_model, '--out', tmp_path / 'y.gif', 'blue hair red eyes')
    assert r.returncode == 2 and '.jpg' in r.stderr and not (tmp_path / 'y.gif').exists()

def test_tampered_export_is_refused(tiny_model, tmp_path):
    import shutil
    shutil.copytree(tiny_model, tmp_path / 'm')
    (tmp_path / 'm' / 'model.safetensors').write_bytes(b'\x80\x04 pickle bytes are not welcome')
    r = run_cli('generate', '--model', tmp_path / 'm', '--out', tmp_path / 'x.png', 'blue hair red eyes')
    assert r.returncode == 1 and 'safetensors' in r.stderr

def test_birds_unknown_words_and_size(tiny_birds_model):
    m = load_model(tiny_birds_model)
    a, = m.generate('a red bird with a zzzunknownzzz crown', seed=0)
    assert a.size == (256, 256)
    b, = m.generate('a red bird with a qqqotherqqq crown', seed=0)
    assert np.array_equal(np.asarray(a), np.asarray(b))            # both unknown words are <unk>
    c, = m.generate('a small yellow bird', seed=0)
    assert not np.array_equal(np.asarray(a), np.asarray(c))

def test_python_m_entry_point(tiny_model, tmp_path):
    r = subprocess.run([sys.executable, '-m', 'deep_t2i', 'generate', '--model', str(tiny_model), '--seed', '0', '--out', str(tmp_path / 'y.png'),
                        'pink hair aqua eyes'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'y.png').exists() and Image.open(tmp_path / 'y.png').size == (64, 64)

def test_bundled_anime_model_follows_hair_tags():
    from deep_t2i.core import PRETRAINED_DIR
    assert (PRETRAINED_DIR / 'anime.safetensors').exists() and (PRETRAINED_DIR / 'anime.md').exists()
    m = load_model('anime')
    for colour, channel in (('red', 0), ('green', 1), ('blue', 2)):
        imgs = m.generate([f'{colour} hair black eyes'], seed=0, n=8)
        assert imgs[0].size == (64, 64)
        top = np.stack([np.asarray(i, dtype=float) for i in imgs])[:, 4:16, 16:48].mean((0, 1, 2))   # the hair band
        assert top.argmax() == channel, (colour, top)
    a, b = m.generate('blue hair red eyes', seed=0, n=2)
    assert not np.array_equal(np.asarray(a), np.asarray(b))

def test_bundled_birds_model_follows_part_colours():
    "The body (belly, breast, wings) fills the centre of the 256x256 crop: its mean colour follows the caption."
    from deep_t2i.core import PRETRAINED_DIR
    assert (PRETRAINED_DIR / 'birds.safetensors').exists() and (PRETRAINED_DIR / 'birds.md').exists()
    m = load_model('birds')
    def centre(colour):
        imgs = m.generate([f'this bird has a {colour} belly, a {colour} breast and {colour} wings'], seed=0, n=6)
        assert imgs[0].size == (256, 256)
        return np.stack([np.asarray(i, dtype=float) for i in imgs])[:, 64:192, 64:192].mean((0, 1, 2))
    for colour, channel in (('red', 0), ('green', 1), ('blue', 2)):
        rgb = centre(colour)
        assert rgb.argmax() == channel, (colour, rgb)
    assert centre('yellow').argmin() == 2
    a, b = m.generate('this bird has a red crown and a white belly', seed=0, n=2)
    assert np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)).mean() > 5     # seeds give different birds

@pytest.mark.parametrize('name,caps', [('anime', ['blue hair red eyes', 'green hair purple eyes']),
                                       ('birds', ['this bird has a red crown and blue wings', 'a small yellow bird with a black beak'])])
def test_bundled_models_load_folded_and_draw_the_same(name, caps):
    "The bundled exports (written before folding existed) load folded: no spectral norm or BatchNorm left in the generator, and the images of the exported layers within 1e-4 in [-1, 1]."
    from torch.nn.modules.batchnorm import _BatchNorm
    from torch.nn.utils import parametrize
    from deep_t2i.inference import sample_noise
    folded, plain = load_model(name), load_model(name, fold=False)
    assert not [m for m in folded.G.modules() if isinstance(m, _BatchNorm) or parametrize.is_parametrized(m)]
    assert any(isinstance(m, _BatchNorm) for m in plain.G.modules())
    noise = sample_noise(5, 2, folded.cfg.noise_sz)
    (a, att_a), (b, att_b) = folded._run(caps, noise), plain._run(caps, noise)
    assert (a - b).abs().max() <= 1e-4 and a.std() > 0.1                    # trained images, not a flat field
    assert all((att_a[r] - att_b[r]).abs().max() <= 1e-4 for r in att_b)

def test_fold_birds_full_preset():
    "The original's layout at 256x256 (preset full): the folded generator draws the same within 1e-4, with BatchNorm statistics far from the identity."
    import torch
    from torch.nn.modules.batchnorm import _BatchNorm
    from deep_t2i.core import get_config
    from deep_t2i.fold import fold_for_inference
    from deep_t2i.model import Generator
    cfg = get_config('birds', 'full')
    torch.manual_seed(0)
    G = Generator(cfg).eval()
    for bn in G.modules():
        if isinstance(bn, _BatchNorm): bn.running_mean.normal_(0, .5); bn.running_var.uniform_(.5, 2)
    x = (torch.randn(1, cfg.noise_sz), torch.randn(1, cfg.emb_sz, cfg.max_len), torch.randn(1, cfg.emb_sz), torch.zeros(1, cfg.max_len, dtype=torch.bool))
    folded = fold_for_inference(G, *x)
    assert not any(isinstance(m, _BatchNorm) for m in folded.modules())
    with torch.no_grad(): a, b = G(*x)[0][-1], folded(*x)[0][-1]
    assert (a - b).abs().max() <= 1e-4
