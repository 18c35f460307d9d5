"""benchmarks/real_sets.py offline: tiny fake unpacked packages in the real packages' layouts become own-data folders that
`read_captions_folder` reads with no problem; unsafe tar members are refused; a missing tool ends with exit 2 and one line."""
import csv, importlib.util, io, json, os, subprocess, sys, tarfile
import pytest
from PIL import Image
from conftest import ROOT

spec = importlib.util.spec_from_file_location('real_sets', ROOT / 'benchmarks' / 'real_sets.py')
rs = importlib.util.module_from_spec(spec); spec.loader.exec_module(rs)

def png(path, size=(64, 64), mode='RGBA', colour=(255, 0, 0, 128)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, colour if mode == 'RGBA' else colour[:len(mode)]).save(path)

def rows(folder):
    with open(folder / 'metadata.csv', encoding='utf-8') as f:
        return {r['file_name']: (json.loads(r['text']) if r['text'].startswith('[') else [r['text']], r['label']) for r in csv.DictReader(f)}

def read_clean(folder):
    from deep_t2i.data_captions import read_captions_folder
    df, problems = read_captions_folder(folder, progress=False)
    assert problems == []
    return df

@pytest.fixture
def emoji_packages(tmp_path):
    "emoji-datasource-twitter and emojibase-data as `npm pack` unpacks them: 3 emojis (one with a skin tone), one without image."
    ds, eb = tmp_path / 'ds' / 'package', tmp_path / 'eb' / 'package'
    em = [dict(name='GRINNING FACE', unified='1F600', image='1f600.png', short_name='grinning', category='Smileys & Emotion', subcategory='face-smiling'),
          dict(name='WAVING HAND SIGN', unified='1F44B', image='1f44b.png', short_name='wave', category='People & Body', subcategory='hand-fingers-open',
               skin_variations={'1F3FD': dict(unified='1F44B-1F3FD', image='1f44b-1f3fd.png')}),
          dict(name='HASH KEY', unified='0023-FE0F-20E3', image='0023-fe0f-20e3.png', short_name='hash', category='Symbols', subcategory='keycap'),
          dict(name='NO IMAGE', unified='1F601', image='1f601.png', short_name='x', category='Symbols', subcategory='x')]
    (ds / 'img' / 'twitter' / '64').mkdir(parents=True)
    (ds / 'emoji.json').write_text(json.dumps(em)); (ds / 'LICENSE').write_text('The MIT License (MIT)\nCopyright (c) 2013 Cal Henderson\n')
    for f in ('1f600.png', '1f44b.png', '1f44b-1f3fd.png', '0023-fe0f-20e3.png'): png(ds / 'img' / 'twitter' / '64' / f)
    data = [dict(label='grinning face', hexcode='1F600', tags=['face', 'grin', 'happy'], group=0, subgroup=0),
            dict(label='waving hand', hexcode='1F44B', tags=['hand', 'wave', 'hello'], group=1, subgroup=16,
                 skins=[dict(label='waving hand: medium skin tone', hexcode='1F44B-1F3FD', group=1, subgroup=16, tone=3)]),
            dict(label='keycap: #', hexcode='0023-FE0F-20E3', tags=['keycap'], group=8, subgroup=90)]
    (eb / 'en').mkdir(parents=True); (eb / 'meta').mkdir()
    (eb / 'en' / 'data.json').write_text(json.dumps(data))
    (eb / 'meta' / 'groups.json').write_text(json.dumps({'groups': {'0': 'smileys-emotion', '1': 'people-body', '8': 'symbols'}}))
    return ds, eb

def test_twemoji(emoji_packages, tmp_path):
    out = tmp_path / 'out' / 'twemoji'
    rs.build_twemoji(*emoji_packages, out)
    r = rows(out)
    assert r == {'1f600.png': (['grinning face', 'grinning face grin happy'], 'smileys & emotion'),   # 'face' (in the name) dropped
                 '1f44b.png': (['waving hand', 'waving hand wave hello'], 'people & body'),
                 '1f44b-1f3fd.png': (['waving hand medium skin tone', 'waving hand medium skin tone wave hello'], 'people & body'),
                 '0023-fe0f-20e3.png': (['keycap number sign'], 'symbols')}
    assert Image.open(out / '1f600.png').mode == 'RGBA'
    lic = (out / 'LICENSE.txt').read_text()
    assert 'CC-BY 4.0' in lic and 'Cal Henderson' in lic and 'CLDR' in lic
    df = read_clean(out)
    assert len(df) == 4 and sorted(df.label.unique()) == ['people & body', 'smileys & emotion', 'symbols']
    rs.build_twemoji(*emoji_packages, tmp_path / 'one', limit=1)
    assert len(rows(tmp_path / 'one')) == 1

@pytest.fixture
def clipart_packages(tmp_path):
    "openclipart-png and openclipart-svg as `dpkg-deb -x` unpacks them: 4 PNGs (one blank), SVG metadata for one, the copyright file."
    root = tmp_path / 'oc' / 'usr' / 'share'
    png(root / 'openclipart' / 'png' / 'animals' / 'birds' / 'acquila_architetto_franc_01.png', (600, 300))
    page = Image.new('RGBA', (400, 400), (0, 0, 0, 0)); page.paste((250, 220, 0, 255), (150, 100, 250, 150))   # a drawing on a transparent page
    (root / 'openclipart' / 'png' / 'food' / 'fruit').mkdir(parents=True); page.save(root / 'openclipart' / 'png' / 'food' / 'fruit' / 'banana.png')
    blank = Image.new('P', (300, 200), 0); blank.info['transparency'] = 0                      # the package has 124 blank ones
    blank.save(root / 'openclipart' / 'png' / 'food' / 'blank_01.png', transparency=0)
    png(root / 'openclipart' / 'png' / 'shapes' / 'stars' / 'star_05pt02step.png', (40, 40))      # RGBA and small: copied as it is
    svg = root / 'openclipart' / 'svg' / 'animals' / 'birds' / 'acquila_architetto_franc_01.svg'
    svg.parent.mkdir(parents=True)
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:cc="http://web.resource.org/cc/" '
                   'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><metadata><rdf:RDF><cc:Work rdf:about=""><dc:title>Acquila</dc:title>'
                   '<dc:subject><rdf:Bag><rdf:li>architetto francesco rollandin</rdf:li><rdf:li>bird</rdf:li><rdf:li>hash</rdf:li><rdf:li>eagle</rdf:li>'
                   '</rdf:Bag></dc:subject><dc:creator><cc:Agent><dc:title>Architetto Francesco Rollandin</dc:title></cc:Agent></dc:creator>'
                   '</cc:Work></rdf:RDF></metadata></svg>')
    (root / 'doc' / 'openclipart-png').mkdir(parents=True)
    (root / 'doc' / 'openclipart-png' / 'copyright').write_text('Copyright:\n\n creative commons Public Domain Dedication\n')
    return root / 'openclipart' / 'png', root / 'openclipart' / 'svg'

def test_openclipart(clipart_packages, tmp_path, capsys):
    png_root, svg_root = clipart_packages
    out = tmp_path / 'out' / 'openclipart'
    rs.build_openclipart(png_root, out, svg_root)
    assert 'blank_01.png: blank' in capsys.readouterr().err and not (out / 'food' / 'blank_01.png').exists()
    assert rows(out) == {'animals/birds/acquila_architetto_franc_01.png': (['acquila, animals birds', 'acquila: bird eagle'], 'animals'),
                         'food/fruit/banana.png': (['banana, food fruit'], 'food'),
                         'shapes/stars/star_05pt02step.png': (['star 05 pt 02 step, shapes stars'], 'shapes')}
    assert Image.open(out / 'animals/birds/acquila_architetto_franc_01.png').size == (256, 128)     # longest side 256, aspect kept
    assert Image.open(out / 'shapes/stars/star_05pt02step.png').size == (40, 40)                   # small ones are not enlarged
    assert Image.open(out / 'food/fruit/banana.png').size == (108, 58)                             # cropped to the drawing, 4% margin
    assert 'Public Domain Dedication' in (out / 'LICENSE.txt').read_text()
    assert len(read_clean(out)) == 3
    rs.build_openclipart(png_root, tmp_path / 'capped', limit=2)                                     # no SVG metadata: names only
    assert len(rows(tmp_path / 'capped')) == 2 and all(len(c) == 1 for c, _ in rows(tmp_path / 'capped').values())
    assert rs.clip_name('alarm_clock_gerald_g._02', 'Gerald G.') == 'alarm clock'
    assert rs.clip_name('bullet_hole_linda_kim_x', 'Linda Kim') == 'bullet hole' and rs.clip_name('crow_01') == 'crow'

def test_clean():
    assert rs.clean('waving hand: medium-light skin tone') == 'waving hand medium light skin tone'
    assert rs.clean('man’s shoe') == 'mans shoe' and rs.clean('flag: St. Kitts & Nevis') == 'flag st kitts and nevis'
    assert rs.clean('keycap: *') == 'keycap asterisk' and rs.clean('piñata') == 'piñata'

def tar_with(path, name, kind=tarfile.REGTYPE):
    with tarfile.open(path, 'w:gz') as tf:
        ti = tarfile.TarInfo('package/ok.txt'); ti.size = 2; tf.addfile(ti, io.BytesIO(b'ok'))
        ti = tarfile.TarInfo(name); ti.type = kind
        if kind == tarfile.SYMTYPE: ti.linkname = '/etc/passwd'
        else: ti.size = 1
        tf.addfile(ti, io.BytesIO(b'x') if kind == tarfile.REGTYPE else None)
    return path

@pytest.mark.parametrize('name,kind', [('../x', tarfile.REGTYPE), ('/tmp/abs_x', tarfile.REGTYPE), ('package/a/../../../x', tarfile.REGTYPE),
                                       ('package/link', tarfile.SYMTYPE)])
def test_unsafe_tar_members_are_refused(tmp_path, name, kind):
    dest = tmp_path / 'cache' / 'unpacked'
    with pytest.raises(rs.FetchError, match='refusing member'):
        rs.safe_extract(tar_with(tmp_path / 'bad.tgz', name, kind), dest)
    assert not (tmp_path / 'x').exists() and not (tmp_path / 'cache' / 'x').exists() and not (dest / 'package' / 'ok.txt').exists()

def test_safe_tar_is_unpacked(tmp_path):
    dest = rs.safe_extract(tar_with(tmp_path / 'good.tgz', 'package/sub/y.txt'), tmp_path / 'u')
    assert (dest / 'package' / 'ok.txt').read_text() == 'ok' and (dest / 'package' / 'sub' / 'y.txt').exists()

def test_missing_tool_exits_2_with_one_line(tmp_path):
    for sets, tool in (('twemoji', 'npm'), ('openclipart', 'apt-get')):
        r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'real_sets.py'), '--out', str(tmp_path / 'o'), '--sets', sets],
                           capture_output=True, text=True, env={**os.environ, 'PATH': str(tmp_path)}, timeout=60)
        assert r.returncode == 2 and r.stdout == '' and 'Traceback' not in r.stderr
        assert r.stderr.count('\n') == 1 and f'{tool} not found' in r.stderr

def test_failed_fetch_exits_2_with_one_line(tmp_path):
    (tmp_path / 'bin').mkdir(); npm = tmp_path / 'bin' / 'npm'
    npm.write_text('#!/bin/sh\necho "npm error 404 Not Found - GET https://registry.npmjs.org/emoji-datasource-twitter" >&2\nexit 1\n'); npm.chmod(0o755)
    r = subprocess.run([sys.executable, str(ROOT / 'benchmarks' / 'real_sets.py'), '--out', str(tmp_path / 'o'), '--sets', 'twemoji'],
                       capture_output=True, text=True, env={**os.environ, 'PATH': str(tmp_path / 'bin')}, timeout=60)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and r.stderr.count('\n') == 1
    assert 'npm pack --loglevel=error emoji-datasource-twitter@16.0.0 failed: npm error 404' in r.stderr
