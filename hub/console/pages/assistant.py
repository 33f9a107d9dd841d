"""Assistant: a chat with streamed answers, the tools it called, and confirmations of the
actions it proposes."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(id="assistant", order=80, scopes=(Scope.LLM_USE,), icon="✉")
