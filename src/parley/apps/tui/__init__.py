"""``parley chat``: a terminal chat client in the spirit of QQ and MSN (Textual).

``session`` is its only door to :mod:`parley.client`; ``app`` the Textual application;
``command`` the ``parley chat`` subcommand.
"""
