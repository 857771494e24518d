"""Parley's Python SDK: an account that registers, sends and receives instant messages.

account = Account("alice@example.com", "secret", server=("127.0.0.1", 5060))
await account.start()
await account.register()
result = await account.send_message("bob@example.com", "Hi There!")
incoming = await account.messages.get()
"""

from parley.client.account import Account, IncomingMessage, SendResult

__all__ = ["Account", "IncomingMessage", "SendResult"]
