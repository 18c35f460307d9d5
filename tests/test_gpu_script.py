"""The one-command GPU script, rehearsed on CPU (`--dry`): every step it takes on the device runs here at tiny sizes,
so a typo cannot waste a lent GPU's minutes."""
import subprocess, sys, tarfile, time
import pytest
from conftest import ROOT

@pytest.mark.slow                     # ~2.5 min: `make test-slow` or `make gpu-dry` before a GPU session
def test_gpu_run_dry(tmp_path):
    "The default plan (benchmarks, tests, two DAMSMs, four GAN runs side by side, judged as they train) end to end, packed as the device tool brings it back."
    out, t0 = tmp_path / 'out', time.time()
    r = subprocess.run([sys.executable, ROOT / 'benchmarks' / 'gpu_run.py', '--dry', '--budget', '220', '--out', out, '--work', tmp_path / 'work'],
                       capture_output=True, text=True, timeout=400, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    wall = (time.time() - t0) / 60
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 8                                                  # what the device tool can bring back
    assert {'anime_a.safetensors', 'anime_b.safetensors', 'birds_a.safetensors', 'birds_b.safetensors', 'summary.tar.gz'} <= set(files)
    with tarfile.open(out / 'summary.tar.gz') as t: names = set(t.getnames())
    assert {'bench.json', 'logs/pytest_gpu.log', 'logs/gpu_run.log', 'birds_a/metrics.csv', 'anime_b/model.json'} <= names
    assert any(n.startswith('birds_a/samples_') for n in names)              # the last sample grid comes back
    glog = (tmp_path / 'work' / 'logs' / 'gpu_run.log').read_text()
    assert 'exit code 0' in glog and glog.index('gpu tests: exit code') < glog.index('damsm anime: exit code')   # the GPU tests ended before the timed trainings
    for run in ('anime_a', 'birds_b'): assert 'stopped early' in (tmp_path / 'work' / 'logs' / f'{run}.log').read_text()
    # the curves: every run judged while training, in time_to_quality's format, which draws them
    import json
    res = tmp_path / 'results'; (res / 'ttq').mkdir(parents=True)
    with tarfile.open(out / 'summary.tar.gz') as t:
        for task in ('anime', 'birds'): (res / 'ttq' / f'gpu_{task}.json').write_bytes(t.extractfile(f'curves/gpu_{task}.json').read())
        final = {n: json.load(t.extractfile(f'{n}/model.json'))['meta']['step'] for n in ('anime_a', 'anime_b', 'birds_a', 'birds_b')}
    for task, runs in (('anime', ('anime_a', 'anime_b')), ('birds', ('birds_a', 'birds_b'))):
        c = json.loads((res / 'ttq' / f'gpu_{task}.json').read_text())
        assert set(c['configs']) == set(runs), c['configs'].keys()
        assert 0 < c['damsm']['minutes'] < wall                             # the DAMSM's own training minutes, read from its run folder
        for name in runs:
            pts = c['configs'][name]['points']
            assert pts[-1]['step'] == final[name], (pts, final[name])      # the run's last export was judged
            steps, minutes = [p['step'] for p in pts], [p['minutes'] for p in pts]
            assert steps == sorted(set(steps)) and minutes == sorted(minutes), pts   # a later export, a later time
            assert 0 < pts[0]['gan_minutes'] and minutes[-1] < wall, (pts, wall)     # no point later than the whole run
            assert ('eyes' if task == 'anime' else 'named_parts') in pts[-1] and pts[-1]['r_precision'] is not None
    r = subprocess.run([sys.executable, ROOT / 'benchmarks' / 'time_to_quality.py', '--render', '--results', res], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    md = (res / 'RESULTS.md').read_text()
    assert '### gpu_birds' in md and '| birds_a |' in md and (res / 'ttq' / 'gpu_anime.png').exists()

def test_gpu_results_render(tmp_path):
    "The benchmark JSON turns into RESULTS.md tables between the GPU markers, and a second render replaces, not appends."
    import json
    j = tmp_path / 'b.json'
    j.write_text(json.dumps(dict(machine='GPU X', date='2026-01-01', train=[dict(what='GAN step', task='anime', preset='small', variant='fp32', batch=8, img_s=10.0, ms_per_step=800.0)],
                                 inference=[], profile=[dict(task='anime', preset='small', batch=8, gpu_kernel_ms=200.0, aten_ops_per_step=10)])))
    md = tmp_path / 'R.md'; md.write_text('# Results\n')
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    import gpu
    gpu.render_into(md, [j]); gpu.render_into(md, [j])
    text = md.read_text()
    assert text.count('GPU X') == 1 and '| 25.0 |' in text                  # busy = 200 / 800 ms

def test_gpu_plan_file_is_valid():
    "The plan prepared for the next GPU session names known tasks and config keys (a typo would waste the device)."
    import json
    from deep_t2i.core import get_config
    plan = json.loads((ROOT / 'benchmarks' / 'gpu_plan_next.json').read_text())
    for task, over in plan['damsm'].items(): get_config(task, 'small', **over)
    for name, (task, over) in plan['runs'].items():
        assert task in plan['damsm'], name
        get_config(task, 'small', **over)                                  # unknown keys or bad values raise
