"""benchmarks/spectrum_layers.py: the measures it is built on, and a run on the bundled anime model."""
import subprocess, sys
import torch
from conftest import BIN, ROOT
sys.path.insert(0, str(ROOT / 'benchmarks'))
import spectrum_layers as sl

def test_column_alternation_and_feature_power():
    x = torch.zeros(2, 3, 8, 8); x[..., 1::2] = 0.2                          # columns alternating 0, 0.2: 2 px along x
    a = sl.column_alternation(x)
    assert torch.allclose(a, torch.full_like(a, -0.2 * 127.5))              # 25.5 levels, the same sign everywhere (odd columns brighter: -)
    assert torch.allclose(sl.column_alternation(x.transpose(2, 3)), torch.zeros_like(a))   # rows alternating instead: none along x
    P = sl.feature_power(x)
    assert P[0, 4] > 1e3 * P[4, 0]                                          # the power sits at (0, 1/2 cycle per pixel)

def test_runs_on_the_bundled_model(anime_data):
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'spectrum_layers.py'), '--model', 'anime', '--data', str(anime_data), '--n', '24'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'spectrum gap' in r.stdout and 'held by the mean picture' in r.stdout and 'rows  32- 39' in r.stdout
    assert 'blocks.3.conv2' in r.stdout and 'rgb.4' in r.stdout                # G's layers at 64x64
    assert "an untrained D's gradient at 2 px" in r.stdout
    r = subprocess.run([str(BIN / 'python'), str(ROOT / 'benchmarks' / 'spectrum_layers.py'), '--data', str(anime_data / 'nothing')],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and 'no tags.csv' in r.stderr
