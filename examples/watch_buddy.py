"""Watch a buddy's presence: one line per change, until interrupted (or ``--changes N``).

    PARLEY_PASSWORD=alice-password python examples/watch_buddy.py \
        --account alice@example.com --server 127.0.0.1:5060 bob@example.com
"""

from __future__ import annotations

import asyncio
import sys

from _common import account, parser


async def main() -> int:
    p = parser("Print a buddy's presence changes.")
    p.add_argument("buddy", help="user@domain")
    p.add_argument("--changes", type=int, default=0, help="stop after this many (0: never)")
    args = p.parse_args()
    async with account(args) as me:
        await me.register()
        seen = 0
        async with me.watch(args.buddy) as watch:
            async for change in watch:
                if change.basic is None:
                    print(f"{change.aor}: waiting for them to accept ({change.state})")
                else:
                    extra = " ".join([*change.activities, *([change.note] if change.note else [])])
                    print(f"{change.aor} {change.basic} {extra}".rstrip(), flush=True)
                seen += 1
                if seen == args.changes:
                    break
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
