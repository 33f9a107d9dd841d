"""Privacy: consent records, subject export and erasure, retention per data class, the audit
log (the data-protection officer)."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="privacy", order=100, scopes=(Scope.PRIVACY_ADMIN,), icon="⚖")
