"""Check every internal link of a built HTML site: `python docs/check_links.py docs/_build/html`.

Every `href`/`src` of a page (a, link, img, script, source, iframe) that is not an external URL must name a file of
the site, and a `#fragment` must name an element id (or anchor name) of its target page. External links (http:,
https:, mailto:, ...) are not followed: the site must build and be checked offline. Exits 1 and lists what is broken.
"""
from __future__ import annotations
import re, sys
from functools import lru_cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

ATTRS = {'a': 'href', 'link': 'href', 'img': 'src', 'script': 'src', 'source': 'src', 'iframe': 'src'}

class _Page(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links, self.ids = [], set()
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ('id', 'name') if tag == 'a' else ('id',):
            if a.get(k): self.ids.add(a[k])
        if tag in ATTRS and a.get(ATTRS[tag]): self.links.append((tag, a[ATTRS[tag]]))
    handle_startendtag = handle_starttag

@lru_cache(maxsize=None)
def _parse(path:Path)->_Page:
    p = _Page(); p.feed(path.read_text(encoding='utf-8', errors='replace')); return p

def broken_links(site)->list:
    "[(page, link, why)] for every internal link of the site under `site` that does not resolve."
    site = Path(site).resolve()
    _parse.cache_clear()
    bad = []
    for page in sorted(site.rglob('*.html')):
        if '_static' in page.relative_to(site).parts: continue      # theme files (Jinja templates), not pages
        for tag, link in _parse(page).links:
            if re.match(r'^[a-zA-Z][a-zA-Z0-9+.-]*:', link) or link.startswith('//'): continue   # external, data:, javascript:
            u = urlsplit(link)
            target = page if not u.path else (page.parent / unquote(u.path)).resolve()
            if u.path.endswith('/') or (target.is_dir() and u.path): target = target / 'index.html'
            rel = page.relative_to(site).as_posix()
            if site not in target.parents and target != site:
                bad.append((rel, link, 'leaves the site')); continue
            if not target.is_file():
                bad.append((rel, link, 'no such file')); continue
            frag = unquote(u.fragment)
            if frag and target.suffix == '.html' and frag not in _parse(target).ids:
                bad.append((rel, link, f'no element with id {frag!r} in {target.relative_to(site).as_posix()}'))
    return bad

def main(argv=None):
    site = Path((argv or sys.argv[1:] or ['docs/_build/html'])[0])
    if not site.is_dir(): print(f"{site} is not a folder: build the site first (make docs)"); return 2
    bad = broken_links(site)
    for page, link, why in bad: print(f"{page}: {link}: {why}")
    n = sum('_static' not in p.relative_to(site).parts for p in site.rglob('*.html'))
    print(f"{n} pages, {len(bad)} broken internal link(s)")
    return 1 if bad else 0

if __name__ == '__main__': sys.exit(main())
