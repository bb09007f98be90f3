"""`python -m rdo_envs.presets.zoo [AGENT]` prints the path of an RL Zoo hyperparameter file."""

import sys

from rdo_envs.presets.zoo import path

if __name__ == "__main__":
    print(path(sys.argv[1] if len(sys.argv) > 1 else "detan"))
