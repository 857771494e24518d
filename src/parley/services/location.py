"""Where a user can be reached: registered bindings turned into forwarding targets."""

from __future__ import annotations

from dataclasses import dataclass

from parley.services.registrar import peer_of_flow
from parley.services.storage import Binding
from parley.sip.syntax import SipUri, parse_uri
from parley.sip.transport.address import Peer
from parley.sip.transport.via import DEFAULT_PORTS


@dataclass(frozen=True, slots=True)
class Target:
    """One place to fork a request to: the Request-URI it gets (the contact), the transport
    address it goes to, and the Path of the registration (RFC 3327) as Route values."""

    uri: str
    peer: Peer
    path: tuple[str, ...] = ()
    instance: str | None = None


def target_of(binding: Binding) -> Target | None:
    """The target of a binding, or None when its contact cannot be reached.

    A binding made over a connection is reached over that connection (RFC 5626 §5.3); one
    made over UDP at the address the REGISTER came from, which is right behind a NAT (what
    Kamailio's nathelper does with the received address).
    """
    if binding.flow:
        try:
            return Target(
                binding.contact, peer_of_flow(binding.flow), binding.path, binding.instance
            )
        except ValueError:
            return None
    if binding.source:
        transport, _, address = binding.source.partition(":")
        host, _, port_text = address.rpartition(":")
        if transport and host and port_text.isdigit():
            peer = Peer(transport, host.strip("[]"), int(port_text))
            return Target(binding.contact, peer, binding.path, binding.instance)
    uri = parse_uri(binding.contact)
    if not isinstance(uri, SipUri):
        return None
    transport = uri.transport or ("tls" if uri.secure else "udp")
    port = uri.port or DEFAULT_PORTS.get(transport, 5060)
    return Target(
        binding.contact, Peer(transport, uri.host_bare, port), binding.path, binding.instance
    )


def targets_of(bindings: list[Binding]) -> list[Target]:
    """One target per device: RFC 5626 §7 sends to one flow per instance, the freshest."""
    seen: set[str] = set()
    out: list[Target] = []
    for binding in bindings:
        target = target_of(binding)
        if target is None:
            continue
        if target.instance is not None:
            if target.instance in seen:
                continue
            seen.add(target.instance)
        out.append(target)
    return out
