"""The seed, with no server: Chebychev watches Poisson's presence, sees him come online,
and they chat, user agent to user agent, over TCP on this machine. Prints the flow.

    python examples/peer_to_peer.py
"""

from __future__ import annotations

import asyncio
import sys

from parley.client import Account


async def main() -> int:
    chebychev = Account("chebychev@academy.ru", transport="tcp")
    poisson = Account("poisson@probability.org", transport="tcp", notify_interval=0.0)
    async with chebychev, poisson:
        # Without DNS for these domains, each knows where the other's domain is.
        chebychev.routes["probability.org"] = ("127.0.0.1", port(poisson))
        poisson.routes["academy.ru"] = ("127.0.0.1", port(chebychev))

        async with chebychev.watch(
            "poisson@probability.org", accept=["application/cpim-pidf+xml"]
        ) as watch:
            print("Poisson is", (await watch.next()).basic)
            await poisson.set_status(open=True)  # Poisson logs in
            online = await watch.next()
            print("Poisson is", online.basic, "at", online.contact)
            assert online.contact is not None

            result = await chebychev.send_message(online.contact, "Hi There!", "text/plain")
            print("Chebychev -> Poisson:", result.status, result.reason)
            print("Poisson got:", (await poisson.messages.get()).text)

            reply = "Well, hello there to you, too!"
            result = await poisson.send_message("chebychev@academy.ru", reply, "text/plain")
            print("Poisson -> Chebychev:", result.status, result.reason)
            print("Chebychev got:", (await chebychev.messages.get()).text)
    return 0


def port(account: Account) -> int:
    return account.endpoint.sent_by("tcp").port


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
