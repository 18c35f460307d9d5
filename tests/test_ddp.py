"""Two processes under torchrun (gloo, CPU): both ranks end with identical parameters, for both trainers (the GAN with
MA-GP, whose penalty differentiates through the DDP-wrapped D, and the vision discriminator, whose heads learn under DDP too), the DAMSM's validation runs under DDP with each rank
encoding a share, and a run resumed under DDP (rank 0 reads the checkpoint and sends it) ends where an uninterrupted one does."""
import json, os, subprocess
import pytest
from conftest import BIN, ROOT

def torchrun(*args):
    r = subprocess.run([str(BIN / 'torchrun'), '--standalone', '--nproc_per_node=2', str(ROOT / 'tests' / 'ddp_script.py'), *map(str, args)],
                       capture_output=True, text=True, timeout=600, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]

def hashes(out): return [json.loads((out / f'hash{r}.json').read_text()) for r in (0, 1)]

def test_ranks_agree_and_resume_under_ddp(anime_data, tmp_path):
    torchrun('damsm', anime_data, tmp_path / 'damsm')
    h = hashes(tmp_path / 'damsm')
    assert h[0]['hash'] == h[1]['hash'] and h[0]['step'] == 6            # DAMSM: one epoch (108 images / (2 ranks x 8)); both ranks hold the same weights
    assert h[0]['n_encoded'] == h[0]['n_valid'] > 0 and h[0]['shards_match'] and h[1]['shards_match']   # sharded validation covers the whole set, in order
    assert h[0]['validated'] == [h[0]['r_precision']] and h[1]['validated'] == []   # the epoch's R-precision, as one process computes it; logged by rank 0
    torchrun('gan', anime_data, tmp_path / 'a', 4)
    a = hashes(tmp_path / 'a')
    assert a[0] == a[1] and a[0]['step'] == 4                            # GAN (MA-GP and vision D on): G, D, the EMA and the vision heads agree across ranks
    torchrun('gan', anime_data, tmp_path / 'b', 2)
    torchrun('gan', anime_data, tmp_path / 'b', 4, 'resume')
    b = hashes(tmp_path / 'b')
    assert b[0] == b[1] == a[0]                                          # resumed under DDP: bit for bit the uninterrupted run
