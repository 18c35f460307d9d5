"""The README's quick start, run as written in a fresh clone of this repository.

What it covers: the three lines of the README's *Quick start* block, read from the README itself; the `git clone`
line with this repository's path in place of the GitHub address (there is no network here), then `make install` and
`.venv/bin/deep_t2i generate ...` verbatim in the clone: the Makefile's install target on a fresh checkout (pip
resolving requirements.txt, the editable install of the clone, the `deep_t2i` console script), the bundled model
inside the clone, and the generate command's flags and output (a 64x64 PNG). The working tree's uncommitted changes
are copied into the clone first, so that the test checks what is about to be committed (in CI there are none).

What it does not cover: downloading and installing the dependencies (the ~4 minutes of a real `make install`): the
clone's .venv is made beforehand with this environment's packages visible through a .pth file, so pip finds every
requirement installed and installs only the clone itself (~30 s).
"""
import os, re, shutil, subprocess, sys, sysconfig
from pathlib import Path
import pytest
from conftest import ROOT

def quickstart_lines():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    sec = re.search(r'^## Quick start\n(.*?)(?=^## )', readme, re.S | re.M)
    assert sec, "the README has no '## Quick start' section"
    block = re.search(r'```bash\n(.*?)```', sec.group(1), re.S)
    assert block, "the quick start has no bash block"
    return [l for l in block.group(1).splitlines() if l.strip()]

def overlay_working_tree(clone):
    "Copy the working tree's modified and new (not ignored) files into `clone`, and delete what the working tree deleted."
    ls = lambda *a: [p for p in subprocess.run(['git', 'ls-files', '-z', *a], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split('\0') if p]
    for p in ls('--modified', '--others', '--exclude-standard'):
        src = ROOT / p
        if src.is_file():
            (clone / p).parent.mkdir(parents=True, exist_ok=True); shutil.copy2(src, clone / p)
    for p in ls('--deleted'): (clone / p).unlink(missing_ok=True)

def test_readme_quick_start_in_a_fresh_clone(tmp_path):
    if shutil.which('git') is None or shutil.which('make') is None: pytest.skip('needs git and make')
    lines = quickstart_lines()
    assert len(lines) == 3, f"the quick start should be three lines: {lines}"
    clone_line, rest = lines[0], lines[1:]
    m = re.match(r'git clone (\S+) && cd (\S+)\s*(#.*)?$', clone_line)
    assert m, f"the first line should be `git clone URL && cd DIR`: {clone_line}"
    assert m.group(2) == Path(m.group(1)).name.removesuffix('.git')
    subprocess.run(['git', 'clone', '-q', str(ROOT), m.group(2)], cwd=tmp_path, check=True)
    clone = tmp_path / m.group(2)
    overlay_working_tree(clone)
    # the clone's .venv, with this environment's packages visible (what `make install` would download)
    base = getattr(sys, '_base_executable', None) or sys.executable
    subprocess.run([base, '-m', 'venv', str(clone / '.venv')], check=True)
    site = Path(subprocess.run([str(clone / '.venv' / 'bin' / 'python'), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / '_deep_t2i_test_parent_env.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH')}
    env['OMP_NUM_THREADS'] = '1'
    r = subprocess.run(['bash', '-euo', 'pipefail', '-c', '\n'.join(rest)], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"quick start failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    out = re.search(r'--out (\S+)', rest[-1]).group(1)
    from PIL import Image
    with Image.open(clone / out) as im: assert im.size == (64, 64) and im.format == 'PNG'
    # the clone's own library ran, and this environment's editable install still points here
    where = subprocess.run([str(clone / '.venv' / 'bin' / 'python'), '-c', 'import deep_t2i; print(deep_t2i.__file__)'],
                           capture_output=True, text=True, cwd=tmp_path, env=env).stdout.strip()
    assert where.startswith(str(clone)), where
    import deep_t2i
    assert Path(deep_t2i.__file__).resolve().is_relative_to(ROOT.resolve())
