"""``python -m rtletter.cli``: the same as the ``rtletter`` console script."""

from rtletter.cli import main

main()
