"""Two real captioned image sets that no one on the project drew, built from registry packages into the "own data"
layout (`metadata.csv` with `file_name,text,label`; `text` is one caption or a JSON list of captions).

    python benchmarks/real_sets.py [--out data/real] [--cache data/real/.cache] [--sets twemoji,openclipart] [--limit N]
                                   [--max-per-label N]

twemoji (OUT/twemoji/, ~3,800 RGBA 64x64 PNGs)
    npm packs `emoji-datasource-twitter@16.0.0` (the images under img/twitter/64/ and emoji.json) and `emojibase-data@17.0.0`
    (en/data.json: the CLDR English names and tags). Captions: the CLDR name, lower case, punctuation dropped
    ("waving hand medium skin tone"; skin-tone variants are kept), and the name plus up to six CLDR tags. Label: the emoji's
    Unicode group as emoji.json spells it ("smileys & emotion", "flags"...), the coarse level, so classes have many members.
    Licences: Twemoji graphics (jdecked/twemoji v16.0.1, as shipped) Copyright Twitter, Inc and other contributors,
    CC-BY 4.0 (credit them); emoji-datasource MIT (Cal Henderson); emojibase-data MIT (Miles Johnson), its names and tags
    come from Unicode CLDR (Unicode License v3).
openclipart (OUT/openclipart/<category>/..., ~8,000 RGBA PNGs cropped to the drawing, longest side <= 256 px)
    Debian `openclipart-png` (the PNGs; no metadata inside) and `openclipart-svg` (the same tree as SVG, whose RDF metadata
    holds each drawing's title, keywords and author), fetched with `apt-get download` and unpacked with `dpkg-deb -x`.
    Captions: the file name without its author and number plus the folder words ("acquila, animals birds"), and the SVG
    title (when it names this drawing, not a collection) plus its keywords ("acquila: bird"). Label: the top-level folder.
    Skipped with a line each: 124 blank PNGs (no visible pixel) and 3 over PIL's 179 Mpx limit. Resized images already in
    OUT are kept, so delete OUT/openclipart to rebuild them.
    Licence: the package's copyright file is the Creative Commons "Public Domain Dedication" (Copyright-Only Dedication
    or Public Domain Certification); each set's LICENSE.txt carries the texts found in its packages.

Nothing is installed: archives stay in the cache folder and are unpacked there (tar members leaving the folder, links and
devices are refused). A missing tool or a failed fetch ends with exit status 2 and one line. The `build_*` functions take
already-unpacked package folders, so they also run offline.
"""
import argparse, csv, hashlib, json, re, shutil, subprocess, sys, tarfile, time, warnings
from collections import Counter
from pathlib import Path

NPM = {'datasource': ('emoji-datasource-twitter', '16.0.0'), 'emojibase': ('emojibase-data', '17.0.0')}
MAX_SIDE = 256
TWEMOJI_LICENCE = """Images: Twemoji (https://github.com/jdecked/twemoji, v16.0.1 as shipped in emoji-datasource-twitter 16.0.0),
Copyright Twitter, Inc and other contributors. Graphics licensed under CC-BY 4.0: https://creativecommons.org/licenses/by/4.0/
(attribution required, e.g. "Twemoji by Twitter, Inc and other contributors, CC-BY 4.0").
Emoji list (emoji.json): emoji-datasource-twitter 16.0.0, MIT License (below).
Names and tags: emojibase-data 17.0.0, MIT License (below); derived from Unicode CLDR, Unicode License v3
(https://www.unicode.org/license.txt).
"""
OPENCLIPART_LICENCE = """Images: Open Clip Art Library 0.18 (http://www.openclipart.org) from the Debian packages openclipart-png and
openclipart-svg (titles and keywords); their copyright file (below) dedicates the works to the public domain.
"""

class FetchError(Exception): "A missing tool, a failed download or an unsafe archive: reported in one line."

def tool(name:str)->str:
    "The path of a command-line tool, or FetchError."
    p = shutil.which(name)
    if p is None: raise FetchError(f"{name} not found: it is needed to fetch or unpack the packages into the cache")
    return p

def run(cmd:list, cwd:Path):
    "Run a fetching command quietly; FetchError with its last line of error output if it fails."
    r = subprocess.run([tool(cmd[0]), *cmd[1:]], cwd=cwd, capture_output=True, text=True)
    if r.returncode:
        last = ([l for l in (r.stderr + r.stdout).splitlines() if l.strip()] or ['no output'])[-1]
        raise FetchError(f"{' '.join(cmd)} failed: {last.strip()}" + (' (try apt-get update)' if cmd[0] == 'apt-get' else ''))

def safe_extract(archive:Path, dest:Path)->Path:
    "Unpack a tar archive into dest (made), refusing any member that is not a plain file or folder or that leaves dest."
    dest = Path(dest).resolve(); dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tf:
        members = tf.getmembers()
        for m in members:
            p = (dest / m.name).resolve()
            if not (m.isfile() or m.isdir()) or (p != dest and dest not in p.parents):
                raise FetchError(f"{archive}: refusing member {m.name!r} (a link, a device or a path leaving the folder)")
        tf.extractall(dest, members, **({'filter': 'data'} if hasattr(tarfile, 'data_filter') else {}))
    return dest

def unpacked(archive:Path, unpack)->Path:
    "The folder an archive is unpacked into (cache/<archive name>/), unpacked once through a temporary folder."
    dest = archive.parent / archive.name.removesuffix('.tgz').removesuffix('.deb').replace('%3a', '_')
    if not dest.is_dir():
        tmp = dest.with_name(dest.name + '.part'); shutil.rmtree(tmp, ignore_errors=True)
        unpack(archive, tmp); tmp.rename(dest)
    return dest

def fetch_npm(cache:Path, name:str, version:str)->Path:
    "The unpacked `package/` folder of an npm package, packed with `npm pack` into cache if not there yet."
    tgz = cache / f'{name}-{version}.tgz'
    if not tgz.exists(): run(['npm', 'pack', '--loglevel=error', f'{name}@{version}'], cache)
    if not tgz.exists(): raise FetchError(f"npm pack {name}@{version} wrote no {tgz.name}")
    return unpacked(tgz, safe_extract) / 'package'

def fetch_deb(cache:Path, pkg:str)->Path:
    "The unpacked root of a Debian package, fetched with `apt-get download` into cache if not there yet (never installed)."
    debs = sorted(cache.glob(f'{pkg}_*.deb'))
    if not debs:
        run(['apt-get', 'download', '-q', pkg], cache)
        debs = sorted(cache.glob(f'{pkg}_*.deb'))
        if not debs: raise FetchError(f"apt-get download {pkg} wrote no .deb (try apt-get update)")
    return unpacked(debs[-1], lambda deb, dest: run(['dpkg-deb', '-x', str(deb.resolve()), str(dest.resolve())], cache))

def clean(text:str)->str:
    "Lower case, '#' and '*' spelt out, apostrophes dropped, any other punctuation a space: words that tokenize."
    t = text.lower().replace('#', ' number sign ').replace('*', ' asterisk ').replace('&', ' and ')
    t = re.sub(r"['’`]", '', t)
    return ' '.join(re.sub(r'[^\w]+|_', ' ', t).split())

def sample(rows:list, limit:int=None, max_per_label:int=None)->list:
    "Rows (file_name, captions, label) kept in a fixed pseudo-random order: at most max_per_label per label, limit in all; sorted back."
    kept, per = [], Counter()
    for r in sorted(rows, key=lambda r: hashlib.sha1(r[0].encode()).hexdigest()):
        if max_per_label and per[r[2]] >= max_per_label: continue
        if limit and len(kept) >= limit: break
        per[r[2]] += 1; kept.append(r)
    return sorted(kept)

def write_set(out:Path, rows:list, licence:str)->list:
    "metadata.csv (file_name, text: one caption or a JSON list, label) and LICENSE.txt in out; returns the rows."
    with open(out / 'metadata.csv', 'w', newline='', encoding='utf-8') as f:
        w = csv.writer(f); w.writerow(['file_name', 'text', 'label'])
        for fn, caps, label in rows: w.writerow([fn, caps[0] if len(caps) == 1 else json.dumps(caps, ensure_ascii=False), label])
    (out / 'LICENSE.txt').write_text(licence, encoding='utf-8')
    return rows

def build_twemoji(datasource:Path, emojibase:Path, out:Path, limit:int=None, max_per_label:int=None)->list:
    "OUT with the 64x64 Twemoji PNGs, captions from emojibase's CLDR names and tags, labels from emoji.json's group."
    datasource, emojibase, out = Path(datasource), Path(emojibase), Path(out)
    key = lambda hexcode: hexcode.upper().replace('-FE0F', '')
    cldr = {}                                                   # hexcode -> (name, tags); skin tones take their base's tags
    for e in json.loads((emojibase / 'en' / 'data.json').read_text(encoding='utf-8')):
        for s in [e] + e.get('skins', []): cldr[key(s['hexcode'])] = (s['label'], e.get('tags', []))
    rows = []
    for e in json.loads((datasource / 'emoji.json').read_text(encoding='utf-8')):
        for v in [e] + list((e.get('skin_variations') or {}).values()):
            img = datasource / 'img' / 'twitter' / '64' / v['image']
            if not img.exists(): continue
            name, tags = cldr.get(key(v['unified']), (e.get('name') or e.get('short_name') or '', []))
            caps = [clean(name)]
            if not caps[0]: continue
            extra = list(dict.fromkeys(w for t in tags for w in clean(t).split() if w not in caps[0].split()))[:6]
            if extra: caps.append(f"{caps[0]} {' '.join(extra)}")
            rows.append((v['image'], caps, e['category'].lower()))
    rows = sample(rows, limit, max_per_label)
    out.mkdir(parents=True, exist_ok=True)
    for fn, _, _ in rows: shutil.copyfile(datasource / 'img' / 'twitter' / '64' / fn, out / fn)
    lic = TWEMOJI_LICENCE + ''.join(f"\n--- {pkg}/LICENSE ---\n{p.read_text(encoding='utf-8')}" for pkg, p in
                                    ((NPM['datasource'][0], datasource / 'LICENSE'), (NPM['emojibase'][0], emojibase / 'LICENSE')) if p.exists())
    return write_set(out, rows, lic)

def svg_meta(svg:Path)->tuple:
    "(title, keywords, author) from an Open Clip Art SVG's RDF metadata; Nones and [] where missing or unreadable."
    import xml.etree.ElementTree as ET
    ns = {'dc': 'http://purl.org/dc/elements/1.1/', 'cc': 'http://web.resource.org/cc/', 'rdf': 'http://www.w3.org/1999/02/22-rdf-syntax-ns#'}
    try: work = ET.parse(svg).getroot().find('.//cc:Work', ns)
    except (ET.ParseError, OSError): work = None
    if work is None: return None, [], None
    text = lambda path: (lambda el: el.text.strip() if el is not None and el.text and el.text.strip() else None)(work.find(path, ns))
    return text('dc:title'), [li.text.strip() for li in work.findall('dc:subject/rdf:Bag/rdf:li', ns) if li.text and li.text.strip()], text('dc:creator/cc:Agent/dc:title')

def clip_name(stem:str, author:str=None)->str:
    "A clip's name from its file stem: the trailing number dropped, and the author's (often cut) name when it is known."
    s = re.sub(r'_+\d*$', '', stem) or stem
    a = re.sub(r'[^a-z0-9]+', '_', (author or '').lower()).strip('_')
    if len(a) >= 3:
        for i in [j for j, ch in enumerate(s) if ch == '_']:
            tail = re.sub(r'_+([a-z]|\d+[a-z]?)?$', '', re.sub(r'[^a-z0-9]+', '_', s[i + 1:].lower()))
            if len(tail) >= 3 and a.startswith(tail): s = s[:i]; break
    return clean(re.sub(r'(?<=\d)(?=[a-z])|(?<=[a-z])(?=\d)', ' ', s.lower()))

def shrink(src:Path, dst:Path)->str|None:
    "Write src as an RGBA PNG cropped to its drawing (the visible pixels, 4% margin) with its longest side <= 256; else why not."
    from PIL import Image
    try:
        with warnings.catch_warnings():                 # a few are ~170 Mpx (1.3 GB to decode); PIL refuses those over 179 Mpx
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            with Image.open(src) as im:
                im.load(); im = im if im.mode == 'RGBA' else im.convert('RGBA')
    except Exception as e: return f"{type(e).__name__}: {str(e)[:70]}"
    box = im.getchannel('A').point(lambda v: 255 if v > 8 else 0).getbbox()      # many are drawings on a transparent A4 page
    if box is None: return 'blank (no visible pixel)'
    m = round(0.04 * max(box[2] - box[0], box[3] - box[1]))
    im = im.crop((max(box[0] - m, 0), max(box[1] - m, 0), min(box[2] + m, im.width), min(box[3] + m, im.height)))
    im.thumbnail((MAX_SIDE, MAX_SIDE), Image.LANCZOS)
    dst.parent.mkdir(parents=True, exist_ok=True); tmp = dst.with_suffix('.part.png')
    im.save(tmp); tmp.replace(dst)
    return None

def build_openclipart(png_root:Path, out:Path, svg_root:Path=None, limit:int=None, max_per_label:int=None)->list:
    "OUT/<category>/... with the clip art cropped and resized (`shrink`), captions from file names, folders and SVG metadata."
    png_root, out = Path(png_root), Path(out)
    meta = {}
    if svg_root is not None:
        for svg in Path(svg_root).rglob('*.svg'): meta[svg.relative_to(svg_root).with_suffix('').as_posix()] = svg_meta(svg)
    title_uses = Counter(t for t, _, _ in meta.values())
    rows = []
    for png in sorted(png_root.rglob('*.png')):
        rel = png.relative_to(png_root).as_posix()
        title, kws, author = meta.get(rel[:-4], (None, [], None))
        folders = clean(' '.join(Path(rel).parts[:-1]))
        name = clip_name(png.stem, author) or folders
        caps = [f'{name}, {folders}' if folders and name != folders else name]
        if title and title_uses[title] <= 3 and not title.lower().startswith('clipart by'): name = clean(title) or name
        seen, extra = set(caps[0].replace(',', '').split()) | set(clean(author or '').split()), []
        for w in (w for k in kws for w in clean(k).split()):
            if w not in seen and w != 'hash' and not re.fullmatch(r'\d+|0x[0-9a-f]+', w): seen.add(w); extra.append(w)
        if extra or name != caps[0].split(',')[0]: caps.append(f"{name}: {' '.join(extra)}" if extra else name)
        rows.append((rel, caps, Path(rel).parts[0] if len(Path(rel).parts) > 1 else 'unsorted'))
    rows, kept = sample(rows, limit, max_per_label), []
    for rel, caps, label in rows:
        why = None if (out / rel).exists() else shrink(png_root / rel, out / rel)
        if why: print(f"skipping {png_root / rel}: {why}", file=sys.stderr)
        else: kept.append((rel, caps, label))
    out.mkdir(parents=True, exist_ok=True)
    doc = png_root.parents[1] / 'doc' / 'openclipart-png' / 'copyright'
    return write_set(out, kept, OPENCLIPART_LICENCE + (f"\n--- {doc.name} ---\n{doc.read_text(encoding='utf-8')}" if doc.exists() else ''))

def summary(name:str, rows:list, out:Path, seconds:float)->str:
    "One line: images, labels, the largest label and its share, where, how long."
    c = Counter(r[2] for r in rows); top, n = c.most_common(1)[0] if c else ('-', 0)
    return f"{name}: {len(rows)} images, {len(c)} labels, largest {top!r} {n / max(len(rows), 1):.0%} -> {out} ({seconds:.0f} s)"

def main(argv=None)->int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', type=Path, default=Path('data/real'))
    ap.add_argument('--cache', type=Path, help='where the packages go (default OUT/.cache)')
    ap.add_argument('--sets', default='twemoji,openclipart')
    ap.add_argument('--limit', type=int, help='at most N images per set (a fixed pseudo-random choice)')
    ap.add_argument('--max-per-label', type=int, help='at most N images per label')
    a = ap.parse_args(argv)
    sets = [s.strip() for s in a.sets.split(',') if s.strip()]
    if bad := [s for s in sets if s not in ('twemoji', 'openclipart')]: ap.error(f"unknown set {bad[0]!r}: use twemoji, openclipart")
    cache = a.cache or a.out / '.cache'
    try:
        cache.mkdir(parents=True, exist_ok=True)
        for s in sets:
            t0 = time.time()
            if s == 'twemoji':
                rows = build_twemoji(fetch_npm(cache, *NPM['datasource']), fetch_npm(cache, *NPM['emojibase']), a.out / s, a.limit, a.max_per_label)
            else:
                png, svg = fetch_deb(cache, 'openclipart-png'), fetch_deb(cache, 'openclipart-svg')
                rows = build_openclipart(png / 'usr/share/openclipart/png', a.out / s, svg / 'usr/share/openclipart/svg', a.limit, a.max_per_label)
            print(summary(s, rows, a.out / s, time.time() - t0), flush=True)
    except (FetchError, OSError) as e:
        print(f"real_sets: {e}", file=sys.stderr); return 2
    return 0

if __name__ == '__main__': sys.exit(main())
