#!/usr/bin/env python3
"""The PyTorch eager reference trainer of tch-vae, which lives in the package as
`tch_vae.reference` (`python -m tch_vae.reference --help` where it is installed)."""
from tch_vae.reference import main

if __name__ == "__main__":
    main()
