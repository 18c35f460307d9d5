"""GPU checks, run on a CUDA machine with `pytest -m gpu tests/test_gpu.py` (benchmarks/gpu_run.sh does); skipped elsewhere.
What they prove: both trainers step on CUDA under bf16 and under fp16 with a GradScaler, the DAMSM term reaches G,
--deterministic repeats itself bit for bit, a stopped run resumes bit for bit, and the same seed gives the same pixels."""
import pytest, torch
from deep_t2i.core import get_config
from deep_t2i.trainer_gan import GANTrainer
from deep_t2i.trainer_damsm import DAMSMTrainer
from conftest import damsm_run, damsm_term_of, grad_norm

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason='needs a CUDA GPU')]

@pytest.mark.parametrize('task', ['anime', 'birds'])
@pytest.mark.parametrize('amp', ['bf16', 'fp16'])
def test_trainers_step_on_cuda(task, amp, request, tmp_path):
    data = request.getfixturevalue(f'{task}_data')
    cfg = get_config(task, 'small', batch_size=8, amp=amp, num_workers=2)
    d = DAMSMTrainer(cfg, data, tmp_path / 'damsm', progress=False).fit(max_steps=3)
    g = GANTrainer(cfg, data, tmp_path / 'damsm', tmp_path / 'gan', progress=False).fit(max_steps=3)
    for t in (d, g):
        assert t.device.type == 'cuda' and t.scaler.is_enabled() == (amp == 'fp16')
        losses = [v for r in t.history for k, v in r.items() if k not in ('step', 'epoch')]
        assert losses and all(v == v and abs(v) < 1e4 for v in losses)
    assert next(g.G.parameters()).is_cuda and (tmp_path / 'gan' / 'model.safetensors').exists()

def test_amp_auto_picks_by_capability():
    from deep_t2i.device import amp_dtype
    dev = torch.device('cuda')
    want = torch.bfloat16 if torch.cuda.get_device_capability() >= (8, 0) else torch.float16
    assert amp_dtype(dev, 'auto') == want

@pytest.mark.parametrize('encoder', ['cnn', 'torchvision'])
def test_damsm_gradient_reaches_generator_on_cuda(encoder, birds_data, tmp_path):
    t, dl = damsm_term_of(encoder, birds_data, tmp_path, batch_size=4)
    dl.backward()
    assert grad_norm(t.G) > 0 and grad_norm(t.D) == 0

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
