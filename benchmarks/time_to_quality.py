"""Time to quality: attribute (own data: label) accuracy, variety and the spectrum gap against CPU-minutes, for several GAN configurations on the same data,
the same DAMSM (or one of their own: see below) and the same seed (or seeds); writes benchmarks/ttq/TASK.json, a plot and a section of benchmarks/RESULTS.md.

    python benchmarks/time_to_quality.py --task anime --configs old,new --minutes 8 --every 1
    python benchmarks/time_to_quality.py --task anime --configs old,new --minutes 3 --every 1 --seeds 42,43,44
    python benchmarks/time_to_quality.py --render            # plot + RESULTS.md section from the JSON files already there

Each configuration trains in chunks of `--every` minutes (a chunk ends with a checkpoint and an export; the next one
resumes it exactly), and every export is judged by `deep_t2i.metrics.evaluate` on held-out captions (no FID) with one
attribute judge for all. The x axis is wall-clock minutes on this machine's cores: the DAMSM's training time plus
the GAN's training time (setup, checkpoints and sample grids included; the evaluations are not). GANs train in the memory
format that is faster here (`channels_last: "auto"`, timed once at the start of each run) unless `--base` or a
configuration sets `channels_last`; each configuration's JSON records the format each seed's run chose (`channels_last`).

Two runs of one configuration that differ only in the seed can differ by 20 points of attribute accuracy at demo
length, so one run ranks only large effects. With `--seeds`, every configuration's GAN trains once per seed (the
DAMSM stays the one of `--seed`, shared by all); a configuration's points are the means over its seeds at each chunk,
and the plot and the table also give the lowest and highest seed.

A configuration that changes what the DAMSM is or sees (`damsm_fields()`: e.g. `image_encoder`, `inception_size`,
`text_encoder`, `emb_sz`, `damsm_epochs`; also `flip`, `valid_pct`, `min_word_freq`, which the GAN's data read too) gets a
DAMSM of its own, trained first with the common settings and those fields of its overrides in OUT/NAME/damsm_<hash of
them> (a GAN takes those settings from its DAMSM: on the shared one they would be silently replaced); its x axis starts
with its own DAMSM's minutes, configurations with the same DAMSM settings share one, and its R-precision is measured
by its own DAMSM (compare those across configurations with care; the attribute and label judges are the same for all). Example, the Inception DAMSM at 64
pixels against the compact CNN on a real set:

    python benchmarks/time_to_quality.py --task captions --data data/real300/twemoji --name emoji_damsm \
        --configs 'new;inc64={"image_encoder": "inception", "inception_size": 64}' --minutes 30 --every 5 --seeds 42,43
"""
import argparse, datetime, json, math, os, platform, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deep_t2i.core import PRESETS

# named configurations: overrides of the task's small preset
CONFIGS = {
    'old': {k: v for k, v in PRESETS['classic'].items() if PRESETS['small'].get(k) != v},   # preset 'classic': the recipe before the faster options
    'new': {},                                                         # the small preset as it is now
    'nearest': {'upsample': 'nearest'},                                # the small preset with the original's upsampling (repeated pixels: a grid)
    'vision': {'vision_d': 1.0},                                       # the small preset with the vision discriminator (frozen Inception features, deep_t2i.vision_d)
}

def damsm_fields()->tuple:
    "The config fields a DAMSM's training reads or a GAN takes from its DAMSM: configurations that differ in one of them need their own DAMSM."
    from deep_t2i.trainer_gan import DAMSM_SHARED, DAMSM_SHARED_CAPTIONS
    return DAMSM_SHARED + DAMSM_SHARED_CAPTIONS + ('damsm_lr', 'damsm_epochs', 'min_word_freq', 'flip', 'train_on_all')

def damsm_groups(task:str, common:dict, configs:dict)->dict:
    "{config name: name of the DAMSM run it trains on}: 'damsm' for the settings of `common` alone (the base), else 'damsm_<first config with those settings>'."
    from deep_t2i.core import get_config
    import hashlib
    base = get_config(task, 'small', **common)
    out = {}
    for name, over in configs.items():
        own = damsm_overrides(common, over)
        diff = {k: v for k, v in own.items() if repr(getattr(get_config(task, 'small', **own), k)) != repr(getattr(base, k))}
        out[name] = 'damsm' if not diff else 'damsm_' + hashlib.sha256(json.dumps(diff, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return out

def damsm_overrides(common:dict, over:dict)->dict:
    "The overrides a configuration's DAMSM trains with: the common ones and those of the configuration's that are DAMSM fields (not its GAN-only ones, nor its seed or batch size)."
    return {**common, **{k: v for k, v in over.items() if k in damsm_fields()}}

def train_damsm(cfg, data, run)->tuple:
    "Train (or resume) the DAMSM of `cfg` in `run`; {'epochs', 'minutes' (over all the calls that trained it), 'r_precision'} and the trainer."
    from deep_t2i.trainer_damsm import DAMSMTrainer
    from deep_t2i.files import atomic_write_bytes
    minutes_file, ck = run.parent / f'{run.name}_minutes.json', run / 'checkpoint.pt'   # the DAMSM's training minutes over all the calls that trained it
    mins = json.loads(minutes_file.read_text())['minutes'] if minutes_file.exists() else 0.0
    t0, done = time.time(), False
    try:
        d = DAMSMTrainer(cfg, data, run, resume=True, progress=False).fit(); done = True
    finally:                                     # interrupted too: the minutes up to its last checkpoint count (a resume redoes the rest)
        wrote = ck.exists() and ck.stat().st_mtime >= t0
        if done and (d.step > d._n0 or not minutes_file.exists()): mins += (time.time() - t0) / 60   # trained now (more --damsm-epochs): these minutes add to the earlier ones
        elif not done and wrote: mins += (ck.stat().st_mtime - t0) / 60
        if done or wrote: atomic_write_bytes(minutes_file, json.dumps(dict(minutes=mins, epochs=cfg.damsm_epochs)).encode())
    if d.stopped: sys.exit(f"the DAMSM in {run} was stopped before its last epoch: the same command continues it (its minutes so far are kept)")
    rp = [r['r_precision'] for r in d.history if 'r_precision' in r]
    info = dict(epochs=d.epoch, minutes=round(mins, 2), r_precision=rp[-1] if rp else None)   # the epochs it has, whatever this call asked
    print(f"DAMSM {run.name}: {d.epoch} epochs, {mins:.1f} min, R-precision {info['r_precision']}", flush=True)
    return info, d

def machine():
    import torch
    from deep_t2i.device import default_device
    return dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(), threads=torch.get_num_threads(),
                torch=torch.__version__, date=datetime.date.today().isoformat(),
                **({'gpu': torch.cuda.get_device_name(0)} if default_device().type == 'cuda' else {}))

def mean_points(runs:list)->list:
    "Points of several seeds' runs (lists of equally many chunks) -> one list: the means, with each metric's [min, max] under 'spread'."
    out = []
    for pts in zip(*[r['points'] for r in runs]):
        p = {}
        for k, v in pts[0].items():
            vals = [q.get(k) for q in pts]
            if any(x is None for x in vals): p[k] = None; continue
            m = sum(vals) / len(vals)
            p[k] = round(m) if isinstance(v, int) else round(m, 4)
            if len(vals) > 1 and k not in ('minutes', 'gan_minutes', 'step', 'images'): p.setdefault('spread', {})[k] = [round(min(vals), 4), round(max(vals), 4)]
        out.append(p)
    return out

def parse_configs(spec:str)->dict:
    "'old,new,name={...json...}' -> {name: overrides}."
    out = {}
    for part in [p for p in spec.split(';' if '{' in spec else ',') if p.strip()]:
        name, _, js = part.partition('=')
        name = name.strip()
        if js: out[name] = json.loads(js)
        elif name in CONFIGS: out[name] = CONFIGS[name]
        else: sys.exit(f"unknown configuration {name!r}: expected one of {', '.join(CONFIGS)} or name={{json overrides}}")
    return out

def run(a):
    try: seeds = [int(s) for s in a.seeds.split(',')] if a.seeds else None
    except ValueError: sys.exit(f"--seeds must be integers separated by commas, got {a.seeds!r}")
    if seeds and len(set(seeds)) != len(seeds): sys.exit(f"--seeds repeats a seed: {a.seeds!r}")
    if not (a.minutes > 0 and a.every > 0): sys.exit(f"--minutes and --every must be positive, got {a.minutes} and {a.every}")
    configs = parse_configs(a.configs)
    if any(n.startswith('damsm') for n in configs): sys.exit(f"configuration names starting with 'damsm' are taken by the DAMSM runs' folders: rename {[n for n in configs if n.startswith('damsm')]}")
    if a.seeds and any('seed' in over for over in configs.values()):
        sys.exit("a configuration sets its own seed: with --seeds every configuration trains once per seed given there")
    import torch
    from deep_t2i.core import get_config
    from deep_t2i.synth import synth_anime, synth_birds
    from deep_t2i.metrics import attribute_judge, label_judge, JUDGE_VERSION
    torch.set_num_threads(a.threads or torch.get_num_threads())
    data = Path(a.data or f"data/{'anime_synth' if a.task == 'anime' else 'birds200'}")
    if a.task == 'captions' and (not a.data or not data.exists()): sys.exit(f"{a.data or 'no folder'} given: own data needs --data FOLDER (e.g. a set built by benchmarks/real_sets.py)")
    if not data.exists(): (synth_anime if a.task == 'anime' else synth_birds)(data, n=3000, seed=0)
    name = a.name or a.task
    out = Path(a.out) / name
    run_dirs = {(c, s): out / (c if not seeds else f'{c}_s{s}') for c in configs for s in (seeds or [None])}
    taken = [str(d) for d in run_dirs.values() if d.exists()]
    if taken: sys.exit(f"{', '.join(taken)} exist(s): remove them (a curve starts from step 0)")
    res_path = Path(a.results) / 'ttq' / f'{name}.json'
    res = json.loads(res_path.read_text()) if res_path.exists() and a.append else {}
    if res and res.get('judge_version', 1) != JUDGE_VERSION:
        sys.exit(f"{res_path} holds points of attribute judge version {res.get('judge_version', 1)}, this library's judge is version "
                 f"{JUDGE_VERSION}: their numbers do not compare; write a new file (--name) instead of --append")
    res['judge_version'] = JUDGE_VERSION
    for c in res.get('configs', {}).values():                             # appending: the configurations already there keep where and how they were measured
        for k in ('machine', 'base', 'command', 'damsm'): c.setdefault(k, res.get(k))
    res.update(task=a.task, data=str(data), machine=machine(), command=' '.join(sys.argv), seed=a.seed)
    res.setdefault('configs', {})
    common = dict(seed=a.seed, **json.loads(a.base))                      # e.g. birds at 64x64: {"img_size": 64, "attn_res": [16, 32], ...}
    if a.damsm_epochs: common['damsm_epochs'] = a.damsm_epochs
    base = get_config(a.task, 'small', **common)
    res['base'] = common
    groups = damsm_groups(a.task, common, configs)
    res['damsm'], d = train_damsm(base, data, out / 'damsm')
    damsms = {'damsm': res['damsm']}
    for name, over in configs.items():                                    # configurations that need a DAMSM of their own
        if groups[name] not in damsms: damsms[groups[name]], _ = train_damsm(get_config(a.task, 'small', **damsm_overrides(common, over)), data, out / groups[name])
    judge = label_judge(data, base, d.tok, 0, progress=False) if a.task == 'captions' else attribute_judge(a.task, data, 0, progress=False)
    if a.task == 'captions' and judge is None: sys.exit(f"{data} has no label column: the curves of own data follow the label judge")
    if a.task == 'captions': res['judge_ceiling'] = judge[2]['label']
    res_path.parent.mkdir(parents=True, exist_ok=True)
    for name, over in configs.items():
        cfgs = {s: get_config(a.task, 'small', **{'channels_last': 'auto', **common, **over, **({} if s is None else {'seed': s})})   # no --seeds: --seed, or the configuration's own; the faster memory format unless set
                for s in (seeds or [None])}
        dm = damsms[groups[name]]
        runs = [dict(seed=s, points=train_curve(a, run_dirs[name, s], c, data, out / groups[name], judge, dm['minutes'])) for s, c in cfgs.items()]
        cfg = next(iter(cfgs.values()))                                    # the configuration's summary (its seeds differ only in the seed)
        res['configs'][name] = dict(overrides=over, config={k: v for k, v in cfg.to_dict().items() if k in (
            'fusion', 'd_head', 'gan_loss', 'ma_gp', 'diffaug', 'd_words', 'mode_seek', 'upsample', 'g_padding', 'lr_g', 'lr_d', 'lambda_damsm', 'width', 'batch_size', 'ema_decay')},
                                    seeds=seeds or [cfg.seed], points=mean_points(runs), **({'runs': runs} if len(runs) > 1 else {}),
                                    machine=res['machine'], base=common, command=res['command'], damsm=dm if groups[name] == 'damsm' else dict(dm, run=groups[name]),
                                    channels_last=[chosen_layout(run_dirs[name, s]) for s in cfgs])   # each seed's memory format (`auto`'s choice)
        res_path.write_text(json.dumps(res, indent=1))
    render(Path(a.results))

def chosen_layout(run_dir)->bool:
    "Whether the GAN run in `run_dir` trained channels-last (its checkpoint's record; None from checkpoints without it)."
    import torch
    return torch.load(Path(run_dir) / 'checkpoint.pt', map_location='cpu', weights_only=True)['state'].get('channels_last')

def train_curve(a, run_dir, cfg, data, damsm_run, judge, damsm_min)->list:
    "Train `cfg` on the DAMSM of `damsm_run` in `run_dir` in chunks of `a.every` minutes up to `a.minutes`, judging the export after each chunk; the points."
    from deep_t2i.trainer_gan import GANTrainer
    from deep_t2i.inference import load_model
    from deep_t2i.metrics import evaluate
    pts, spent = [], 0.0
    n_chunks = max(math.ceil(a.minutes / a.every - 1e-9), 1)             # a fixed count, so that every seed's curve has as many points
    for i in range(n_chunks):
        chunk = 60 * min(a.every, a.minutes - i * a.every)
        t1 = time.time()
        t = GANTrainer(cfg, data, damsm_run, run_dir, resume=True, progress=False).fit(epochs=10**6, max_minutes=chunk / 60)
        spent += time.time() - t1
        r = evaluate(load_model(run_dir), data, n=a.n, seed=0, progress=False, fid=False, judge=judge)
        pts.append(point(r, damsm_min + spent / 60, spent / 60, t.step, cfg.batch_size))
        print(run_dir.name, pts[-1], flush=True)
    return pts

def point(r:dict, minutes:float, gan_minutes:float, step:int, batch_size:int)->dict:
    "A curve's point: an `evaluate` report `r` of the export at `step`, reached after `minutes` in all (`gan_minutes` of them the GAN's)."
    aa = dict(r['attribute_accuracy'] or {}, **({'label': r['label_accuracy']['mean']} if r.get('label_accuracy') else {}))
    sp = r.get('spectrum') or {}
    return dict(minutes=round(minutes, 2), gan_minutes=round(gan_minutes, 2), step=step, images=step * batch_size,
                **{k: round(v, 4) for k, v in aa.items() if isinstance(v, float)},
                **({'spectrum_gap': round(sp['gap'], 3), 'max_spike': round(sp['max_spike'], 3)} if sp else {}),
                r_precision=round(r['r_precision']['mean'], 4) if r['r_precision'] else None,
                variety=round(r['diversity']['ratio'], 3) if r['diversity'].get('ratio') is not None else None)

def fmt(v): return '–' if v is None else f"{v:.3f}"

def cell(p:dict, k:str, pct:bool)->str:
    "A table cell: the point's value of `k` (a percentage if `pct`), with the lowest and highest seed's when it has several."
    v, lo_hi = p.get(k), p.get('spread', {}).get(k)
    if v is None: return '–'
    f = (lambda x: f"{100 * x:.1f}%") if pct else (lambda x: f"{x:.3f}")
    return f(v) + (f" ({f(lo_hi[0])}–{f(lo_hi[1])})" if lo_hi else '')

def minutes_label(m:dict)->str: return f"GPU minutes ({m['gpu']})" if m.get('gpu') else f"CPU minutes ({m['cores']} cores)"

def machine_text(m:dict)->str: return f"{m['gpu'] + ', ' if m.get('gpu') else ''}{m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['date']}"

def damsm_text(d:dict)->str:
    known = lambda v, unit: '? ' + unit if v is None else f"{v} {unit}"
    return f"{known(d['epochs'], 'epochs')}, {known(d['minutes'], 'min')}, R-precision {fmt(d['r_precision'])}"

def own_setting(r:dict, c:dict, k:str):
    "A configuration's own `machine`, `base`, `command` or `damsm` (files written before they were kept per configuration: the file's)."
    return c.get(k, r.get(k))

def key_metric(task): return {'anime': ('eyes', 'hair'), 'birds': ('named_parts',), 'captions': ('label',)}[task]

def render(results=ROOT / 'benchmarks'):
    "Plot every RESULTS/ttq/*.json and rewrite the time-to-quality section of RESULTS/RESULTS.md."
    results_md = results / 'RESULTS.md'
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    md = ["## Time to quality", "Command: `python benchmarks/time_to_quality.py --task TASK --configs ...` (one run per task; "
          "`--render` redraws). x: wall-clock minutes on the machine below (the DAMSM's minutes, then the GAN's); y: "
          "attribute accuracy of the EMA generator's export on held-out captions (one attribute judge for all points) and "
          "variety (pixel spread across seeds / that of real same-class images, 1 = as varied as the data). Dashed: the targets "
          "(anime hair 97%, eyes 85%; birds named parts 70%; variety 0.8).", ""]
    for f in sorted((results / 'ttq').glob('*.json')):
        r = json.loads(f.read_text()); task, keys = r['task'], key_metric(r['task'])
        fig, axes = plt.subplots(1, len(keys) + 1, figsize=(4.2 * (len(keys) + 1), 3.4))
        for name, c in r['configs'].items():
            x = [p['minutes'] for p in c['points']]
            for ax, k in zip(axes, keys + ('variety',)):
                scale = 1 if k == 'variety' else 100
                y = [float('nan') if p.get(k) is None else scale * p[k] for p in c['points']]
                line, = ax.plot(x, y, marker='o', ms=3, label=name + (f" ({len(c['runs'])} seeds)" if c.get('runs') else ''))
                if c.get('runs'):                                             # the band from the lowest to the highest seed (a gap where a seed had no value)
                    lo_hi = [p.get('spread', {}).get(k, (float('nan'),) * 2) for p in c['points']]
                    ax.fill_between(x, [scale * v[0] for v in lo_hi], [scale * v[1] for v in lo_hi], color=line.get_color(), alpha=.15)
        targets = dict(eyes=85, hair=97, named_parts=70, variety=0.8)     # the targets this benchmark was written for
        if r.get('judge_ceiling'): targets['label'] = 100 * r['judge_ceiling']   # own data: the label judge's accuracy on held-out real pictures
        for ax, k in zip(axes, keys + ('variety',)):
            if k in targets: ax.axhline(targets[k], color='k', ls='--', lw=0.8)
            ax.set_xlabel(' / '.join(dict.fromkeys(minutes_label(own_setting(r, c, 'machine')) for c in r['configs'].values())) or minutes_label(r['machine'])); ax.set_title(k + (' accuracy %' if k != 'variety' else ' (ratio to real)')); ax.grid(alpha=.3)
        axes[-1].legend(fontsize=7, loc='center left', bbox_to_anchor=(1.02, 0.5)); fig.tight_layout()
        png = f.with_suffix('.png'); fig.savefig(png, dpi=80); plt.close(fig)
        strip = lambda d: {k: v for k, v in (d or {}).items() if k != 'run'}   # a DAMSM's numbers, without the name of its run folder
        own_damsm = [(name, c) for name, c in r['configs'].items() if (c.get('damsm') or {}).get('run') and c.get('command') == r.get('command')]
        elsewhere = [(name, c) for name, c in r['configs'].items() if (name, c) not in own_damsm
                     and any((strip if k == 'damsm' else (lambda v: v))(own_setting(r, c, k)) != (strip if k == 'damsm' else (lambda v: v))(r.get(k)) for k in ('machine', 'base', 'damsm'))]
        md += [f"### {f.stem} ({r['data']}; {machine_text(r['machine'])})",
               *([f"Common overrides: `{json.dumps(r['base'])}`."] if r.get('base') else []),
               f"DAMSM{' shared by all' if not elsewhere and not own_damsm else ''}: {damsm_text(r['damsm'])}.",
               *[f"`{name}` changes the DAMSM's settings and trained on a DAMSM of its own ({c['damsm']['run']}): {damsm_text(c['damsm'])}; its minutes start with that DAMSM's." for name, c in own_damsm],
               *[f"`{name}` was measured apart (`--append`): on {machine_text(own_setting(r, c, 'machine'))}; common overrides "
                 f"`{json.dumps(own_setting(r, c, 'base') or {})}`; its DAMSM: {damsm_text(own_setting(r, c, 'damsm'))}; command `{own_setting(r, c, 'command')}`." for name, c in elsewhere],
               f"Command: `{r['command']}`", f"Attribute judge: version {r.get('judge_version', 1)}" + (" (trained on crisp real images only; it misread soft generated eyes, see the demo-length sweep below)" if r.get('judge_version', 1) == 1 else "") + ".",
               *([r['notes']] if r.get('notes') else []), "", f"![time to quality, {task}](ttq/{png.name})", "",
               *([f"Label judge: {100 * r['judge_ceiling']:.1f}% on held-out real pictures (its ceiling, dashed)."] if r.get('judge_ceiling') else []),
               "| config | overrides of the small preset | minutes | steps | " + ' | '.join(keys) + " | R-precision | variety | spectrum gap | max spike |",
               "|---|---|---|---|" + '---|' * len(keys) + "---|---|---|---|"]
        if any(c.get('runs') for c in r['configs'].values()):
            md[-2:-2] = ["Configurations run with several seeds (listed with them; the DAMSM keeps the common seed): each value is the mean over the seeds, with the lowest and highest in brackets (minutes and steps: means).", ""]
        for name, c in r['configs'].items():
            opts = ', '.join(f"{k}={v}" for k, v in c['overrides'].items()) or 'the small preset as it is'
            if c.get('runs'): opts += f"; seeds {', '.join(str(x['seed']) for x in c['runs'])}"
            for i, p in enumerate(c['points']):
                if i % 2 and i != len(c['points']) - 1: continue     # every other point, and the last
                md.append(f"| {name} | {opts if i == 0 else ''} | {p['minutes']} | {p['step']} | " + ' | '.join(cell(p, k, True) for k in keys)
                          + f" | {cell(p, 'r_precision', False)} | {cell(p, 'variety', False)} | {cell(p, 'spectrum_gap', False)} | {cell(p, 'max_spike', False)} |")
        md.append("")
    section = '<!-- ttq:start -->\n' + '\n'.join(md) + '<!-- ttq:end -->\n'
    old = results_md.read_text() if results_md.exists() else ''
    if '<!-- ttq:start -->' in old: new = old[:old.index('<!-- ttq:start -->')] + section + old[old.index('<!-- ttq:end -->') + len('<!-- ttq:end -->\n'):]
    else: new = old.rstrip('\n') + '\n\n' + section
    results_md.write_text(new)
    print(f"wrote {results_md} (time-to-quality section) and the plots in {results / 'ttq'}")

if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--task', default='anime', choices=['anime', 'birds', 'captions'], help='captions: a folder of your own (--data) with a label column')
    ap.add_argument('--data'); ap.add_argument('--out', default='runs/ttq')
    ap.add_argument('--configs', default='old,new', help="names (old, new) or name={json overrides}, comma- (or, with JSON, semicolon-) separated")
    ap.add_argument('--minutes', type=float, default=8.0, help='GAN training minutes per configuration and seed (the sum of the chunks\' budgets; setup and exports come on top)')
    ap.add_argument('--every', type=float, default=1.0, help='minutes between points')
    ap.add_argument('--damsm-epochs', type=int); ap.add_argument('--n', type=int, default=600, help='images per evaluation')
    ap.add_argument('--seed', type=int, default=42, help="the DAMSM's seed, and the GANs' unless --seeds is given")
    ap.add_argument('--threads', type=int)
    ap.add_argument('--seeds', help='comma-separated seeds: every configuration\'s GAN trains once per seed; points are their means (default: --seed alone)')
    ap.add_argument('--name', help='name of the result (default: the task): benchmarks/ttq/NAME.json')
    ap.add_argument('--base', default='{}', help='JSON overrides for the DAMSM and every configuration (e.g. a smaller img_size)')
    ap.add_argument('--append', action='store_true', help='add these configurations to the JSON already there')
    ap.add_argument('--render', action='store_true', help='only redraw the plots and the RESULTS.md section')
    ap.add_argument('--results', default=str(ROOT / 'benchmarks'), help='folder of RESULTS.md and ttq/ (default: benchmarks/)')
    a = ap.parse_args()
    render(Path(a.results)) if a.render else run(a)
