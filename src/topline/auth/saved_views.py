"""Saved views: a person's named filters and sort for a list page, private to them.

A view stores the page's query string as it was saved; the page checks it again each time
the view is opened, so a saved view never widens what its owner may see.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from topline.auth.models import SavedView, User
from topline.clock import utcnow
from topline.errors import InvalidInput, NotFound

PAGES = ("deals",)
MAX_VIEWS = 50
MAX_NAME = 80
MAX_QUERY = 2000


def list_views(session: Session, user: User, page: str) -> list[SavedView]:
    """The person's saved views of `page`, by name."""
    stmt = select(SavedView).where(SavedView.user_id == user.id, SavedView.page == page)
    views = list(session.scalars(stmt))
    return sorted(views, key=lambda view: (view.name.casefold(), view.id))


def save_view(session: Session, user: User, page: str, name: str, query: str) -> SavedView:
    """Save `query` as the person's view `name` of `page`; saving under a name they already
    use replaces that view's filters."""
    if page not in PAGES:
        raise InvalidInput(f"page {page!r}: views can be saved for {', '.join(PAGES)}")
    name = " ".join(name.split())
    if not name:
        raise InvalidInput("name: give the view a name", details={"field": "name"})
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"name: at most {MAX_NAME} characters ({len(name)} given)", details={"field": "name"}
        )
    query = query.lstrip("?")
    if len(query) > MAX_QUERY:
        raise InvalidInput(f"the filters are too long to save (over {MAX_QUERY} characters)")
    existing = {view.name.casefold(): view for view in list_views(session, user, page)}
    view = existing.get(name.casefold())
    if view is None:
        if len(existing) >= MAX_VIEWS:
            raise InvalidInput(
                f"you have {MAX_VIEWS} saved views of this page: delete one first",
                details={"field": "name"},
            )
        view = SavedView(user_id=user.id, page=page, name=name, query=query, created_at=utcnow())
        session.add(view)
    else:
        view.query = query
    session.flush()
    return view


def delete_view(session: Session, user: User, view_id: int) -> SavedView:
    """Delete one of the person's own views (someone else's is not found)."""
    view = session.get(SavedView, view_id)
    if view is None or view.user_id != user.id:
        raise NotFound(f"saved view {view_id} not found")
    session.delete(view)
    session.flush()
    return view
