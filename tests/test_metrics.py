"""`deep_t2i eval` end to end on a tiny model and tiny data: the report's keys and sanity of the numbers."""
import json
import torch
from conftest import run_cli, make_tiny_model
from deep_t2i.metrics import frechet_distance, FIDFeatures

def test_eval_report(anime_data, tmp_path):
    make_tiny_model(tmp_path, with_image=True)
    r = run_cli('eval', '--model', tmp_path, '--data', anime_data, '--n', 24, '--out', tmp_path / 'report.json')
    assert r.returncode == 0, r.stderr
    rep = json.loads((tmp_path / 'report.json').read_text())
    assert {'fid', 'r_precision', 'attribute_accuracy', 'n', 'model', 'data', 'inception'} <= rep.keys()
    assert rep['n'] == 24 and rep['fid'] > 0 and 'TF' in rep['inception']
    assert 0 <= rep['r_precision']['mean'] <= 1 and rep['r_precision']['std'] >= 0
    aa = rep['attribute_accuracy']
    assert {'hair', 'eyes', 'joint', 'ceiling'} <= aa.keys() and aa['ceiling']['hair'] > aa['hair']   # an untrained G is far below the ceiling
    dv = rep['diversity']                                     # real heads of one tag pair differ (position, skin, hair length)
    assert dv['real_same_class'] > 0.02 and dv['generated'] > 0 and abs(dv['ratio'] - dv['generated'] / dv['real_same_class']) < 1e-9
    md = (tmp_path / 'report.md').read_text()
    assert md.startswith('| metric | value |') and 'variety across seeds' in md

def test_fid_of_identical_sets_is_zero_and_grows_with_difference():
    x = torch.rand(24, 3, 64, 64) * 2 - 1
    ff = FIDFeatures(torch.device('cpu'))
    fa = ff(x)
    assert abs(frechet_distance(fa, fa)) < 1e-3
    assert frechet_distance(fa, ff(x.flip(1))) > frechet_distance(fa, ff((x + 0.02 * torch.randn_like(x)).clamp(-1, 1)))

def test_eval_errors(tmp_path, anime_data):
    r = run_cli('eval', '--model', tmp_path / 'none', '--data', anime_data, '--out', tmp_path / 'r.json')
    assert r.returncode == 1 and 'not found' in r.stderr
    r = run_cli('eval', '--model', tmp_path / 'none', '--data', anime_data, '--n', 1, '--out', tmp_path / 'r.json')
    assert r.returncode == 2
