"""XCAP (RFC 4825) for buddy lists (resource-lists, RFC 4826) and presence authorization
rules (pres-rules, RFC 5025), served on the server's HTTP port beside ``/ws``.

``start_http`` starts that port with XCAP mounted; :class:`XcapService` is the server
itself, :class:`XcapHooks` how the presence agent hears of changes.
"""

from __future__ import annotations

from .auth import AuthFailure, HttpDigestAuth
from .errors import ERROR_CONTENT_TYPE, ERROR_NAMESPACE, XcapConflict, XcapError
from .fragment import ATTRIBUTE_CONTENT_TYPE, ELEMENT_CONTENT_TYPE
from .service import (
    WATCHED_DOCUMENT,
    XCAP_ROOT,
    OnDocumentChange,
    OnDocumentUpdate,
    XcapHooks,
    XcapRequest,
    XcapResponse,
    XcapService,
    XcapStorage,
    start_http,
)
from .uri import quote_xui
from .usages import (
    DEFAULT_USAGES,
    PRES_RULES,
    RESOURCE_LISTS,
    XCAP_CAPS,
    XCAP_CAPS_CONTENT_TYPE,
    XCAP_CAPS_NAMESPACE,
    ApplicationUsage,
)

__all__ = [
    "ATTRIBUTE_CONTENT_TYPE",
    "DEFAULT_USAGES",
    "ELEMENT_CONTENT_TYPE",
    "ERROR_CONTENT_TYPE",
    "ERROR_NAMESPACE",
    "PRES_RULES",
    "RESOURCE_LISTS",
    "WATCHED_DOCUMENT",
    "XCAP_CAPS",
    "XCAP_CAPS_CONTENT_TYPE",
    "XCAP_CAPS_NAMESPACE",
    "XCAP_ROOT",
    "ApplicationUsage",
    "AuthFailure",
    "HttpDigestAuth",
    "OnDocumentChange",
    "OnDocumentUpdate",
    "XcapConflict",
    "XcapError",
    "XcapHooks",
    "XcapRequest",
    "XcapResponse",
    "XcapService",
    "XcapStorage",
    "quote_xui",
    "start_http",
]
