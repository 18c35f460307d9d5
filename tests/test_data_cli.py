"""The data commands end to end: synth, prepare (CLI and scripts), and their errors."""
import json, subprocess, sys, zipfile
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

def test_synth_birds_classes_flag(tmp_path):
    r = run_cli('synth', 'birds', tmp_path / 'b', '--n', 12, '--classes', 6)
    assert r.returncode == 0, r.stderr
    df = read_birds(tmp_path / 'b')
    assert df.cls.nunique() == 6 and sorted(df[df.split == 'test'].cls.unique()) == [3]
    r = run_cli('synth', 'anime', tmp_path / 'a', '--n', 4, '--classes', 6)
    assert r.returncode == 2 and 'birds only' in r.stderr and 'Traceback' not in r.stderr
    r = run_cli('synth', 'birds', tmp_path / 'c', '--n', 4, '--classes', 1)
    assert r.returncode == 2 and 'at least 2 classes' in r.stderr

def test_model_card_script(tmp_path):
    "The card carries the run's config, the DAMSM's last R-precision, the commands and the report table."
    import json
    from conftest import make_tiny_model
    from deep_t2i.core import get_config
    run = tmp_path / 'run'
    make_tiny_model(run / 'gan')
    mj = json.loads((run / 'gan' / 'model.json').read_text()); mj['meta'] = dict(step=420, epoch=3)
    (run / 'gan' / 'model.json').write_text(json.dumps(mj))
    cfg = get_config('anime', 'small', batch_size=24, damsm_epochs=7).to_dict()
    (run / 'gan' / 'config.json').write_text(json.dumps(cfg))
    (run / 'damsm').mkdir(); (run / 'damsm' / 'config.json').write_text(json.dumps(cfg))
    (run / 'damsm' / 'metrics.csv').write_text('step,epoch,loss,r_precision\n1,0,3.0,\n10,0,,0.25\n20,1,2.0,\n30,1,,0.625\n')
    rep = dict(n=12, model='m', data='d', fid=123.4, r_precision=dict(mean=0.5, std=0.1), attribute_accuracy=None)
    (tmp_path / 'r.json').write_text(json.dumps(rep)); (tmp_path / 'c.sh').write_text('deep_t2i demo --out runs/x\n')
    r = subprocess.run([sys.executable, ROOT / 'scripts' / 'model_card.py', '--name', 'anime', '--run', run, '--report', tmp_path / 'r.json',
                        '--commands', tmp_path / 'c.sh', '--wall', '5 min', '--out', tmp_path / 'card.md'], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    card = (tmp_path / 'card.md').read_text()
    for s in ('deep_t2i demo --out runs/x', 'batch 24', 'GAN steps: 420 (3 epochs)', 'DAMSM: 7 epochs', 'last epoch: 0.625', '| FID (TF-Inception) | 123.40 |', '5 min'):
        assert s in card, s
    r = subprocess.run([sys.executable, ROOT / 'scripts' / 'model_card.py', '--name', 'anime', '--run', tmp_path / 'none', '--report', tmp_path / 'r.json',
                        '--commands', tmp_path / 'c.sh', '--wall', '5 min'], capture_output=True, text=True)
    assert r.returncode == 1 and 'not found' in r.stderr

def _model_card_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location('model_card', ROOT / 'scripts' / 'model_card.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod

def test_bundled_cards_agree_with_their_files():
    "Every bundled card says what its NAME.json and NAME_eval.json say (scripts/model_card.py --refresh would change nothing)."
    r = subprocess.run([sys.executable, ROOT / 'scripts' / 'model_card.py', '--check'], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

def test_model_card_refresh_follows_the_report():
    "A refreshed card takes its eval command, steps and table from the files, and says when the report is stale."
    from deep_t2i.judges import JUDGE_VERSION
    mc = _model_card_module()
    card = ("# Bundled model: anime\n\n```bash\ndeep_t2i train gan --epochs 3\ndeep_t2i eval --model anime --data old --n 99 --out x.json\n```\n\n"
            "- DAMSM: 7 epochs; R-precision on held-out images after its last epoch: 0.625\n- GAN steps: 1 (1 epochs)\n- a hand-written note\n\n## Measured quality\n\nold table\n")
    mj = dict(config=dict(epochs=10, damsm_epochs=10), meta=dict(step=420, epoch=3))
    old = dict(n=12, model='runs/x/gan/model', data='data/a', seed=3, fid=None, r_precision=dict(mean=0.5, std=0.1), attribute_accuracy=dict(hair=0.9))
    text = mc.refresh(card, 'anime', mj, old)
    assert 'deep_t2i eval --model anime --data data/a --n 12 --seed 3 --no-fid --out deep_t2i/pretrained/anime_eval.json' in text and '--n 99' not in text
    assert 'made by `deep_t2i eval --model runs/x/gan/model --data data/a --n 12 --seed 3 --no-fid --out report.json`' in text
    assert '- GAN steps: 420 (3 epochs); the export\'s config says `epochs` 10' in text and "`damsm_epochs` 10" in text
    assert '- a hand-written note' in text and 'old table' not in text and '| images | 12 |' in text
    assert '**Stale report:**' in text and 'judge is version 1' in text and 'spectrum' in text
    new = dict(old, judge_version=JUDGE_VERSION, spectrum=dict(gap=-0.5, spikes={}))
    text = mc.refresh(text, 'anime', mj, new)
    assert 'Stale' not in text and f'Attribute judge: version {JUDGE_VERSION}.' in text
    assert mc.refresh(text, 'anime', mj, new) == text                      # a refreshed card is a fixed point

def test_demo_prints_the_machines_speed_and_leaves_a_model(anime_data, tmp_path):
    r = run_cli('demo', '--data', anime_data, '--out', tmp_path / 'demo', '--epochs', 1)
    assert r.returncode == 0, r.stderr[-3000:]
    line = next(l for l in r.stdout.splitlines() if l.startswith('this machine:'))
    assert 'DAMSM' in line and 'GAN' in line and 'img/s' in line and 'training for 8 min' in line and 'at most 1 GAN epochs' in line
    assert 'already holds' not in r.stdout
    for f in ('samples.png', 'losses.png', 'gan/model.safetensors', 'gan/model.json'): assert (tmp_path / 'demo' / f).exists(), f
    meta = lambda: json.loads((tmp_path / 'demo' / 'gan' / 'model.json').read_text())['meta']
    assert meta()['epoch'] == 1
    step1 = meta()['step']
    # a second demo continues the first (and says so) for another budget; here a tiny one: it stops by time, not by epochs
    damsm = (tmp_path / 'demo' / 'damsm' / 'damsm.safetensors').read_bytes()
    import time
    t0 = time.time()
    r = run_cli('demo', '--data', anime_data, '--out', tmp_path / 'demo', '--minutes', 0.05)
    took = time.time() - t0
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'already holds a demo run (GAN epoch 1): continuing it' in r.stdout and 'DAMSM: kept as it is' in r.stdout
    assert (tmp_path / 'demo' / 'damsm' / 'damsm.safetensors').read_bytes() == damsm     # the GAN's text encoder did not move under it
    assert took < 60, took                                    # 3 s of training, plus start-up, the speed probe and the export
    assert meta()['step'] > step1                             # it went on from where the first stopped
    for bad in (('--epochs', 0), ('--minutes', 0), ('--minutes', -1)):
        r = run_cli('demo', '--data', anime_data, '--out', tmp_path / 'demo2', *bad)
        assert r.returncode == 2 and 'must be' in r.stderr, bad
