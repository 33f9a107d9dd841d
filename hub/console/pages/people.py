"""People: employees with their consent, enrolment by photo with the quality verdict per photo,
recent recognitions (not this person), unknown faces grouped into clusters (name or dismiss).
Never shown to staff: it needs personal fields and the right to enrol or record consent."""

from hub.auth.scopes import Scope
from hub.console.registry import Page

PAGE = Page(
    id="people",
    order=50,
    scopes=(Scope.HOTEL_PII,),
    any_scopes=(Scope.CV_WRITE, Scope.CONSENT_WRITE),
    icon="☺",
)
