"""Draw the README's sample grids from the bundled models (about 20 s on 2 CPU cores):

    .venv/bin/python docs/pictures.py          # writes docs/assets/anime_grid.png and docs/assets/birds_grid.png

The samples are those of `deep_t2i generate --model MODEL --seed 0 --n N --grid --out DIR CAPTIONS...` (same seed,
captions and model give the same pixels); the grid has a caption column wide enough for the 256x256 birds (the CLI's
`--grid` writes the captions over the first picture at that size), and the birds grid is saved with a 256-colour
palette to keep the file small (147 KB instead of 680 KB).
"""
from pathlib import Path
from deep_t2i.inference import load_model
from deep_t2i.images import image_grid

ASSETS = Path(__file__).resolve().parent / 'assets'
ANIME = ['blue hair red eyes', 'blonde hair green eyes', 'pink hair aqua eyes', 'black hair purple eyes']
BIRDS = ['a bird with a red crown and blue wings', 'a small bird with a yellow breast', 'a white bird with a black tail']

def draw(model:str, captions:list, n:int, label_w:int, out:Path, seed:int=0, colours:int=0):
    "A grid of `n` samples (seed `seed`) per caption of bundled `model`, captions on the left, saved at `out`."
    imgs = load_model(model).generate(captions, seed=seed, n=n)
    grid = image_grid(imgs, ncol=n, row_labels=captions, label_w=label_w)
    if colours: grid = grid.quantize(colours, dither=0)   # a palette PNG: a third of the size, no visible change on these smooth pictures
    grid.save(out, optimize=True)
    return out

if __name__ == '__main__':
    ASSETS.mkdir(exist_ok=True)
    for p in (draw('anime', ANIME, 6, 150, ASSETS / 'anime_grid.png'), draw('birds', BIRDS, 3, 215, ASSETS / 'birds_grid.png', colours=256)):
        print(p, p.stat().st_size // 1024, 'KB')
