"""The browser client's built files, served by ``parley serve`` at ``/`` of its HTTP port.

The client's source is ``web/`` at the top of the repository (TypeScript on SIP.js);
``scripts/build-web`` bundles it into :data:`STATIC_DIR`, which is build output and not
kept in git. Without it, ``/`` says how to build it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC_DIR"]

#: Where ``scripts/build-web`` puts the bundled page (``index.html``, ``app.js``...).
STATIC_DIR = Path(__file__).resolve().parent / "static"
