"""Training end to end through the CLI: run folders, kill + resume bit-for-bit, DDP under torchrun, errors."""
import json, os, signal, subprocess, time
import pytest, torch
from safetensors.torch import load_file
from conftest import run_cli, BIN

FAST = {'ckpt_every': 1, 'min_ch': 8, 'width': 0.0625}

@pytest.fixture(scope='module')
def tiny(tmp_path_factory, anime_data):
    d = tmp_path_factory.mktemp('train')
    (d / 'fast.json').write_text(json.dumps(FAST))
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', anime_data, '--out', d / 'damsm', '--epochs', 1, '--batch-size', 16, '--config', d / 'fast.json')
    assert r.returncode == 0, r.stderr
    return d

def gan(tiny, anime_data, out, *extra):
    return run_cli('train', 'gan', '--task', 'anime', '--data', anime_data, '--damsm', tiny / 'damsm', '--out', out,
                   '--batch-size', 16, '--config', tiny / 'fast.json', *extra)

def test_damsm_run_folder(tiny):
    names = {p.name for p in (tiny / 'damsm').iterdir()}
    assert {'config.json', 'checkpoint.pt', 'metrics.csv', 'damsm.safetensors', 'damsm.json', 'losses.png'} <= names
    cfg = json.loads((tiny / 'damsm' / 'config.json').read_text())
    assert cfg['width'] == 0.0625 and cfg['damsm_epochs'] == 1          # config file and flags both applied

def test_gan_run_folder_and_export(tiny, anime_data, tmp_path):
    r = gan(tiny, anime_data, tmp_path / 'g', '--epochs', 2)
    assert r.returncode == 0, r.stderr
    names = {p.name for p in (tmp_path / 'g').iterdir()}
    assert {'config.json', 'checkpoint.pt', 'metrics.csv', 'model.safetensors', 'model.json', 'losses.png', 'samples'} <= names
    assert sorted(p.name for p in (tmp_path / 'g' / 'samples').iterdir()) == ['epoch_001.png', 'epoch_002.png']
    meta = json.loads((tmp_path / 'g' / 'model.json').read_text())
    assert meta['config']['seed'] == 42 and meta['tokenizer'] == {'kind': 'anime'}
    r = gan(tiny, anime_data, tmp_path / 'g', '--epochs', 2)            # the folder holds a run: refuse to clobber it
    assert r.returncode == 1 and '--resume' in r.stderr

def test_killed_run_resumes_bit_for_bit(tiny, anime_data, tmp_path):
    r = gan(tiny, anime_data, tmp_path / 'full', '--epochs', 3)
    assert r.returncode == 0, r.stderr
    cmd = [str(BIN / 'deep_t2i'), 'train', 'gan', '--task', 'anime', '--data', str(anime_data), '--damsm', str(tiny / 'damsm'),
           '--out', str(tmp_path / 'killed'), '--batch-size', '16', '--config', str(tiny / 'fast.json'), '--epochs', '3']
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ck = tmp_path / 'killed' / 'checkpoint.pt'
    t0 = time.time()
    while not ck.exists() and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.05)
    time.sleep(0.3)
    p.send_signal(signal.SIGKILL); p.wait()
    assert ck.exists()
    step = torch.load(ck, weights_only=True)['step']
    assert step < 21, "the run finished before it could be killed"
    r = gan(tiny, anime_data, tmp_path / 'killed', '--epochs', 3, '--resume')
    assert r.returncode == 0, r.stderr
    a, b = load_file(tmp_path / 'full' / 'model.safetensors'), load_file(tmp_path / 'killed' / 'model.safetensors')
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / 'full' / 'metrics.csv').read_text() == (tmp_path / 'killed' / 'metrics.csv').read_text()

def test_torchrun_two_cpu_processes(tiny, anime_data, tmp_path):
    out = tmp_path / 'ddp'
    r = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'deep_t2i', 'train', 'gan', '--task', 'anime',
                        '--data', str(anime_data), '--damsm', str(tiny / 'damsm'), '--out', str(out), '--batch-size', '8',
                        '--config', str(tiny / 'fast.json'), '--epochs', '1', '--channels-last', 'auto'],
                       capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count('gan run in') == 1                                # only rank 0 prints
    assert r.stderr.count('channels_last auto:') == 1                       # rank 0 times both formats; every rank trains in its choice
    assert json.loads((out / 'config.json').read_text())['channels_last'] == 'auto'
    ck = torch.load(out / 'checkpoint.pt', weights_only=True)
    assert ck['state']['channels_last'] in (True, False)
    assert ck['step'] == 108 // 2 // 8                                     # each rank took half the data
    assert (out / 'model.safetensors').exists()

def test_train_errors_are_one_line(tiny, anime_data, tmp_path):
    r = run_cli('train', 'gan', '--task', 'anime', '--data', anime_data, '--out', tmp_path / 'x')
    assert r.returncode == 2 and '--damsm' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', tmp_path / 'nothing', '--out', tmp_path / 'x')
    assert r.returncode == 1 and 'tags.csv' in r.stderr and len(r.stderr.strip().splitlines()) == 1
    r = run_cli('train', 'gan', '--task', 'birds', '--data', anime_data, '--damsm', tiny / 'damsm', '--out', tmp_path / 'y')
    assert r.returncode == 2 and 'anime' in r.stderr
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', anime_data, '--out', tmp_path / 'z', '--epochs', '0')
    assert r.returncode == 2 and '--epochs' in r.stderr

def test_sigterm_stops_cleanly_and_exports(tiny, anime_data, tmp_path):
    "SIGTERM (a scheduler's or Cloud Run's stop) ends the step, checkpoints and exports the weights of that step; --resume continues."
    out = tmp_path / 'term'
    cmd = [str(BIN / 'deep_t2i'), 'train', 'gan', '--task', 'anime', '--data', str(anime_data), '--damsm', str(tiny / 'damsm'),
           '--out', str(out), '--batch-size', '16', '--config', str(tiny / 'fast.json'), '--epochs', '1000']
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.time()
    while not (out / 'checkpoint.pt').exists() and time.time() - t0 < 120 and p.poll() is None: time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    stdout, stderr = p.communicate(timeout=120)
    assert p.returncode == 0, stderr[-2000:]
    assert 'stopped early' in stdout
    step = torch.load(out / 'checkpoint.pt', weights_only=True)['step']
    meta = json.loads((out / 'model.json').read_text())['meta']
    assert 0 < step < 1000 * 6 and meta['step'] == step                  # the export is this step's, not an epoch's
    assert (out / 'samples' / f'step_{step:06d}.png').exists()
    r = gan(tiny, anime_data, out, '--epochs', 1 + step // 6, '--resume')
    assert r.returncode == 0, r.stderr

def test_tensorboard_logs_losses_and_samples(tiny, anime_data, tmp_path):
    "--tensorboard writes the same losses as metrics.csv, plus the epoch sample grids, where TensorBoard reads them."
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    r = gan(tiny, anime_data, tmp_path / 'tb', '--epochs', 2, '--tensorboard')
    assert r.returncode == 0, r.stderr
    ea = EventAccumulator(str(tmp_path / 'tb' / 'tensorboard')).Reload()
    assert {'d_loss', 'g_loss', 'damsm_loss'} <= set(ea.Tags()['scalars']) and 'samples' in ea.Tags()['images']
    rows = [l.split(',') for l in (tmp_path / 'tb' / 'metrics.csv').read_text().splitlines()]
    col = rows[0].index('g_loss')
    import numpy as np
    tb, csv_ = [e.value for e in ea.Scalars('g_loss')], [float(r[col]) for r in rows[1:] if r[col]]
    assert len(tb) == len(csv_) == 12 and np.allclose(tb, csv_, rtol=1e-6)     # TensorBoard stores float32
    assert len(ea.Images('samples')) == 2

def test_resume_refuses_a_retrained_damsm(tiny, anime_data, tmp_path):
    "A GAN run records its DAMSM's fingerprint: after that DAMSM is retrained in place, --resume stops with one line (and --amp is honoured on resume)."
    import shutil
    shutil.copytree(tiny / 'damsm', tmp_path / 'damsm')
    args = ('train', 'gan', '--task', 'anime', '--data', anime_data, '--damsm', tmp_path / 'damsm', '--out', tmp_path / 'g', '--batch-size', 16, '--config', tiny / 'fast.json')
    r = run_cli(*args, '--max-steps', 2)
    assert r.returncode == 0, r.stderr
    sha = json.loads((tmp_path / 'g' / 'config.json').read_text())['damsm_sha']
    assert sha and torch.load(tmp_path / 'g' / 'checkpoint.pt', weights_only=True)['config']['damsm_sha'] == sha
    r = run_cli(*args, '--max-steps', 3, '--resume', '--amp', 'off')       # the same DAMSM: continues, with the new --amp
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / 'g' / 'config.json').read_text())['amp'] == 'off'
    from safetensors.torch import save_file                                # retrained in place: one weight moves
    w = load_file(tmp_path / 'damsm' / 'damsm.safetensors'); k = sorted(w)[0]; w[k] = w[k] + 0.01
    save_file(w, tmp_path / 'damsm' / 'damsm.safetensors')
    r = run_cli(*args, '--max-steps', 4, '--resume')
    assert r.returncode == 2 and 'another DAMSM' in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

@pytest.mark.slow                     # a cold compile of the tiny G and D takes minutes on 2 cores (seconds once cached)
def test_compiled_run_resumes_bit_for_bit_and_stays_near_eager(tiny, anime_data, tmp_path):
    "--compile on: a run killed and resumed ends bit for bit where an uninterrupted compiled run does, its checkpoint says it compiled, and it stays within rounding of the eager run."
    r = gan(tiny, anime_data, tmp_path / 'full', '--epochs', 2, '--compile', 'on')
    assert r.returncode == 0, r.stderr
    assert 'compiling G, D, the DAMSM image encoder (--compile on)' in r.stderr and torch.load(tmp_path / 'full' / 'checkpoint.pt', weights_only=True)['compiled']
    r = gan(tiny, anime_data, tmp_path / 'part', '--epochs', 2, '--compile', 'on', '--max-steps', '5')
    assert r.returncode == 0, r.stderr
    r = run_cli('train', 'gan', '--task', 'anime', '--data', anime_data, '--damsm', tiny / 'damsm', '--out', tmp_path / 'part',   # another process: the compiled code from the disk cache
                '--batch-size', 16, '--config', tiny / 'fast.json', '--epochs', 2, '--resume', process=True)
    assert r.returncode == 0, r.stderr
    a, b = load_file(tmp_path / 'full' / 'model.safetensors'), load_file(tmp_path / 'part' / 'model.safetensors')
    assert all(torch.equal(a[k], b[k]) for k in a)
    r = gan(tiny, anime_data, tmp_path / 'eager', '--epochs', 2, '--compile', 'off')
    assert r.returncode == 0, r.stderr
    e = load_file(tmp_path / 'eager' / 'model.safetensors')
    assert not all(torch.equal(a[k], e[k]) for k in a)                                     # compiled code rounds otherwise...
    assert max((a[k].float() - e[k].float()).abs().max().item() for k in a if k.startswith('G.')) < 0.05   # ...but draws the same run
