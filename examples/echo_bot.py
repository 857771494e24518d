"""An echo bot: shows itself online, then answers every message with the same text
(shows "typing" first, as a person would). Stops after ``--count N`` messages, or never.

    PARLEY_PASSWORD=bot-password python examples/echo_bot.py \
        --account echo@example.com --server 127.0.0.1:5060
"""

from __future__ import annotations

import asyncio
import sys

from _common import account, parser


async def main() -> int:
    p = parser("Echo every message back to its sender.")
    p.add_argument("--count", type=int, default=0, help="stop after this many (0: never)")
    args = p.parse_args()
    async with account(args) as bot:
        if (await bot.register()).status != 200:
            print("sign-in failed", file=sys.stderr)
            return 1
        await bot.set_status(True, note="I repeat what you say")
        print("ready", flush=True)
        answered = 0
        async for message in bot.iter_messages():
            await bot.send_typing(message.sender)
            result = await bot.send_message(message.sender, f"echo: {message.text}")
            print(f"{message.sender}: {message.text!r} -> {result.status}", flush=True)
            answered += 1
            if answered == args.count:
                break
        await bot.unregister()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        pass
