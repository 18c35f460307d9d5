"""Where a generator's grid artifact comes from: the 2-pixel period along x and y in each of G's full-resolution layers, how
much of it is the same in every picture, and where in the picture it sits.

    python benchmarks/spectrum_layers.py --model anime --data data/anime_synth [--n 256]

For the model's pictures of the last `--n` captions of the data (seed 0) and the real pictures of those captions: the
spectrum spikes of `deep_t2i eval` (`spectrum_gap`, generated minus real); the share of the 2-pixel power along x that
the mean picture holds (near 1: a fixed pattern, at the same place in every picture); the mean signed alternation
between neighbouring columns by bands of 8 rows (8-bit levels) for generated and real pictures; and for every module of
G whose output has the final resolution, the power of its feature maps at a 2-pixel period along x and along y over
the median of their frequency ring (log10; the measure of `spectrum_gap` without the real pictures' part) and its
coherent share. Last, how strongly an untrained discriminator of the model's config (3 random initialisations) feels
2-pixel patterns: the power of its unconditional logit's gradient with respect to the real pictures at those periods
over its ring's median (a discriminator blind to them would have a deep dip there).
"""
import argparse, sys
from pathlib import Path
import numpy as np, torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deep_t2i.inference import load_model, sample_noise
from deep_t2i.spectrum import PowerSpectrum, spectrum_gap, _peak_excess


def feature_power(x:torch.Tensor)->torch.Tensor:
    "Mean power spectrum (H, W) of feature maps x (B, C, H, W): each map's mean removed, Hann-windowed, float64."
    x = x.double() - x.double().mean((2, 3), keepdim=True)
    H, W = x.shape[-2:]
    win = torch.outer(torch.hann_window(H, periodic=False, dtype=torch.float64), torch.hann_window(W, periodic=False, dtype=torch.float64))
    return (torch.fft.fft2(x * win).abs() ** 2).mean((0, 1))


def column_alternation(x:torch.Tensor)->torch.Tensor:
    "Signed alternation between neighbouring columns of the luma of pictures x (B, 3, H, W) in [-1, 1], in 8-bit levels: (B, H, W-2), column j against the mean of its neighbours, times (-1)^j (positive: even columns brighter), for j = 1 .. W-2."
    g = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    sign = torch.tensor([(-1.) ** i for i in range(1, g.shape[-1] - 1)])
    return (g[:, :, 1:-1] - (g[:, :, :-2] + g[:, :, 2:]) / 2) * sign * 127.5


def anime_pairs(data:Path, n:int)->list:
    import csv
    rows = list(csv.reader(open(data / 'tags.csv')))[-n:]
    return [(data / 'images' / f'{r[0]}.jpg', r[1]) for r in rows]


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model', default='anime'); p.add_argument('--data', type=Path, default=ROOT / 'data' / 'anime_synth')
    p.add_argument('--n', type=int, default=256)
    a = p.parse_args()
    if not (a.data / 'tags.csv').exists(): sys.exit(f"{a.data} has no tags.csv: this measure reads anime data (deep_t2i synth anime {a.data})")
    m = load_model(a.model, fold=False)
    pairs = anime_pairs(a.data, a.n)
    S = m.cfg.img_size
    reals = torch.stack([torch.from_numpy(np.array(Image.open(f).convert('RGB').resize((S, S)))).permute(2, 0, 1).float() / 127.5 - 1 for f, _ in pairs])
    feats, mods = {}, dict(m.G.named_modules())
    def hook(name):
        def f(mod, inp, out):
            o = out[0] if isinstance(out, (tuple, list)) else out
            if torch.is_tensor(o) and o.dim() == 4 and o.shape[-1] == S: feats.setdefault(name, []).append(o.detach().float())
        return f
    hs = [mod.register_forward_hook(hook(n)) for n, mod in mods.items() if n]
    imgs, _ = m._run([c for _, c in pairs], sample_noise(0, len(pairs), m.cfg.noise_sz))
    for h in hs: h.remove()
    r = spectrum_gap(PowerSpectrum().update(imgs).mean, PowerSpectrum().update(reals).mean)
    print(f"{a.model}: {len(pairs)} pictures; spectrum gap {r['gap']:+.2f}; spikes " + ', '.join(f"{p} px {ax} {v:+.2f}" for p, s in r['spikes'].items() for ax, v in s.items()))
    k = S // 2
    coh = lambda x: float(feature_power(x.mean(0, keepdim=True))[0, k] / feature_power(x)[0, k])
    print(f"2-pixel power along x held by the mean picture (a fixed pattern): {coh(imgs):.2f} (real: {coh(reals):.2f})")
    ag, ar = column_alternation(imgs).mean(0), column_alternation(reals).mean(0)
    print("mean signed column alternation (8-bit levels), generated | real, by rows:")
    for y in range(0, S, S // 8): print(f"  rows {y:3d}-{y + S // 8 - 1:3d}: {ag[y:y + S // 8].mean():+6.2f} | {ar[y:y + S // 8].mean():+6.2f}")
    print("G's modules at full resolution: 2-px power over its ring's median (log10) along x, along y; coherent share along x")
    for n, fs in feats.items():
        f = torch.cat(fs); P = feature_power(f)
        print(f"  {n:24s} {tuple(f.shape[1:])}: x {_peak_excess(P, 0, k):+.2f}  y {_peak_excess(P, k, 0):+.2f}  coherent {coh(f):.2f}")
    d = np.array([d_sensitivity(m.cfg, reals, seed) for seed in range(3)]).mean(0)
    print(f"an untrained D's gradient at 2 px over its ring's median (log10): x {d[0]:+.2f}, y {d[1]:+.2f}, xy {d[2]:+.2f}")


def d_sensitivity(cfg, reals:torch.Tensor, seed:int)->tuple:
    "(x, y, xy): log10 power of an untrained D's unconditional-logit gradient w.r.t. `reals` (through every scale of their pyramid) at a 2-pixel period, over its ring's median."
    from deep_t2i.model import Discriminator
    from deep_t2i.images import image_pyramid
    torch.manual_seed(seed)
    D, x = Discriminator(cfg).train(), reals[:64].clone().requires_grad_(True)
    u, _, _ = D(image_pyramid(x, cfg.n_scales), torch.randn(len(x), cfg.emb_sz))
    g, = torch.autograd.grad(u.sum(), x)
    P, k = feature_power(g), x.shape[-1] // 2
    return _peak_excess(P, 0, k), _peak_excess(P, k, 0), _peak_excess(P, k, k)


if __name__ == '__main__': main()
