"""Judge the exports of GAN trainings while they run: quality against training minutes, without stopping them.

    python benchmarks/watch_runs.py --run NAME=TASK:RUN_DIR [--run ...] --data TASK=DATA [--data ...] --start FILE
        --until T1 --out DIR [--done FILE] [--n 400] [--damsm TASK=DIR]

A trainer rewrites RUN_DIR/model.* at the end of every `sample_every`-th epoch; each new export (a new step in
model.json) is judged like a point of benchmarks/time_to_quality.py (held-out captions, no FID, one attribute judge per
task, trained on CPU as soon as this starts), and DIR/TASK.json is rewritten after every point in time_to_quality's
format, so that `time_to_quality.py --render` draws it. The trainings' start is announced by the --start file, JSON
{"since": time.time() of their start, "damsm_minutes": the DAMSMs' minutes}; no export is read before it exists (so
the judges can train while the DAMSMs do). x: the DAMSM's minutes plus the minutes since `since` (the trainings' setup
included). Stops at T1 (a `time.time()`), or once the --done file exists (the trainings have ended) and every last
export is judged. gpu_run.py runs it beside the GPU trainings, so that one call brings back a curve, not end points only.
"""
import argparse, csv, json, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'benchmarks'))


def pairs(items, what):
    "['a=b', ...] -> {a: b}; a malformed item exits with a message."
    out = {}
    for it in items or []:
        k, sep, v = it.partition('=')
        if not (sep and k and v): sys.exit(f"{what} must be KEY=VALUE, got {it!r}")
        out[k] = v
    return out


def exported_step(run_dir:Path):
    "The step of the export in run_dir (None while there is none, or while model.json is being replaced)."
    try: return json.loads((run_dir / 'model.json').read_text())['meta']['step']
    except (OSError, ValueError, KeyError): return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--run', action='append', required=True, help='NAME=TASK:RUN_DIR, once per training')
    ap.add_argument('--data', action='append', required=True, help='TASK=DATA folder, once per task')
    ap.add_argument('--damsm', action='append', help="TASK=DAMSM run folder: its last R-precision goes into the JSON")
    ap.add_argument('--start', type=Path, required=True, help='a JSON file {"since": time.time() of the trainings\' start, "damsm_minutes": M}, written when they start')
    ap.add_argument('--until', type=float, required=True, help='time.time() to stop at')
    ap.add_argument('--done', type=Path, help='a file whose existence says the trainings have ended')
    ap.add_argument('--n', type=int, default=400, help='images per point')
    ap.add_argument('--out', type=Path, required=True, help='folder of the TASK.json files')
    a = ap.parse_args(argv)
    data, damsm = pairs(a.data, '--data'), pairs(a.damsm, '--damsm')
    runs = {}
    for name, spec in pairs(a.run, '--run').items():
        task, sep, d = spec.partition(':')
        if not sep or task not in data: sys.exit(f"--run {name}={spec}: expected NAME=TASK:RUN_DIR with a --data for TASK ({', '.join(data) or 'none given'})")
        runs[name] = (task, Path(d))
    from deep_t2i.metrics import attribute_judge, evaluate, JUDGE_VERSION
    from deep_t2i.inference import load_model
    from time_to_quality import machine, point
    a.out.mkdir(parents=True, exist_ok=True)
    res = {}
    for task in sorted(set(t for t, _ in runs.values())):
        rp = None
        if task in damsm and (Path(damsm[task]) / 'metrics.csv').exists():
            with open(Path(damsm[task]) / 'metrics.csv') as f: rows = [r for r in csv.DictReader(f) if r.get('r_precision')]
            rp = round(float(rows[-1]['r_precision']), 4) if rows else None
        res[task] = dict(task=task, data=str(data[task]), machine=machine(), command=' '.join(sys.argv), judge_version=JUDGE_VERSION, seed=None,
                         damsm=dict(epochs=None, minutes=None, r_precision=rp), base={},
                         notes="Judged while training (benchmarks/watch_runs.py): x = the DAMSM's minutes + minutes since the GAN trainings started "
                               "(setup included; several trainings shared the device).", configs={})
    t_judge = time.time()
    judges = {task: attribute_judge(task, data[task], 0, progress=False) for task in res}
    print(f"judges trained in {time.time() - t_judge:.0f} s", flush=True)
    seen = {name: None for name in runs}
    while not a.start.exists() and time.time() < a.until: time.sleep(1)
    try: start = json.loads(a.start.read_text()); since, damsm_min = float(start['since']), float(start.get('damsm_minutes', 0))
    except (OSError, ValueError, KeyError, TypeError) as e: sys.exit(f"no readable start file {a.start} by the deadline ({e})")
    for r in res.values(): r['damsm']['minutes'] = round(damsm_min, 2)
    while time.time() < a.until:
        over, fresh = a.done is not None and a.done.exists(), False            # read first: an export written before FILE is seen below
        for name, (task, d) in runs.items():
            step = exported_step(d)
            if step is None or step == seen[name] or time.time() >= a.until: continue
            t_exp = (d / 'model.json').stat().st_mtime
            model = load_model(d)
            if exported_step(d) != step: continue                           # replaced while loading: take the newer one next round
            r = evaluate(model, data[task], n=a.n, seed=0, progress=False, fid=False, judge=judges[task])
            gan_min = (t_exp - since) / 60
            p = point(r, damsm_min + gan_min, gan_min, step, model.cfg.batch_size)
            c = res[task]['configs'].setdefault(name, dict(overrides={}, config={k: getattr(model.cfg, k) for k in ('width', 'batch_size', 'lr_g', 'ema_decay', 'amp') if hasattr(model.cfg, k)},
                                                           seeds=[model.cfg.seed], points=[]))
            c['points'].append(p); seen[name], fresh = step, True
            print(name, p, flush=True)
            (a.out / f'{task}.json').write_text(json.dumps(res[task], indent=1))
        if not fresh:
            if over: break                                                  # trainings over, every last export judged
            time.sleep(2)
    for task, r in res.items(): (a.out / f'{task}.json').write_text(json.dumps(r, indent=1))
    counts = [f"{n} {len(c['points'])}" for r in res.values() for n, c in r['configs'].items()]
    print(f"points: {', '.join(counts) or 'none'}", flush=True)
    return 0


if __name__ == '__main__': sys.exit(main())
