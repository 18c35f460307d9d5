"""GPU benchmarks, side by side in one run (the machine is named in the output):

    python benchmarks/gpu.py --out bench.json [--md bench.md] [--quick] [--parts inference,train] [--presets small,full] [--profile] [--compile]
    python benchmarks/gpu.py --render benchmarks/RESULTS.md bench.json [more.json ...]   # tables into RESULTS.md's GPU block

- training images/s of one whole GAN step (`GANTrainer.train_step`: D and G updates, DAMSM loss, EMA) and one DAMSM
  step, full preset (the original's sizes, Inception image encoder with random torchvision weights made here) and the
  small preset, in fp32, bf16 autocast and bf16 without channels-last;
- inference latency of the bundled models and of a full-preset generator, one image and batches.
Each row is written to --out as soon as it is measured, so a run cut short keeps what it measured.
On a machine without CUDA it runs the same code on CPU (tiny sizes with --quick): the dry run of benchmarks/gpu_run.py.
"""
import argparse, json, os, platform, sys, tempfile, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def sync(dev):
    if dev.type == 'cuda': torch.cuda.synchronize(dev)


def timeit(fn, dev, iters, warmup=2):
    for _ in range(warmup): fn()
    sync(dev); t = time.perf_counter()
    for _ in range(iters): fn()
    sync(dev); return (time.perf_counter() - t) / iters


def machine(dev):
    if dev.type == 'cuda':
        p = torch.cuda.get_device_properties(dev)
        return f"{p.name} ({p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}); torch {torch.__version__}, CUDA {torch.version.cuda}"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores; torch {torch.__version__}"


class Rows:
    def __init__(self, path, dev):
        self.path, self.data = Path(path), dict(machine=machine(dev), date=time.strftime('%Y-%m-%d'), train=[], inference=[], profile=[])
        self.write()
    def add(self, kind, row):
        self.data[kind].append(row); print(json.dumps(row), flush=True); self.write()
    def write(self): self.path.write_text(json.dumps(self.data, indent=1))


def bench_train(dev, rows, work, quick, presets=None, tasks=('anime', 'birds'), profile=False, compile=False):
    from deep_t2i.core import get_config
    from deep_t2i.synth import synth_anime, synth_birds
    import deep_t2i.trainer_gan as tg
    from deep_t2i.trainer_damsm import DAMSMTrainer
    from torchvision.models import inception_v3
    data = {'anime': synth_anime(work / 'anime', n=160, seed=0, progress=False),
            'birds': synth_birds(work / 'birds', n=96, seed=0, n_classes=8, progress=False)}
    inc = work / 'inception_v3_random.pth'
    torch.manual_seed(0); torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), inc)
    presets = presets or (['small'] if quick else ['small', 'full'])
    variants = [('fp32', 'off', True), ('bf16', 'bf16', True), ('bf16_nchw', 'bf16', False)]
    if dev.type == 'cpu': variants = variants[:1]
    iters = 2 if quick or dev.type == 'cpu' else 6
    for preset in presets:
        for task in tasks:
            batch = (48 if task == 'anime' else 24) if preset == 'full' else (64 if task == 'anime' else 32)
            if dev.type == 'cpu': batch = 4
            base = get_config(task, preset, batch_size=batch, num_workers=0)
            w = inc if base.image_encoder == 'inception' else None
            damsm_dir = work / f'damsm_{task}_{preset}'
            d = DAMSMTrainer(base, data[task], damsm_dir, progress=False, inception_weights=w)
            d.fit(max_steps=1)
            b = next(iter(d.loader))
            for name, amp, cl in variants:
                d.cfg = base.replace(amp=amp)
                t = timeit(lambda: d.train_step(b), dev, iters)
                rows.add('train', dict(what='DAMSM step', task=task, preset=preset, variant=name, batch=batch, img_s=round(batch / t, 1)))
            for name, amp, cl in variants:
                cfg = base.replace(amp=amp)
                real_cl = tg.channels_last
                if not cl: tg.channels_last = lambda x: x                # the same step in the default (NCHW) layout
                try:
                    out = work / f'gan_{task}_{preset}_{name}'
                    g = tg.GANTrainer(cfg, data[task], damsm_dir, out, progress=False, inception_weights=w)
                    g.setup()
                    b = next(iter(g.loader))
                    t = timeit(lambda: g.train_step(b), dev, iters)
                    mem = torch.cuda.max_memory_allocated(dev) / 2**30 if dev.type == 'cuda' else None
                    if profile and name == 'fp32': rows.add('profile', gpu_busy(g, b, dev, task, preset, batch, 1000 * t))
                finally: tg.channels_last = real_cl
                rows.add('train', dict(what='GAN step', task=task, preset=preset, variant=name, batch=batch, img_s=round(batch / t, 1),
                                       ms_per_step=round(1000 * t, 1), peak_gib=round(mem, 2) if mem else None))
                del g
                if dev.type == 'cuda': torch.cuda.empty_cache(); torch.cuda.reset_peak_memory_stats(dev)
            if compile and preset == 'small':                     # `--compile on`'s step (G, D, the CNN image encoder compiled in place): is it worth it here?
                g = tg.GANTrainer(base.replace(amp='off'), data[task], damsm_dir, work / f'gan_{task}_{preset}_compiled', progress=False, inception_weights=w)
                g.setup(); b = next(iter(g.loader)); g.compile_parts()
                sync(dev); t0 = time.perf_counter()
                for _ in range(2): g.train_step(b)
                sync(dev); compile_s = time.perf_counter() - t0
                t = timeit(lambda: g.train_step(b), dev, iters, warmup=0)
                rows.add('train', dict(what='GAN step', task=task, preset=preset, variant='fp32_compiled', batch=batch, img_s=round(batch / t, 1),
                                       ms_per_step=round(1000 * t, 1), compile_s=round(compile_s, 1)))
                del g; torch.cuda.empty_cache()


def gpu_busy(g, b, dev, task, preset, batch, step_ms):
    "How much of one training step (`step_ms`, timed without the profiler) the GPU spends in kernels, and how many operators it dispatches."
    from torch.profiler import profile, ProfilerActivity
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == 'cuda' else [])
    sync(dev); t = time.perf_counter()
    with profile(activities=acts) as prof:
        for _ in range(3): g.train_step(b)
        sync(dev)
    wall = (time.perf_counter() - t) / 3
    from torch.autograd import DeviceType
    kernel_us = sum(e.time_range.elapsed_us() for e in prof.events() if e.device_type == DeviceType.CUDA) / 3
    ops = sum(e.count for e in prof.key_averages() if e.key.startswith('aten::')) / 3
    return dict(task=task, preset=preset, batch=batch, step_ms=round(step_ms, 1), step_ms_profiled=round(1000 * wall, 1),
                gpu_kernel_ms=round(kernel_us / 1000, 1), gpu_busy_pct=round(100 * kernel_us / 1000 / step_ms, 1), aten_ops_per_step=int(ops))


def bench_inference(dev, rows, quick):
    from deep_t2i.core import get_config, PRETRAINED_DIR
    from deep_t2i.inference import load_model, T2IModel
    from deep_t2i.model import TextEncoder, Generator
    from deep_t2i.data_anime import AnimeTokenizer
    from deep_t2i.data_birds import WordTokenizer
    caps = {'anime': 'blue hair red eyes', 'birds': 'this bird has a red crown and blue wings'}
    models = [(n, load_model(n, device=dev)) for n in ('anime', 'birds') if (PRETRAINED_DIR / f'{n}.safetensors').exists()]
    if not quick:
        for task in ('anime', 'birds'):
            cfg = get_config(task, 'full')
            tok = AnimeTokenizer() if task == 'anime' else WordTokenizer.build([caps['birds']], max_len=cfg.max_len)
            models.append((f'{task} full preset (random weights)', T2IModel(cfg, tok, TextEncoder(len(tok.vocab), cfg.emb_sz), Generator(cfg), dev)))
    for name, m in models:
        cap = caps[m.cfg.task]
        r = dict(model=name, img_size=m.img_size)
        for n in ((1, 16) if quick or dev.type == 'cpu' else (1, 16, 64)):
            t = timeit(lambda: m.generate(cap, seed=0, n=n, batch_size=max(n, 1)), dev, 2 if dev.type == 'cpu' else 10)
            r[f'batch{n}_ms'] = round(1000 * t, 2); r[f'batch{n}_img_s'] = round(n / t, 1)
        rows.add('inference', r)


def markdown(data):
    def table(rows, cols):
        return '| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols) + '\n' + ''.join(
            '| ' + ' | '.join('' if r.get(c) is None else str(r.get(c)) for c in cols) + ' |\n' for r in rows)
    tr, inf = data['train'], data['inference']
    for r in data.get('profile', []):            # rows written before step_ms was recorded: take it from the fp32 GAN row
        if 'step_ms' not in r:
            m = [x for x in tr if x['what'] == 'GAN step' and x['variant'] == 'fp32' and x['task'] == r['task'] and x['preset'] == r['preset']]
            if m: r['step_ms'] = m[0]['ms_per_step']; r['gpu_busy_pct'] = round(100 * r['gpu_kernel_ms'] / r['step_ms'], 1)
    icols = ['model', 'img_size'] + [k for k in (inf[0] if inf else {}) if k.startswith('batch')]
    inf_md = f"**Inference** (`T2IModel.generate`, ms per call and images/s, fp32)\n\n{table(inf, icols)}" if inf else ''
    return (f"Machine: {data['machine']}. Date: {data['date']}.\n\n"
            f"**Training step** (images/s; one whole step as the trainers run it, data already on the GPU)\n\n"
            f"{table(tr, ['what', 'task', 'preset', 'variant', 'batch', 'img_s', 'ms_per_step', 'peak_gib', 'compile_s'])}\n"
            f"`fp32`: no autocast; `bf16`: bf16 autocast (what `--amp auto` picks on this GPU), channels-last as in training; "
            f"`bf16_nchw`: the same without channels-last. Full preset: the original's sizes with the Inception image encoder.\n\n"
            + inf_md + (f"\n**Where a step's time goes** (fp32 GAN step; kernel time from torch.profiler over the step timed without it)\n\n"
               f"{table(data['profile'], ['task', 'preset', 'batch', 'step_ms', 'gpu_kernel_ms', 'gpu_busy_pct', 'aten_ops_per_step'])}" if data.get('profile') else ''))


def render_into(results_md, jsons):
    "Replace the GPU block of RESULTS.md (between its gpu markers) with the tables of the given benchmark JSON files."
    start, end = '<!-- gpu:start -->', '<!-- gpu:end -->'
    body = '\n'.join(f"#### Run {i + 1} (`{Path(j).name}`)\n" + markdown(json.loads(Path(j).read_text())) for i, j in enumerate(jsons))
    text = Path(results_md).read_text()
    if start not in text: text += f"\n## GPU\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    Path(results_md).write_text(head + start + '\n' + body + '\n' + end + rest.split(end, 1)[1])


def main():
    ap = argparse.ArgumentParser()
    if '--render' in sys.argv:                # python benchmarks/gpu.py --render RESULTS.md a.json [b.json ...]
        i = sys.argv.index('--render'); render_into(sys.argv[i + 1], sys.argv[i + 2:]); return
    ap.add_argument('--out', required=True); ap.add_argument('--md'); ap.add_argument('--quick', action='store_true')
    ap.add_argument('--device', default=None)
    ap.add_argument('--parts', default='inference,train', help='comma-separated: inference, train')
    ap.add_argument('--presets', default=None, help='comma-separated training presets (default: small,full)')
    ap.add_argument('--tasks', default='anime,birds'); ap.add_argument('--profile', action='store_true', help='also measure how busy the GPU is in a step')
    ap.add_argument('--compile', action='store_true', help="also the small preset's GAN step compiled as `--compile on` runs it, with its compile time (cold: minutes)")
    a = ap.parse_args()
    dev = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    os.environ['DEEP_T2I_DEVICE'] = str(dev)
    rows = Rows(a.out, dev)
    print(rows.data['machine'], flush=True)
    with tempfile.TemporaryDirectory() as work:
        parts = {'inference': lambda: bench_inference(dev, rows, a.quick),
                 'train': lambda: bench_train(dev, rows, Path(work), a.quick, a.presets and a.presets.split(','), a.tasks.split(','), a.profile, a.compile)}
        for part in (parts[p] for p in a.parts.split(',')):
            try: part()
            except Exception as e:                                   # a failed part must not lose the other's rows
                import traceback; traceback.print_exc(); rows.data.setdefault('errors', []).append(f'{type(e).__name__}: {e}'); rows.write()
    if a.md: Path(a.md).write_text(markdown(rows.data))
    print(markdown(rows.data))


if __name__ == '__main__': main()
