"""The documentation site (`make docs`): it builds with warnings as errors, every internal link and picture resolves,
every notebook has its page (in order, with the API docs of what it exports and their docments), every README section,
model card and benchmarks/RESULTS.md (with its plots) has its page, and the search index knows the library.

Needs the docs extra (`make docs-deps`, or `pip install -e .[docs]`): skipped without it, except where
DEEP_T2I_REQUIRE_DOCS is set (.ci/run sets it after installing the extra), where it fails instead. The site is built
once per session into a temporary folder (~20 CPU-seconds); tests/test_browser.py opens it in Chromium.
"""
import json, re, subprocess, sys
from pathlib import Path
import pytest
from conftest import ROOT, docs_module, need_docs_extra

NOTEBOOKS = sorted((ROOT / 'nbs').glob('*.ipynb'))

def text(p): return Path(p).read_text(encoding='utf-8')

def test_site_builds_with_warnings_as_errors(docs_site):
    out, r = docs_site
    assert r.returncode == 0, f"sphinx-build -W failed:\n{r.stdout[-3000:]}\n{r.stderr[-5000:]}"
    assert 'WARNING' not in r.stderr and 'ERROR' not in r.stderr, r.stderr[-5000:]
    assert (out / 'index.html').is_file() and (out / 'docs' / 'index.html').is_file() and (out / '.nojekyll').is_file()

def test_every_internal_link_resolves(docs_site):
    out, r = docs_site
    assert r.returncode == 0
    bad = docs_module('check_links').broken_links(out)
    assert not bad, '\n'.join(f'{p}: {l}: {w}' for p, l, w in bad)

def test_link_checker_finds_broken_links(tmp_path):
    "The checker itself: a missing file, a missing #id and a picture that is not there are reported; external links are not followed."
    (tmp_path / 'a.html').write_text('<a id="top"></a><a href="b.html#x">b</a><a href="a.html#top">a</a><a href="#top">t</a>'
                                     '<img src="p.png"><a href="https://example.org/x">ext</a><a href="missing.html">m</a>')
    (tmp_path / 'b.html').write_text('<h1 id="y">b</h1><a href="a.html#nope">a</a>')
    bad = docs_module('check_links').broken_links(tmp_path)
    assert sorted((p, l) for p, l, w in bad) == [('a.html', 'b.html#x'), ('a.html', 'missing.html'), ('a.html', 'p.png'), ('b.html', 'a.html#nope')]

def test_every_notebook_has_its_page_in_order(docs_site):
    out, r = docs_site
    assert r.returncode == 0
    missing = [nb.name for nb in NOTEBOOKS if not (out / 'nbs' / f'{nb.stem}.html').is_file()]
    assert not missing, f"notebooks without a page: {missing}"
    index = text(out / 'docs' / 'notebooks.html')
    pos = [index.find(f'../nbs/{nb.stem}.html') for nb in NOTEBOOKS]
    assert -1 not in pos and pos == sorted(pos), "the notebooks page must list every notebook, in file order"
    for nb in NOTEBOOKS:
        page = text(out / 'nbs' / f'{nb.stem}.html')
        assert '#|' not in page, f"{nb.name}: nbdev directives are shown"
        title = next((''.join(c['source']).splitlines()[0][2:] for c in json.loads(text(nb))['cells']
                      if c['cell_type'] == 'markdown' and ''.join(c['source']).startswith('# ')), None)
        first_cell = page.find('class="cell')
        if title: assert '<h1>' in page and (first_cell == -1 or page.find('<h1>') < first_cell), f"{nb.name}: the title must come first"

def test_exported_api_is_documented_with_docments(docs_site):
    "Each exported public name has its autodoc entry on its notebook's page, in place of the cell's code, with the docments as a table."
    out, r = docs_site
    assert r.returncode == 0
    page = text(out / 'nbs' / '05_inference.html')
    for name in ('load_model', 'T2IModel', 'T2IModel.generate', 'check_caption'):
        assert f'id="deep_t2i.inference.{name}"' in page, name
    assert 'def load_model' not in page                       # an `#| export` cell's code gives way to its documentation
    table = re.search(r'<table class="[^"]*docments[^"]*".*?</table>', page[page.find('id="deep_t2i.inference.T2IModel.generate"'):], re.S)
    assert table and 'a caption or a list of captions' in table.group(0) and 'samples per caption' in table.group(0)
    assert 'dict() -&gt; new empty dictionary' not in text(out / 'nbs' / '00_core.html')   # constants are not documented by their type's docstring
    import deep_t2i.inference as m
    undocumented = [n for n in m.__all__ if f'id="deep_t2i.inference.{n}"' not in page]
    assert not undocumented, undocumented

def test_readme_sections_model_cards_and_results_have_pages(docs_site):
    out, r = docs_site
    assert r.returncode == 0
    nbs = docs_module('nbdev_sphinx')
    readme = text(ROOT / 'README.md')
    sections = [nbs.slug(t) for t in re.findall(r'^## (.+)$', readme, re.M)]
    pages = [s for s in sections if s not in nbs.SKIP_SECTIONS | nbs.INTRO_SECTIONS]
    assert len(pages) >= 10
    missing = [s for s in pages if not (out / 'docs' / '_guide' / f'{s}.html').is_file()]
    assert not missing, f"README sections without a page: {missing}"
    index = text(out / 'docs' / 'index.html')
    words = re.sub(r'<[^>]+>', '', index)
    assert 'Quick start' in words and 'make install' in words and index.count('<img') >= 2        # the README's first screen and its pictures
    for card in ('anime', 'birds'): assert (out / 'deep_t2i' / 'pretrained' / f'{card}.html').is_file()
    results = text(out / 'benchmarks' / 'RESULTS.html')
    n_pics = len(re.findall(r'!\[[^\]]*\]\(', text(ROOT / 'benchmarks' / 'RESULTS.md')))
    assert n_pics >= 1 and results.count('<img') >= n_pics, "every picture of RESULTS.md must be on its page"
    assert (out / 'CHANGELOG.html').is_file()

def test_search_index_knows_the_library(docs_site):
    out, r = docs_site
    assert r.returncode == 0
    assert (out / 'search.html').is_file()
    idx = text(out / 'searchindex.js')
    assert 'load_model' in idx and 'generat' in idx

# ---------------------------------------------------------------- the extension's parts, without a build
def test_notebook_for_docs_follows_nbdev_directives():
    need_docs_extra()
    nbs = docs_module('nbdev_sphinx')
    cell = lambda t, s: {'cell_type': t, 'metadata': {}, 'source': s, **({'outputs': [], 'execution_count': None} if t == 'code' else {})}
    nb = {'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        cell('code', '#| default_exp inference'), cell('code', 'from fastcore.test import test_eq'),
        cell('markdown', '# Title\n> what it is'), cell('code', '#| hide\nsecret = 1'),
        cell('code', '#| export\ndef load_model(name): pass\ndef _private(): pass'),
        cell('code', '#| exports\nMAX_CAPTION_CHARS = 500'), cell('code', '#| eval: false\nshown = 2')]}
    out = json.loads(nbs.notebook_for_docs(json.dumps(nb)))
    srcs = [c['source'] for c in out['cells']]
    assert srcs[0].startswith('# Title')                                   # the title first
    assert not any('secret' in s or '#|' in s or 'def load_model' in s for s in srcs)
    assert any('.. autofunction:: deep_t2i.inference.load_model' in s for s in srcs) and not any('_private' in s for s in srcs)
    i = srcs.index('MAX_CAPTION_CHARS = 500')                              # `exports`: the code stays, its docs follow
    assert 'autodata:: deep_t2i.inference.MAX_CAPTION_CHARS' in srcs[i + 1] and 'shown = 2' in srcs
    assert all(c.get('id') for c in out['cells'])

def test_readme_pages_keep_links_and_pictures_working(tmp_path):
    need_docs_extra()
    nbs = docs_module('nbdev_sphinx')
    (tmp_path / 'README.md').write_text('# proj\n\nintro ![pic](docs/assets/a.png) <img src="docs/assets/b.png" alt="b" width="49%">\n\n'
                                        '## Quick start\n\n```bash\nmake install\n```\n\n## Contents\n\n- [Data](#data)\n\n'
                                        '## Data\n\nsee [results](#results-now) and [the card](deep_t2i/pretrained/anime.md)\n\n'
                                        '```bash\n## not a heading\n```\n\n## Results now\n\n### Sub part\n\n[up](#data) [web](https://example.org)\n')
    pages = nbs.write_guide(tmp_path / 'README.md', tmp_path / 'g')
    assert pages == ['data', 'results-now']
    intro = (tmp_path / 'g' / 'intro.part').read_text()
    assert '![pic](../docs/assets/a.png)' in intro and '![b](../docs/assets/b.png)' in intro and 'make install' in intro
    data = (tmp_path / 'g' / 'data.md').read_text()
    assert data.startswith('# Data') and '(results-now.md#results-now)' in data and '(../../deep_t2i/pretrained/anime.md)' in data
    assert '## not a heading' in data
    res = (tmp_path / 'g' / 'results-now.md').read_text()
    assert '\n## Sub part' in res and '(data.md#data)' in res and '(https://example.org)' in res
    assert '_guide/data' in (tmp_path / 'g' / 'toc.part').read_text()

def test_markdown_docstrings_become_safe_rst():
    need_docs_extra()
    f = docs_module('nbdev_sphinx').md_inline_to_rst
    assert f('kept in `last_seed`') == 'kept in ``last_seed``'
    assert f('`x`s and *args_ |a|') == '``x``\\ s and \\*args\\_ \\|a\\|'

def test_stored_outputs_and_pictures_render_without_execution(tmp_path):
    "A notebook's stored outputs (text and a PNG) are on its page; nothing is executed (the cell would fail if it ran)."
    need_docs_extra()
    import base64, io
    from PIL import Image
    buf = io.BytesIO(); Image.new('RGB', (8, 8), 'red').save(buf, format='PNG')
    nb = {'nbformat': 4, 'nbformat_minor': 5, 'metadata': {}, 'cells': [
        {'cell_type': 'markdown', 'id': 'a', 'metadata': {}, 'source': '# Stored'},
        {'cell_type': 'code', 'id': 'b', 'metadata': {}, 'execution_count': 1, 'source': 'raise SystemExit("must not run")',
         'outputs': [{'output_type': 'stream', 'name': 'stdout', 'text': 'a stored line\n'},
                     {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': base64.b64encode(buf.getvalue()).decode(), 'text/plain': '<Image>'}}]}]}
    (tmp_path / 'nbs').mkdir(); (tmp_path / 'docs').mkdir()
    (tmp_path / 'nbs' / 'x.ipynb').write_text(json.dumps(nb))
    (tmp_path / 'docs' / 'index.md').write_text('# Site\n\n```{toctree}\n/nbs/x\n```\n')
    out = tmp_path / '_build' / 'html'
    r = subprocess.run([sys.executable, '-m', 'sphinx', '-b', 'html', '-c', str(ROOT / 'docs'), '-W', '-q', '-d', str(tmp_path / '_build' / 'dt'),
                        str(tmp_path), str(out)], capture_output=True, text=True, cwd=tmp_path, env={**__import__('os').environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    page = text(out / 'nbs' / 'x.html')
    assert 'a stored line' in page
    src = re.search(r'<img[^>]+src="([^"]+)"', page).group(1)
    assert (out / 'nbs' / src).resolve().is_file()
