"""The data commands end to end: synth, prepare (CLI and scripts), and their errors."""
import subprocess, sys, zipfile
import pandas as pd
from conftest import run_cli, ROOT
from deep_t2i.data_anime import read_anime_tags, anime_datasets
from deep_t2i.data_birds import read_birds, birds_datasets
from deep_t2i.prepare import make_archives
from deep_t2i.core import AnimeConfig, BirdsConfig

def test_synth_anime_cli_loads_with_reader(tmp_path):
    r = run_cli('synth', 'anime', tmp_path / 'a', '--n', 30, '--seed', 3, '--preview', tmp_path / 'g.png')
    assert r.returncode == 0, r.stderr
    df = read_anime_tags(tmp_path / 'a')
    attrs = pd.read_csv(tmp_path / 'a' / 'attributes.csv', dtype={'id': str})
    assert len(df) == len(attrs) == 30
    assert (df.merge(attrs, on='id', suffixes=('', '_a')).eval('hair == hair_a and eyes == eyes_a')).all()
    assert (tmp_path / 'g.png').stat().st_size > 1000

def test_synth_is_deterministic_and_seeded(tmp_path):
    for name, seed in (('a', 1), ('b', 1), ('c', 2)): run_cli('synth', 'birds', tmp_path / name, '--n', 4, '--seed', seed)
    f = 'CUB_200_2011/bounding_boxes.txt'
    assert (tmp_path / 'a' / f).read_text() == (tmp_path / 'b' / f).read_text()
    assert (tmp_path / 'a' / f).read_text() != (tmp_path / 'c' / f).read_text()

def test_synth_birds_layout_and_attributes(birds_data):
    df = read_birds(birds_data)
    attrs = pd.read_csv(birds_data / 'attributes.csv')
    assert len(df) == len(attrs) == 40
    # every caption names parts, and only colours that its image really has
    from deep_t2i.synth import BIRD_PARTS, COLOR_WORDS
    from deep_t2i.data_birds import clean_words
    all_colour_words = {w for ws in COLOR_WORDS.values() for w in ws}
    for i in range(len(df)):
        row = attrs[attrs.id == df.iid[i]].iloc[0]
        allowed = {w for p in BIRD_PARTS for w in COLOR_WORDS[row[p]]}
        for cap in df.captions[i]:
            words = set(clean_words(cap))
            assert words & {'crown', 'head', 'wing', 'wings', 'breast', 'chest', 'belly', 'underside', 'tail', 'beak', 'bill'}
            assert (words & all_colour_words) <= allowed, (cap, row.to_dict())
    tr, te, tok = birds_datasets(birds_data, BirdsConfig(img_size=32))
    assert len(tr) + len(te) == 40 and len(te) > 0

def test_prepare_cli_and_scripts_roundtrip(tmp_path, anime_data, birds_data):
    arch = tmp_path / 'full_data'
    make_archives('anime', anime_data, arch); make_archives('birds', birds_data, arch)
    with zipfile.ZipFile(arch / 'birds.zip') as z: assert 'birds/text.zip' in z.namelist()   # the real nesting
    r = run_cli('prepare', 'anime', '--archives', arch, '--out', tmp_path / 'anime')
    assert r.returncode == 0, r.stderr
    assert len(read_anime_tags(tmp_path / 'anime')) == 120
    # the scripts call the same code, with the original's default places
    (tmp_path / 'data').mkdir(); (tmp_path / 'data' / 'full_data').symlink_to(arch)
    for script in ('birds_data.py', 'anime_heads_data.py'):
        r = subprocess.run([sys.executable, ROOT / 'scripts' / script], cwd=tmp_path, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    assert len(read_birds(tmp_path / 'data' / 'birds')) == 40
    assert len(read_anime_tags(tmp_path / 'data' / 'anime')) == 120

def test_prepare_errors_are_one_line(tmp_path):
    r = run_cli('prepare', 'birds', '--archives', tmp_path, '--out', tmp_path / 'o')
    assert r.returncode == 1 and 'not found' in r.stderr and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    (tmp_path / 'data.zip').write_bytes(b'PK\x03\x04 broken zip')
    r = run_cli('prepare', 'anime', '--archives', tmp_path, '--out', tmp_path / 'o')
    assert r.returncode == 1 and 'data.zip' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('prepare', 'anime', '--out', tmp_path / 'o')
    assert r.returncode == 2 and '--archives' in r.stderr

def test_reader_skips_missing_and_corrupt_images(tmp_path, anime_data):
    import shutil, warnings
    d = tmp_path / 'a'; shutil.copytree(anime_data, d)
    (d / 'images' / '0.jpg').unlink()
    (d / 'images' / '1.jpg').write_bytes(b'garbage')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        tr, va = anime_datasets(d, AnimeConfig(valid_pct=0))
        assert len(tr) == 119                                # the missing file is dropped at read time
        for i in range(len(tr)): tr[i]                       # the corrupt one is skipped, not fatal
    assert any('0.jpg' in str(x.message) for x in w) and any('1.jpg' in str(x.message) for x in w)
