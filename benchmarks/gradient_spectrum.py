"""Which term of G's loss asks G for stripes: the gradient each term sends G's largest pictures, by period.

    python benchmarks/gradient_spectrum.py --run RUN/gan --damsm RUN/damsm --data DATA [--batches 4] [--damsm-blur 0,5]

For a trained GAN run (its checkpoint: G, D and the DAMSM it trained on), over `--batches` training batches: the gradient
of each term of L_G (D's unconditional and caption logits, its word classifier, the DAMSM term, mode seeking) with
respect to G's largest pictures, alone, as `GANSteps.g_losses` computes it (the DAMSM term once for each `--damsm-blur`
value, `GANSteps.damsm_term`). For each: its mean size per picture (L2 norm) and, in log10, how far its power at a 2-,
4- and 8-pixel period along x and along y stands above the median of its frequency ring (`spectrum._peak_excess`, the
measure of `deep_t2i eval`'s spikes without the real pictures' part), per picture (`pic`) and for the gradient averaged
over the pictures (`mean`: what is the same at the same place in every picture, as the stripes in the eyes are). A
term whose gradient is large and spiky at a period asks G for a pattern of that period. Terms the run's config does not
use are left out, and so are the `spectral` and `vision_d` terms (not measured here). Writes nothing; prints a markdown table.
"""
import argparse, sys
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deep_t2i.core import load_config, DeepT2IError
from deep_t2i.layers import diff_augment, BLURS
from deep_t2i.spectrum import _peak_excess
from deep_t2i.trainer_gan import GANTrainer, g_term
sys.path.insert(0, str(ROOT / 'benchmarks'))
from spectrum_layers import feature_power

PERIODS = {'2 px x': (0, 2), '2 px y': (2, 0), '4 px x': (0, 4), '4 px y': (4, 0), '8 px x': (0, 8), '8 px y': (8, 0)}


def luma_power(g:torch.Tensor)->torch.Tensor:
    "Mean power spectrum (H, W) of the luma of gradients g (N, 3, H, W): `spectrum_layers.feature_power` of one luma map each."
    return feature_power((0.299 * g[:, 0] + 0.587 * g[:, 1] + 0.114 * g[:, 2])[:, None])


def spikes(g:torch.Tensor)->dict:
    "{period: (per picture, of the mean gradient)} in log10 over the ring's median, and 'norm': the mean L2 norm per picture."
    H = g.shape[-1]
    P, Pm = luma_power(g), luma_power(g.mean(0, keepdim=True))
    at = lambda P, py, px: _peak_excess(P, H // py if py else 0, H // px if px else 0)
    return dict(norm=float(g.flatten(1).norm(dim=1).mean()), **{k: (at(P, *p), at(Pm, *p)) for k, p in PERIODS.items()})


def term_gradients(t:GANTrainer, batches:int, blurs:list)->dict:
    "{term: gradient (N, 3, S, S)} of each term of L_G w.r.t. G's largest pictures over `batches` training batches."
    cfg, out, it = t.cfg, {}, iter(t.loader)
    t.D.requires_grad_(False)
    for _ in range(batches):
        real, ids, lens, cls, words, sent, fakes = t.encode_batch(next(it))
        fakes = [f.detach().requires_grad_(True) for f in fakes]
        u, c, _, *w = t.D(diff_augment(fakes, cfg.diffaug), sent, with_words=cfg.d_words > 0)
        terms = {"D's logit": g_term(u, cfg.gan_loss), "D's caption logit": g_term(c, cfg.gan_loss)}
        if w: terms["D's word classifier"] = cfg.d_words * t.word_loss(w[0], ids)
        for k in blurs: terms[f"DAMSM (damsm_blur {k})"] = cfg.lambda_damsm * t.damsm_term(fakes[-1], ids, lens, cls, words, sent, blur=k)
        if cfg.mode_seek > 0: terms['mode seeking'] = cfg.mode_seek * t.mode_seek_loss(fakes[-1], t.noise, words, sent, ids)
        for k, L in terms.items():
            g, = torch.autograd.grad(L, fakes[-1], retain_graph=True)
            out.setdefault(k, []).append(g.detach().float())
    return {k: torch.cat(v) for k, v in out.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--run', type=Path, required=True, help='a GAN run folder (checkpoint.pt, config.json)')
    p.add_argument('--damsm', type=Path, required=True, help='the DAMSM run it trained on')
    p.add_argument('--data', type=Path, required=True)
    p.add_argument('--batches', type=int, default=4)
    p.add_argument('--damsm-blur', default=None, help="comma-separated damsm_blur values to measure the DAMSM term with (default: the run's own)")
    a = p.parse_args()
    try:
        cfg = load_config(a.run / 'config.json')
        blurs = [int(b) for b in a.damsm_blur.split(',')] if a.damsm_blur else [cfg.damsm_blur]
        if any(b not in BLURS for b in blurs): raise ValueError(f"--damsm-blur takes values among {', '.join(map(str, BLURS))}, got {a.damsm_blur}")
        t = GANTrainer(cfg, a.data, a.damsm, a.run, resume=True, progress=False)
        t.setup(); t.load(); t.wrap()
    except (DeepT2IError, OSError, ValueError) as e: sys.exit(f"error: {e}")
    torch.manual_seed(0)
    grads = term_gradients(t, a.batches, blurs)
    n = next(iter(grads.values())).shape[0]
    print(f"{a.run}, step {t.step}: gradients of L_G's terms w.r.t. G's {cfg.img_size}x{cfg.img_size} pictures, {n} pictures; "
          "log10 power over the ring's median, per picture / of the mean gradient\n")
    print('| term | norm per picture | ' + ' | '.join(PERIODS) + ' |')
    print('|---|---|' + '---|' * len(PERIODS))
    for k, g in grads.items():
        s = spikes(g)
        print(f"| {k} | {s['norm']:.2e} | " + ' | '.join(f"{s[p][0]:+.2f} / {s[p][1]:+.2f}" for p in PERIODS) + ' |')


if __name__ == '__main__': main()
