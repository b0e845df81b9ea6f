"""``python -m fluorodn``: the same as the ``fluorodn`` command."""

from fluorodn.cli import main

if __name__ == "__main__":
    main()
