"""Where the time of a small-preset GAN training step goes, eager and compiled (`--compile on`: G, D and the DAMSM's CNN
image encoder through torch.compile), by kind of work:

    python benchmarks/compile_profile.py [--task anime] [--channels-last on|off] [--steps 4] [--out benchmarks/RESULTS.md]

Both steps are built by `probe_steps` (random weights and a fixed random batch, the real step code) in this process. Each is
timed without the profiler (the fastest of --steps steps after warm-up steps; compiling happens in the warm-up), then
profiled over two more steps. The profile's operator self-times per step fall into: `library` (convolutions and matrix
products: the same oneDNN/BLAS calls compiled or not), `generated` (the compiler's fused kernels, named one by one: the
compile here turns on inductor's kernel profiling), `wrapper` (the compiled graphs' calling code and guards), `other ops`
(every other ATen operator: pointwise, softmax, BatchNorm, optimizer... in eager these are what compiling would fuse)
and `outside` (the profiled step's wall time not inside any operator: Python, the autograd engine). With `--out`, the
table and the slowest generated kernels replace this benchmark's section of that file.
"""
import argparse, datetime, os, sys, time
from pathlib import Path
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = "## Where a training step's time goes, eager and compiled"
LIBRARY = {'aten::convolution_backward', 'aten::mkldnn_convolution', 'aten::cudnn_convolution', 'aten::_convolution_backward',
           'aten::bmm', 'aten::mm', 'aten::addmm', 'aten::baddbmm', 'aten::mv', 'aten::addmv', 'aten::linear_backward'}
WRAPPER = ('## Call CompiledFxGraph', 'CompiledFunction', 'TorchDynamo', 'autograd::engine::evaluate_function: CompiledFunction')


def kind(name:str)->str:
    "The kind of work of a profiler event's name (see the module's text)."
    if name in LIBRARY: return 'library'
    if 'cpp_fused' in name or 'triton_' in name: return 'generated'
    if name.startswith(WRAPPER): return 'wrapper'
    return 'other ops'


def profile(step, steps:int, warm:int):
    "(fastest step s without the profiler, {kind: self s per step}, [(generated kernel, s per step)]) of callable `step`."
    from torch.profiler import profile as prof, ProfilerActivity
    for _ in range(warm): step()
    times = []
    for _ in range(steps):
        t = time.perf_counter(); step(); times.append(time.perf_counter() - t)
    with prof(activities=[ProfilerActivity.CPU]) as p:
        t = time.perf_counter()
        for _ in range(2): step()
        wall = (time.perf_counter() - t) / 2
    by, kernels = {}, {}
    for e in p.key_averages():
        k, s = kind(e.key), e.self_cpu_time_total / 1e6 / 2
        by[k] = by.get(k, 0) + s
        if k == 'generated': kernels[e.key] = s
    by['outside'] = max(wall - sum(by.values()), 0)
    return min(times), by, sorted(kernels.items(), key=lambda kv: -kv[1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--task', default='anime', choices=['anime', 'birds']); ap.add_argument('--channels-last', default='on', choices=['on', 'off'])
    ap.add_argument('--steps', type=int, default=4); ap.add_argument('--out')
    a = ap.parse_args()
    from deep_t2i.core import get_config
    from deep_t2i.trainer_gan import probe_steps
    import torch._inductor.config as ic
    ic.cpp.enable_kernel_profile = True                    # each generated kernel a profiler event of its own
    cfg = get_config(a.task, 'small', channels_last=a.channels_last == 'on')
    rows, top = [], []
    for compiled in (False, True):
        t0 = time.perf_counter()
        step = probe_steps(cfg, compile=compiled)['gan']
        best, by, kernels = profile(step, a.steps, 3 if compiled else 1)
        r = dict(step='compiled' if compiled else 'eager', img_s=cfg.batch_size / best, step_ms=best * 1e3, setup_s=time.perf_counter() - t0,
                 **{f'{k}_ms': by.get(k, 0) * 1e3 for k in ('library', 'generated', 'wrapper', 'other ops', 'outside')})
        rows.append(r); print(r, flush=True)
        if compiled: top = kernels[:8]
    from run import table, put_section
    cols = ['step', 'img_s', 'step_ms', 'library_ms', 'generated_ms', 'wrapper_ms', 'other ops_ms', 'outside_ms']
    eager, comp = rows
    body = f"""{HEADER}
Measured {datetime.date.today()} with {torch.get_num_threads()} threads: `python benchmarks/compile_profile.py --task {a.task} --channels-last {a.channels_last}`
({a.task}, small preset, batch {cfg.batch_size}, {'channels-last' if a.channels_last == 'on' else 'default memory format'}). `step_ms`: the fastest of {a.steps} steps
without the profiler; the other columns: operator self-time per step in the profile of two more steps (see the script's text for the kinds).

{table(rows, cols)}
compiled / eager: {comp['img_s'] / eager['img_s']:.2f}x. Time per step in convolutions and matrix products: eager {eager['library_ms']:.0f} ms,
compiled {comp['library_ms']:.0f} ms; everything else: eager {eager['step_ms'] - eager['library_ms']:.0f} ms, compiled {comp['step_ms'] - comp['library_ms']:.0f} ms.
If compiling removed all of eager's other work and left the library calls as they are, a step would run
{eager['step_ms'] / max(eager['library_ms'], 1e-9):.2f}x eager at best.

The slowest generated kernels (ms per step): {'; '.join(f'`{k[:70]}` {v * 1e3:.1f}' for k, v in top)}.
"""
    print(body)
    if a.out: put_section(a.out, HEADER, body)


if __name__ == '__main__':
    main()
