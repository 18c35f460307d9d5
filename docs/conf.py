"""Sphinx configuration of the deep_t2i documentation site (`make docs`; see docs/build.py).

Why Sphinx + MyST-NB + pydata-sphinx-theme (and not MkDocs + mkdocs-jupyter, nor Quarto):
- it builds offline from what pip installs (Quarto, what `nbdev_docs` needs, is a separate binary that is not on PyPI);
- MyST-NB renders the notebooks with their stored outputs and pictures without running them (`nb_execution_mode = "off"`);
- sphinx.ext.autodoc documents the exported functions and classes from the library itself, so signatures are
  always those of the code; a small extension (docs/nbdev_sphinx.py) adds nbdev's docments as parameter tables;
- `-W` turns every warning (a broken cross-reference, a missing picture, a bad docstring) into a failed build, which
  tests/test_docs.py relies on; the search box is built in (a static index, no server);
- all three are maintained projects with regular releases (Sphinx and MyST-NB by the Sphinx and Executable Books
  communities; the theme is the one NumPy, pandas and SciPy use).

The source directory is the repository root (so the README's, RESULTS.md's and the model cards' relative links and
pictures work unchanged); `include_patterns` says which files are pages.
"""
import os, sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(ROOT))
os.environ.setdefault('OMP_NUM_THREADS', '1')

from configparser import ConfigParser
_cfg = ConfigParser(delimiters=['=']); _cfg.read(ROOT / 'settings.ini', encoding='utf-8'); _cfg = _cfg['DEFAULT']

project = _cfg['title']
author = _cfg['author']
copyright = _cfg['copyright']
release = version = _cfg['version']

extensions = ['myst_nb', 'sphinx.ext.autodoc', 'sphinx.ext.githubpages', 'nbdev_sphinx']   # githubpages: writes .nojekyll

root_doc = 'docs/index'
include_patterns = ['docs/index.md', 'docs/*.md', 'docs/_guide/*.md', 'nbs/*.ipynb', 'benchmarks/RESULTS.md',
                    'deep_t2i/pretrained/*.md', 'data/README.md', 'server/README.md', 'CHANGELOG.md']
exclude_patterns = ['.venv', '.git', '_docs', '_proc', 'build', 'dist', 'runs', 'data/*/**', 'tests',
                    '**/.ipynb_checkpoints', '**/__pycache__', 'docs/_build', 'node_modules']
source_suffix = {'.md': 'myst-nb', '.ipynb': 'myst-nb'}

# notebooks: never executed, stored outputs shown as they are
nb_execution_mode = 'off'
nb_merge_streams = True
myst_enable_extensions = ['colon_fence', 'deflist']
myst_heading_anchors = 4
suppress_warnings = ['myst.header']      # GitHub-style pages may skip heading levels; that is not an error here

autodoc_member_order = 'bysource'
autodoc_typehints = 'signature'
autodoc_preserve_defaults = True
add_module_names = False

html_theme = 'pydata_sphinx_theme'
html_title = f'{project} {version}'
html_static_path = ['_static']
html_css_files = ['docs.css']
html_extra_path = ['_extra']              # index.html at the site's root: a redirect to docs/index.html
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    'navigation_depth': 2,
    'show_toc_level': 2,
    'navbar_end': ['search-button', 'theme-switcher'],
    'footer_start': ['copyright'],
    'footer_end': ['sphinx-version'],
    'secondary_sidebar_items': ['page-toc'],
}
html_sidebars = {'**': ['search-field', 'sidebar-nav-bs']}
