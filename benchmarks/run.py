"""All deep_t2i benchmarks in one run, side by side; writes benchmarks/RESULTS.md.

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--out benchmarks/RESULTS.md] [--only fold|compile]

Measures: G and D forward / forward+backward images/s for both tasks and widths next to a plain DCGAN of the same
resolution (ratio), G GFLOP per image; GAN training-step throughput against a DCGAN step; inference latency
(single image and a batch); generation with the bundled models as exported vs folded for inference (`--only fold` runs
just that and replaces its section in --out); with `--only compile`, the training steps eager vs compiled (cold and cached
compile, and the generator alone compiled; not part of a full run: ~15 minutes on 2 cores); evaluation throughput (FID features); the HTTP server under load (gunicorn, 2 workers).
With `--only original --original PATH` (a checkout of cwza/deep_t2i; not part of a full run, as it needs that checkout): the full
preset's generator side by side with the original's own generator classes, generation and a training forward and backward.
With `--only server`: the HTTP server on the bundled models, uncompiled and compiled at start-up (`DEEP_T2I_COMPILE=1`).
"""
import argparse, concurrent.futures as cf, copy, datetime, json, os, platform, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import torch, torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from deep_t2i.core import get_config
from deep_t2i.images import image_pyramid
from deep_t2i.device import channels_last
from deep_t2i.model import TextEncoder, Generator, Discriminator, pad_mask, n_params


def dcgan(img_size, nz=100, nf=64, max_ch=512):
    "A plain DCGAN generator and discriminator of the given resolution (Radford et al.; channels capped at max_ch)."
    n_up = int(torch.log2(torch.tensor(img_size / 4)))
    chs = [min(nf * 2 ** k, max_ch) for k in range(n_up, -1, -1)]         # 4x4 ... img_size/2
    g = [nn.ConvTranspose2d(nz, chs[0], 4, 1, 0, bias=False), nn.BatchNorm2d(chs[0]), nn.ReLU(True)]
    for a, b in zip(chs[:-1], chs[1:-1] + [None]):
        if b is None: break
        g += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    g += [nn.ConvTranspose2d(chs[-2], 3, 4, 2, 1, bias=False), nn.Tanh()]
    rc = chs[::-1]                                                          # img_size/2 ... 4x4
    d = [nn.Conv2d(3, rc[1], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for a, b in zip(rc[1:-1], rc[2:]):
        d += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
    d += [nn.Conv2d(rc[-1], 1, 4, 1, 0, bias=False)]
    return nn.Sequential(*g), nn.Sequential(*d)


def timeit(fn, iters, warmup=1, sync=lambda: None):
    for _ in range(warmup): fn()
    sync(); t = time.perf_counter()
    for _ in range(iters): fn()
    sync(); return (time.perf_counter() - t) / iters


def gflops(fn):
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc: fn()
    return fc.get_total_flops() / 1e9


def matmul_peak(dev, n=2048, iters=5):
    "fp32 matrix-product GFLOP/s of this machine, measured now (the yardstick for the generator's share of peak)."
    a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)
    return 2 * n ** 3 / timeit(lambda: a @ b, iters, sync=sync) / 1e9


def bench_models(dev, quick, rows):
    sync = (lambda: torch.cuda.synchronize()) if dev.type == 'cuda' else (lambda: None)
    for task in ('anime', 'birds'):
        for preset in ('small', 'full'):
            cfg = get_config(task, preset)
            B = 8 if task == 'anime' else 4
            if dev.type == 'cuda': B *= 4
            iters = 1 if (quick or (preset == 'full' and task == 'birds')) else 3
            te, G, D = TextEncoder(100, cfg.emb_sz).to(dev), Generator(cfg).to(dev), Discriminator(cfg).to(dev)
            ids = torch.randint(1, 100, (B, cfg.max_len), device=dev); lens = torch.full((B,), cfg.max_len, device=dev)
            z = torch.randn(B, cfg.noise_sz, device=dev)
            with torch.no_grad(): w, s = te(ids, lens)
            mask = pad_mask(ids)
            gd, dd = dcgan(cfg.img_size); gd, dd = gd.to(dev), dd.to(dev)
            zd = torch.randn(B, 100, 1, 1, device=dev)
            def g_fwd():
                with torch.no_grad(): G(z, w, s, mask)
            def g_fb(): G(z, w, s, mask)[0][-1].mean().backward()
            imgs = [i.detach() for i in G(z, w, s, mask)[0]]
            def d_fwd():
                with torch.no_grad(): D(imgs, s)
            def d_fb(): D(imgs, s)[0].mean().backward()
            def dg_fwd():
                with torch.no_grad(): gd(zd)
            def dg_fb(): gd(zd).mean().backward()
            x = torch.randn(B, 3, cfg.img_size, cfg.img_size, device=dev)
            def dd_fwd():
                with torch.no_grad(): dd(x)
            def dd_fb(): dd(x).mean().backward()
            r = dict(task=task, preset=preset, G_params=n_params(G), D_params=n_params(D), batch=B,
                     G_gflop=gflops(lambda: G(z[:1], w[:1], s[:1], mask[:1])) if dev.type == 'cpu' else None,
                     DCGAN_G_gflop=gflops(lambda: gd(zd[:1])) if dev.type == 'cpu' else None)
            for name, fn in (('G_fwd', g_fwd), ('G_fwdbwd', g_fb), ('D_fwd', d_fwd), ('D_fwdbwd', d_fb),
                             ('DCGAN_G_fwd', dg_fwd), ('DCGAN_G_fwdbwd', dg_fb), ('DCGAN_D_fwd', dd_fwd), ('DCGAN_D_fwdbwd', dd_fb)):
                r[name] = B / timeit(fn, iters, sync=sync)
            rows.append(r); print(json.dumps(r), flush=True)


def bench_train(dev, quick, rows):
    "One full GAN step (D and G updates, DAMSM loss) of our small models vs a DCGAN step, same batch and resolution."
    from deep_t2i.damsm import DAMSM
    from deep_t2i.trainer_gan import bce
    for task in ('anime', 'birds'):
        cfg = get_config(task, 'small')
        B = 32 if task == 'anime' else 8
        damsm = DAMSM(cfg, 100).to(dev).eval()
        G, D = Generator(cfg).to(dev), Discriminator(cfg).to(dev)
        og, od = torch.optim.Adam(G.parameters(), 2e-4, betas=(0., .999)), torch.optim.Adam(D.parameters(), 2e-4, betas=(0., .999))
        x = torch.randn(B, 3, cfg.img_size, cfg.img_size, device=dev).clamp(-1, 1)
        ids = torch.randint(1, 100, (B, cfg.max_len), device=dev); lens = torch.full((B,), cfg.max_len, device=dev)
        def step():
            with torch.no_grad(): w, s = damsm.text(ids, lens)
            fakes, _ = G(torch.randn(B, cfg.noise_sz, device=dev), w, s, pad_mask(ids))
            real = image_pyramid(x, cfg.n_scales)
            ur, cr, cw = D(real, s, s.roll(1, 0)); uf, cf_, _ = D([f.detach() for f in fakes], s)
            dl = bce(ur, 1) + bce(uf, 0) + bce(cr, 1) + (bce(cw, 0) + bce(cf_, 0)) / 2
            od.zero_grad(); dl.backward(); od.step()
            uf, cf_, _ = D(fakes, s)
            gl = bce(uf, 1) + bce(cf_, 1) + 2 * damsm.loss(fakes[-1], ids, lens, None, w, s)[0]
            og.zero_grad(); gl.backward(); og.step()
        gd, dd = dcgan(cfg.img_size); gd, dd = gd.to(dev), dd.to(dev)
        ogd, odd = torch.optim.Adam(gd.parameters(), 2e-4), torch.optim.Adam(dd.parameters(), 2e-4)
        def dstep():
            f = gd(torch.randn(B, 100, 1, 1, device=dev))
            dl = bce(dd(x).view(-1), 1) + bce(dd(f.detach()).view(-1), 0)
            odd.zero_grad(); dl.backward(); odd.step()
            gl = bce(dd(f).view(-1), 1); ogd.zero_grad(); gl.backward(); ogd.step()
        iters = 2 if quick else 5
        r = dict(task=task, batch=B, ours_nchw_img_s=B / timeit(step, iters), dcgan_nchw_img_s=B / timeit(dstep, iters))
        for m in (G, D, damsm, gd, dd): channels_last(m)         # what GANTrainer does; the baseline gets it too
        x = channels_last(x)
        r['ours_img_s'], r['dcgan_img_s'] = B / timeit(step, iters), B / timeit(dstep, iters)
        r['ratio'], r['channels_last_speedup'] = r['ours_img_s'] / r['dcgan_img_s'], r['ours_img_s'] / r['ours_nchw_img_s']
        rows.append(r); print(json.dumps(r), flush=True)


def bench_inference(dev, rows):
    from deep_t2i.inference import load_model, BUNDLED
    from deep_t2i.core import PRETRAINED_DIR
    for name in BUNDLED:
        if not (PRETRAINED_DIR / f'{name}.safetensors').exists(): continue
        m = load_model(name, device=dev)
        cap = 'blue hair red eyes' if name == 'anime' else 'this bird has a red crown and blue wings'
        single = timeit(lambda: m.generate(cap, seed=0), 5 if name == 'anime' else 2)
        batch = timeit(lambda: m.generate(cap, seed=0, n=16), 2 if name == 'anime' else 1)
        r = dict(model=name, img_size=m.img_size, single_ms=1000 * single, batch16_ms=1000 * batch, batch16_img_s=16 / batch)
        rows.append(r); print(json.dumps(r), flush=True)


FOLD_HEADER = '## Generation before and after folding (bundled models)'

def bench_fold(dev, quick, rows):
    """`generate` images/s of each bundled model as exported (spectral norm and BatchNorm as layers: `fold=False`), folded
    (`fold_for_inference`, what `load_model` does, channels-last), folded in the default memory format, and folded and
    compiled (`load_model(compile=True)`, as the server's `DEEP_T2I_COMPILE=1`; its load time, warm-up included, is
    `compile_s`). The variants take turns call by call, so load from other processes hits them alike; the fastest call
    counts (load only adds time)."""
    from deep_t2i.inference import load_model, BUNDLED, sample_noise
    from deep_t2i.core import PRETRAINED_DIR
    for name in BUNDLED:
        if not (PRETRAINED_DIR / f'{name}.safetensors').exists(): continue
        cap = 'blue hair red eyes' if name == 'anime' else 'this bird has a red crown and blue wings'
        v = dict(exported=load_model(name, device=dev, fold=False), folded=load_model(name, device=dev), folded_nchw=load_model(name, device=dev))
        v['folded_nchw'].G.to(memory_format=torch.contiguous_format)
        t = time.perf_counter(); v['compiled'] = load_model(name, device=dev, compile=True); compile_s = time.perf_counter() - t
        if v['compiled']._gen is v['compiled'].G: raise SystemExit(f"compiling the {name} generator failed: see the warning above")
        noise = sample_noise(0, 4, v['folded'].cfg.noise_sz)
        diff = (v['folded']._run([cap] * 4, noise)[0] - v['exported']._run([cap] * 4, noise)[0]).abs().max().item()
        for batch in (1, 16 if name == 'anime' else 4):
            n = (3 if quick else 20) if batch == 1 else (2 if quick else 10)
            ips = take_turns({k: (lambda m=m: m.generate(cap, seed=0, n=batch)) for k, m in v.items()}, n, batch)   # its warm-up call: the compiled one's code for this batch size
            r = dict(model=name, batch=batch, calls=n, exported_img_s=ips['exported'], folded_img_s=ips['folded'], speedup=ips['folded'] / ips['exported'],
                     folded_nchw_img_s=ips['folded_nchw'], channels_last_speedup=ips['folded'] / ips['folded_nchw'], max_abs_diff=diff,
                     compiled_img_s=ips['compiled'], compiled_speedup=ips['compiled'] / ips['exported'], compile_s=compile_s)
            rows.append(r); print(json.dumps(r), flush=True)


def fold_section(rows, cmd:str)->str:
    return f"""{FOLD_HEADER}
Measured {datetime.date.today()} with {torch.get_num_threads()} threads: `{cmd}`. images/s of `generate` (text encoder, generator, PIL images),
the fastest of `calls` calls per variant (the variants take turns; load from other processes only adds time).

{table(rows, ['model', 'batch', 'calls', 'exported_img_s', 'folded_img_s', 'speedup', 'folded_nchw_img_s', 'channels_last_speedup', 'max_abs_diff', 'compiled_img_s', 'compiled_speedup', 'compile_s']) if rows else 'no bundled model in this installation'}
`exported`: the generator as exported (spectral norm divides W by σ = uᵀWv at every call, BatchNorm a layer of its own); `folded`: what
`load_model` gives (plain weights, BatchNorm folded into the convolution before it, channels-last memory format); `folded_nchw`: folded, in
the default memory format. `speedup` = folded / exported; `channels_last_speedup` = folded / folded_nchw. `max_abs_diff`: the largest
difference between folded and exported images in [-1, 1], same captions and noise (the tests hold it under 1e-4). `compiled`: folded, then
`torch.compile` (what `load_model(..., compile=True)` and the server with `DEEP_T2I_COMPILE=1` run); `compiled_speedup` = compiled / exported;
`compile_s`: its load with the compile and the one-image warm-up (a first call of another batch size compiles again, inside the warm-up here).
"""


COMPILE_HEADER = '## Compiled training steps (torch.compile)'
COMPILE_PROBE = """import json, sys, torch
from deep_t2i.core import get_config
from deep_t2i.trainer_gan import probe_throughput
task, quick, compile = sys.argv[1], sys.argv[2] == '1', sys.argv[3] != 'none'
if sys.argv[3] == 'G':                                   # only the generator compiled
    import deep_t2i.trainer_gan as tg
    from deep_t2i.train import compile_module
    tg.GANSteps.compile_parts = lambda self: [compile_module(self.G) and 'G']
cfg = get_config(task, 'small', **(dict(batch_size=8, width=0.0625, min_ch=8) if quick else {}))
print('RESULT', json.dumps(dict(probe_throughput(cfg, steps=2 if quick else 8, compile=compile), batch=cfg.batch_size)))"""

def bench_compile(dev, quick, rows, tasks=('anime',)):
    """The small preset's DAMSM and GAN training steps eager, compiled with an empty compile cache (a first run) and compiled again
    with the cache the first one filled (a resumed or repeated run): each in a process of its own, one after the other."""
    env = {**os.environ, 'DEEP_T2I_DEVICE': dev.type}
    def probe(task, compile, cache):
        r = subprocess.run([sys.executable, '-c', COMPILE_PROBE, task, '1' if quick else '0', compile], capture_output=True, text=True,
                           env={**env, 'TORCHINDUCTOR_CACHE_DIR': str(cache)}, cwd=ROOT)
        if r.returncode: raise SystemExit(r.stderr[-3000:])
        return json.loads(r.stdout.split('RESULT', 1)[1])
    with tempfile.TemporaryDirectory() as cache:
        for task in tasks:
            e, cold, warm = probe(task, 'none', cache), probe(task, 'all', cache), probe(task, 'all', cache)
            with tempfile.TemporaryDirectory() as gcache: g_cold, g_warm = probe(task, 'G', gcache), probe(task, 'G', gcache)
            for what, k, c, w in (('GAN step', 'gan_img_s', cold, warm), ('GAN step, G only compiled', 'gan_img_s', g_cold, g_warm), ('DAMSM step', 'damsm_img_s', cold, warm)):
                ck = k.replace('img_s', 'compile_s')
                r = dict(task=task, what=what, batch=e['batch'], eager_img_s=e[k], compiled_img_s=c[k], speedup=c[k] / e[k],
                         compile_s_cold=c[ck], compile_s_cached=w[ck], speedup_cached=w[k] / e[k])
                rows.append(r); print(json.dumps(r), flush=True)


def compile_section(rows, cmd:str)->str:
    return f"""{COMPILE_HEADER}
Measured {datetime.date.today()} with {torch.get_num_threads()} threads: `{cmd}` (small preset; G, D and the DAMSM's CNN image encoder
compiled in place, as `--compile on` does; `G only compiled`: the generator alone; images/s over 8 steps after 2 warm-up steps).

{table(rows, ['task', 'what', 'batch', 'eager_img_s', 'compiled_img_s', 'speedup', 'compile_s_cold', 'compile_s_cached', 'speedup_cached'])}
`compile_s_cold`: that step's two warm-up steps (compiling, then any recompiling) with an empty compile cache (the first run on a
machine); `compile_s_cached`: the same in a new process once the cache holds the code (a resumed or repeated run). `speedup` = compiled / eager.
`COMPILE_PAYS` in `deep_t2i.train` holds these numbers: `--compile auto` compiles only where the speed-up repays the cold compile
within the steps a run has left.
"""


SERVER_HEADER = '## HTTP server, compiled and not'

def server_section(rows, cmd:str)->str:
    return f"""{SERVER_HEADER}
Measured {datetime.date.today()}: `{cmd}`. The server (gunicorn, 2 workers x 2 threads, 127.0.0.1) on the bundled models, generating
with folded weights (as `load_model` does) and, with `compiled`, compiled at start-up (`DEEP_T2I_COMPILE=1`); each configuration
started once (compiling with an empty compile cache), the requests of 8 clients at a time, once every worker is idle;
`start_s`: from launch to the first answer of `/healthz`, `ready_s`: to every worker idle (loaded, and compiled).

{table(rows, ['route', 'compiled', 'requests', 'concurrency', 'failures', 'req_s', 'p50_ms', 'p95_ms', 'p99_ms', 'start_s', 'ready_s'])}"""


ORIGINAL_HEADER = '## Generators side by side with the original'

def load_original(path):
    """The model module of a checkout of the original project (cwza/deep_t2i: `git clone https://github.com/cwza/deep_t2i`), imported
    under another package name so that it does not shadow ours. Its module imports `transformers` for the ALBERT tokenizer, which its
    generators never use: a stand-in module is put in its place when transformers is not installed."""
    import builtins, importlib, importlib.util, numpy, types
    pkg = Path(path) / 'deep_t2i'
    if not (pkg / 'model.py').exists(): raise SystemExit(f"--original {path}: no deep_t2i/model.py there (give a checkout of cwza/deep_t2i)")
    stub = importlib.util.find_spec('transformers') is None
    if stub: sys.modules['transformers'] = types.SimpleNamespace(AutoModel=None)
    had = hasattr(builtins, 'np'); builtins.np = numpy          # its torch_utils reads `np` from fastcore's star import, which no longer gives it
    try:
        spec = importlib.util.spec_from_file_location('original_t2i', pkg / '__init__.py', submodule_search_locations=[str(pkg)])
        mod = importlib.util.module_from_spec(spec); sys.modules['original_t2i'] = mod; spec.loader.exec_module(mod)
        return importlib.import_module('original_t2i.model')
    finally:
        if not had: del builtins.np
        if stub: del sys.modules['transformers']

def take_turns(fns:dict, n:int, batch:int, sync=lambda: None)->dict:
    "{name: images/s} of each callable of `fns` (one call = `batch` images): one warm-up call each, then `n` rounds in which they take turns; the fastest call counts (`fastest_turns`)."
    from deep_t2i.device import fastest_turns
    return {k: batch / s for k, s in fastest_turns(fns, n, sync).items()}

def bench_original(dev, quick, rows, path):
    """The full preset's generator (the original's layout) against the original's own generator class, built from its code in this
    process, same sizes and inputs: generation (eval mode, no gradient; ours as exported, folded as `load_model` gives it, and folded
    and compiled) and a training forward and backward (train mode). The variants take turns call by call; the fastest call counts."""
    from deep_t2i.fold import fold_for_inference
    from deep_t2i.trainer_gan import layout_times
    import deep_t2i.layers as L
    orig = load_original(path)
    sync = torch.cuda.synchronize if dev.type == 'cuda' else (lambda: None)
    def torch_sn(f):
        "`f` with every spectral norm dividing its weight, as PyTorch's layers do (before `SNConv2d`/`SNLinear`)."
        def g():
            keep, L.scales_output = L.scales_output, lambda *a, **k: False
            try: return f()
            finally: L.scales_output = keep
        return g
    torch.manual_seed(0)
    for task, cls in (('anime', orig.Anime_G), ('birds', orig.Birds_G)):
        cfg = get_config(task, 'full'); T, D, Z = cfg.max_len, cfg.emb_sz, cfg.noise_sz
        theirs, ours = cls(D, Z).to(dev), Generator(cfg).to(dev)
        ex = (torch.randn(1, Z), torch.randn(1, D, T), torch.randn(1, D), torch.zeros(1, T, dtype=torch.bool))
        folded = channels_last(fold_for_inference(ours.eval(), *[x.to(dev) for x in ex]))
        compiled = torch.compile(folded)
        for B in (1, 8):
            z, w, s = torch.randn(B, Z, device=dev), torch.randn(B, D, T, device=dev), torch.randn(B, D, device=dev)
            mask = torch.zeros(B, T, dtype=torch.bool, device=dev)
            wt = w.transpose(1, 2).contiguous()                                    # the original takes words as (B, T, D)
            gen = dict(original=lambda: theirs(s, z, wt, mask)[-1], exported=lambda: ours(z, w, s, mask)[0][-1],
                       folded=lambda: folded(z, w, s, mask)[0][-1], compiled=lambda: compiled(z, w, s, mask)[0][-1])
            theirs.eval(); ours.eval()
            n = (2 if quick else (5 if task == 'birds' else 20))
            with torch.no_grad():
                t0 = time.perf_counter(); gen['compiled'](); sync(); compile_s = time.perf_counter() - t0
                ips = take_turns(gen, n, B, sync)
            r = dict(task=task, mode='generation', batch=B, calls=n, original_img_s=ips['original'], ours_img_s=ips['exported'],
                     ratio=ips['exported'] / ips['original'], folded_img_s=ips['folded'], folded_ratio=ips['folded'] / ips['original'],
                     compiled_img_s=ips['compiled'], compiled_ratio=ips['compiled'] / ips['original'], compile_s=compile_s)
            rows.append(r); print(json.dumps(r), flush=True)
        B = 8; n = 2 if quick else (3 if task == 'birds' else 8)
        z, w, s = torch.randn(B, Z, device=dev), torch.randn(B, D, T, device=dev), torch.randn(B, D, device=dev)
        mask = torch.zeros(B, T, dtype=torch.bool, device=dev); wt = w.transpose(1, 2).contiguous()
        theirs.train(); ours.train(); ours_cl = channels_last(ours)                  # as GANTrainer trains it
        ours_nchw = copy.deepcopy(ours_cl).to(memory_format=torch.contiguous_format)
        fb = dict(original=lambda: theirs(s, z, wt, mask)[-1].mean().backward(), exported=lambda: ours_cl(z, w, s, mask)[0][-1].mean().backward(),
                  nchw=lambda: ours_nchw(z, w, s, mask)[0][-1].mean().backward())
        fb['torch_sn'] = torch_sn(fb['exported'])
        ips = take_turns(fb, n, B, sync)
        lt = layout_times(ours, Discriminator(cfg).to(dev), cfg, dev, batch=B)        # what channels_last='auto' would train in here
        auto = 'exported' if lt['channels_last'] <= lt['default'] else 'nchw'
        r = dict(task=task, mode='training fwd+bwd', batch=B, calls=n, original_img_s=ips['original'], ours_img_s=ips['exported'],
                 ratio=ips['exported'] / ips['original'], nchw_img_s=ips['nchw'], nchw_ratio=ips['nchw'] / ips['original'],
                 torch_sn_img_s=ips['torch_sn'], sn_speedup=ips['exported'] / ips['torch_sn'],
                 auto='channels-last' if auto == 'exported' else 'default', auto_ratio=ips[auto] / ips['original'])
        rows.append(r); print(json.dumps(r), flush=True)

def original_section(rows, cmd:str)->str:
    return f"""{ORIGINAL_HEADER}
Measured {datetime.date.today()} with {torch.get_num_threads()} threads: `{cmd}`. The full preset's generator (`arch='original'`) and the
original's own `Anime_G` / `Birds_G` built from its code (cwza/deep_t2i at its last commit) in this process, same sizes, random weights
and inputs (noise 512, words of the preset's length). images/s, the fastest of `calls` calls per variant; the variants take turns.

{table(rows, ['task', 'mode', 'batch', 'calls', 'original_img_s', 'ours_img_s', 'ratio', 'folded_img_s', 'folded_ratio', 'compiled_img_s', 'compiled_ratio', 'compile_s', 'nchw_img_s', 'nchw_ratio', 'torch_sn_img_s', 'sn_speedup', 'auto', 'auto_ratio'])}
`generation`: eval mode, no gradient. `ours`: our generator as exported (spectral norm and BatchNorm as layers, as the original runs
its own); `folded`: what `load_model` generates with (spectral norm removed, BatchNorm folded into the convolution before it,
channels-last); `compiled`: folded, then `torch.compile` (`load_model(compile=True)`; `compile_s`: its first call). `ratio` = ours /
original. `training fwd+bwd`: train mode, one forward and backward of the last image's mean; ours channels-last as `GANTrainer` runs it,
`nchw`: ours in the default memory format; `torch_sn`: ours channels-last with every spectral norm dividing its weight, as PyTorch's
layers do (before `SNConv2d`/`SNLinear` divided the output where it is smaller); `sn_speedup` = ours / torch_sn. `auto`: the format
`channels_last='auto'` trains in on this machine (`layout_times`: G and the full preset's D, forward and backward, batch 8, both
formats taking turns, in this process after the rows above); `auto_ratio`: ours in that format / original.
"""


def put_section(path, header:str, body:str):
    "Replace the section of file `path` that starts with `header` (up to the next '## ') by `body`; a new one goes before the evaluation section."
    old, body = Path(path).read_text() if Path(path).exists() else '', body.rstrip('\n') + '\n\n'
    if header in old:
        i = old.index(header); j = old.find('\n## ', i)
        new = old[:i] + body + (old[j + 1:] if j >= 0 else '')
    else:
        j = old.find('\n## Evaluation throughput')
        new = old[:j + 1] + body + old[j + 1:] if j >= 0 else old + '\n' + body
    Path(path).write_text(new)


def bench_eval(dev, quick, rows):
    from deep_t2i.metrics import FIDFeatures
    ff = FIDFeatures(dev)
    x = torch.rand(16, 3, 64, 64) * 2 - 1
    t = timeit(lambda: ff(x, 16), 1)
    r = dict(what='FID features (TF Inception, 299x299)', img_s=16 / t); rows.append(r); print(json.dumps(r), flush=True)


def wait_idle(pid:int, fallback_s:float, quiet_s:int=3, limit_s:int=900)->bool:
    """Wait until process `pid` and its children use under 0.1 CPU-second a second for `quiet_s` seconds in a row (without
    psutil: sleep `fallback_s`); False if still busy after `limit_s` seconds."""
    try: import psutil
    except ImportError: time.sleep(fallback_s); return True
    def cpu()->dict:
        out = {}
        try: procs = [psutil.Process(pid)]; procs += procs[0].children(recursive=True)
        except psutil.Error: return out
        for q in procs:
            try: t = q.cpu_times(); out[q.pid] = t.user + t.system
            except psutil.Error: pass
        return out
    quiet, last, t0 = 0, cpu(), time.perf_counter()
    while quiet < quiet_s:
        if time.perf_counter() - t0 > limit_s: return False
        time.sleep(1); now = cpu()
        used = sum(now[k] - last.get(k, 0.0) for k in now)                  # processes that appeared count whole; ones that ended, not at all
        quiet = quiet + 1 if used < 0.1 else 0; last = now
    return True

def bench_server(rows, n=200, conc=8, compile=False, birds_share=4):
    """req/s and latency of the server (gunicorn, 2 workers x 2 threads) on the bundled models: `n` anime requests, n/`birds_share`
    birds ones, `conc` at a time. With `compile`, the workers compile each model at start-up (`DEEP_T2I_COMPILE=1`) from an
    empty compile cache. The requests start once `/healthz` answers and every worker is idle (`wait_idle`: loading or
    compiling done); `start_s`: launch to the first answer, `ready_s`: launch to idle. A failed compile (the server then
    generates uncompiled, with a warning) stops the benchmark."""
    from deep_t2i.core import PRETRAINED_DIR
    import signal
    if not (PRETRAINED_DIR / 'anime.safetensors').exists(): return
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()
    images, cache = tempfile.TemporaryDirectory(), tempfile.TemporaryDirectory()
    log = open(Path(cache.name) / 'server.log', 'w+')
    env = {**os.environ, 'GUNICORN_WORKERS': '2', 'GUNICORN_THREADS': '2', 'IMAGE_DIR': images.name, 'DEEP_T2I_COMPILE': '1' if compile else '0',
           'TORCHINDUCTOR_CACHE_DIR': str(Path(cache.name) / 'inductor')}
    t0 = time.perf_counter()
    p = subprocess.Popen([str(Path(sys.executable).parent / 'gunicorn'), '-c', 'gunicorn.conf.py', '--bind', f'127.0.0.1:{port}', 'app:create_app()'],
                         cwd=ROOT / 'server', env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = t0 + (1200 if compile else 120)
        while True:
            if p.poll() is not None: raise SystemExit(f"the server exited with {p.returncode} before answering:\n{Path(log.name).read_text()[-3000:]}")
            if time.perf_counter() > deadline: raise SystemExit(f"the server did not answer /healthz within {deadline - t0:.0f} s")
            try: urllib.request.urlopen(base + '/healthz', timeout=1); break
            except Exception: time.sleep(0.2)
        start_s = time.perf_counter() - t0
        if not wait_idle(p.pid, start_s): raise SystemExit("the server's workers were still busy after 900 s")
        ready_s = time.perf_counter() - t0
        if 'compiling the generator failed' in Path(log.name).read_text():
            raise SystemExit(f"a worker failed to compile and generates uncompiled:\n{Path(log.name).read_text()[-3000:]}")
        health = json.loads(urllib.request.urlopen(base + '/healthz').read())
        for route, cap in (('anime_heads', 'blue hair red eyes'), ('birds', 'this bird has a red crown and blue wings')):
            task = 'anime' if route == 'anime_heads' else 'birds'
            if not health['models'][task]['loaded']: continue
            def one(i):
                req = urllib.request.Request(f'{base}/{route}', data=json.dumps({'cap': cap, 'seed': i}).encode(), headers={'Content-Type': 'application/json'})
                t = time.perf_counter()
                with urllib.request.urlopen(req, timeout=120) as r: r.read(); ok = r.status == 200
                return time.perf_counter() - t, ok
            k = n if task == 'anime' else n // birds_share
            t1 = time.perf_counter()
            with cf.ThreadPoolExecutor(conc) as ex: res = list(ex.map(one, range(k)))
            wall = time.perf_counter() - t1
            lat = sorted(r[0] for r in res)
            q = lambda f: 1000 * lat[min(len(lat) - 1, int(len(lat) * f))]
            r = dict(route='/' + route, compiled=compile, requests=k, concurrency=conc, failures=sum(not r[1] for r in res), req_s=k / wall,
                     p50_ms=q(0.5), p95_ms=q(0.95), p99_ms=q(0.99), start_s=start_s, ready_s=ready_s)
            rows.append(r); print(json.dumps(r), flush=True)
    finally:
        try:
            p.terminate()
            try: p.wait(45)
            except subprocess.TimeoutExpired: os.killpg(p.pid, signal.SIGKILL); p.wait(10)
        finally: log.close(); images.cleanup(); cache.cleanup()


def table(rows, cols):
    fmt = lambda v: f'{v:.3g}' if isinstance(v, float) else ('' if v is None else str(v))
    return '| ' + ' | '.join(cols) + ' |\n|' + '---|' * len(cols) + '\n' + ''.join('| ' + ' | '.join(fmt(r.get(c)) for c in cols) + ' |\n' for r in rows)


def main():
    ap = argparse.ArgumentParser(); ap.add_argument('--quick', action='store_true'); ap.add_argument('--device', default=None)
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'RESULTS.md'))
    ap.add_argument('--original', default=os.environ.get('DEEP_T2I_ORIGINAL'), help='a checkout of cwza/deep_t2i, for --only original')
    ap.add_argument('--only', choices=['fold', 'compile', 'original', 'server'], help='run one section and replace it in --out, leaving the rest of the file as it is (compile: only this way; ~15 min on 2 cores)'); a = ap.parse_args()
    dev = torch.device(a.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    models, train, inf, ev, srv = [], [], [], [], []
    cmd = 'python benchmarks/run.py' + ' '.join([''] + sys.argv[1:])
    fold = []
    if a.only == 'fold':
        bench_fold(dev, a.quick, fold); md = fold_section(fold, cmd)
        put_section(a.out, FOLD_HEADER, md); print(md); return
    if a.only == 'server':
        rows = []; bench_server(rows, n=400, birds_share=2); bench_server(rows, n=400, compile=True, birds_share=2)
        if not rows: raise SystemExit("no bundled model answered: nothing measured")
        md = server_section(rows, cmd)
        put_section(a.out, SERVER_HEADER, md); print(md); return
    if a.only == 'original':
        if not a.original: raise SystemExit("--only original needs --original PATH: a checkout of cwza/deep_t2i (git clone https://github.com/cwza/deep_t2i)")
        rows = []; bench_original(dev, a.quick, rows, a.original); md = original_section(rows, cmd)
        put_section(a.out, ORIGINAL_HEADER, md); print(md); return
    if a.only == 'compile':
        rows = []; bench_compile(dev, a.quick, rows); md = compile_section(rows, cmd)
        put_section(a.out, COMPILE_HEADER, md); print(md); return
    bench_models(dev, a.quick, models); bench_train(dev, a.quick, train); bench_inference(dev, inf); bench_fold(dev, a.quick, fold); bench_eval(dev, a.quick, ev)
    if dev.type == 'cpu': bench_server(srv)
    peak = matmul_peak(dev)
    for r in models:
        r['G_fwd_vs_DCGAN'] = r['G_fwd'] / r['DCGAN_G_fwd']; r['D_fwdbwd_vs_DCGAN'] = r['D_fwdbwd'] / r['DCGAN_D_fwdbwd']
        if r.get('G_gflop'): r['G_pct_of_peak'] = 100 * r['G_gflop'] * r['G_fwd'] / peak
    dname = torch.cuda.get_device_name(dev) if dev.type == 'cuda' else f'{platform.processor() or platform.machine()}, {os.cpu_count()} cores'
    md = f"""# Benchmark results

Machine: {dname}; torch {torch.__version__}; {torch.get_num_threads()} threads. Date: {datetime.date.today()}.
Command: `python benchmarks/run.py{' --quick' if a.quick else ''}{' --device ' + a.device if a.device else ''}` (`make bench`). Every ratio compares numbers measured in this same run.

## Generator and discriminator (images/s; DCGAN = plain DCGAN of the same resolution, batch as given)
{table(models, ['task', 'preset', 'G_params', 'D_params', 'batch', 'G_gflop', 'DCGAN_G_gflop', 'G_fwd', 'G_fwdbwd', 'D_fwd', 'D_fwdbwd', 'DCGAN_G_fwd', 'DCGAN_D_fwdbwd', 'G_fwd_vs_DCGAN', 'D_fwdbwd_vs_DCGAN', 'G_pct_of_peak'])}
`G_pct_of_peak`: G forward GFLOP/s as a share of this machine's fp32 matrix-product peak measured in the same run ({peak:.0f} GFLOP/s).
The full preset builds the original's layout (`arch='original'`); the small preset the compact one.
The original project (cwza/deep_t2i, measured on its code): anime G 27.4M / D 19.0M params, 3.7 GFLOP per image, 11-19 img/s forward on this kind of CPU;
birds G 31.6M / D 21.4M, 12.4 GFLOP, 3.4-4.0 img/s.

## GAN training step (D + G updates with the DAMSM loss, small preset) vs a DCGAN step
{table(train, ['task', 'batch', 'ours_img_s', 'dcgan_img_s', 'ratio', 'ours_nchw_img_s', 'dcgan_nchw_img_s', 'channels_last_speedup'])}
`ours_img_s` is the step as `GANTrainer` runs it (channels-last memory format, the DCGAN too); `*_nchw_img_s` the same steps in the
default layout; `channels_last_speedup` = ours_img_s / ours_nchw_img_s.

## Inference latency of the bundled models
{table(inf, ['model', 'img_size', 'single_ms', 'batch16_ms', 'batch16_img_s']) if inf else 'no bundled model in this installation'}
{fold_section(fold, cmd)}
## Evaluation throughput
{table(ev, ['what', 'img_s'])}
## HTTP server (gunicorn, 2 workers x 2 threads, 127.0.0.1, bundled models)
{table(srv, ['route', 'requests', 'concurrency', 'failures', 'req_s', 'p50_ms', 'p99_ms']) if srv else 'not measured in this run'}
"""
    old = Path(a.out).read_text() if Path(a.out).exists() else ''
    if '\n## GPU' in old: md += old[old.index('\n## GPU'):]          # keep the GPU section (benchmarks/gpu.py writes it)
    kept = None
    if COMPILE_HEADER in old:                                          # and the compile section (`--only compile` writes it)
        i = old.index(COMPILE_HEADER); j = old.find('\n## ', i); kept = old[i:j + 1 if j >= 0 else None]
    Path(a.out).write_text(md)
    if kept and COMPILE_HEADER not in md: put_section(a.out, COMPILE_HEADER, kept)
    print(md)


if __name__ == '__main__': main()
