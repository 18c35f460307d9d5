"""The same EMA weights exported with and without standing statistics, judged side by side.

    python benchmarks/standing_stats.py --run runs/demo/gan --data data/anime_synth [--damsm runs/demo/damsm] [--batches 16] [--n 600]

From a GAN run folder's checkpoint (its EMA generator, as the run left it): two exports into `--out` (default
RUN/standing): `ss0` with the BatchNorm statistics the EMA carries (the live generator's, copied every step) and
`ssN` with statistics of its own over `--batches` batches of training captions (`standing_statistics`, what exports
do by default). Both are evaluated on `--n` held-out captions by one judge trained once (no FID unless `--fid`), and
a markdown table is printed and written to OUT/standing.md. The run itself is not changed.
"""
import argparse, json, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deep_t2i.core import load_config
from deep_t2i.inference import load_model
from deep_t2i.metrics import evaluate, attribute_judge, label_judge
from deep_t2i.trainer_gan import GANTrainer


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', type=Path, required=True, help='a GAN run folder (config.json, checkpoint.pt)')
    ap.add_argument('--data', type=Path, required=True)
    ap.add_argument('--damsm', type=Path, help="the run's DAMSM folder (default: the one its export names)")
    ap.add_argument('--batches', type=int, default=16)
    ap.add_argument('--n', type=int, default=600)
    ap.add_argument('--fid', action='store_true')
    ap.add_argument('--out', type=Path)
    a = ap.parse_args(argv)
    if a.batches < 1: ap.error(f'--batches must be at least 1, got {a.batches}')
    for f in ('config.json', 'checkpoint.pt'):
        if not (a.run / f).exists(): ap.error(f'{a.run} has no {f}: not a GAN run folder')
    if (a.run / 'damsm.safetensors').exists(): ap.error(f'{a.run} is a DAMSM run, not a GAN run folder')
    if a.damsm is None and not (a.run / 'model.json').exists(): ap.error(f'{a.run} has no export yet (model.json) naming its DAMSM: pass --damsm')
    damsm = a.damsm or Path(json.loads((a.run / 'model.json').read_text())['meta']['damsm'])
    out = a.out or a.run / 'standing'
    t = GANTrainer(load_config(a.run / 'config.json'), a.data, damsm, a.run, resume=True, progress=False)
    t.setup(); t.load()
    rows = []
    for n in (0, a.batches):
        t.cfg = t.cfg.replace(standing_stats=n)
        t.export(out / f'ss{n}')
    cfg = t.cfg
    judge = (label_judge(a.data, cfg, t.tok, 0, True) if cfg.task == 'captions' else attribute_judge(cfg.task, a.data, 0, True))
    for n in (0, a.batches):
        r = evaluate(load_model(out / f'ss{n}'), a.data, n=a.n, fid=a.fid, judge=judge)
        (out / f'ss{n}_report.json').write_text(json.dumps(r, indent=2, default=float))
        acc = {'label': r['label_accuracy']['mean']} if r.get('label_accuracy') else (r.get('attribute_accuracy') or {})
        rows.append((f'own ({n} batches)' if n else "live generator's", acc, r))
    keys = [k for k, v in rows[0][1].items() if isinstance(v, float)]        # per attribute (or the label), not the ceiling or classes
    head = ['BatchNorm statistics', *keys, 'R-precision', 'variety'] + (['TF-FID'] if a.fid else [])
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name, acc, r in rows:
        fmt = lambda v, f: '–' if v is None else f.format(v)                  # not measured (e.g. too few pictures of a class for variety)
        cells = [name, *(fmt(acc.get(k), '{:.1%}') for k in keys), fmt((r.get('r_precision') or {}).get('mean'), '{:.2%}'),
                 fmt((r.get('diversity') or {}).get('ratio'), '{:.2f}')]
        if a.fid: cells.append(fmt(r.get('fid'), '{:.1f}'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    table = f'{a.run}, step {t.step}, {a.n} held-out captions:\n\n' + '\n'.join(lines) + '\n'
    (out / 'standing.md').write_text(table); print(table)


if __name__ == '__main__':
    main()
