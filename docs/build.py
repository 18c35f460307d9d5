"""Build the documentation site offline (what `make docs` runs): `python docs/build.py [--out DIR]`.

1. Installs the `docs` extra (settings.ini `docs_requirements`) into this Python's environment when one of its
   packages is missing (`--no-install`: stop with a message instead).
2. Runs Sphinx (docs/conf.py) on the repository with warnings as errors: one page per notebook (stored outputs, no
   execution), the README's sections, the model cards and benchmarks/RESULTS.md; API docs from the library.
3. Checks every internal link and picture of the result (docs/check_links.py).

Open docs/_build/html/index.html (or OUT/index.html) in a browser. Needs no network once the extra is installed;
~20 CPU-seconds. MyST-NB also writes OUT/../jupyter_execute/ (its copies of notebook outputs), so OUT is a folder of
its own, git-ignored: docs/_build/ by default.
"""
from __future__ import annotations
import argparse, importlib.util, shlex, subprocess, sys, time
from configparser import ConfigParser
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
MODULES = ('sphinx', 'myst_nb', 'pydata_sphinx_theme')     # what the extra provides, by import name

def docs_requirements()->list:
    "The docs extra's requirements, as settings.ini lists them (setup.py's `docs` extra reads the same line)."
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini', encoding='utf-8')
    return shlex.split(cfg['DEFAULT'].get('docs_requirements', ''))

def missing_modules()->list:
    return [m for m in MODULES if importlib.util.find_spec(m) is None]

def ensure_deps(install:bool=True):
    "Install the docs extra into this environment if any of its packages is missing."
    miss = missing_modules()
    if not miss: return
    reqs = docs_requirements()
    if not install: sys.exit(f"missing {', '.join(miss)}: install the docs extra with `pip install {' '.join(map(shlex.quote, reqs))}` (or `make docs`)")
    print(f"installing the docs extra ({', '.join(reqs)})", flush=True)
    r = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check', *reqs], capture_output=True, text=True)
    noise = lambda l: l.startswith('WARNING: Location')       # a pip configuration's missing local indexes, as the Makefile filters
    print(''.join(l for l in (r.stdout + r.stderr).splitlines(keepends=True) if not noise(l)), end='')
    if r.returncode: sys.exit(f"pip could not install the docs extra (exit {r.returncode})")
    importlib.invalidate_caches()
    if missing_modules(): sys.exit(f"still missing after the install: {', '.join(missing_modules())}")

def build(out:Path, doctrees:Path=None, quiet:bool=True, capture:bool=False)->subprocess.CompletedProcess:
    "Run sphinx-build (warnings are errors) into `out` (doctrees beside it); `capture`: keep its output in the result."
    doctrees = doctrees or Path(out).parent / 'doctrees'
    cmd = [sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(DOCS), '-d', str(doctrees), '-W', '--keep-going',
           *(['-q'] if quiet else []), str(ROOT), str(out)]
    env = {**__import__('os').environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore::DeprecationWarning'}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=capture, text=True)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', type=Path, default=DOCS / '_build' / 'html', help='output folder (default: docs/_build/html, git-ignored)')
    ap.add_argument('--doctrees', type=Path, help="Sphinx's cache (default: docs/_build/doctrees, git-ignored)")
    ap.add_argument('--no-install', action='store_true', help='do not install the docs extra; stop if it is missing')
    ap.add_argument('--install-only', action='store_true', help='install the docs extra if missing, build nothing')
    ap.add_argument('--verbose', action='store_true', help="show Sphinx's progress")
    a = ap.parse_args(argv)
    ensure_deps(not a.no_install)
    if a.install_only: return 0
    t = time.time()
    rc = build(a.out.resolve(), a.doctrees, quiet=not a.verbose).returncode
    if rc: print("the docs build failed (warnings are errors): see above"); return rc
    sys.path.insert(0, str(DOCS))
    from check_links import broken_links
    bad = broken_links(a.out)
    for page, link, why in bad: print(f"broken link: {page}: {link}: {why}")
    if bad: return 1
    print(f"built {a.out}/ in {time.time() - t:.0f} s, every internal link resolves; open {a.out}/index.html")
    return 0

if __name__ == '__main__': sys.exit(main())
