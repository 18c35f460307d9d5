"""benchmarks/watch_runs.py: GAN exports judged while the trainings run (what brings a curve back from a GPU call)."""
import json, os, subprocess, sys, time
import pytest
from conftest import ROOT, make_tiny_model

def _export(d, step):
    "What a trainer's export does: the weights replaced first, then model.json (here with a new step)."
    st, js = d / 'model.safetensors', d / 'model.json'
    st.write_bytes(st.read_bytes())
    info = json.loads(js.read_text()); info['meta'] = dict(step=step); js.write_text(json.dumps(info))

def _points(path):
    try: return {n: [p['step'] for p in c['points']] for n, c in json.loads(path.read_text())['configs'].items()}
    except (OSError, ValueError): return {}

def _wait_for(cond, timeout=120):
    t = time.time()
    while not cond():
        assert time.time() - t < timeout, 'timed out'
        time.sleep(0.5)

@pytest.mark.slow
def test_watch_runs_judges_exports_as_they_appear(tmp_path, anime_data):
    a = make_tiny_model(tmp_path / 'a', 'anime', with_image=True, width=0.0625)
    b = make_tiny_model(tmp_path / 'b', 'anime', with_image=True)
    _export(a, 10)
    (a / 'model.safetensors').write_bytes((a / 'model.safetensors').read_bytes())   # the next export's weights, its model.json not yet written
    (b / 'model.safetensors').write_bytes(b'not weights'); _export(b, 5)    # an export that cannot be loaded
    start, done, out, log_path = tmp_path / 'start.json', tmp_path / 'done', tmp_path / 'curves', tmp_path / 'watch.log'
    p = subprocess.Popen([sys.executable, ROOT / 'benchmarks' / 'watch_runs.py', '--run', f'a=anime:{a}', '--run', f'b=anime:{b}',
                          '--data', f'anime={anime_data}', '--start', start, '--until', str(time.time() + 240), '--done', done,
                          '--out', out, '--n', '100'], stdout=open(log_path, 'w'), stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    try:
        time.sleep(3)
        assert not out.exists() or not any(out.iterdir())                  # nothing judged before the trainings' start is announced
        start.write_text(json.dumps(dict(since=time.time() - 60, damsm_minutes=1.5)))
        curve = out / 'gpu_anime.json'
        _wait_for(lambda: 'b: judging' in open(log_path).read())
        time.sleep(4)
        assert 'a' not in _points(curve)                                   # a half-written export is not judged (as step 10)
        _export(a, 20)
        _wait_for(lambda: _points(curve).get('a') == [20])
        _export(a, 30)
        _wait_for(lambda: _points(curve).get('a') == [20, 30])
        done.touch()
        p.wait(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    log = log_path.read_text()
    assert p.returncode == 0, log[-3000:]
    assert 'b: judging the export of step 5 failed' in log and 'b' not in _points(curve)   # reported; the other run goes on
    r = json.loads(curve.read_text())
    c = r['configs']['a']
    assert c['overrides'] == {'width': 0.0625}                             # what differs from the small preset
    first, second = c['points']
    assert 1 < first['gan_minutes'] <= second['gan_minutes'] < 5           # when model.json was written, in minutes since `since` (60 s before the start file)
    assert abs(second['minutes'] - 1.5 - second['gan_minutes']) < 0.015 and r['damsm']['minutes'] == 1.5
    assert {'hair', 'eyes', 'r_precision', 'variety'} <= set(second) and second['images'] == 30 * 32

def test_watch_runs_refuses_a_run_without_data(tmp_path):
    p = subprocess.run([sys.executable, ROOT / 'benchmarks' / 'watch_runs.py', '--run', 'a=birds:x', '--data', 'anime=y',
                        '--start', tmp_path / 's', '--until', '0', '--out', tmp_path], capture_output=True, text=True, cwd=ROOT)
    assert p.returncode != 0 and 'with a --data for TASK (anime)' in p.stderr

def test_damsm_summary_counts_a_stopped_epoch_by_its_share(tmp_path):
    sys.path.insert(0, str(ROOT / 'benchmarks'))
    from watch_runs import damsm_summary, training_minutes
    from deep_t2i.train import RunFiles
    step = lambda s, e: dict(step=s, epoch=e, loss=1.0)
    rows = [step(1, 0), step(2, 0), step(3, 0), step(4, 0), dict(step=4, epoch=0, r_precision=0.5), step(5, 1)]
    RunFiles(tmp_path).write_metrics(rows)
    assert damsm_summary(tmp_path) == dict(epochs=1.25, steps=5, r_precision=0.5)          # stopped a quarter into its second epoch
    RunFiles(tmp_path).write_metrics(rows + [step(6, 1), step(7, 1), step(8, 1), dict(step=8, epoch=1, r_precision=0.6)])
    assert damsm_summary(tmp_path)['epochs'] == 2
    RunFiles(tmp_path).write_metrics(rows[:2])
    assert damsm_summary(tmp_path)['epochs'] is None                                        # stopped in its first epoch: its length is unknown
    assert training_minutes(tmp_path, 'damsm') is None                                      # no export yet
    (tmp_path / 'config.json').write_text('{}'); (tmp_path / 'damsm.json').write_text('{}')
    os.utime(tmp_path / 'config.json', (1000, 1000)); os.utime(tmp_path / 'damsm.json', (1090, 1090))
    assert training_minutes(tmp_path, 'damsm') == 1.5                                       # from its own folder: config.json to its last export
