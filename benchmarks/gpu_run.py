"""Everything a lent GPU machine is for, in one command that fits its time (`make gpu`; `make gpu-dry` rehearses it on CPU).

    python benchmarks/gpu_run.py --out DIR [--budget SECONDS] [--dry]

Timeline (seconds from the start, with the default budget of 540):
  0    synthetic data (`deep_t2i synth`, deterministic: the same data as `deep_t2i synth` makes anywhere) and, at the
       same time, the GPU benchmarks (benchmarks/gpu.py; the data making uses CPU cores only);
  ~90  the GPU tests (`pytest -m gpu tests/test_gpu.py`), alone on the device: nothing timed runs beside them;
  then the DAMSM trainings of both tasks, side by side (each one's minutes are read from its own run folder: config.json,
       written as its training starts, to its last export; the two share the device with each other);
  then the GAN trainings (RUNS below) side by side, each stopped by `--max-minutes` so that all end before the budget,
       and beside them benchmarks/watch_runs.py, which judges the runs' exports as they appear (a curve of quality
       against GPU-minutes per run: curves/gpu_TASK.json, drawn by `time_to_quality.py --render` once copied to
       benchmarks/ttq/; its attribute judges train on CPU from the end of the benchmarks on);
  last, everything is packed into at most 8 files under DIR (the device tool brings back 8 files of 16 MiB at most):
  summary.tar.gz (logs, benchmark JSON/markdown, curves, each run's metrics, config, model.json, sample grids, loss plot) and
  each run's model.safetensors (split into parts of 15 MiB when larger: `cat NAME.safetensors.part* > model.safetensors`).
With --dry every step runs on CPU at tiny sizes in about 3 minutes: the rehearsal that keeps a typo from wasting the GPU.
Only Python's standard library, torch, torchvision, numpy, pandas, pillow, matplotlib and safetensors are needed
(what the GPU machine has); the Inception code path uses a torchvision Inception-v3 with random weights made there.
"""
import argparse, atexit, json, os, shutil, subprocess, sys, tarfile, time
from pathlib import Path
from watch_runs import training_minutes

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# The GAN runs: name -> (task, config overrides). The DAMSM of each task is shared by its runs.
DAMSM = {'anime': {'width': 0.125, 'min_ch': 16}, 'birds': {'width': 0.125, 'min_ch': 8}}
RUNS = {
    'birds_a': ('birds', {'width': 0.5, 'min_ch': 8, 'hi_ch': 16, 'batch_size': 32, 'ema_decay': 0.999, 'sample_every': 10}),
    'birds_b': ('birds', {'width': 0.5, 'min_ch': 8, 'hi_ch': 16, 'batch_size': 32, 'ema_decay': 0.999, 'sample_every': 10, 'lambda_damsm': 5.0}),
    'anime_a': ('anime', {'width': 0.25, 'min_ch': 16, 'batch_size': 64, 'ema_decay': 0.999, 'sample_every': 10}),
    'anime_b': ('anime', {'width': 0.5, 'min_ch': 16, 'batch_size': 64, 'ema_decay': 0.999, 'sample_every': 10}),
}
WORKERS = {'anime': 2, 'birds': 4}          # data-loading processes per run: 16 cores = 4 runs + 12 workers
PART = 15 * 2**20


class Log:
    def __init__(self, path): self.f, self.t0 = open(path, 'a', buffering=1), time.time()
    def __call__(self, *a):
        line = f"[{time.time() - self.t0:6.1f}s] " + ' '.join(str(x) for x in a)
        print(line, flush=True); self.f.write(line + '\n')
    def elapsed(self): return time.time() - self.t0
    def left(self, budget): return budget - self.elapsed()


def start(cmd, log_path, env=None):
    "A background process writing to log_path."
    f = open(log_path, 'w')
    return subprocess.Popen([str(c) for c in cmd], stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **(env or {})})


def wait(procs, log, until, names):
    "Wait for processes until the deadline (log time); terminate (SIGTERM: the trainers checkpoint and export) those still running."
    for p, n in zip(procs, names):
        try: p.wait(timeout=max(until - log.elapsed(), 1))
        except subprocess.TimeoutExpired:
            log(f"{n}: past its deadline, sending SIGTERM"); p.terminate()
            try: p.wait(timeout=30)
            except subprocess.TimeoutExpired: p.kill(); p.wait()
        log(f"{n}: exit code {p.returncode}")


def tail(path, n=15):
    try: return '\n'.join(Path(path).read_text(errors='replace').splitlines()[-n:])
    except OSError: return '(no log)'


def pack(work, out, log):
    "summary.tar.gz + each run's model.safetensors (in parts where over 15 MiB) under out."
    logs = work / 'logs'
    with tarfile.open(out / 'summary.tar.gz', 'w:gz') as t:
        for p in [work / 'bench.json', work / 'bench.md', *sorted(logs.iterdir()), *sorted((work / 'curves').glob('*.json'))]:
            if p.exists(): t.add(p, p.relative_to(work))
        for run in [*(f'damsm_{k}' for k in DAMSM), *RUNS]:
            d = work / run
            if not d.exists(): continue
            for p in [d / 'config.json', d / 'metrics.csv', d / 'losses.png', d / 'model.json', d / 'damsm.json']:
                if p.exists(): t.add(p, p.relative_to(work))
            grids = sorted((d / 'samples').glob('*.png'), key=lambda p: p.stat().st_mtime)[-1:] if (d / 'samples').exists() else []
            for g in grids:                                   # the last sample grid, as JPEG (a 256x256 grid is 5 MB as PNG)
                from PIL import Image
                jpg = work / 'grids' / f'{run}_{g.stem}.jpg'; jpg.parent.mkdir(exist_ok=True)
                Image.open(g).convert('RGB').save(jpg, quality=88); t.add(jpg, f'{run}/samples_{g.stem}.jpg')
    for name in RUNS:
        st = work / name / 'model.safetensors'
        if not st.exists(): log(f"{name}: no export"); continue
        b = st.read_bytes()
        if len(b) <= PART: (out / f'{name}.safetensors').write_bytes(b)
        else:
            for i in range(0, len(b), PART): (out / f'{name}.safetensors.part{i // PART}').write_bytes(b[i:i + PART])
    log('packed: ' + ', '.join(f"{p.name} {p.stat().st_size / 2**20:.1f} MiB" for p in sorted(out.iterdir())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--out', type=Path, required=True)
    ap.add_argument('--budget', type=float, default=540, help='seconds for the whole command (default 540: a 600 s call with margin)')
    ap.add_argument('--dry', action='store_true', help='rehearse on CPU at tiny sizes')
    ap.add_argument('--work', type=Path, default=ROOT / 'runs' / 'gpu', help='working folder (data, runs, logs)')
    ap.add_argument('--plan', type=Path, help='JSON file overriding what trains: {"damsm": {task: overrides}, "runs": {name: [task, overrides]}, '
                                              '"damsm_minutes": M, "bench": true|false, "bench_args": [extra arguments of benchmarks/gpu.py, e.g. "--compile"], '
                                              '"bench_wait": seconds the trainings wait for the benchmarks (default 90)}')
    a = ap.parse_args()
    global DAMSM, RUNS
    plan = json.loads(a.plan.read_text()) if a.plan else {}
    DAMSM, RUNS = plan.get('damsm', DAMSM), {k: tuple(v) for k, v in plan.get('runs', RUNS).items()}
    out, work = a.out.resolve(), a.work.resolve()
    out.mkdir(parents=True, exist_ok=True); work.mkdir(parents=True, exist_ok=True)
    logs = work / 'logs'; logs.mkdir(exist_ok=True)
    log = Log(logs / 'gpu_run.log')
    env = {'PYTHONPATH': str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''), 'PYTHONUNBUFFERED': '1', 'OMP_NUM_THREADS': '2'}
    if a.dry: env.update(DEEP_T2I_DEVICE='cpu', OMP_NUM_THREADS='1')
    os.environ.update(env)
    import torch
    log(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda available: {torch.cuda.is_available()}, dry: {a.dry}")
    if torch.cuda.is_available(): log(f"GPU: {torch.cuda.get_device_name(0)}, capability {torch.cuda.get_device_capability(0)}")
    elif not a.dry: log("no CUDA device: this is not a GPU machine (use --dry to rehearse)"); return 1
    cli = [PY, '-m', 'deep_t2i']
    n_anime, n_birds = (300, 160) if a.dry else (3000, 3000)
    data = {'anime': work / 'data' / 'anime_synth', 'birds': work / 'data' / 'birds200'}
    # 1. data (CPU) beside the benchmarks (GPU)
    synth = [start(cli + ['synth', 'anime', data['anime'], '--n', n_anime, '--seed', 0], logs / 'synth_anime.log'),
             start(cli + ['synth', 'birds', data['birds'], '--n', n_birds, '--seed', 0] + (['--classes', 8] if a.dry else []), logs / 'synth_birds.log')]
    if plan.get('bench', True):
        bench = start([PY, 'benchmarks/gpu.py', '--out', work / 'bench.json', '--md', work / 'bench.md'] + (['--quick'] if a.dry else []) + [str(x) for x in plan.get('bench_args', [])],
                      logs / 'bench.log')
    wait(synth, log, 60, ['synth anime', 'synth birds'])
    if plan.get('bench', True):
        wait([bench], log, 40 if a.dry else float(plan.get('bench_wait', 90)), ['benchmarks'])
        log('benchmarks:\n' + tail(logs / 'bench.log', 40))
    # the judge of the curves: trains its attribute judges now (CPU), judges the GAN runs' exports once they start
    tasks = sorted(set(t for t, _ in RUNS.values()))
    pack_s, start_file = 25, work / 'gans_started.json'
    ready = work / 'judges_ready'
    for f in (start_file, work / 'gans_done', ready): f.unlink(missing_ok=True)
    shutil.rmtree(work / 'curves', ignore_errors=True)
    watch = start([PY, 'benchmarks/watch_runs.py', *[x for n, (t, _) in RUNS.items() for x in ('--run', f'{n}={t}:{work / n}')],
                   *[x for t in tasks for x in ('--data', f'{t}={data[t]}', '--damsm', f'{t}={work / f"damsm_{t}"}')],
                   '--start', start_file, '--until', log.t0 + a.budget - pack_s - 3, '--done', work / 'gans_done',
                   '--out', work / 'curves', '--n', 100 if a.dry else 400, '--ready', ready, *(['--judge-epochs', 1] if a.dry else []), '--command', ' '.join(['benchmarks/gpu_run.py', *sys.argv[1:]])],
                  logs / 'watch.log', env=None if a.dry else {'OMP_NUM_THREADS': '4'})
    atexit.register(lambda: watch.poll() is None and watch.kill())      # never left running after this script, whatever happens below
    # 2. the GPU tests, alone on the device (beside a timed training they would slow it, and its minutes would count theirs)
    tests = start([PY, '-m', 'pytest', '-m', 'gpu', 'tests/test_gpu.py', '-q', '-p', 'no:cacheprovider', '-x' if a.dry else '-rA'], logs / 'pytest_gpu.log')
    wait([tests], log, log.elapsed() + (60 if a.dry else 150), ['gpu tests'])
    log('gpu tests (alone on the device):\n' + tail(logs / 'pytest_gpu.log', 40))
    damsm_min = 0.1 if a.dry else plan.get('damsm_minutes', 1.25)
    damsm = []
    for task, over in DAMSM.items():
        cfgf = work / f'damsm_{task}.json'; cfgf.write_text(json.dumps({**over, 'num_workers': WORKERS[task]}))
        shutil.rmtree(work / f'damsm_{task}', ignore_errors=True)
        damsm.append(start(cli + ['train', 'damsm', '--task', task, '--data', data[task], '--out', work / f'damsm_{task}', '--epochs', 200,
                                  '--config', cfgf, '--max-minutes', damsm_min], logs / f'damsm_{task}.log'))
    wait(damsm, log, log.elapsed() + 60 * damsm_min + 45, [f'damsm {t}' for t in DAMSM])
    damsm_spent = {task: training_minutes(work / f'damsm_{task}', 'damsm') for task in DAMSM}      # each one's own, start-up excluded
    for task in DAMSM: log(f'damsm {task}: {damsm_spent[task] if damsm_spent[task] is None else round(damsm_spent[task], 3)} min of training '
                           f'(side by side with the other DAMSM)\n' + tail(logs / f'damsm_{task}.log', 3))
    # 3. the GAN runs, side by side, until the budget (less time to pack) runs out; they start once the curves' judges are
    # trained (an export written before that could not be judged in time on a slow CPU), waiting at most 60 s for them
    t_ready = log.elapsed()
    while not ready.exists() and watch.poll() is None and log.elapsed() < t_ready + 60: time.sleep(0.5)
    log(f"curve judges: {'ready' if ready.exists() else 'not ready (the curves may miss early points)'} after {log.elapsed() - t_ready:.0f} s more")
    judge_s = 20 if a.dry else 10                                        # judging one run's last export (dry: on 2 CPU cores, a birds one takes 14-20 s)
    minutes = max((log.left(a.budget) - pack_s - 30 - judge_s * len(RUNS)) / 60, 0.1)   # the rest: setup, and judging each run's last export
    log(f"GAN runs for {minutes:.2f} min each: {', '.join(RUNS)}")
    gans, t_gan = [], time.time()
    for name, (task, over) in RUNS.items():
        cfgf = work / f'{name}.json'; cfgf.write_text(json.dumps({**over, 'num_workers': WORKERS[task], **({'batch_size': 8, 'width': 0.0625, 'sample_every': 1} if a.dry else {})}))
        shutil.rmtree(work / name, ignore_errors=True)
        gans.append(start(cli + ['train', 'gan', '--task', task, '--data', data[task], '--damsm', work / f'damsm_{task}', '--out', work / name,
                                 '--epochs', 10000, '--config', cfgf, '--max-minutes', round(minutes, 3)], logs / f'{name}.log'))
    (work / 'start.tmp').write_text(json.dumps(dict(since=t_gan, damsm_minutes=damsm_spent))); os.replace(work / 'start.tmp', start_file)
    wait(gans, log, a.budget - pack_s, list(RUNS))
    (work / 'gans_done').touch()
    for name in RUNS: log(f'{name}:\n' + tail(logs / f'{name}.log', 2))
    wait([watch], log, a.budget - pack_s + 2, ['curves'])
    log('curves:\n' + tail(logs / 'watch.log', 12))
    pack(work, out, log)
    shutil.copy(logs / 'gpu_run.log', out / 'gpu_run.log') if len(list(out.iterdir())) < 8 else None
    return 0


if __name__ == '__main__': sys.exit(main())
