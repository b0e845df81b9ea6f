"""The package's public surface."""

from __future__ import annotations

import fluorodn


def test_dir_lists_the_public_names_only() -> None:
    names = dir(fluorodn)
    assert names == sorted(fluorodn.__all__)
    assert not {"Any", "TYPE_CHECKING", "import_module", "annotations"} & set(names)
    for name in names:
        assert getattr(fluorodn, name) is not None
