"""benchmarks/compile_profile.py: how it sorts a profile into kinds of work, on an eager step (compiling takes minutes: the benchmark's run)."""
import sys
import torch, torch.nn.functional as F
from conftest import ROOT
sys.path.insert(0, str(ROOT / 'benchmarks'))
import compile_profile as cp

def test_kinds():
    assert [cp.kind(n) for n in ('aten::mkldnn_convolution', 'aten::convolution_backward', 'aten::bmm')] == ['library'] * 3
    assert cp.kind('graph_0_cpp_fused_add_leaky_relu_0') == cp.kind('triton_poi_fused_add_0') == 'generated'
    assert cp.kind('## Call CompiledFxGraph fabc') == cp.kind('TorchDynamo Cache Lookup') == 'wrapper'
    assert cp.kind('aten::leaky_relu') == cp.kind('aten::add_') == 'other ops'

def test_profile_splits_a_step():
    w, x = torch.randn(16, 8, 3, 3, requires_grad=True), torch.randn(4, 8, 32, 32)
    def step():
        y = F.conv2d(x, w, padding=1)
        for _ in range(20): y = F.leaky_relu(y * 1.01 + 0.1, 0.2)     # many small pointwise ops beside one convolution
        y.sum().backward()
    best, by, kernels = cp.profile(step, steps=2, warm=1)
    assert best > 0 and kernels == [] and by.get('generated', 0) == by.get('wrapper', 0) == 0   # eager: no compiled code
    assert by['library'] > 0 and by['other ops'] > 0 and by['outside'] >= 0
    assert sum(by.values()) >= 0.5 * best                                   # the kinds account for the step (the profiler only adds time)
