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
    r = run_cli('eval', '--model', runs / 'gan', '--data', shapes, '--n', 24, '--out', tmp_path / 'r.json', '--judge-damsm', runs / 'damsm')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r.json').read_text())
    assert rep['fid'] > 0 and 0 <= rep['r_precision']['mean'] <= 1
    # the judge here is the model's own DAMSM: the same encoders and tokenizer must give the same R-precision
    rj = rep['r_precision_judge']
    assert (rj['mean'], rj['std']) == (rep['r_precision']['mean'], rep['r_precision']['std']) and rj['damsm'] == str(runs / 'damsm')
    assert rj['same_as_model'] and 'is the one that trained' in r.stderr                 # said, not passed off as an outside reader
    assert 'R-precision (judge DAMSM) — the DAMSM that trained the model' in (tmp_path / 'r.md').read_text()
    for bad, msg in ((tmp_path / 'none', 'no DAMSM at'), (runs / 'gan', 'no DAMSM at')):      # a GAN export is not a judge DAMSM
        r = run_cli('eval', '--model', runs / 'gan', '--data', shapes, '--n', 4, '--no-fid', '--out', tmp_path / 'r2.json', '--judge-damsm', bad)
        assert r.returncode == 2 and msg in r.stderr, r.stderr[-500:]
    assert rep['attribute_accuracy'] is None and 'attribute labels' in rep['attribute_accuracy_reason']
    assert any('unstable' in w and re.search(r' [1-9]\d* test images', w) for w in rep['warnings'])   # the held-out share of 48, named
    assert rep['diversity']['generated'] > 0
    assert rep['label_accuracy']['classes'] > 1               # the two entries without a label were skipped: every usable picture has one
    sp = rep['spectrum']
    assert isinstance(sp['gap'], float) and set(sp['spikes']) == {'2', '4', '8'} and all(set(v) == {'x', 'y', 'xy'} for v in sp['spikes'].values())

def test_label_accuracy_on_a_labelled_folder(runs, tmp_path):
    "A folder whose every picture has a label: a judge trained on its real training pictures reads the generated ones; ceiling and chance beside it."
    from deep_t2i.synth import synth_captions
    import pandas as pd
    data = synth_captions(tmp_path / 'labelled', n=300, seed=1, progress=False)
    r = run_cli('eval', '--model', runs / 'gan', '--data', data, '--n', 40, '--no-fid', '--out', tmp_path / 'r.json')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r.json').read_text())
    la = rep['label_accuracy']
    assert {'mean', 'ceiling', 'chance'} <= la.keys() and 0 <= la['mean'] <= 1
    labels = pd.read_json(data / 'metadata.jsonl', lines=True).label
    assert la['classes'] == labels.nunique()
    asked = [l for cs in [rep['label_classes']] for l, v in cs.items() for _ in range(v['n'])]   # the label of every caption asked for
    assert la['chance'] == max(asked.count(l) for l in set(asked)) / 40
    assert la['ceiling'] > la['chance']                       # the judge reads real held-out pictures better than always answering one label
    cs = rep['label_classes']                                 # per label: how many captions asked for it, and how often it was read so
    assert sum(v['n'] for v in cs.values()) == 40 and abs(sum(v['n'] * v['accuracy'] for v in cs.values()) / 40 - la['mean']) < 1e-9
    assert rep['attribute_accuracy'] is None
    assert 'label accuracy (label judge)' in (tmp_path / 'r.md').read_text()
    rows = (data / 'metadata.jsonl').read_text().splitlines()                 # one picture without a label: no label judge, and why
    (data / 'metadata.jsonl').write_text('\n'.join([json.dumps({k: v for k, v in json.loads(rows[0]).items() if k != 'label'})] + rows[1:]) + '\n')
    r = run_cli('eval', '--model', runs / 'gan', '--data', data, '--n', 4, '--no-fid', '--out', tmp_path / 'r3.json')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r3.json').read_text())
    assert rep['label_accuracy'] is None and 'not every picture' in rep['label_accuracy_reason']
    assert 'label accuracy | not measured: not every picture' in (tmp_path / 'r3.md').read_text()

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
