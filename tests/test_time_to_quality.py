"""benchmarks/time_to_quality.py end to end on tiny data: two configurations, a curve each (later points have more steps),
the JSON, the plot and its section in RESULTS.md (the rest of the file kept)."""
import json, subprocess
import pytest
from conftest import BIN, ROOT

BASE = '{"batch_size": 8, "width": 0.0625, "min_ch": 8}'

@pytest.mark.slow
def test_time_to_quality_writes_curves(tmp_path):
    from deep_t2i.synth import synth_anime
    data = synth_anime(tmp_path / 'data', n=96, seed=0, progress=False)
    res_dir = tmp_path / 'res'; res_dir.mkdir()
    (res_dir / 'RESULTS.md').write_text('# Benchmark results\n\nkept\n')
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data),
                        '--out', str(tmp_path / 'runs'), '--results', str(res_dir), '--configs', 'old,new', '--minutes', '0.2',
                        '--every', '0.1', '--damsm-epochs', '1', '--n', '24', '--base', BASE],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((res_dir / 'ttq' / 'anime.json').read_text())
    assert set(res['configs']) == {'old', 'new'}
    for c in res['configs'].values():
        pts = c['points']
        assert len(pts) >= 2 and pts[0]['minutes'] < pts[-1]['minutes'] and pts[0]['step'] < pts[-1]['step']
        assert all(0 <= p['eyes'] <= 1 and 0 <= p['hair'] <= 1 and p['variety'] > 0 for p in pts)   # 96 images: the held-out 10% hold a same-class pair, so a ratio
    assert res['configs']['old']['config']['mode_seek'] == 0 < res['configs']['new']['config']['mode_seek']
    assert all(c['channels_last'] in ([True], [False]) for c in res['configs'].values())   # the format `auto` chose, recorded
    md = (res_dir / 'RESULTS.md').read_text()
    assert md.startswith('# Benchmark results\n\nkept') and '<!-- ttq:start -->' in md and '](ttq/anime.png)' in md
    assert (res_dir / 'ttq' / 'anime.png').stat().st_size > 1000
    # rendering again replaces the section instead of adding a second one
    assert subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--render', '--results', str(res_dir)],
                          capture_output=True, text=True, timeout=120).returncode == 0
    assert (res_dir / 'RESULTS.md').read_text().count('<!-- ttq:start -->') == 1
    # --append from another machine, with more DAMSM epochs: the configurations already there keep their machine, base and DAMSM
    f = res_dir / 'ttq' / 'anime.json'
    there = {**res['machine'], 'cpu': 'elsewhere'}
    res['configs']['old'].pop('machine')                                          # as in files from before configurations kept their own: the file's
    res['configs']['new']['machine'] = there
    f.write_text(json.dumps({**res, 'machine': there}))
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data), '--append',
                        '--out', str(tmp_path / 'runs'), '--results', str(res_dir), '--configs', 'nearest', '--minutes', '0.05', '--every', '0.05',
                        '--damsm-epochs', '2', '--n', '8', '--base', BASE[:-1] + ', "sample_every": 2}'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res2 = json.loads(f.read_text())
    assert [res2['configs'][c]['machine']['cpu'] for c in ('old', 'new', 'nearest')] == ['elsewhere', 'elsewhere', res2['machine']['cpu']] != ['elsewhere'] * 3
    assert 'sample_every' not in res2['configs']['old']['base'] and res2['configs']['nearest']['base']['sample_every'] == 2
    assert res2['configs']['old']['damsm'] == res['damsm'] and res2['damsm']['epochs'] == 2
    assert res2['damsm']['minutes'] > res['damsm']['minutes']                     # the second epoch's minutes add to the first's
    assert res2['configs']['nearest']['points'][0]['minutes'] > res2['damsm']['minutes']
    md = (res_dir / 'RESULTS.md').read_text()
    assert '`old` was measured apart (`--append`): on elsewhere' in md and 'DAMSM shared by all' not in md
    res = res2
    from deep_t2i.metrics import JUDGE_VERSION
    assert res['judge_version'] == JUDGE_VERSION and f'Attribute judge: version {JUDGE_VERSION}' in md
    # points of an older judge are not mixed with this one's
    f = res_dir / 'ttq' / 'anime.json'
    f.write_text(json.dumps({k: v for k, v in res.items() if k != 'judge_version'}))   # a file from before versions were recorded
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data),
                        '--out', str(tmp_path / 'runs2'), '--results', str(res_dir), '--configs', 'old', '--append', '--minutes', '0.1'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'judge version 1' in r.stderr and '--name' in r.stderr, r.stderr[-2000:]

@pytest.mark.slow
def test_time_to_quality_several_seeds(tmp_path):
    "--seeds: one run per seed (each trained with its seed), points are the means with the lowest and highest seed beside them."
    from deep_t2i.synth import synth_anime
    data = synth_anime(tmp_path / 'data', n=64, seed=0, progress=False)
    res_dir = tmp_path / 'res'; (res_dir / 'ttq').mkdir(parents=True)
    cmd = [str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data), '--name', 'seeds',
           '--out', str(tmp_path / 'runs'), '--results', str(res_dir), '--configs', 'new', '--minutes', '0.1', '--every', '0.05',
           '--damsm-epochs', '1', '--n', '24', '--base', '{"batch_size": 8, "width": 0.0625, "min_ch": 8}']
    for extra, msg in [(['--seeds', '42,4x'], '--seeds must be integers'), (['--seeds', '42,42'], 'repeats a seed'),
                       (['--seeds', '42,43', '--minutes', '0'], 'must be positive'),
                       (['--seeds', '42,43', '--configs', 'own={"seed": 7}'], 'sets its own seed')]:
        bad = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=120)
        assert bad.returncode != 0 and msg in bad.stderr, (extra, bad.stderr[-2000:])
    assert not (tmp_path / 'runs').exists()
    r = subprocess.run(cmd + ['--seeds', '42,43'], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    c = json.loads((res_dir / 'ttq' / 'seeds.json').read_text())['configs']['new']
    assert [x['seed'] for x in c['runs']] == [42, 43] and len(c['points']) == len(c['runs'][0]['points']) >= 2
    for i, p in enumerate(c['points']):
        vals = [x['points'][i]['eyes'] for x in c['runs']]
        assert abs(p['eyes'] - sum(vals) / 2) < 1e-4 and p['spread']['eyes'] == [min(vals), max(vals)]
    runs = tmp_path / 'runs' / 'seeds'
    assert [json.loads((runs / f'new_s{s}' / 'config.json').read_text())['seed'] for s in (42, 43)] == [42, 43]
    assert (runs / 'new_s42' / 'model.safetensors').read_bytes() != (runs / 'new_s43' / 'model.safetensors').read_bytes()
    md = (res_dir / 'RESULTS.md').read_text()
    assert 'seeds 42, 43' in md and f"{100 * c['points'][-1]['eyes']:.1f}% (" in md

def test_time_to_quality_renders_mixed_files(tmp_path):
    "--render: a file with a one-seed and a several-seed configuration, one seed without a variety value: a plot, and cells with brackets only for the latter."
    (tmp_path / 'ttq').mkdir()
    pt = lambda m, s, eyes, var: dict(minutes=m, gan_minutes=m, step=s, images=8 * s, eyes=eyes, hair=0.9, r_precision=0.5, variety=var)
    runs = [dict(seed=1, points=[pt(1, 10, 0.2, 0.5), pt(2, 20, 0.4, None)]), dict(seed=2, points=[pt(1, 12, 0.4, 0.7), pt(2, 22, 0.6, 0.9)])]
    import sys; sys.path.insert(0, str(ROOT / 'benchmarks'))
    from time_to_quality import mean_points
    pts = mean_points(runs)
    assert pts[0]['eyes'] == 0.3 and pts[0]['spread']['eyes'] == [0.2, 0.4] and pts[0]['step'] == 11 and 'step' not in pts[0]['spread']
    assert pts[1]['variety'] is None and 'variety' not in pts[1]['spread']          # a seed without a value: no mean, no band there
    r = dict(task='anime', data='d', machine=dict(cpu='x', cores=2, torch='t', date='today'), command='c', seed=42, judge_version=2,
             base={'seed': 42}, damsm=dict(epochs=1, minutes=0.5, r_precision=None),
             configs=dict(one=dict(overrides={}, seeds=[42], points=[pt(1, 10, 0.25, 0.5)]), two=dict(overrides={}, seeds=[1, 2], runs=runs, points=pts)))
    (tmp_path / 'ttq' / 'mixed.json').write_text(json.dumps(r))
    p = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--render', '--results', str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    md = (tmp_path / 'RESULTS.md').read_text()
    assert '| one | the small preset as it is | 1 | 10 | 25.0% | 90.0% | 0.500 | 0.500 |' in md
    assert '| two | the small preset as it is; seeds 1, 2 | 1 | 11 | 30.0% (20.0%–40.0%) |' in md and '| 0.600 (0.500–0.700) |' in md
    assert (tmp_path / 'ttq' / 'mixed.png').stat().st_size > 1000
    assert '### mixed (d; x, 2 cores' in md
    from time_to_quality import minutes_label                                       # a curve measured on a GPU says so on its axis and heading
    assert minutes_label(r['machine']) == 'CPU minutes (2 cores)' and minutes_label({**r['machine'], 'gpu': 'NVIDIA H200'}) == 'GPU minutes (NVIDIA H200)'
    (tmp_path / 'ttq' / 'mixed.json').write_text(json.dumps({**r, 'machine': {**r['machine'], 'gpu': 'NVIDIA H200'}}))
    assert subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--render', '--results', str(tmp_path)], timeout=120).returncode == 0
    assert '### mixed (d; NVIDIA H200, x, 2 cores' in (tmp_path / 'RESULTS.md').read_text()

@pytest.mark.slow
def test_time_to_quality_on_a_labelled_folder(tmp_path):
    "Own data: the curves follow the label judge (its ceiling recorded), every point has the spectrum gap, and the nearest configuration upsamples so."
    from deep_t2i.synth import synth_captions
    data = synth_captions(tmp_path / 'shapes', n=96, seed=0, progress=False)
    res_dir = tmp_path / 'res'; res_dir.mkdir()
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'captions', '--data', str(data),
                        '--out', str(tmp_path / 'runs'), '--results', str(res_dir), '--configs', 'new,nearest', '--minutes', '0.1',
                        '--every', '0.1', '--damsm-epochs', '1', '--n', '16', '--base', '{"batch_size": 8, "width": 0.0625, "min_ch": 8}'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((res_dir / 'ttq' / 'captions.json').read_text())
    assert 0 < res['judge_ceiling'] <= 1
    for c in res['configs'].values():
        assert all(0 <= p['label'] <= 1 and isinstance(p['spectrum_gap'], float) and isinstance(p['max_spike'], float) and p['variety'] > 0 for p in c['points'])
    run_cfg = lambda c: json.loads((tmp_path / 'runs' / 'captions' / c / 'config.json').read_text())
    assert (run_cfg('nearest')['upsample'], run_cfg('new')['upsample']) == ('nearest', 'bilinear')
    assert res['configs']['nearest']['config']['upsample'] == 'nearest'
    md = (res_dir / 'RESULTS.md').read_text()
    assert '| label | R-precision | variety | spectrum gap | max spike |' in md and 'Label judge:' in md
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'captions', '--data', str(tmp_path / 'none'),
                        '--out', str(tmp_path / 'runs3'), '--results', str(res_dir)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and 'needs --data' in r.stderr
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'captions',   # no --data: not the birds folder
                        '--out', str(tmp_path / 'runs4'), '--results', str(res_dir)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and 'needs --data' in r.stderr


@pytest.mark.slow
def test_time_to_quality_own_damsm(tmp_path):
    "A configuration that changes the DAMSM's settings trains on a DAMSM of its own (on the shared one its settings would be replaced); the others share."
    from deep_t2i.synth import synth_anime
    data = synth_anime(tmp_path / 'data', n=96, seed=0, progress=False)
    res_dir = tmp_path / 'res'; res_dir.mkdir()
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data),
                        '--out', str(tmp_path / 'runs'), '--results', str(res_dir), '--configs', 'new;nearest={"upsample": "nearest", "seed": 7};wide={"emb_sz": 24, "batch_size": 4}',
                        '--minutes', '0.05', '--every', '0.05', '--damsm-epochs', '1', '--n', '8', '--base', BASE],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    runs = tmp_path / 'runs' / 'anime'
    own = sorted(p.name for p in runs.iterdir() if p.is_dir() and p.name.startswith('damsm_'))
    assert len(own) == 1 and sorted(p.name for p in runs.iterdir() if p.is_dir()) == ['damsm', *own, 'nearest', 'new', 'wide']
    test_batch = lambda run: json.loads((runs / run / 'config.json').read_text())['batch_size']
    assert test_batch(own[0]) == test_batch('damsm') == 8 != test_batch('wide')   # its DAMSM trains with the DAMSM fields of its overrides only
    emb = {c: json.loads((runs / c / 'config.json').read_text())['emb_sz'] for c in ('new', 'nearest', 'wide')}
    assert emb['wide'] == 24 != emb['new'] == emb['nearest']                      # its own DAMSM's setting, not the shared one's
    res = json.loads((res_dir / 'ttq' / 'anime.json').read_text())
    assert res['configs']['wide']['damsm']['run'] == own[0] and 'run' not in res['configs']['nearest']['damsm']
    assert json.loads((runs / 'nearest' / 'config.json').read_text())['seed'] == 7       # a configuration's own seed (no --seeds)
    for c in res['configs'].values():                                              # each curve's minutes start with its own DAMSM's
        p0, dm = c['points'][0], c['damsm']
        assert abs(p0['minutes'] - (dm['minutes'] + p0['gan_minutes'])) <= 0.02
    md = (res_dir / 'RESULTS.md').read_text()
    assert f"`wide` changes the DAMSM's settings and trained on a DAMSM of its own ({own[0]})" in md and 'measured apart' not in md
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data),
                        '--out', str(tmp_path / 'runs2'), '--results', str(res_dir), '--configs', 'damsm_x={"emb_sz": 24}'], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "names starting with 'damsm'" in r.stderr


def test_interrupted_damsm_keeps_its_minutes(tmp_path, monkeypatch):
    "A DAMSM interrupted after a checkpoint keeps the minutes up to that checkpoint; its resumed run adds its own."
    import sys, time
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import time_to_quality as ttq, deep_t2i.trainer_damsm as td
    run = tmp_path / 'damsm'
    class Interrupted:
        def __init__(self, cfg, data, out, **kw): pass
        def fit(self):
            time.sleep(0.3); run.mkdir(exist_ok=True); (run / 'checkpoint.pt').write_bytes(b'x'); time.sleep(0.3)
            raise KeyboardInterrupt
    class Finishes:
        step, _n0, epoch, history, stopped = 5, 2, 1, [{'r_precision': 0.5}], None
        def __init__(self, cfg, data, out, **kw): pass
        def fit(self): time.sleep(0.3); return self
    cfg = type('Config', (), {'damsm_epochs': 1})()
    monkeypatch.setattr(td, 'DAMSMTrainer', Interrupted)
    with pytest.raises(KeyboardInterrupt): ttq.train_damsm(cfg, None, run)
    first = json.loads((tmp_path / 'damsm_minutes.json').read_text())['minutes'] * 60
    assert 0.25 < first < 0.55                                                     # up to the checkpoint, not the time after it
    monkeypatch.setattr(td, 'DAMSMTrainer', Finishes)
    info, _ = ttq.train_damsm(cfg, None, run)
    both = json.loads((tmp_path / 'damsm_minutes.json').read_text())['minutes'] * 60
    assert first + 0.25 < both < first + 0.6 and info['r_precision'] == 0.5        # both calls' minutes
    Finishes.stopped = 'stopped'                                                   # stopped by a signal (fit returns): no GAN on a half-trained DAMSM
    with pytest.raises(SystemExit, match='stopped before its last epoch'): ttq.train_damsm(cfg, None, run)
