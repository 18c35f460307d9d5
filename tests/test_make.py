"""The Makefile's own checks, on a throwaway git repository: `make check-clean` (what `make test` runs after `make build`) tells an
out-of-sync library from a stray file and from other uncommitted changes."""
import shutil, subprocess
from conftest import ROOT

def git(repo, *args):
    return subprocess.run(['git', '-c', 'user.name=t', '-c', 'user.email=t@t', *args], cwd=repo, capture_output=True, text=True, check=True)

def check_clean(repo):
    r = subprocess.run(['make', '-s', 'check-clean'], cwd=repo, capture_output=True, text=True)
    return r.returncode, r.stdout + r.stderr

def test_check_clean_names_what_is_wrong(tmp_path):
    repo = tmp_path / 'repo'
    for f in ('deep_t2i/core.py', 'nbs/00_core.ipynb', 'README.md'): (repo / f).parent.mkdir(parents=True, exist_ok=True); (repo / f).write_text('x\n')
    shutil.copy(ROOT / 'Makefile', repo / 'Makefile')
    git(repo, 'init', '-q'); git(repo, 'add', '.'); git(repo, 'commit', '-qm', 'init')
    assert check_clean(repo) == (0, '')
    (repo / 'anime.png').write_bytes(b'png'); (repo / 'out').mkdir(); (repo / 'out' / '0_0.png').write_bytes(b'png')   # a README example run here
    code, out = check_clean(repo)
    assert code != 0 and 'stray files' in out and 'anime.png' in out and 'out/' in out
    assert 'make build' not in out and 'out of sync' not in out                      # not the library's fault
    (repo / 'anime.png').unlink(); shutil.rmtree(repo / 'out')
    (repo / 'deep_t2i' / 'core.py').write_text('y\n')                                 # the library differs from what was committed
    code, out = check_clean(repo)
    assert code != 0 and 'out of sync' in out and 'deep_t2i/core.py' in out and 'stray' not in out
    (repo / 'deep_t2i' / 'core.py').write_text('x\n'); (repo / 'README.md').write_text('z\n')
    code, out = check_clean(repo)
    assert code != 0 and 'outside the notebooks and library' in out and 'README.md' in out and 'out of sync' not in out

def test_readme_example_outputs_are_ignored():
    "What the README's examples write in the repository root is ignored by git, so it is no stray file for `make test`."
    r = subprocess.run(['git', 'check-ignore', 'anime.png', 'birds.png', 'out/0_0.png', 'report.json', 'report.md', 'one.png'], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and len(r.stdout.split()) == 6, r.stdout
