"""Run under `torchrun --nproc_per_node=2` by tests/test_ddp.py: train, then write this rank's parameter hash."""
import hashlib, json, sys
from pathlib import Path
import torch
from deep_t2i.core import get_config
from deep_t2i.dist import get_rank, close_distributed

def param_hash(*modules):
    h = hashlib.sha256()
    for m in modules:
        for p in m.parameters(): h.update(p.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()

what, data, out, steps = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
resume = len(sys.argv) > 5 and sys.argv[5] == 'resume'
cfg = get_config('anime', 'small', batch_size=8, width=0.0625, min_ch=8, ckpt_every=2)
if what == 'damsm':
    from deep_t2i.trainer_damsm import DAMSMTrainer
    from deep_t2i.trainer_damsm import encode_dataset
    t = DAMSMTrainer(cfg, data, out, resume=resume, progress=False).fit(max_steps=steps)
    h = param_hash(t.model)
    extra = dict(n_encoded=len(encode_dataset(t.model, t.valid_ds)[0]), n_valid=len(t.valid_ds))   # validation sees all of it on any rank
else:
    from deep_t2i.trainer_gan import GANTrainer
    t = GANTrainer(cfg, data, out.parent / 'damsm', out, resume=resume, progress=False).fit(max_steps=steps)
    h, extra = param_hash(t.G, t.D, t.ema.module), {}
(out / f'hash{get_rank()}.json').write_text(json.dumps(dict(hash=h, step=t.step, **extra)))
close_distributed()
