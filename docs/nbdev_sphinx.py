"""A small Sphinx extension that renders nbdev notebooks the way `nbdev_docs` does, without Quarto or execution.

- `nbs/*.ipynb` pages (read by MyST-NB with their stored outputs): `#| hide` cells are dropped, `#| export` cells are
  replaced by the API documentation (sphinx autodoc) of the public names they define, `#| exports` cells keep their
  code and get it too, `#| ...` directive lines are removed from the code shown, and the title cell comes first.
- nbdev "docments" (a comment after each parameter of a signature, read by `fastcore.docments`) become a parameter
  table under each function, method and class, like nbdev's `show_doc`.
- Docstrings are Markdown in this project: `code` spans become literals and rST markup characters are escaped, so a
  docstring never turns into a Sphinx warning.
- The README is split into one page per `##` section under `docs/_guide/` (generated, git-ignored), with its links
  rewritten for that folder; the part before the first section (with the pictures) is included by docs/index.md.
"""
from __future__ import annotations
import ast, inspect, json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / 'docs' / '_guide'
LIB = 'deep_t2i'
SKIP_SECTIONS = {'contents'}          # the README's own table of contents: the site has its navigation
INTRO_SECTIONS = {'quick-start'}      # shown on the site's front page with the introduction

# ---------------------------------------------------------------- Markdown bits -> rST (docstrings and docments)
_SPECIAL = re.compile(r'([\\*|_`])')

def md_inline_to_rst(s:str)->str:
    "One line of nbdev-style Markdown as rST: `code` -> ``code``, everything else literal text."
    parts = re.split(r'(`[^`]+`)', s)
    out = ''
    for i, p in enumerate(parts):
        if len(p) > 2 and p[0] == p[-1] == '`' and p.strip('`'):
            pre = '\\ ' if out and not out[-1].isspace() else ''
            nxt = parts[i + 1] if i + 1 < len(parts) else ''
            post = '\\ ' if nxt and not nxt[0].isspace() and nxt[0] not in '.,;:!?)]}\'"-/' else ''
            out += pre + '``' + p[1:-1].strip() + '``' + post
        else: out += _SPECIAL.sub(r'\\\1', p)
    return out

def _cell(text:str)->str:
    "A list-table cell: one line, never empty."
    t = ' '.join(str(text).split())
    return md_inline_to_rst(t) if t else '\\-'

def _anno(a)->str:
    if a is inspect.Parameter.empty or a is inspect._empty: return ''
    if isinstance(a, str): return a
    return getattr(a, '__qualname__', None) or getattr(a, '__name__', None) or repr(a)

def docments_table(obj)->list:
    "rST lines of a parameter table (name, type, default, details) from `obj`'s docments; [] when it has none."
    from fastcore.docments import docments
    target = obj.__init__ if inspect.isclass(obj) else obj
    try: d = docments(target, full=True)
    except Exception: return []
    rows = [(k, v) for k, v in d.items() if k not in ('self', 'cls')]
    if not any(v.get('docment') for k, v in rows): return []
    lines = ['', '.. list-table::', '   :header-rows: 1', '   :widths: 20 15 15 50', '   :class: docments', '',
             '   * - Parameter', '     - Type', '     - Default', '     - Details']
    for k, v in rows:
        if k == 'return' and not v.get('docment') and not _anno(v.get('anno')): continue
        dflt = v.get('default')
        dflt = '' if dflt is inspect.Parameter.empty or dflt is inspect._empty or k == 'return' else f'``{dflt!r}``'
        kind = v.get('kind')
        name = ('*' if kind == inspect.Parameter.VAR_POSITIONAL else '**' if kind == inspect.Parameter.VAR_KEYWORD else '') + k
        lines += [f'   * - ``{name}``' if k != 'return' else '   * - **Returns**', f'     - {_cell(_anno(v.get("anno")))}',
                  f'     - {dflt or chr(92) + "-"}', f'     - {_cell(v.get("docment") or "")}']
    return lines + ['']

def process_docstring(app, what, name, obj, options, lines):
    "autodoc-process-docstring: Markdown docstring -> safe rST, then the docments table."
    if not name.startswith(LIB + '.'): return
    if what in ('data', 'attribute') and lines and inspect.getdoc(type(obj)) and \
       inspect.cleandoc('\n'.join(lines)) == inspect.cleandoc(inspect.getdoc(type(obj))):
        lines[:] = []; return                    # a constant's "docstring" is its type's (dict, tuple): not ours
    text = inspect.cleandoc('\n'.join(lines)) if lines else ''
    new, fence = [], False
    for l in text.splitlines():
        if l.strip().startswith('```'):
            fence = not fence
            if fence: new += ['', '.. code-block:: text', '']
            else: new.append('')
            continue
        new.append('   ' + l if fence else md_inline_to_rst(l))
    lines[:] = new
    if what in ('function', 'method', 'class'):
        lines.extend(docments_table(obj))

# ---------------------------------------------------------------- notebooks
_DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')

def _directives(src:str)->dict:
    out = {}
    for l in src.splitlines():
        m = _DIRECTIVE.match(l)
        if m and m.group(1).strip():
            k, *v = m.group(1).split(maxsplit=1)
            out[k.rstrip(':')] = v[0].strip() if v else ''
    return out

def _defined_names(src:str)->list:
    "Top-level names a cell defines, in order: functions, classes, assignments."
    try: tree = ast.parse(src)
    except SyntaxError: return []
    names = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if any(isinstance(d, ast.Name) and d.id in ('patch', 'patch_to') or isinstance(d, ast.Call) and getattr(d.func, 'id', '') in ('patch', 'patch_to')
                   for d in node.decorator_list): continue          # a method added to a class: documented with the class
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                for n in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t]):
                    if isinstance(n, ast.Name): names.append(n.id)     # `X = ...`, `a, b = ...`; not `X[k] = ...`
    return names

def _autodoc(module:str, names:list)->str:
    "A MyST cell documenting `names` of `module` with autodoc."
    import importlib
    mod = importlib.import_module(module)
    blocks = []
    for n in names:
        obj = getattr(mod, n, None)
        kind = 'autoclass' if inspect.isclass(obj) else 'autofunction' if callable(obj) else 'autodata'
        opts = '\n   :members:' if kind == 'autoclass' else ''
        blocks.append(f'.. {kind}:: {module}.{n}{opts}')
    return '```{nbdev-api}\n' + '\n\n'.join(blocks) + '\n```'

def notebook_for_docs(text:str)->str:
    "The JSON text of an nbdev notebook as the site shows it (see the module's docstring)."
    nb = json.loads(text)
    cells, default_mod, done = [], None, set()
    for c in nb.get('cells', []):
        src = ''.join(c.get('source', ''))
        if c.get('cell_type') != 'code': cells.append(c); continue
        d = _directives(src)
        if 'default_exp' in d: default_mod = d['default_exp'].split()[0]; continue
        if 'hide' in d: continue
        code = '\n'.join(l for l in src.splitlines() if not _DIRECTIVE.match(l)).strip('\n')
        exp = next((k for k in ('export', 'exports', 'exporti') if k in d), None)
        doc = None
        if exp in ('export', 'exports'):
            mod = d[exp].split()[0] if d[exp] else default_mod
            if mod:
                modname = f'{LIB}.{mod}'
                import importlib
                public = set(getattr(importlib.import_module(modname), '__all__', []))
                names = [n for n in _defined_names(code) if n in public and n not in done]
                done.update(names)
                if names: doc = {'cell_type': 'markdown', 'metadata': {}, 'source': _autodoc(modname, names)}
        if exp in ('export', 'exporti'):
            if doc: cells.append(doc)
            continue
        if not code.strip(): continue
        c = {**c, 'source': code}
        cells.append(c)
        if doc: cells.append(doc)
    title = next((i for i, c in enumerate(cells) if c.get('cell_type') == 'markdown' and ''.join(c.get('source', '')).startswith('# ')), None)
    if title: cells.insert(0, cells.pop(title))            # the title first (nbdev's imports cell often precedes it)
    for i, c in enumerate(cells): c.setdefault('id', f'cell-{i}')
    nb['cells'] = cells
    nb.setdefault('metadata', {}).setdefault('kernelspec', {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'})
    nb['metadata'].setdefault('language_info', {'name': 'python'})
    return json.dumps(nb)

try: from myst_parser.mocking import MockRSTParser as _RST     # docutils' parser, keeping the default role intact
except ImportError: from docutils.parsers.rst import Parser as _RST

from sphinx.util.docutils import SphinxDirective

class NbdevApi(SphinxDirective):
    """Its content is reStructuredText (autodoc directives), parsed as such inside a notebook page. Like MyST's
    `eval-rst`, without padding the text to the cell's line number: MyST-NB numbers notebook lines in steps of
    thousands per cell, and that padding made the build ten times slower."""
    has_content = True
    def run(self):
        from docutils.utils import new_document
        doc = self.state.document
        sub = new_document(doc['source'], doc.settings)
        sub.reporter = doc.reporter
        _RST().parse('\n'.join(self.content), sub)
        for node in sub:
            if node['names']: doc.note_explicit_target(node, node)
        return list(sub.children)

def source_read(app, docname, source):
    if docname.startswith('nbs/') and app.env.doc2path(docname).suffix == '.ipynb':
        source[0] = notebook_for_docs(source[0])

# ---------------------------------------------------------------- README -> one page per section
def slug(title:str)->str:
    "GitHub's heading anchor: lower case, punctuation dropped, spaces to hyphens."
    t = re.sub(r'[`*_]', '', title.strip().lower())
    t = re.sub(r'[^\w\- ]', '', t)
    return t.replace(' ', '-')

def split_readme(readme:Path)->list:
    "[(page stem, title, markdown)] for the README's introduction and each `##` section (code blocks respected)."
    lines = readme.read_text(encoding='utf-8').splitlines()
    parts, cur, fence = [('intro', None, [])], None, False
    for l in lines:
        if l.lstrip().startswith('```'): fence = not fence
        if not fence and l.startswith('## '):
            t = l[3:].strip()
            parts.append((slug(t), t, [l]))
            continue
        parts[-1][2].append(l)
    parts = [(s, t, '\n'.join(b)) for s, t, b in parts if s not in SKIP_SECTIONS]
    intro = '\n\n'.join(b for s, t, b in parts if s == 'intro' or s in INTRO_SECTIONS)
    return [('intro', None, intro)] + [p for p in parts if p[0] != 'intro' and p[0] not in INTRO_SECTIONS]

def _html_images(md:str)->str:
    "The README's `<img src=... alt=... width=...>` tags (GitHub's way to size pictures) as Markdown images."
    def img(m):
        a = dict(re.findall(r'(\w+)="([^"]*)"', m.group(0)))
        return f"![{a.get('alt', '')}]({a['src']})" if 'src' in a else m.group(0)
    return re.sub(r'<img\s[^>]*>', img, md)

def _rewrite_links(md:str, anchors:dict, here:str, up:str, guide:str)->str:
    "Links and images relative to the repository root -> relative to the page (`up` + target); #anchors -> the page holding them."
    def fix(m):
        bang, text, target = m.group(1), m.group(2), m.group(3)
        if re.match(r'^[a-z][a-z0-9+.-]*:', target): return m.group(0)     # http:, mailto:, ...
        if target.startswith('#'):
            page = anchors.get(target[1:])
            if page is None or page == here: return m.group(0)
            return f'{bang}[{text}]({guide}{page}.md{target})'
        return f'{bang}[{text}]({up}{target})'
    out, fence = [], False
    for l in md.splitlines():
        if l.lstrip().startswith('```'): fence = not fence
        out.append(l if fence else re.sub(r'(!?)\[([^\]]*)\]\(([^)\s]+)\)', fix, _html_images(l)))
    return '\n'.join(out).strip('\n') + '\n'

def _write(f:Path, text:str):
    if not f.exists() or f.read_text(encoding='utf-8') != text: f.write_text(text, encoding='utf-8')

def write_guide(readme:Path=ROOT / 'README.md', out:Path=GUIDE)->list:
    """Write the README's pages into `out`: `intro.part` (the text before the first section, included by
    docs/index.md), one page per `##` section and `toc.part` (their toctree). Only changed files are rewritten, so
    incremental builds stay incremental. Returns the section pages' stems."""
    parts = split_readme(readme)
    anchors = {}
    for stem, title, md in parts:
        fence = False
        for l in md.splitlines():
            if l.lstrip().startswith('```'): fence = not fence
            m = re.match(r'^(#{2,6}) (.*)', l)
            if m and not fence: anchors.setdefault(slug(m.group(2)), stem)
    out.mkdir(parents=True, exist_ok=True)
    keep = {'intro.part', 'toc.part'}
    for stem, title, md in parts:
        if stem == 'intro':                          # the README's title line is the site's title
            _write(out / 'intro.part', _rewrite_links(re.sub(r'^# .*\n', '', md, count=1), anchors, stem, '../', '_guide/'))
            continue
        md = '#' + md[2:]                            # `## Section` -> the page's title, `### x` -> `## x`, ...
        md = re.sub(r'^###', '##', md, flags=re.M)
        f = out / f'{stem}.md'; keep.add(f.name)
        _write(f, _rewrite_links(md, anchors, stem, '../../', ''))
    pages = [s for s, _, _ in parts if s != 'intro']
    _write(out / 'toc.part', '```{toctree}\n:maxdepth: 2\n:caption: Guide\n\n' + '\n'.join(f'_guide/{p}' for p in pages) + '\n```\n')
    for f in out.iterdir():
        if f.name not in keep: f.unlink()
    return pages

def config_inited(app, config):
    write_guide()

def setup(app):
    app.add_directive('nbdev-api', NbdevApi)
    app.connect('config-inited', config_inited)
    app.connect('source-read', source_read)
    app.connect('autodoc-process-docstring', process_docstring)
    return {'version': '1', 'parallel_read_safe': True, 'parallel_write_safe': True}
