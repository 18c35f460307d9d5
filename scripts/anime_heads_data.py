"""Unpack MLDS18 `data.zip` (in data/full_data/ by default) into data/anime (images/ + tags.csv).

Same as `deep_t2i prepare anime --archives data/full_data --out data/anime`.
"""
import sys
from deep_t2i.cli import main

if __name__ == '__main__':
    args = sys.argv[1:] or ['--archives', 'data/full_data', '--out', 'data/anime']
    sys.exit(main(['prepare', 'anime', *args]))
