"""Write the model card of a bundled model from its run folder and its evaluation report, or bring a bundled card back in line with its files.

    python scripts/model_card.py --name birds --run runs/b200 --report runs/eval_b200/report.json \
        --commands runs/b200/commands.sh --wall "DAMSM 14 min + GAN 80 min on 1 of 2 CPU cores"
    python scripts/model_card.py --refresh birds     # after replacing deep_t2i/pretrained/birds_eval.json (or birds.json)
    python scripts/model_card.py --check             # every bundled card agrees with its files (exit 1 and the names if not)

`--run` is a folder holding `damsm/` and `gan/` (as `deep_t2i demo` and the README's recipes make them);
the card goes to `deep_t2i/pretrained/NAME.md` (or `--out`). What a card says about its files comes from them: the recipe's
`deep_t2i eval` line, the GAN's steps and epochs (from NAME.json) and the whole "Measured quality" section (from NAME_eval.json,
including whether that report is stale: an older attribute judge, no spectrum). `--refresh` rewrites those parts of an existing
card and keeps the rest (the hand-written notes); `--check` fails when a refresh would change a card.
"""
import argparse, csv, json, re, sys
from pathlib import Path

PRETRAINED = Path(__file__).resolve().parent.parent / 'deep_t2i' / 'pretrained'

def damsm_rprec(run: Path):
    "R-precision of the DAMSM's last validation, from its metrics.csv."
    rows = [r for r in csv.DictReader(open(run / 'damsm' / 'metrics.csv')) if r.get('r_precision')]
    return float(rows[-1]['r_precision']) if rows else None

def eval_command(report: dict, model: str, out: str) -> str:
    "The `deep_t2i eval` command that makes `report` (its data, size, seed, FID on or off, judge DAMSM) for `model`, written to `out`."
    args = [f"--model {model}", f"--data {report['data']}", f"--n {report['n']}"]
    if report.get('seed', 0) != 0: args.append(f"--seed {report['seed']}")
    if report.get('fid') is None: args.append('--no-fid')
    if report.get('r_precision_judge'): args.append(f"--judge-damsm {report['r_precision_judge']['damsm']}")
    return ' '.join(['deep_t2i eval', *args, f'--out {out}'])

def stale_reasons(report: dict) -> list:
    "Why `report` is not what `deep_t2i eval` measures today (empty when it is)."
    from deep_t2i.judges import JUDGE_VERSION
    why, v = [], report.get('judge_version', 1)        # reports before versions were numbered are version 1
    if (report.get('attribute_accuracy') or report.get('label_accuracy')) and v < JUDGE_VERSION:
        why.append(f"its attribute judge is version {v} (today's is {JUDGE_VERSION}), so its attribute numbers differ from today's")
    if 'spectrum' not in report: why.append("it predates the spectrum measure (no `spectrum` row)")
    return why

def recipe(commands: str, name: str, report: dict) -> str:
    "The card's commands, with its `deep_t2i eval` line made from the report (the numbers below come from that command)."
    line = eval_command(report, name, f'deep_t2i/pretrained/{name}_eval.json')
    return '\n'.join(line if l.startswith('deep_t2i eval ') else l for l in commands.strip().splitlines())

def damsm_line(epochs: int, cfg: dict, rp: str) -> str:
    "The card's line on the DAMSM run: its epochs (the GAN's config holds another, unused `damsm_epochs` when they differ) and R-precision."
    other = f" (its own run's; the GAN's config keeps the preset's `damsm_epochs` {cfg.get('damsm_epochs')}, which a GAN run does not use)" if cfg.get('damsm_epochs') != epochs else ''
    return f"- DAMSM: {epochs} epochs{other}; R-precision on held-out images after its last epoch: {rp}"

def steps_line(cfg: dict, meta: dict) -> str:
    "The card's line on the GAN's steps and epochs, from the export's meta and config."
    s = f"- GAN steps: {meta['step']} ({meta['epoch']} epochs)"
    if cfg.get('epochs') != meta['epoch']:
        s += (f"; the export's config says `epochs` {cfg.get('epochs')}, the value the run was started with: it was stopped by"
              f" steps or time, or continued, not bounded by it")
    return s

def measured(name: str, report: dict) -> str:
    "The card's 'Measured quality' section: the report's table, the command that made it, and whether it is stale."
    from deep_t2i.metrics import report_markdown
    v, why = report.get('judge_version', 1), stale_reasons(report)
    made = eval_command(report, report['model'], 'report.json')
    s = f"""## Measured quality

From `{name}_eval.json`, made by `{made}`"""
    s += (f" (`{report['model']}`: the run's export before it was bundled as `{name}`)." if report['model'] != name else '.')
    if report.get('attribute_accuracy') or report.get('label_accuracy'): s += f" Attribute judge: version {v}."
    if why: s += (f"\n\n**Stale report:** {'; '.join(why)}. Run the `deep_t2i eval` line of the commands above, then"
                  f" `python scripts/model_card.py --refresh {name}`.")
    return s + f"""

{report_markdown(report)}
FID is TF-Inception FID against the held-out synthetic images (few real images: the number is for comparing models on this data only).
"""

def card(name, run: Path, report: dict, commands: str, wall: str, note: str = '') -> str:
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
{recipe(commands, name, report)}
```

- config: width {cfg['width']}, min_ch {cfg['min_ch']}{', hi_ch ' + str(cfg['hi_ch']) if cfg.get('hi_ch') else ''}, noise {cfg['noise_sz']}, emb {cfg['emb_sz']}, image encoder `{cfg['image_encoder']}`,
  batch {cfg['batch_size']}, Adam lr {cfg['lr_g']}/{cfg['lr_d']} betas {cfg['betas']}, EMA {cfg['ema_decay']}{' (BatchNorm statistics of its own over ' + str(cfg['standing_stats']) + ' batches)' if cfg.get('standing_stats') else ''}, lambda_DAMSM {cfg['lambda_damsm']}, img_size {cfg['img_size']}
{damsm_line(dcfg['damsm_epochs'], cfg, rp if rp is None else f'{rp:.3f}')}
{steps_line(cfg, meta)}
- wall time: {wall}
{note}
{measured(name, report)}"""

def refresh(text: str, name: str, model_json: dict, report: dict) -> str:
    "An existing card with what its files say put back: the recipe's eval line, the DAMSM and GAN steps lines, the 'Measured quality' section."
    head, sep, _ = text.partition('\n## Measured quality')
    if not sep: raise SystemExit(f"error: the {name} card has no '## Measured quality' section")
    m = re.search(r'```bash\n(.*?)\n```', head, re.S)
    if m: head = head[:m.start(1)] + recipe(m.group(1), name, report) + head[m.end(1):]
    cfg = model_json['config']
    head = re.sub(r'^- DAMSM: (\d+) epochs.*: (\S+)$', lambda d: damsm_line(int(d.group(1)), cfg, d.group(2)), head, count=1, flags=re.M)
    head = re.sub(r'^- GAN steps: .*$', lambda _: steps_line(model_json['config'], model_json['meta']), head, count=1, flags=re.M)
    return head + '\n' + measured(name, report)

def bundled(name: str) -> tuple:
    "(card text, model json, eval report) of a bundled model."
    files = [PRETRAINED / f'{name}{s}' for s in ('.md', '.json', '_eval.json')]
    for f in files:
        if not f.exists(): sys.exit(f"error: {f} not found")
    return files[0].read_text(), json.loads(files[1].read_text()), json.loads(files[2].read_text())

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--name'); p.add_argument('--run', type=Path)
    p.add_argument('--report', type=Path); p.add_argument('--commands', type=Path)
    p.add_argument('--wall'); p.add_argument('--note', type=Path, help='markdown paragraph(s) to add after the facts')
    p.add_argument('--out', type=Path)
    p.add_argument('--refresh', metavar='NAME', help="rewrite the parts of deep_t2i/pretrained/NAME.md that come from NAME.json and NAME_eval.json")
    p.add_argument('--check', action='store_true', help='exit 1 naming every bundled card that disagrees with its files')
    a = p.parse_args()
    if a.check:
        bad = []
        for f in sorted(PRETRAINED.glob('*.md')):
            text, mj, rep = bundled(f.stem)
            if refresh(text, f.stem, mj, rep) != text: bad.append(f.stem)
        if bad: sys.exit(f"error: model card(s) {', '.join(bad)} disagree with their JSON files: run python scripts/model_card.py --refresh NAME")
        print("model cards agree with their files"); sys.exit(0)
    if a.refresh:
        text, mj, rep = bundled(a.refresh)
        out = a.out or PRETRAINED / f'{a.refresh}.md'
        out.write_text(refresh(text, a.refresh, mj, rep)); print(f"wrote {out}"); sys.exit(0)
    missing = [f for f in ('name', 'run', 'report', 'commands', 'wall') if getattr(a, f) is None]
    if missing: p.error('the card of a run needs ' + ', '.join('--' + f for f in missing) + ' (or use --refresh NAME / --check)')
    for f in (a.run / 'gan' / 'model.json', a.report, a.commands):
        if not f.exists(): sys.exit(f"error: {f} not found")
    text = card(a.name, a.run, json.loads(a.report.read_text()), a.commands.read_text(), a.wall, a.note.read_text() if a.note else '')
    out = a.out or PRETRAINED / f'{a.name}.md'
    out.write_text(text); print(f"wrote {out}")
