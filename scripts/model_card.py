"""Write the model card of a bundled model from its run folder and its evaluation report.

    python scripts/model_card.py --name birds --run runs/b200 --report runs/eval_b200/report.json \
        --commands runs/b200/commands.sh --wall "DAMSM 14 min + GAN 80 min on 1 of 2 CPU cores"

`--run` is a folder holding `damsm/` and `gan/` (as `deep_t2i demo` and the README's recipes make them);
the card goes to `deep_t2i/pretrained/NAME.md` (or `--out`).
"""
import argparse, csv, json, sys
from pathlib import Path

def damsm_rprec(run: Path):
    "R-precision of the DAMSM's last validation, from its metrics.csv."
    rows = [r for r in csv.DictReader(open(run / 'damsm' / 'metrics.csv')) if r.get('r_precision')]
    return float(rows[-1]['r_precision']) if rows else None

def card(name, run: Path, report: dict, commands: str, wall: str, note: str = '') -> str:
    from deep_t2i.metrics import report_markdown
    cfg = json.loads((run / 'gan' / 'config.json').read_text())
    meta = json.loads((run / 'gan' / 'model.json').read_text())['meta']
    dcfg = json.loads((run / 'damsm' / 'config.json').read_text())
    rp = damsm_rprec(run)
    files = ('EMA generator `G`, text encoder `text`, DAMSM image encoder `image` for evaluation')
    return f"""# Bundled model: {name}

Trained by this project's own CLI on its synthetic {name} data (not on real {'MLDS' if name == 'anime' else 'CUB'} images).
Files: `{name}.safetensors` ({files}) and `{name}.json` (config, tokenizer, metadata). Loading runs no pickle.

## How it was made (exact commands, seed {cfg['seed']})

```bash
{commands.strip()}
```

- config: width {cfg['width']}, min_ch {cfg['min_ch']}{', hi_ch ' + str(cfg['hi_ch']) if cfg.get('hi_ch') else ''}, noise {cfg['noise_sz']}, emb {cfg['emb_sz']}, image encoder `{cfg['image_encoder']}`,
  batch {cfg['batch_size']}, Adam lr {cfg['lr_g']}/{cfg['lr_d']} betas {cfg['betas']}, EMA {cfg['ema_decay']}, lambda_DAMSM {cfg['lambda_damsm']}, img_size {cfg['img_size']}
- DAMSM: {dcfg['damsm_epochs']} epochs; R-precision on held-out images after its last epoch: {rp if rp is None else f'{rp:.3f}'}
- GAN steps: {meta['step']} ({meta['epoch']} epochs)
- wall time: {wall}
{note}
## Measured quality

{report_markdown(report)}
Command: `deep_t2i eval --model {name} --data <the synthetic data> --n {report['n']} --out report.json`. FID is TF-Inception FID
against the held-out synthetic images (few real images: the number is for comparing models on this data only).
"""

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--name', required=True); p.add_argument('--run', type=Path, required=True)
    p.add_argument('--report', type=Path, required=True); p.add_argument('--commands', type=Path, required=True)
    p.add_argument('--wall', required=True); p.add_argument('--note', type=Path, help='markdown paragraph(s) to add after the facts')
    p.add_argument('--out', type=Path)
    a = p.parse_args()
    for f in (a.run / 'gan' / 'model.json', a.report, a.commands):
        if not f.exists(): sys.exit(f"error: {f} not found")
    text = card(a.name, a.run, json.loads(a.report.read_text()), a.commands.read_text(), a.wall, a.note.read_text() if a.note else '')
    out = a.out or Path(__file__).resolve().parent.parent / 'deep_t2i' / 'pretrained' / f'{a.name}.md'
    out.write_text(text); print(f"wrote {out}")
