"""Send one instant message and say what became of it.

    PARLEY_PASSWORD=alice-password python examples/send_message.py \
        --account alice@example.com --server 127.0.0.1:5060 bob@example.com "Hi There!"
"""

from __future__ import annotations

import asyncio
import sys

from _common import account, parser


async def main() -> int:
    p = parser("Send an instant message.")
    p.add_argument("to", help="the recipient, user@domain")
    p.add_argument("text")
    args = p.parse_args()
    async with account(args) as me:
        registered = await me.register()
        if registered.status != 200:
            print(f"sign-in failed: {registered.status} {registered.reason}", file=sys.stderr)
            return 1
        result = await me.send_message(args.to, args.text)
        await me.unregister()
    if result.delivered:
        print(f"delivered to {args.to}")
    elif result.stored:
        print(f"{args.to} is offline: stored for later")
    else:
        print(f"not sent: {result.status} {result.reason}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
