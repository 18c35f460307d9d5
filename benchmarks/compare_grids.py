"""Before/after pictures for RESULTS.md: the same captions and seeds through several exports, one row per export, each
picture enlarged with nearest-neighbour pixels so that a grid artifact stays visible; and, from their `deep_t2i eval`
reports, one plot of every export's spectrum difference to the real pictures (log10 power by frequency).

    python benchmarks/compare_grids.py --models nearest=runs/a bilinear=runs/b --captions 'blue hair red eyes' ... \\
        --reports nearest=a.json bilinear=b.json --out benchmarks/artifacts/anime
writes OUT_grid.png and (with --reports) OUT_spectrum.png.
"""
import argparse, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

def pairs(items:list, what:str)->dict:
    "name=path arguments as a dict, or exit with a message naming the bad one."
    out = {}
    for it in items:
        name, sep, path = it.partition('=')
        if not sep or not name or not path: sys.exit(f"{what} must be name=path, got {it!r}")
        out[name] = path
    return out

def grid(models:dict, captions:list, seed:int, scale:int):
    "A PIL image: one labelled row per model, one column per caption (seed `seed`), pixels enlarged `scale` times."
    from PIL import Image, ImageDraw
    from deep_t2i.inference import load_model
    rows = {name: load_model(path).generate(captions, seed=seed) for name, path in models.items()}
    s = next(iter(rows.values()))[0].width * scale
    pad = 170
    out = Image.new('RGB', (pad + len(captions) * (s + 2), len(rows) * (s + 2) + 16), 'white')
    d = ImageDraw.Draw(out)
    for j, c in enumerate(captions): d.text((pad + j * (s + 2), 2), c[:s // 6], fill='black')
    for i, (name, imgs) in enumerate(rows.items()):
        d.text((4, 16 + i * (s + 2) + s // 2), name, fill='black')
        for j, im in enumerate(imgs): out.paste(im.resize((s, s), Image.NEAREST), (pad + j * (s + 2), 16 + i * (s + 2)))
    return out

def spectrum_figure(reports:dict, path:Path):
    "Every report's radial spectrum difference (generated - real, log10) in one plot, the upper half of frequencies shaded."
    import numpy as np
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for name, p in reports.items():
        sp = json.loads(Path(p).read_text())['spectrum']
        g, r = np.array(sp['profile']['generated']), np.array(sp['profile']['real'])
        if 'frequency' not in sp['profile']: sys.exit(f"{p}: a report from before 2026-11-30 (no spectrum frequencies): evaluate the model again")
        f = np.array(sp['profile']['frequency'])
        spikes = ', '.join(f"{k} px {max(v.values()):+.2f}" for k, v in sp['spikes'].items())
        ax.plot(f, g - r, label=f"{name}: gap {sp['gap']:+.2f}; spikes {spikes}")
    ax.axhline(0, color='gray', lw=0.8); ax.axvspan(0.25, max(f), color='gray', alpha=0.12)   # the gap's band: 1/4 cycle per pixel out to the corners
    ax.set_xlabel('frequency (cycles per pixel)'); ax.set_ylabel('generated - real (log10 power)'); ax.legend(fontsize=7)
    fig.tight_layout(); fig.savefig(path, dpi=90); plt.close(fig)

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--models', nargs='+', required=True, help='name=export (a run folder or a bundled name)')
    ap.add_argument('--captions', nargs='+', required=True)
    ap.add_argument('--reports', nargs='*', default=[], help="name=report.json of `deep_t2i eval` (for the spectrum plot)")
    ap.add_argument('--seed', type=int, default=0); ap.add_argument('--scale', type=int, default=3)
    ap.add_argument('--out', required=True, help='path prefix: OUT_grid.png, OUT_spectrum.png')
    a = ap.parse_args()
    out = Path(a.out); out.parent.mkdir(parents=True, exist_ok=True)
    grid(pairs(a.models, '--models'), a.captions, a.seed, a.scale).save(f'{out}_grid.png')
    if a.reports: spectrum_figure(pairs(a.reports, '--reports'), Path(f'{out}_spectrum.png'))
    print(f"wrote {out}_grid.png" + (f" and {out}_spectrum.png" if a.reports else ''))
