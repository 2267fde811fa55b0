"""Permission names as constants; each maps to a predicate over (user, municipality)."""

import rules

from .predicates import is_case_worker, is_team_lead, is_tenant_admin


class Perm:
    VIEW_INBOX = "applications.view_inbox"
    HANDLE_APPLICATION = "applications.handle"
    ASSISTED_ENTRY = "applications.assisted_entry"
    MANAGE_SERVICES = "catalog.manage"
    MANAGE_EXCHANGES = "exchanges.manage"
    RUN_ALLOCATION = "exchanges.allocate"
    WORK_TASKS = "processes.work_tasks"
    ASSIGN_TASKS = "processes.assign_tasks"
    MANAGE_PROCESSES = "processes.manage"
    MANAGE_API_TOKENS = "integration.manage_tokens"
    MANAGE_INTEGRATION = "integration.manage"
    VIEW_DATA_REQUESTS = "accounts.view_data_requests"
    DECIDE_DATA_REQUESTS = "accounts.decide_data_requests"
    MANAGE_BANK_ACCOUNT = "tenants.manage_bank_account"
    MANAGE_LETTER_SETTINGS = "tenants.manage_letter_settings"


rules.add_perm(Perm.VIEW_INBOX, is_case_worker)
rules.add_perm(Perm.HANDLE_APPLICATION, is_case_worker)
rules.add_perm(Perm.ASSISTED_ENTRY, is_case_worker)
rules.add_perm(Perm.MANAGE_SERVICES, is_tenant_admin)
rules.add_perm(Perm.MANAGE_EXCHANGES, is_case_worker)
rules.add_perm(Perm.RUN_ALLOCATION, is_team_lead)
rules.add_perm(Perm.WORK_TASKS, is_case_worker)
rules.add_perm(Perm.ASSIGN_TASKS, is_team_lead)
rules.add_perm(Perm.MANAGE_PROCESSES, is_tenant_admin)
rules.add_perm(Perm.MANAGE_API_TOKENS, is_tenant_admin)
rules.add_perm(Perm.MANAGE_INTEGRATION, is_tenant_admin)
# Where citizens send their money: the town's administration sets it (audited with the old value).
rules.add_perm(Perm.MANAGE_BANK_ACCOUNT, is_tenant_admin)
# What every decision letter says about the remedy against it: the town's administration, audited.
rules.add_perm(Perm.MANAGE_LETTER_SETTINGS, is_tenant_admin)
rules.add_perm(Perm.VIEW_DATA_REQUESTS, is_case_worker)
# Erasing a person's data cannot be undone: a team lead decides.
rules.add_perm(Perm.DECIDE_DATA_REQUESTS, is_team_lead)
