"""Permissions of the case file, as small predicates (django-rules; autodiscovered at start)."""

from __future__ import annotations

import rules

from rathaus.accounts.predicates import is_case_worker, is_team_lead, is_tenant_admin

from .models import Confidentiality


class CasePerm:
    HANDLE_DOCUMENTS = "cases.handle_documents"
    VIEW_CONFIDENTIAL = "cases.view_confidential"
    MANAGE_LEGAL_HOLDS = "cases.manage_legal_holds"
    MANAGE_RETENTION = "cases.manage_retention"


rules.add_perm(CasePerm.HANDLE_DOCUMENTS, is_case_worker)
rules.add_perm(CasePerm.VIEW_CONFIDENTIAL, is_team_lead)
rules.add_perm(CasePerm.MANAGE_LEGAL_HOLDS, is_team_lead)
rules.add_perm(CasePerm.MANAGE_RETENTION, is_tenant_admin)


def may_open(user, municipality, document) -> bool:
    """Staff open internal documents; confidential ones only team leads (and whoever added them)."""
    if document.confidentiality != Confidentiality.CONFIDENTIAL:
        return True
    return user.has_perm(CasePerm.VIEW_CONFIDENTIAL, municipality) or document.created_by_id == user.pk


def mark_openable(documents, user, municipality):
    """Set `may_open` on each document for the templates; returns the documents."""
    lead = user.has_perm(CasePerm.VIEW_CONFIDENTIAL, municipality)
    for document in documents:
        document.may_open = (document.confidentiality != Confidentiality.CONFIDENTIAL or lead
                             or document.created_by_id == user.pk)
    return documents
