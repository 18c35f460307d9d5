"""Judge the exports of GAN trainings while they run: quality against training minutes, without stopping them.

    python benchmarks/watch_runs.py --run NAME=TASK:RUN_DIR [--run ...] --data TASK=DATA [--data ...] --start FILE
        --until T1 --out DIR [--prefix P] [--done FILE] [--n 400] [--damsm TASK=DIR] [--command TEXT]

A trainer rewrites RUN_DIR/model.* at the end of every `sample_every`-th epoch. Every few seconds this looks at each
run and judges its newest export when it holds a step not judged yet (an export replaced while another was being
judged is skipped) like a point of benchmarks/time_to_quality.py: held-out captions, no FID, one attribute judge per
task (trained on CPU as soon as this starts). DIR/PTASK.json is rewritten after every point in time_to_quality's
format, so that `time_to_quality.py --render` draws it once copied to benchmarks/ttq/ (the prefix keeps it apart from
the CPU curves there). The --ready file, when given, is created once the judges are trained. The trainings' start is announced by the --start file, JSON {"since": time.time() of their start,
"damsm_minutes": {TASK: that task's DAMSM's own training minutes} (or one number for all)}; no run folder is read before
it exists (so the judges can train while the DAMSMs do). x: the task's DAMSM's minutes plus the minutes since `since`
(the trainings' setup included). Stops at T1 (a
`time.time()`), or once the --done file exists (the trainings have ended) and every last export is judged; a point
that would not end by T1 is not started. gpu_run.py runs it beside the GPU trainings, so that one call brings back a
curve, not end points only.
"""
import argparse, json, sys, time, traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT)); sys.path.insert(0, str(ROOT / 'benchmarks'))

RUN_MECHANICS = ('num_workers', 'sample_every', 'ckpt_every', 'epochs', 'tensorboard', 'deterministic')   # how a run ran, not what it trains


def pairs(items, what):
    "['a=b', ...] -> {a: b}; a malformed item exits with a message."
    out = {}
    for it in items or []:
        k, sep, v = it.partition('=')
        if not (sep and k and v): sys.exit(f"{what} must be KEY=VALUE, got {it!r}")
        out[k] = v
    return out


def export_state(run_dir:Path):
    "(step, mtimes) of the complete export in run_dir; None while there is none or while one is being written (the trainer replaces the weights, then model.json)."
    js, st = run_dir / 'model.json', run_dir / 'model.safetensors'
    try:
        m = (st.stat().st_mtime_ns, js.stat().st_mtime_ns)
        if m[0] > m[1]: return None                                      # new weights, old description: wait for model.json
        return json.loads(js.read_text())['meta']['step'], m
    except (OSError, ValueError, KeyError, TypeError): return None


def training_minutes(run_dir, export:str='model'):
    "Minutes a run trained, read from its own folder: config.json (written as its training starts, after set-up) to its last export EXPORT.json; None without both."
    try: return (Path(run_dir, f'{export}.json').stat().st_mtime - Path(run_dir, 'config.json').stat().st_mtime) / 60
    except OSError: return None


def damsm_summary(run_dir)->dict:
    "epochs (the whole ones, plus the share of one stopped midway), steps and last R-precision of a DAMSM run folder (None where unknown)."
    from deep_t2i.train import RunFiles
    rows = RunFiles(run_dir).read_metrics() if run_dir else []
    rp = [r['r_precision'] for r in rows if 'r_precision' in r]
    per_epoch = {}                                                       # training steps logged in each epoch (a validation row is no step)
    for r in rows:
        if 'r_precision' not in r: per_epoch[r['epoch']] = per_epoch.get(r['epoch'], 0) + 1
    epochs = None
    if per_epoch:
        last = max(per_epoch)
        whole = max((n for e, n in per_epoch.items() if e != last), default=None)     # an epoch followed by another one ended
        if any('r_precision' in r and r['epoch'] == last for r in rows) or (whole and per_epoch[last] >= whole): epochs = last + 1
        elif whole: epochs = round(last + per_epoch[last] / whole, 2)
    return dict(epochs=epochs, steps=rows[-1]['step'] if rows else None, r_precision=round(rp[-1], 4) if rp else None)


def overrides_of(cfg)->dict:
    "What `cfg` sets differently from its task's small preset (how the run ran left out)."
    from deep_t2i.core import get_config
    base = get_config(cfg.task, 'small').to_dict()
    return {k: v for k, v in cfg.to_dict().items() if k not in RUN_MECHANICS and base.get(k) != v}


def write_json(path:Path, obj):
    from deep_t2i.files import atomic_write_bytes
    atomic_write_bytes(path, json.dumps(obj, indent=1).encode())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--run', action='append', required=True, help='NAME=TASK:RUN_DIR, once per training')
    ap.add_argument('--data', action='append', required=True, help='TASK=DATA folder, once per task')
    ap.add_argument('--damsm', action='append', help="TASK=DAMSM run folder: its epochs and last R-precision go into the JSON")
    ap.add_argument('--start', type=Path, required=True, help='a JSON file {"since": time.time() of the trainings\' start, "damsm_minutes": M}, written when they start')
    ap.add_argument('--until', type=float, required=True, help='time.time() to stop at')
    ap.add_argument('--done', type=Path, help='a file whose existence says the trainings have ended')
    ap.add_argument('--n', type=int, default=400, help='images per point')
    ap.add_argument('--out', type=Path, required=True, help='folder of the PREFIXTASK.json files')
    ap.add_argument('--prefix', default='gpu_', help="file name prefix (default gpu_: benchmarks/ttq/ holds the CPU curves as TASK.json)")
    ap.add_argument('--command', help='the command to record (default: this one)')
    ap.add_argument('--judge-epochs', type=int, help="the attribute judges' epochs (default: the task's; fewer only for rehearsals)")
    ap.add_argument('--ready', type=Path, help='a file written once the judges are trained (gpu_run.py starts the trainings after it)')
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
    tasks = sorted(set(t for t, _ in runs.values()))
    t_judge = time.time()
    judges = {task: attribute_judge(task, data[task], 0, progress=False, epochs=a.judge_epochs) for task in tasks}
    print(f"judges trained in {time.time() - t_judge:.0f} s", flush=True)
    if a.ready: a.ready.touch()
    start = None
    while start is None and time.time() < a.until:                       # written atomically by gpu_run; retried while unreadable
        try:
            start = json.loads(a.start.read_text()); since, dm = float(start['since']), start.get('damsm_minutes') or 0
            damsm_min = {t: dm.get(t) if isinstance(dm, dict) else float(dm) for t in tasks}
        except (OSError, ValueError, KeyError, TypeError, AttributeError): start = None; time.sleep(1)
    if start is None: sys.exit(f"no readable start file {a.start} by the deadline")
    res = {task: dict(task=task, data=str(data[task]), machine=machine(), command=a.command or ' '.join(sys.argv), judge_version=JUDGE_VERSION,
                      seed=None, damsm=dict(**damsm_summary(damsm.get(task)), minutes=None if damsm_min[task] is None else round(damsm_min[task], 2)), base={},
                      notes="Judged while training (benchmarks/watch_runs.py): x = this task's DAMSM's own training minutes (its run folder: "
                            "config.json to its last export; it trained side by side with the other task's DAMSM) + minutes since the GAN "
                            "trainings started (their setup included; the GAN trainings shared the device with each other and with this judging)"
                            + ("" if damsm_min[task] is not None else "; the DAMSM's minutes are unknown here (no export), so x counts the GAN's only") + ".",
                      configs={}) for task in tasks}
    seen, last = {name: None for name in runs}, {}                      # last judged step; the newest export seen
    per_point = 0.0                                                      # seconds the slowest point took
    while time.time() < a.until:
        over, fresh = a.done is not None and a.done.exists(), False     # read first: an export written before the done file is seen below
        for name, (task, d) in runs.items():
            state = export_state(d)
            if state is None: continue
            last[name] = state[0]
            if state[0] == seen[name]: continue
            if time.time() + per_point >= a.until: continue             # would not end in time
            t1 = time.time()
            try:
                model = load_model(d)
                if export_state(d) != state: continue                   # replaced while loading: the newer one next round
                r = evaluate(model, data[task], n=a.n, seed=0, progress=False, fid=False, judge=judges[task])
            except Exception:
                print(f"{name}: judging the export of step {state[0]} failed:\n{traceback.format_exc()}", flush=True)
                seen[name] = state[0]; continue                         # not retried; the next export is
            gan_min = (state[1][1] / 1e9 - since) / 60                  # when model.json was written
            p = point(r, (damsm_min[task] or 0) + gan_min, gan_min, state[0], model.cfg.batch_size)
            c = res[task]['configs'].setdefault(name, dict(overrides=overrides_of(model.cfg), seeds=[model.cfg.seed], points=[]))
            c['points'].append(p); seen[name], fresh = state[0], True
            per_point = max(per_point, time.time() - t1)
            print(f"{name} ({time.time() - t1:.1f} s): {p}", flush=True)
            write_json(a.out / f'{a.prefix}{task}.json', res[task])
        if not fresh:
            if over: break                                              # trainings over, every last export judged
            time.sleep(2)
    for task, r in res.items(): write_json(a.out / f'{a.prefix}{task}.json', r)
    for name in runs:
        if last.get(name) is not None and last[name] != seen[name]: print(f"{name}: its last export (step {last[name]}) was not judged in time", flush=True)
    counts = [f"{n} {len(c['points'])}" for r in res.values() for n, c in r['configs'].items()]
    print(f"points: {', '.join(counts) or 'none'}", flush=True)
    return 0


if __name__ == '__main__': sys.exit(main())
