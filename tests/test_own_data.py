"""Your own captioned images through the command line: a folder in the imagefolder layout trains (task inferred), generates
from captions in any language, and evaluates (FID, R-precision, variety; attribute accuracy null with its reason)."""
import json, re
import pytest
from PIL import Image
from conftest import run_cli, make_shapes_folder

@pytest.fixture(scope='module')
def shapes(tmp_path_factory): return make_shapes_folder(tmp_path_factory.mktemp('shapes'))

@pytest.fixture(scope='module')
def runs(shapes, tmp_path_factory):
    d = tmp_path_factory.mktemp('own_runs')
    (d / 'c.json').write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--data', shapes, '--out', d / 'damsm', '--epochs', 2, '--batch-size', 8, '--config', d / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    assert '48 captioned images; skipped 2 entries' in r.stderr and 'path leaves the folder' in r.stderr    # the summary at the start
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', d / 'damsm', '--out', d / 'gan', '--epochs', 2, '--batch-size', 8, '--config', d / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    return d

def test_training_on_a_folder(runs):
    cfg = json.loads((runs / 'gan' / 'config.json').read_text())
    assert cfg['task'] == 'captions' and cfg['img_size'] == 64 and cfg['attn_res'] == [16, 32]
    tok = json.loads((runs / 'gan' / 'model.json').read_text())['tokenizer']
    assert tok['rule'] == 'unicode' and 'carré' in tok['itos'] and 'red' in tok['itos']

def test_generate_from_any_language(runs, tmp_path):
    r = run_cli('generate', '--model', runs / 'gan', '--seed', 0, '--out', tmp_path / 'a.png', 'un carré rouge')
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / 'a.png').size == (64, 64)

def test_eval_on_own_data(runs, shapes, tmp_path):
    r = run_cli('eval', '--model', runs / 'gan', '--data', shapes, '--n', 24, '--out', tmp_path / 'r.json')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r.json').read_text())
    assert rep['fid'] > 0 and 0 <= rep['r_precision']['mean'] <= 1
    assert rep['attribute_accuracy'] is None and 'attribute labels' in rep['attribute_accuracy_reason']
    assert any('unstable' in w and re.search(r' [1-9]\d* test images', w) for w in rep['warnings'])   # the held-out share of 48, named
    assert rep['diversity']['generated'] > 0

def test_img_size_and_errors(shapes, tmp_path):
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'd128', '--img-size', 128, '--max-steps', 1, '--batch-size', 8)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'd128' / 'config.json').read_text())
    assert cfg['img_size'] == 128 and cfg['attn_res'] == [32, 64]
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', shapes, '--out', tmp_path / 'x', '--img-size', 128)
    assert r.returncode == 2 and 'img-size' in r.stderr
    (tmp_path / 'empty').mkdir(); (tmp_path / 'empty' / 'metadata.csv').write_text('file_name,text\nnone.png,a caption\n')
    r = run_cli('train', 'damsm', '--data', tmp_path / 'empty', '--out', tmp_path / 'y')
    assert r.returncode == 1 and 'no usable captioned image' in r.stderr and 'Traceback' not in r.stderr
    (tmp_path / 'nothing').mkdir()
    r = run_cli('train', 'damsm', '--data', tmp_path / 'nothing', '--out', tmp_path / 'z')
    assert r.returncode == 2 and '--task' in r.stderr

def test_gan_follows_its_damsm(shapes, tmp_path):
    "A GAN run takes its DAMSM's size, squaring and held-out set; a different --img-size is refused, not ignored."
    (tmp_path / 'c.json').write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'd', '--img-size', 128, '--square', 'pad', '--background', '0,0,0',
                '--max-steps', 1, '--batch-size', 8, '--config', tmp_path / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', tmp_path / 'd', '--out', tmp_path / 'g', '--img-size', 64, '--max-steps', 1)
    assert r.returncode == 2 and 'differs' in r.stderr
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', tmp_path / 'd', '--out', tmp_path / 'g', '--max-steps', 1, '--batch-size', 8,
                '--config', tmp_path / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'g' / 'config.json').read_text())
    assert (cfg['img_size'], cfg['attn_res'], cfg['square'], cfg['background']) == (128, [32, 64], 'pad', [0, 0, 0])
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'x', '--background', '300,0,0')
    assert r.returncode == 2 and 'R,G,B' in r.stderr
