"""Run under `torchrun --nproc_per_node=2` by tests/test_ddp.py: train, then write this rank's parameter hash.

    ddp_script.py damsm DATA OUT                      one DAMSM epoch: its end-of-epoch validation runs under DDP
    ddp_script.py gan DATA OUT STEPS [resume]         GAN steps (MA-GP on: its gradient penalty differentiates through the DDP-wrapped D;
                                                      the vision discriminator on: its heads are DDP-wrapped too)
"""
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

what, data, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
cfg = get_config('anime', 'small', batch_size=8, width=0.0625, min_ch=8, ckpt_every=2)
if what == 'damsm':
    from deep_t2i.damsm import r_precision
    from deep_t2i.trainer_damsm import DAMSMTrainer, encode_dataset
    t = DAMSMTrainer(cfg, data, out, progress=False).fit(epochs=1)
    h = param_hash(t.model)
    whole, shared = encode_dataset(t.model, t.valid_ds), encode_dataset(t.model, t.valid_ds, shard=True)
    extra = dict(n_valid=len(t.valid_ds), n_encoded=len(shared[0]),
                 shards_match=all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole, shared)),   # each rank's share, gathered in order
                 validated=[r['r_precision'] for r in t.history if 'r_precision' in r],             # what the epoch's end logged (rank 0)
                 r_precision=round(r_precision(*whole, seed=cfg.seed)[0], 5))                       # the whole set on one process
else:
    from deep_t2i.trainer_gan import GANTrainer
    steps, resume = int(sys.argv[4]), len(sys.argv) > 5 and sys.argv[5] == 'resume'
    t = GANTrainer(cfg.replace(ma_gp=2.0, vision_d=0.5, vision_size=64, vision_n=4), data, out.parent / 'damsm', out, resume=resume, progress=False).fit(max_steps=steps)
    h, extra = param_hash(t.G, t.D, t.ema.module, t.VD), {}
(out / f'hash{get_rank()}.json').write_text(json.dumps(dict(hash=h, step=t.step, **extra)))
close_distributed()
