"""benchmarks/standing_stats.py: both exports of one run's EMA (the same weights, BatchNorm statistics apart), judged by one judge."""
import subprocess
import torch
from conftest import BIN, ROOT

def test_standing_stats_benchmark(anime_data, tmp_path):
    from safetensors.torch import load_file
    from deep_t2i.core import get_config
    from deep_t2i.trainer_damsm import DAMSMTrainer
    from deep_t2i.trainer_gan import GANTrainer
    cfg = get_config('anime', 'small', batch_size=8, seed=0)
    DAMSMTrainer(cfg, anime_data, tmp_path / 'damsm', progress=False).fit(epochs=1)
    GANTrainer(cfg, anime_data, tmp_path / 'damsm', tmp_path / 'gan', progress=False).fit(max_steps=3)
    script = [str(BIN / 'python'), str(ROOT / 'benchmarks' / 'standing_stats.py')]
    r = subprocess.run([*script, '--run', str(tmp_path / 'gan'), '--data', str(anime_data), '--n', '16', '--batches', '2'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "| live generator's |" in r.stdout and '| own (2 batches) |' in r.stdout and 'eyes' in r.stdout and 'step 3' in r.stdout
    a, b = (load_file(tmp_path / 'gan' / 'standing' / f'ss{n}.safetensors') for n in (0, 2))
    assert a.keys() == b.keys()
    stats = [k for k in a if k.startswith('G.') and 'running_mean' in k]
    assert stats and all(not torch.equal(a[k], b[k]) for k in stats)                      # the statistics differ...
    assert all(torch.equal(a[k], b[k]) for k in a if 'running_' not in k and 'num_batches' not in k)   # ...and nothing else
    r = subprocess.run([*script, '--run', str(tmp_path / 'damsm'), '--data', str(anime_data)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and 'not a GAN run folder' in r.stderr
