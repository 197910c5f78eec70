"""Errors of the CRM core."""

from __future__ import annotations

from topline.errors import Conflict, InvalidInput, NotFound, StaleRecord


class DealNotFound(NotFound):
    """No deal with that id."""


class StageNotFound(NotFound):
    """No stage with that id or name in the deal's pipeline."""


class PipelineNotFound(NotFound):
    """No pipeline with that id or name."""


class LeadNotFound(NotFound):
    """No lead with that id."""


class AccountNotFound(NotFound):
    """No account with that id."""


class ContactNotFound(NotFound):
    """No contact with that id."""


class InvalidDeal(InvalidInput):
    """A deal value breaks a rule (negative amount, close date before creation, …)."""


class InvalidStageTransition(Conflict):
    """The stage asked for cannot be reached this way (a won stage through a plain move, …)."""


class DealOwnerInactive(Conflict):
    """The person named has left and cannot be given deals."""


class DealAlreadyClosed(Conflict):
    """The deal is already won or lost; reopen it first."""


class DealNotClosed(Conflict):
    """Only a won or lost deal can be reopened."""


class StaleDeal(StaleRecord):
    """Someone else changed the deal since it was read."""

    code = "stale_deal"
    entity = "deal"


class StaleAccount(StaleRecord):
    """Someone else changed the account since it was read."""

    code = "stale_account"
    entity = "account"


class StaleContact(StaleRecord):
    """Someone else changed the contact since it was read."""

    code = "stale_contact"
    entity = "contact"


class StaleLead(StaleRecord):
    """Someone else changed the lead since it was read."""

    code = "stale_lead"
    entity = "lead"


class InvalidLead(InvalidInput):
    """A lead value breaks a rule."""


class InvalidLeadTransition(Conflict):
    """The lead's status does not allow this step (qualifying a converted lead, …)."""


class InvalidActivity(InvalidInput):
    """An activity value breaks a rule."""


class ContactAtOtherAccount(Conflict):
    """The contact a record names works at another account than the record is about."""


class StageNameTaken(Conflict):
    """Two stages of one pipeline would share a name."""


class InvalidPipeline(InvalidInput):
    """A pipeline definition breaks a rule (no won stage, duplicate names, …)."""


class StageInUse(Conflict):
    """Deals sit in the stage, or passed through it: deleting it would orphan them."""

    code = "stage_in_use"


class InvalidStageChange(Conflict):
    """The change would break the pipeline's shape (deleting its last open stage or a closed
    stage, an order that leaves a stage out, a position past the end, …)."""

    code = "invalid_stage_change"
