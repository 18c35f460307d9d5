"""benchmarks/time_to_quality.py end to end on tiny data: two configurations, a curve each (later points have more steps),
the JSON, the plot and its section in RESULTS.md (the rest of the file kept)."""
import json, subprocess
from conftest import BIN, ROOT

def test_time_to_quality_writes_curves(tmp_path):
    from deep_t2i.synth import synth_anime
    data = synth_anime(tmp_path / 'data', n=64, seed=0, progress=False)
    res_dir = tmp_path / 'res'; res_dir.mkdir()
    (res_dir / 'RESULTS.md').write_text('# Benchmark results\n\nkept\n')
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data),
                        '--out', str(tmp_path / 'runs'), '--results', str(res_dir), '--configs', 'old,new', '--minutes', '0.2',
                        '--every', '0.1', '--damsm-epochs', '1', '--n', '24', '--base', '{"batch_size": 8, "width": 0.0625, "min_ch": 8}'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads((res_dir / 'ttq' / 'anime.json').read_text())
    assert set(res['configs']) == {'old', 'new'}
    for c in res['configs'].values():
        pts = c['points']
        assert len(pts) >= 2 and pts[0]['minutes'] < pts[-1]['minutes'] and pts[0]['step'] < pts[-1]['step']
        assert all(0 <= p['eyes'] <= 1 and 0 <= p['hair'] <= 1 and (p['variety'] is None or p['variety'] > 0) for p in pts)   # tiny data: no real same-class pairs, no ratio
    assert res['configs']['old']['config']['mode_seek'] == 0 < res['configs']['new']['config']['mode_seek']
    md = (res_dir / 'RESULTS.md').read_text()
    assert md.startswith('# Benchmark results\n\nkept') and '<!-- ttq:start -->' in md and '](ttq/anime.png)' in md
    assert (res_dir / 'ttq' / 'anime.png').stat().st_size > 1000
    # rendering again replaces the section instead of adding a second one
    assert subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--render', '--results', str(res_dir)],
                          capture_output=True, text=True, timeout=120).returncode == 0
    assert (res_dir / 'RESULTS.md').read_text().count('<!-- ttq:start -->') == 1
    from deep_t2i.metrics import JUDGE_VERSION
    assert res['judge_version'] == JUDGE_VERSION and f'Attribute judge: version {JUDGE_VERSION}' in md
    # points of an older judge are not mixed with this one's
    f = res_dir / 'ttq' / 'anime.json'
    f.write_text(json.dumps({k: v for k, v in res.items() if k != 'judge_version'}))   # a file from before versions were recorded
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'time_to_quality.py'), '--task', 'anime', '--data', str(data),
                        '--out', str(tmp_path / 'runs2'), '--results', str(res_dir), '--configs', 'old', '--append', '--minutes', '0.1'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and 'judge version 1' in r.stderr and '--name' in r.stderr, r.stderr[-2000:]
