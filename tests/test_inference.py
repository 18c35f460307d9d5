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
