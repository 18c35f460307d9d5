"""benchmarks/gradient_spectrum.py: its measure, and a run on a tiny trained GAN run."""
import subprocess, sys
import torch
from conftest import BIN, ROOT, damsm_run
sys.path.insert(0, str(ROOT / 'benchmarks'))
import gradient_spectrum as gs

def test_spikes_find_a_period():
    torch.manual_seed(0)
    noise = torch.randn(16, 3, 32, 32)
    stripes = noise + 3 * torch.tensor([(-1.) ** j for j in range(32)])            # every picture: + a 2-pixel period along x
    s0, s1 = gs.spikes(noise), gs.spikes(stripes)
    assert abs(s0['2 px x'][0]) < 0.5 and abs(s0['4 px y'][1]) < 1.0               # plain noise: no period stands out
    assert s1['2 px x'][0] > 1.5 and s1['2 px x'][1] > 2.5                          # the stripes do, in every picture and in their mean
    assert abs(s1['2 px y'][0]) < 0.5                                               # and only along x
    assert s1['norm'] > s0['norm']

def test_runs_on_a_trained_run(anime_data, tmp_path):
    from deep_t2i.core import get_config
    from deep_t2i.trainer_gan import GANTrainer
    cfg = get_config('anime', 'small', batch_size=8, seed=0)
    damsm = damsm_run(tmp_path / 'damsm', cfg, anime_data)
    GANTrainer(cfg, anime_data, damsm, tmp_path / 'gan', progress=False).fit(max_steps=2)
    py, script = str(BIN / 'python'), str(ROOT / 'benchmarks' / 'gradient_spectrum.py')
    r = subprocess.run([py, script, '--run', str(tmp_path / 'gan'), '--damsm', str(damsm), '--data', str(anime_data), '--batches', '2', '--damsm-blur', '0,5'],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {l.split('|')[1].strip(): l for l in r.stdout.splitlines() if l.startswith('| ') and not l.startswith('| term ')}
    assert {"D's logit", "D's caption logit", "D's word classifier", 'DAMSM (damsm_blur 0)', 'DAMSM (damsm_blur 5)', 'mode seeking'} <= set(rows), list(rows)
    two_px_x = lambda row: float(row.split('|')[3].split('/')[0])                    # per picture, log10 over the ring
    assert two_px_x(rows['DAMSM (damsm_blur 5)']) < two_px_x(rows['DAMSM (damsm_blur 0)']) - 0.5   # the blur takes the 2-pixel period out
    assert '16 pictures' in r.stdout and 'step 2' in r.stdout
    r = subprocess.run([py, script, '--run', str(tmp_path / 'gan'), '--damsm', str(damsm), '--data', str(anime_data), '--damsm-blur', '4'],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and '--damsm-blur takes values among 0, 3, 5' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-500:]
    r = subprocess.run([py, script, '--run', str(tmp_path / 'nothing'), '--damsm', str(damsm), '--data', str(anime_data)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1 and r.stderr.startswith('error:') and 'Traceback' not in r.stderr, r.stderr[-500:]
