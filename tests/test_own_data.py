"""Your own captioned images through the command line: a folder in the imagefolder layout trains (task inferred), generates
from captions in any language, and evaluates (FID, R-precision, variety; attribute accuracy null with its reason)."""
import json, re
import pytest
from PIL import Image
from conftest import run_cli, make_shapes_folder

@pytest.fixture(scope='module')
def shapes(tmp_path_factory): return make_shapes_folder(tmp_path_factory.mktemp('shapes'))

@pytest.fixture(scope='module')
def runs(shapes, tmp_path_factory):
    d = tmp_path_factory.mktemp('own_runs')
    (d / 'c.json').write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--data', shapes, '--out', d / 'damsm', '--epochs', 2, '--batch-size', 8, '--config', d / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    assert '48 captioned images; skipped 2 entries' in r.stderr and 'path leaves the folder' in r.stderr    # the summary at the start
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', d / 'damsm', '--out', d / 'gan', '--epochs', 2, '--batch-size', 8, '--config', d / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    return d

def test_training_on_a_folder(runs):
    cfg = json.loads((runs / 'gan' / 'config.json').read_text())
    assert cfg['task'] == 'captions' and cfg['img_size'] == 64 and cfg['attn_res'] == [16, 32]
    tok = json.loads((runs / 'gan' / 'model.json').read_text())['tokenizer']
    assert tok['rule'] == 'unicode' and 'carré' in tok['itos'] and 'red' in tok['itos']

def test_held_out_captions_read_as_known_words(runs, shapes):
    "The vocabulary built from the training captions reads the held-out ones: nearly every word of them is known, not `<unk>`."
    from deep_t2i.inference import load_model
    from deep_t2i.trainer_damsm import task_datasets
    m = load_model(runs / 'gan')
    _, held_out, _ = task_datasets(m.cfg, shapes, m.tok)
    unk = m.tok.vocab.stoi['<unk>']
    ids = [i for caps in held_out.df.captions for c in caps for i in m.tok.encode(c)]
    assert len(ids) > 20 and sum(i == unk for i in ids) / len(ids) < 0.1, m.tok.decode(ids)

def test_generate_from_any_language(runs, tmp_path):
    r = run_cli('generate', '--model', runs / 'gan', '--seed', 0, '--out', tmp_path / 'a.png', 'un carré rouge')
    assert r.returncode == 0, r.stderr
    assert Image.open(tmp_path / 'a.png').size == (64, 64)

def test_eval_on_own_data(runs, shapes, tmp_path):
    r = run_cli('eval', '--model', runs / 'gan', '--data', shapes, '--n', 24, '--out', tmp_path / 'r.json', '--judge-damsm', runs / 'damsm')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r.json').read_text())
    assert rep['fid'] > 0 and 0 <= rep['r_precision']['mean'] <= 1
    # the judge here is the model's own DAMSM: the same encoders and tokenizer must give the same R-precision
    rj = rep['r_precision_judge']
    assert (rj['mean'], rj['std']) == (rep['r_precision']['mean'], rep['r_precision']['std']) and rj['damsm'] == str(runs / 'damsm')
    assert rj['same_as_model'] and 'is the one that trained' in r.stderr                 # said, not passed off as an outside reader
    assert 'R-precision (judge DAMSM) — the DAMSM that trained the model' in (tmp_path / 'r.md').read_text()
    for bad, msg in ((tmp_path / 'none', 'no DAMSM at'), (runs / 'gan', 'no DAMSM at')):      # a GAN export is not a judge DAMSM
        r = run_cli('eval', '--model', runs / 'gan', '--data', shapes, '--n', 4, '--no-fid', '--out', tmp_path / 'r2.json', '--judge-damsm', bad)
        assert r.returncode == 2 and msg in r.stderr, r.stderr[-500:]
    assert rep['attribute_accuracy'] is None and 'attribute labels' in rep['attribute_accuracy_reason']
    assert any('unstable' in w and re.search(r' [1-9]\d* test images', w) for w in rep['warnings'])   # the held-out share of 48, named
    assert rep['diversity']['generated'] > 0
    assert rep['label_accuracy']['classes'] > 1               # the two entries without a label were skipped: every usable picture has one
    sp = rep['spectrum']
    assert isinstance(sp['gap'], float) and set(sp['spikes']) == {'2', '4', '8'} and all(set(v) == {'x', 'y', 'xy'} for v in sp['spikes'].values())

def test_label_accuracy_on_a_labelled_folder(runs, tmp_path):
    "A folder whose every picture has a label: a judge trained on its real training pictures reads the generated ones; ceiling and chance beside it."
    from deep_t2i.synth import synth_captions
    import pandas as pd
    data = synth_captions(tmp_path / 'labelled', n=300, seed=1, progress=False)
    r = run_cli('eval', '--model', runs / 'gan', '--data', data, '--n', 40, '--no-fid', '--out', tmp_path / 'r.json')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r.json').read_text())
    la = rep['label_accuracy']
    assert {'mean', 'ceiling', 'chance'} <= la.keys() and 0 <= la['mean'] <= 1
    labels = pd.read_json(data / 'metadata.jsonl', lines=True).label
    assert la['classes'] == labels.nunique()
    asked = [l for cs in [rep['label_classes']] for l, v in cs.items() for _ in range(v['n'])]   # the label of every caption asked for
    assert la['chance'] == max(asked.count(l) for l in set(asked)) / 40
    assert la['ceiling'] > la['chance']                       # the judge reads real held-out pictures better than always answering one label
    cs = rep['label_classes']                                 # per label: how many captions asked for it, and how often it was read so
    assert sum(v['n'] for v in cs.values()) == 40 and abs(sum(v['n'] * v['accuracy'] for v in cs.values()) / 40 - la['mean']) < 1e-9
    assert rep['attribute_accuracy'] is None
    assert 'label accuracy (label judge)' in (tmp_path / 'r.md').read_text()
    rows = (data / 'metadata.jsonl').read_text().splitlines()                 # one picture without a label: no label judge, and why
    (data / 'metadata.jsonl').write_text('\n'.join([json.dumps({k: v for k, v in json.loads(rows[0]).items() if k != 'label'})] + rows[1:]) + '\n')
    r = run_cli('eval', '--model', runs / 'gan', '--data', data, '--n', 4, '--no-fid', '--out', tmp_path / 'r3.json')
    assert r.returncode == 0, r.stderr[-2000:]
    rep = json.loads((tmp_path / 'r3.json').read_text())
    assert rep['label_accuracy'] is None and 'not every picture' in rep['label_accuracy_reason']
    assert 'label accuracy | not measured: not every picture' in (tmp_path / 'r3.md').read_text()

def test_img_size_and_errors(shapes, tmp_path):
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'd128', '--img-size', 128, '--max-steps', 1, '--batch-size', 8)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'd128' / 'config.json').read_text())
    assert cfg['img_size'] == 128 and cfg['attn_res'] == [32, 64]
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', shapes, '--out', tmp_path / 'x', '--img-size', 128)
    assert r.returncode == 2 and 'img-size' in r.stderr
    (tmp_path / 'empty').mkdir(); (tmp_path / 'empty' / 'metadata.csv').write_text('file_name,text\nnone.png,a caption\n')
    r = run_cli('train', 'damsm', '--data', tmp_path / 'empty', '--out', tmp_path / 'y')
    assert r.returncode == 1 and 'no usable captioned image' in r.stderr and 'Traceback' not in r.stderr
    (tmp_path / 'nothing').mkdir()
    r = run_cli('train', 'damsm', '--data', tmp_path / 'nothing', '--out', tmp_path / 'z')
    assert r.returncode == 2 and '--task' in r.stderr

def test_gan_follows_its_damsm(shapes, tmp_path):
    "A GAN run takes its DAMSM's size, squaring and held-out set; a different --img-size is refused, not ignored."
    (tmp_path / 'c.json').write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'd', '--img-size', 128, '--square', 'pad', '--background', '0,0,0',
                '--max-steps', 1, '--batch-size', 8, '--config', tmp_path / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', tmp_path / 'd', '--out', tmp_path / 'g', '--img-size', 64, '--max-steps', 1)
    assert r.returncode == 2 and 'differs' in r.stderr
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', tmp_path / 'd', '--out', tmp_path / 'g', '--max-steps', 1, '--batch-size', 8,
                '--config', tmp_path / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'g' / 'config.json').read_text())
    assert (cfg['img_size'], cfg['attn_res'], cfg['square'], cfg['background']) == (128, [32, 64], 'pad', [0, 0, 0])
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'x', '--background', '300,0,0')
    assert r.returncode == 2 and 'R,G,B' in r.stderr

def _folder(d, rows, size=8):
    "A metadata.jsonl folder: rows of (text, label or None, split or None); picture i a flat colour."
    d.mkdir(parents=True, exist_ok=True)
    meta = []
    for i, (text, label, split) in enumerate(rows):
        Image.new('RGB', (size, size), (37 * i % 256, 91 * i % 256, 53 * i % 256)).save(d / f'{i}.png')
        meta.append({'file_name': f'{i}.png', 'text': text, **({'label': label} if label else {}), **({'split': split} if split else {})})
    (d / 'metadata.jsonl').write_text('\n'.join(json.dumps(m, ensure_ascii=False) for m in meta) + '\n')
    return d

def _tags(d):
    "16 training and 8 held-out pictures, no labels: half of each captioned 'a cat' (tag style, two spellings), the others each its own caption."
    return _folder(d, [('A cat.' if i % 4 == 0 else 'a cat', None, 'train') if i < 8 else (f'a cat on mat {i}', None, 'train') for i in range(16)]
                   + [('a cat', None, 'test') if i < 4 else (f'a cat on mat {i + 8}', None, 'test') for i in range(8)])   # words seen in training

def test_identical_captions_are_not_negatives(tmp_path, monkeypatch):
    "Without labels, pictures sharing a caption share a class: the DAMSM loss, D's mismatched term and R-precision never contrast them."
    import types, torch
    import deep_t2i.trainer_gan as tg
    from deep_t2i.core import get_config
    from deep_t2i.data import make_loader
    from deep_t2i.damsm import DAMSM, sent_loss, r_precision
    from deep_t2i.metrics import eval_captions
    from deep_t2i.trainer_damsm import task_datasets
    data = _tags(tmp_path / 'tags')
    cfg = get_config('captions', 'small', batch_size=16, width=0.0625, min_ch=8, flip=False)
    tr, te, tok = task_datasets(cfg, data)
    batch = next(iter(make_loader(tr, 16, shuffle=False)))
    x, ids, lens, cls = batch
    same = (ids[:, None] == ids[None]).all(-1)
    assert same.sum() > 16 and torch.equal(cls[:, None] == cls[None], same)          # one class per caption as the model reads it
    feats = torch.eye(16, 32)[same.float().argmax(1)]                                    # a perfect encoder: one feature per caption, orthogonal to the others' (random ones fail the bound below ~7% of the time)
    s0, s1 = sent_loss(feats, feats, cfg.gamma3, cls)
    assert s0 + s1 < 0.01, (s0, s1)                                                     # unmasked: at least 2 log 8
    assert r_precision(feats, feats, cls)[0] == 1.0
    caps, ecls, _, _ = eval_captions('captions', data, types.SimpleNamespace(cfg=cfg, tok=tok), 16)
    assert all((a == b) == (ecls[i] == ecls[j]) for i, a in enumerate(caps) for j, b in enumerate(caps))
    weights = []                                                                         # D's mismatched term: what it is weighted by
    def d_term(logits, real, kind='bce', weight=None): weights.append(weight); return tg.bce(logits, float(real), weight) if kind == 'bce' else logits.float().mean()
    monkeypatch.setattr(tg, 'd_term', d_term)
    s = tg.GANSteps(); s.cfg, s.device = cfg, torch.device('cpu')
    s.damsm = DAMSM(cfg, len(tok.vocab)); s.build_networks()
    real, ids2, _, cls2, _, sent, fakes = s.encode_batch(batch)
    s.d_step(real, fakes, sent, cls2, ids2)
    w = next(w for w in weights if w is not None)
    assert torch.equal(w, (~(ids2 == ids2.roll(1, 0)).all(-1)).float()) and (w == 0).any()   # a picture with its own caption is never 'mismatched'

def test_one_label_is_refused_few_negatives_warned(tmp_path):
    "A label column with one value masks every negative (loss 0, nothing learned): refused in one line; a label on 96% of the pictures is warned about."
    rows = [(f'a cat number {i}', 'cat', 'test' if i < 2 else None) for i in range(30)]
    data = _folder(tmp_path / 'one', rows)
    r = run_cli('train', 'damsm', '--data', data, '--out', tmp_path / 'r', '--max-steps', 1, '--batch-size', 8)
    assert r.returncode == 1 and 'Traceback' not in r.stderr, r.stderr[-2000:]
    err = [l for l in r.stderr.splitlines() if 'error' in l]
    assert len(err) == 1 and "every training picture has the label 'cat'" in err[0]
    from deep_t2i.core import get_config
    from deep_t2i.trainer_damsm import task_datasets
    data = _folder(tmp_path / 'few', rows[:-1] + [('a dog', 'dog', None)])
    with pytest.warns(UserWarning, match=r"96% of the training pictures have the label 'cat', so a batch of 8 holds on average 0\.2"):
        tr, _, _ = task_datasets(get_config('captions', batch_size=8), data)
    assert len(tr) == 28                                                          # warned, not refused

UNSPACED = [('一只红色的小鸟', '一只蓝色的小鸟', '一只红色的鸟'), ('赤い小鳥', '青い小鳥', '赤い鳥'), ('นกสีแดง', 'นกสีฟ้า', 'นกแดง')]

def test_unspaced_languages_and_unknown_words(tmp_path):
    "Chinese, Japanese and Thai captions: held-out captions read as known characters, not one <unk> word; `generate` names the unknown words."
    import torch
    from deep_t2i.core import get_config
    from deep_t2i.data_captions import captions_datasets
    from deep_t2i.export import save_model_files
    from deep_t2i.model import TextEncoder, Generator
    rows = [(c, None, 'train') for a, b, _ in UNSPACED for c in (a, b)] + [(held, None, 'test') for _, _, held in UNSPACED]
    cfg = get_config('captions', 'small', width=0.0625, min_ch=8)
    tr, te, tok = captions_datasets(_folder(tmp_path / 'data', rows), cfg, progress=False)
    for _, _, held in UNSPACED:
        assert tok.encode(held) and 1 not in tok.encode(held), (held, tok.words(tok.encode(held)))   # every character was seen in training
    test_ids = {tuple(te[i][1][:te[i][2]].tolist()) for i in range(len(te))}
    assert test_ids == {tuple(tok.encode(h)) for _, _, h in UNSPACED}
    save_model_files(tmp_path / 'm' / 'model', cfg, tok.to_dict(), {'text': TextEncoder(len(tok.vocab), cfg.emb_sz), 'G': Generator(cfg)})
    r = run_cli('generate', '--model', tmp_path / 'm', '--seed', 0, '--out', tmp_path / 'out', 'zzz 红色的鸟 qqq', '赤い鳥', 'นกแดง')
    assert r.returncode == 0, r.stderr[-2000:]
    warn = [l for l in r.stderr.splitlines() if l.startswith('warning:')]
    assert warn == ["warning: 'zzz 红色的鸟 qqq': the model never saw 'zzz', 'qqq' in training (read as <unk>)"], r.stderr
    assert len(list((tmp_path / 'out').glob('*.png'))) == 3

def _photo(path, seed=0, size=(300, 200)):
    "A photo-like picture (smooth colours, a little grain) saved at `path`."
    import numpy as np
    path.parent.mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:size[1], :size[0]]
    a = np.stack([xx * 255 // size[0], yy * 255 // size[1], (xx + yy + 40 * seed) % 256], -1) + np.random.default_rng(seed).integers(0, 4, (size[1], size[0], 3))
    Image.fromarray(np.clip(a, 0, 255).astype('uint8')).save(path)

def _rels(df, root):
    from pathlib import Path
    return {Path(f).relative_to(root).as_posix(): s for f, s in zip(df.file, df.split.fillna('-'))}

def test_split_folders_as_people_name_them(tmp_path, capsys):
    "Train/, val/ and validation/ are read as train and test (said in one line); pictures beside them are named, not silently dropped."
    import warnings
    from deep_t2i.core import get_config
    from deep_t2i.data_captions import read_captions_folder, captions_datasets
    for f in ('Train/0.png', 'Train/1.png', 'Train/2.png', 'val/0.png', 'validation/0.png', 'top.png', 'extra/x.png'):
        _photo(tmp_path / f); (tmp_path / f).with_suffix('.txt').write_text('a red photo')
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        df, problems = read_captions_folder(tmp_path, progress=False)
    assert _rels(df, tmp_path) == {'Train/0.png': 'train', 'Train/1.png': 'train', 'Train/2.png': 'train', 'val/0.png': 'test', 'validation/0.png': 'test'}
    assert [str(x.message) for x in w] == [f'not reading 2 pictures in {tmp_path} outside the split folders Train/, val/, validation/: extra/x.png, top.png']
    with warnings.catch_warnings(record=True):
        tr, te, _ = captions_datasets(tmp_path, get_config('captions', image_cache=False), progress=False)
    assert (len(tr), len(te)) == (3, 2)
    assert f'{tmp_path}: reading Train/ for training and val/, validation/ for testing' in capsys.readouterr().err

def test_curated_folder_of_links(tmp_path):
    "Links into a photo library are read by their listed names; '..' and absolute paths are still refused."
    import warnings
    from deep_t2i.data_captions import read_captions_folder
    lib, cur = tmp_path / 'photos', tmp_path / 'curated'
    for i in range(3): _photo(lib / '2023' / f'IMG_{i}.jpg', i)
    cur.mkdir(); (cur / 'cat.jpg').symlink_to(lib / '2023' / 'IMG_0.jpg'); (cur / 'trip').symlink_to(lib / '2023', target_is_directory=True)
    (cur / 'metadata.csv').write_text(f'file_name,text\ncat.jpg,a cat\ntrip/IMG_1.jpg,a trip\n../photos/2023/IMG_2.jpg,up\n{lib}/2023/IMG_2.jpg,absolute\n')
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        df, problems = read_captions_folder(cur, progress=False)
    assert sorted(_rels(df, cur)) == ['cat.jpg', 'trip/IMG_1.jpg']
    assert [why for _, why in problems] == ['path leaves the folder'] * 2

def _cache_files(data):
    return [p for p in (data / '.deep_t2i_cache').rglob('*') if p.is_file()]

def test_image_cache_is_compressed_versioned_and_moves_with_its_folder(tmp_path, monkeypatch):
    import os, torch
    from deep_t2i.core import get_config
    from deep_t2i.data_captions import captions_datasets
    data = tmp_path / 'data'
    for i in range(4): _photo(data / f'{i}.jpg', i); (data / f'{i}.txt').write_text('a photo')
    cfg = get_config('captions', img_size=64, valid_pct=0.0, flip=False)
    tr, _, _ = captions_datasets(data, cfg, progress=False)
    first = [tr[i][0] for i in range(4)]
    files = _cache_files(data)
    assert len(files) == 4 and sum(f.stat().st_size for f in files) < 0.6 * 4 * 64 * 64 * 3       # lossless, yet well under the raw arrays
    assert all(torch.equal(tr[i][0], first[i]) for i in range(4))                                 # read back: the same pixels
    os.rename(data, tmp_path / 'moved')
    tr, _, _ = captions_datasets(tmp_path / 'moved', cfg, progress=False)
    assert all(torch.equal(tr[i][0], first[i]) for i in range(4)) and len(_cache_files(tmp_path / 'moved')) == 4   # found again, none made twice
    import deep_t2i.image_cache as ic
    monkeypatch.setattr(ic, 'CACHE_VERSION', ic.CACHE_VERSION + 1)                                  # a new decoder: new copies
    tr, _, _ = captions_datasets(tmp_path / 'moved', cfg, progress=False); tr[0]
    assert len(_cache_files(tmp_path / 'moved')) == 5

def test_killed_writers_temp_files_are_removed(tmp_path):
    import os, time
    from deep_t2i.core import get_config
    from deep_t2i.data_captions import captions_datasets
    _photo(tmp_path / 'a.jpg'); (tmp_path / 'a.txt').write_text('a photo')
    sub = tmp_path / '.deep_t2i_cache' / 'ab'; sub.mkdir(parents=True)
    (sub / 'ab1.webp.123.tmp').write_bytes(b'half a picture'); (sub / 'ab2.webp.124.tmp').write_bytes(b'being written now')
    os.utime(sub / 'ab1.webp.123.tmp', (time.time() - 3600,) * 2)
    captions_datasets(tmp_path, get_config('captions', valid_pct=0.0), progress=False)
    assert not (sub / 'ab1.webp.123.tmp').exists() and (sub / 'ab2.webp.124.tmp').exists()

def test_cache_command_prunes_and_caps(tmp_path):
    import os
    from deep_t2i.core import get_config
    from deep_t2i.data_captions import captions_datasets
    for i in range(3): _photo(tmp_path / f'{i}.jpg', i); (tmp_path / f'{i}.txt').write_text('a photo')
    tr, _, _ = captions_datasets(tmp_path, get_config('captions', valid_pct=0.0), progress=False)
    for i in range(3): tr[i]
    (tmp_path / '0.jpg').unlink()
    r = run_cli('cache', tmp_path)
    assert r.returncode == 0 and ': 2 copies' in r.stdout and '1 stale copies' in r.stdout, r.stdout + r.stderr
    assert len(_cache_files(tmp_path)) == 3                                                   # a report changes nothing
    r = run_cli('cache', tmp_path, '--prune')
    assert r.returncode == 0 and 'removed 1 copies' in r.stdout and len(_cache_files(tmp_path)) == 2, r.stdout + r.stderr
    r = run_cli('cache', tmp_path, '--max-gb', 0)
    assert r.returncode == 0 and _cache_files(tmp_path) == []
    r = run_cli('cache', tmp_path / 'nope', '--prune')
    assert r.returncode == 2 and 'is not a folder' in r.stderr

def _shard(path, members):
    "A WebDataset tar shard of (name, bytes) members."
    import io, tarfile
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, 'w') as t:
        for name, data in members:
            info = tarfile.TarInfo(name); info.size = len(data); t.addfile(info, io.BytesIO(data))

def test_webdataset_shards_are_read_in_place(tmp_path):
    "key.jpg + key.txt / key.json in .tar shards under train/ and val/: read without unpacking or copying, by worker processes too; bad samples named."
    import torch, warnings
    from deep_t2i.core import get_config
    from deep_t2i.data import make_loader
    from deep_t2i.data_captions import captions_datasets
    def jpg(i): _photo(tmp_path / 'src' / f'{i}.jpg', i); return (tmp_path / 'src' / f'{i}.jpg').read_bytes()
    data = tmp_path / 'data'
    _shard(data / 'train' / '000.tar', [m for i in range(5) for m in ((f'{i:04d}.jpg', jpg(i)),
           (f'{i:04d}.txt', f'photo {i}'.encode()) if i % 2 else (f'{i:04d}.json', json.dumps({'caption': f'photo {i}'}).encode()))]
           + [('bad.jpg', b'not a picture'), ('bad.txt', b'broken'), ('lost.txt', b'a caption alone')])
    _shard(data / 'val' / '000.tar', [('0100.jpg', jpg(7)), ('0100.txt', b'photo 100'), ('0101.jpg', jpg(8)), ('0101.txt', b'photo 101')])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        tr, te, _ = captions_datasets(data, get_config('captions', img_size=64, flip=False), progress=False)
    assert (len(tr), len(te)) == (5, 2)
    assert sorted(str(x.message).split(': ')[-1] for x in w) == ['captions without a picture', 'unreadable image (UnidentifiedImageError)']
    batches = [torch.cat([b[0] for b in make_loader(tr, 2, num_workers=n, drop_last=False, device=torch.device('cpu'))]) for n in (0, 2)]
    assert batches[0].shape == (5, 3, 64, 64) and torch.equal(batches[0], batches[1])
    assert not [p for p in (data / '.deep_t2i_cache').rglob('*') if p.is_file()] and sorted(p.name for p in data.rglob('*')) == ['.deep_t2i_cache', '000.tar', '000.tar', 'train', 'val']

def test_shard_scan_reads_headers_not_pictures(tmp_path):
    "Checking a shard's pictures reads their headers in place: a scan reads a small part of the shard, not every picture's bytes."
    import io, os, numpy as np
    from deep_t2i.data_captions import _shard_rows
    if not os.path.exists('/proc/self/io'): pytest.skip('needs /proc/self/io (Linux) to count the bytes read')
    def png(i):
        b = io.BytesIO(); Image.fromarray(np.random.default_rng(i).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(b, 'PNG'); return b.getvalue()
    shard = tmp_path / '000.tar'
    _shard(shard, [m for i in range(12) for m in ((f'{i:04d}.png', png(i)), (f'{i:04d}.txt', b'a photo'))])
    rchar = lambda: int(dict(l.split(': ') for l in open('/proc/self/io').read().splitlines())['rchar'])
    problems, before = [], rchar()
    rows = _shard_rows(shard, problems)
    read = rchar() - before
    assert len(rows) == 12 and problems == []
    assert read < 0.1 * shard.stat().st_size, f'read {read} bytes of a {shard.stat().st_size}-byte shard'

def test_folder_linked_twice_is_listed_by_the_same_name_whatever_the_disk_order(tmp_path, monkeypatch):
    "A folder reached by two names is listed once, by the same name on any disk (the name decides the held-out split): not by the order the disk lists folders in."
    import os
    from deep_t2i.image_cache import picture_files
    for i in range(2): _photo(tmp_path / 'lib' / f'{i}.jpg', i)
    for name in ('best', 'all'): (tmp_path / name).symlink_to(tmp_path / 'lib', target_is_directory=True)
    listed = picture_files(tmp_path)
    real = os.scandir
    class Reversed:                                                    # a disk that lists a folder's entries the other way round
        def __init__(self, p):
            with real(p) as it: self.entries = list(it)
        def __enter__(self): return self
        def __exit__(self, *a): pass
        def __iter__(self): return self
        def __next__(self):
            if not self.entries: raise StopIteration
            return self.entries.pop()
    monkeypatch.setattr(os, 'scandir', Reversed)
    assert picture_files(tmp_path) == listed and len(listed) == 2

def _parquet(path, pictures, texts, labels=None, names=None, row_group_size=4):
    "A parquet file as the Hugging Face `datasets` library writes one (Image struct column, text, ClassLabel names in the metadata)."
    import pyarrow as pa, pyarrow.parquet as pq
    cols = {'image': pa.array([{'bytes': b, 'path': None} for b in pictures], type=pa.struct([('bytes', pa.binary()), ('path', pa.string())])), 'text': texts}
    feats = {'image': {'_type': 'Image'}, 'text': {'dtype': 'string', '_type': 'Value'}}
    if labels is not None: cols['label'] = pa.array(labels, pa.int64()); feats['label'] = {'names': names, '_type': 'ClassLabel'}
    t = pa.table(cols).replace_schema_metadata({b'huggingface': json.dumps({'info': {'features': feats}}).encode()})
    path.parent.mkdir(parents=True, exist_ok=True); pq.write_table(t, path, row_group_size=row_group_size)

def test_parquet_scan_reads_text_not_pictures(tmp_path):
    "Scanning a Hugging Face parquet file reads its text and label columns, not the pictures' bytes."
    import io, os, numpy as np
    from deep_t2i.data_captions import _parquet_rows
    if not os.path.exists('/proc/self/io'): pytest.skip('needs /proc/self/io (Linux) to count the bytes read')
    def png(i):
        b = io.BytesIO(); Image.fromarray(np.random.default_rng(i).integers(0, 256, (300, 300, 3), dtype=np.uint8)).save(b, 'PNG'); return b.getvalue()
    f = tmp_path / 'data' / 'train-00000-of-00001.parquet'
    _parquet(f, [png(i) for i in range(12)], [f'photo {i}' for i in range(12)], [i % 2 for i in range(12)], ['cat', 'dog'])
    rchar = lambda: int(dict(l.split(': ') for l in open('/proc/self/io').read().splitlines())['rchar'])
    problems, before = [], rchar()
    rows = _parquet_rows(f, problems)
    read = rchar() - before
    assert problems == [] and [r[1:] for r in rows[:2]] == [(['photo 0'], 'cat'), (['photo 1'], 'dog')] and len(rows) == 12
    assert read < 0.1 * f.stat().st_size, f'read {read} bytes of a {f.stat().st_size}-byte file'

def test_training_on_a_parquet_folder(tmp_path):
    "A Hugging Face style parquet folder trains through the CLI: its split and labels are used, nothing is cached."
    import io
    def png(i):
        b = io.BytesIO(); Image.new('RGB', (32, 32), [(220, 30, 30), (30, 30, 220)][i % 2]).save(b, 'PNG'); return b.getvalue()
    data = tmp_path / 'hub'
    for split, n in (('train', 24), ('test', 8)):
        _parquet(data / 'data' / f'{split}-00000-of-00001.parquet', [png(i) for i in range(n)], [['a red box', 'a blue box'][i % 2] for i in range(n)],
                 [i % 2 for i in range(n)], ['red', 'blue'])
    (tmp_path / 'c.json').write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--data', data, '--out', tmp_path / 'damsm', '--epochs', 1, '--batch-size', 8, '--config', tmp_path / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    assert '32 captioned images, none skipped' in r.stderr and 'parquet files named train-' in r.stderr, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'damsm' / 'config.json').read_text())
    assert cfg['task'] == 'captions'
    assert not [p for p in (data / '.deep_t2i_cache').rglob('*') if p.is_file()]
    from deep_t2i.core import config_from_dict
    from deep_t2i.data_captions import captions_datasets
    tr, te, _ = captions_datasets(data, config_from_dict(cfg), progress=False)     # what the run read: the files' split, the labels' names
    assert (len(tr), len(te)) == (24, 8) and set(tr.df.label) == set(te.df.label) == {'red', 'blue'} and tr.classes == {'blue': 0, 'red': 1}

def test_sentence_encoder_option(shapes, tmp_path, monkeypatch):
    """`--text-encoder sentence`: a frozen BERT sentence encoder (here a small random one in the same folder format) reads the captions;
    runs and exports hold its projections only and its fingerprint; words never seen in training are no `<unk>`: two of them give two
    pictures (the GRU reads both as `<unk>`, the same picture); D's word classifier covers the training captions' pieces only; a model
    loads wherever its weights are found and is refused with other weights; the option is refused where it cannot apply."""
    import shutil, torch
    from safetensors import safe_open
    from deep_t2i.sentence import make_tiny_sentence_model, SENTENCE_ENV
    words = ['a', 'an', 'un', 'red', 'rouge', 'blue', 'bleu', 'green', 'vert', 'yellow', 'jaune', 'orange', 'purple', 'violet',
             'square', 'carre', 'circle', 'cercle', 'triangle', 'crimson', 'scarlet', '##s', '.']
    tiny, other = make_tiny_sentence_model(tmp_path / 'st', words), make_tiny_sentence_model(tmp_path / 'st2', words, seed=1)
    monkeypatch.delenv(SENTENCE_ENV, raising=False)
    (tmp_path / 'c.json').write_text(json.dumps({'width': 0.0625, 'min_ch': 8}))
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'damsm', '--epochs', 1, '--batch-size', 8, '--config', tmp_path / 'c.json',
                '--sentence-model', tiny)
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((tmp_path / 'damsm' / 'config.json').read_text())
    assert cfg['text_encoder'] == 'sentence' and cfg['sentence_model'] == str(tiny.resolve())
    with safe_open(str(tmp_path / 'damsm' / 'damsm.safetensors'), 'pt') as f: keys = [k for k in f.keys() if k.startswith('text.')]
    assert sorted(keys) == ['text.proj_sent.bias', 'text.proj_sent.weight', 'text.proj_words.bias', 'text.proj_words.weight'], keys
    r = run_cli('train', 'gan', '--data', shapes, '--damsm', tmp_path / 'damsm', '--out', tmp_path / 'gan', '--epochs', 1, '--batch-size', 8,
                '--config', tmp_path / 'c.json')
    assert r.returncode == 0, r.stderr[-2000:]
    tok = json.loads((tmp_path / 'gan' / 'model.json').read_text())['tokenizer']
    assert tok['kind'] == 'sentence' and len(tok['sha']) == 16 and json.loads((tmp_path / 'gan' / 'config.json').read_text())['text_encoder'] == 'sentence'

    from deep_t2i.core import config_from_dict
    from deep_t2i.data_captions import captions_datasets
    from deep_t2i.inference import load_model
    m = load_model(tmp_path / 'gan')                                # found where it was trained from
    tr, _, _ = captions_datasets(shapes, config_from_dict(cfg), m.tok, progress=False)
    pieces = {i for caps in tr.df.captions for c in caps for i in m.tok.content_ids(m.tok.encode(c))}
    head = torch.load(tmp_path / 'gan' / 'checkpoint.pt', map_location='cpu', weights_only=False)['state']['D']['word_head.weight']
    assert head.shape[0] == len(pieces) + 1 < 30, (head.shape, len(pieces))   # the training captions' pieces (+ 'no word'), not the vocabulary
    tr.classes = None                                               # as a folder without labels: a caption is its class
    assert tr.item_class(0, m.tok.encode('A red square.')) == tr.item_class(0, m.tok.encode('a red square')) != tr.item_class(0, m.tok.encode('a blue square'))
    assert m.unknown_words('a crimson square') == [] and m.tok.words(m.tok.encode('a crimson square'))[1:-1] == ['a', 'crimson', 'square']
    a, b = (torch.tensor(list(im.tobytes()), dtype=torch.float) for im in (m.generate('a crimson square', seed=0)[0], m.generate('a scarlet square', seed=0)[0]))
    assert (a - b).abs().mean() > 0.5, 'two words unseen in training give the same picture'
    r = run_cli('generate', '--model', tmp_path / 'gan', '--seed', 0, '--out', tmp_path / 'g.png', 'crimson squares')
    assert r.returncode == 0 and 'warning' not in r.stderr, r.stderr[-2000:]
    r = run_cli('generate', '--model', tmp_path / 'gan', '--seed', 0, '--out', tmp_path / 'g.png', 'a zq square')
    assert r.returncode == 0 and "sentence encoder cannot spell 'zq' (read as [UNK])" in r.stderr, r.stderr[-2000:]
    r = run_cli('eval', '--model', tmp_path / 'gan', '--data', shapes, '--n', 16, '--no-fid', '--out', tmp_path / 'e.json')
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((tmp_path / 'e.json').read_text())['r_precision'] is not None

    moved = tmp_path / 'moved'
    shutil.move(str(tiny), moved)                                   # the training folder is gone: the variable names where the weights are
    monkeypatch.setenv(SENTENCE_ENV, str(other))                    # the same format, other weights
    r = run_cli('generate', '--model', tmp_path / 'gan', '--out', tmp_path / 'x.png', 'a red square')
    assert r.returncode == 2 and 'no folder here holds those weights' in r.stderr and 'Traceback' not in r.stderr, r.stderr[-2000:]
    monkeypatch.setenv(SENTENCE_ENV, str(moved))
    r = run_cli('generate', '--model', tmp_path / 'gan', '--seed', 0, '--out', tmp_path / 'y.png', 'a crimson square')
    assert r.returncode == 0, r.stderr[-2000:]
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'no', '--text-encoder', 'gru', '--sentence-model', moved)
    assert r.returncode == 2 and 'goes with --text-encoder sentence' in r.stderr, r.stderr[-2000:]
    r = run_cli('train', 'damsm', '--task', 'anime', '--data', shapes, '--out', tmp_path / 'no', '--text-encoder', 'sentence')
    assert r.returncode == 2 and 'free-text captions' in r.stderr, r.stderr[-2000:]
    r = run_cli('train', 'damsm', '--data', shapes, '--out', tmp_path / 'no', '--sentence-model', tmp_path / 'nowhere')
    assert r.returncode == 2 and 'does not exist' in r.stderr, r.stderr[-2000:]
