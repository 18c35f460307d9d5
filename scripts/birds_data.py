"""Unpack CUB_200_2011.tgz and AttnGAN's birds.zip (in data/full_data/ by default) into data/birds.

Same as `deep_t2i prepare birds --archives data/full_data --out data/birds`.
"""
import sys
from deep_t2i.cli import main

if __name__ == '__main__':
    args = sys.argv[1:] or ['--archives', 'data/full_data', '--out', 'data/birds']
    sys.exit(main(['prepare', 'birds', *args]))
