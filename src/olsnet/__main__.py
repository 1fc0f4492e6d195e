"""``python -m olsnet``: the same command line as the ``olsnet`` console script."""

from olsnet.cli import main

if __name__ == "__main__":
    main()
