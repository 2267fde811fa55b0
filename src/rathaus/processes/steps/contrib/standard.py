"""The standard automation steps of Rathaus (fee, documents, decision letter, notices, status, payment)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from rathaus.integration.transport import http_url_ok
from rathaus_domain.processes import dmn
from rathaus_domain.processes.bpmnext import is_expression_param
from rathaus_domain.processes.engine import StepContext, is_data_key
from rathaus_domain.processes.texts import render_text

from ..registry import StepParam, current_case, register

if TYPE_CHECKING:
    from rathaus.cases.services import PaymentTerms


def _format(template: str, data: dict[str, Any], extra: dict[str, Any] | None = None) -> str:
    """Fill ``{name}`` placeholders from the process data (plain names only, bounded lengths)."""
    return render_text(template, {**data, **(extra or {})})


#: The step result naming the account; a text writes «bis zum {payment_due_date}{payment_account} mit dem …».
PAYMENT_ACCOUNT_RESULT = StepParam(
    "payment_account", "«an Zahlungsempfänger, IBAN … (BIC …),» mit einem Leerzeichen davor, zum Einsetzen zwischen "
    "Frist und Verwendungszweck: «bis zum {payment_due_date}{payment_account} mit dem Verwendungszweck …»; leer, "
    "wenn die Kommune keine Bankverbindung angegeben hat",
    "«an payee, IBAN … (BIC …),» (German: to payee) with a space before it, to insert between the last day and the "
    "reference: «bis zum {payment_due_date}{payment_account} mit dem Verwendungszweck …»; empty when the "
    "municipality has given no bank details")


@register("compute_fee", description="Gebühr nach Entscheidungstabelle (DMN) berechnen",
          description_en="Compute the fee with a decision table (DMN)",
          params=[StepParam("decision", "Id der Entscheidung in den DMN-Dateien des Modells; ihre Ausgabe «fee» (oder "
                            "ihre einzige Ausgabe) ist die Gebühr. Weitere Parameter gehen als Eingaben in die Entscheidung.",
                            "id of the decision in the model's DMN files; its output «fee» (or its only output) is the "
                            "fee. Further parameters are passed to the decision as inputs.", default="fee",
                            decision=True)],
          results=[StepParam("fee", "die Gebühr", "the fee"),
                   StepParam("fee_reason", "die Anmerkungen der zutreffenden Regeln, mit «; » verbunden",
                             "the annotations of the matched rules, joined with «; »")])
def compute_fee(ctx: StepContext) -> dict[str, Any]:
    """Evaluate the DMN decision named in ``decision``; returns ``fee`` and ``fee_reason``."""
    case = current_case()
    decision_id = str(ctx.params["decision"])
    inputs = dict(ctx.data)
    inputs.update({k: v for k, v in ctx.params.items() if k != "decision"})
    result = dmn.decide(case.model.dmn, decision_id, inputs, now=ctx.now)
    value = result.value
    fee = value.get("fee") if isinstance(value, dict) else value
    reason = "; ".join(r.annotation for r in result.matched_rules if r.annotation)
    case.note(f"Gebühr berechnet: {fee} € ({reason})" if reason else f"Gebühr berechnet: {fee} €", kind="decision",
              public=True, element_id=ctx.element_id, decision=result.to_dict())
    return {"fee": fee, "fee_reason": reason}


def _file_leaves(data: Any, path: tuple = ()) -> list[tuple[str, dict]]:
    found: list[tuple[str, dict]] = []
    if isinstance(data, dict):
        # A stored file: {filename, content_type, size, sha512, document_id} (sha256/attachment_id before the case file).
        if "filename" in data and ("document_id" in data or "sha256" in data):
            return [("/".join(map(str, path)), data)]
        for key, value in data.items():
            found += _file_leaves(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _file_leaves(value, (*path, index))
    return found


@register("check_documents", description="Vollständigkeit der Unterlagen prüfen",
          description_en="Check that the documents are complete",
          params=[StepParam("required", "Dateifelder des Formulars, die vorhanden sein müssen, durch Kommas getrennt "
                            "(Pfade mit Punkt, z. B. «vehicle.registration»)",
                            "file fields of the form that must be present, comma-separated (dotted paths, e.g. "
                            "«vehicle.registration»)")],
          results=[StepParam("documents_complete", "ja, wenn jede Datei der Antragsdaten in der Akte liegt und jedes "
                             "Pflichtfeld vorhanden ist", "true when every file of the application data is in the case "
                             "file and every required field is present"),
                   StepParam("missing_documents", "Liste der fehlenden Dateifelder", "list of the missing file fields")])
def check_documents(ctx: StepContext) -> dict[str, Any]:
    """Every file the data names must be stored; ``required`` (comma-separated paths) must be present."""
    case = current_case()
    from rathaus.cases.selectors import document_ids_and_fields

    stored = document_ids_and_fields(case.application.pk)
    stored_ids, stored_fields = {pk for pk, _f in stored}, {f for _pk, f in stored}
    present = {path: leaf for path, leaf in _file_leaves(dict(ctx.data))}
    missing = [path for path, leaf in present.items()
               if (leaf["document_id"] not in stored_ids if "document_id" in leaf else path not in stored_fields)]
    for required in [p.strip() for p in str(ctx.params.get("required") or "").split(",") if p.strip()]:
        if required.replace(".", "/") not in present:
            missing.append(required)
    complete = not missing
    case.note("Unterlagen vollständig." if complete else f"Es fehlen Unterlagen: {', '.join(missing)}.",
              public=not complete, element_id=ctx.element_id)
    return {"documents_complete": complete, "missing_documents": missing}


#: A tax's name as a letter writes it: «Die Hundesteuer wird …» (a German noun, capitalised).
_TAX_NAME_RE = re.compile(r"[A-ZÄÖÜ][A-Za-zÄÖÜäöüß-]{1,59}")
#: An amount in euros as a model writes it: 10 or 10.50.
_AMOUNT_RE = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?")
#: Longest text of «tax_due» (the bylaw's due date in the following years).
MAX_TAX_DUE = 200


def _decision_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    problems = _days_problems(params, "payment_days") + _months_problems(params)
    if params.get("payment_days", "").strip() and params.get("payment_months", "").strip():
        problems.append(("Parameter «payment_days» und «payment_months»: nur eine Zahlungsfrist, in Tagen oder in Monaten",
                         "parameters «payment_days» and «payment_months»: only one period to pay, in days or in months"))
    tax = params.get("tax", "").strip()
    if tax and not _TAX_NAME_RE.fullmatch(tax):
        problems.append((f"Parameter «tax»: «{tax[:50]}» ist nicht der Name einer Steuer (ein Wort, groß geschrieben, "
                         "z. B. «Hundesteuer»)",
                         f"parameter «tax»: «{tax[:50]}» is not the name of a tax (one capitalised word, e.g. "
                         "«Hundesteuer»)"))
    start = params.get("tax_from", "").strip()
    if start and _as_date(start) is None:
        problems.append((f"Parameter «tax_from»: «{start[:50]}» ist kein Datum (JJJJ-MM-TT) und kein Ausdruck",
                         f"parameter «tax_from»: «{start[:50]}» is neither a date (YYYY-MM-DD) nor an expression"))
    now = params.get("tax_due_now", "").strip()
    if now and not _AMOUNT_RE.fullmatch(now):
        problems.append((f"Parameter «tax_due_now»: «{now[:50]}» ist kein Betrag in Euro (z. B. 10 oder 10.50) und "
                         "kein Ausdruck",
                         f"parameter «tax_due_now»: «{now[:50]}» is neither an amount in euros (e.g. 10 or 10.50) "
                         "nor an expression"))
    if len(params.get("tax_due", "").strip()) > MAX_TAX_DUE:
        problems.append((f"Parameter «tax_due» ist länger als {MAX_TAX_DUE} Zeichen",
                         f"parameter «tax_due» is longer than {MAX_TAX_DUE} characters"))
    return problems


@register("issue_decision", description="Bescheid (PDF) aus einer Vorlage erstellen",
          description_en="Create the decision letter (PDF) from a template", check_params=_decision_params,
          params=[StepParam("title", "Überschrift des Bescheids und Titel des Dokuments in der Akte",
                            "heading of the letter and title of the document in the case file", default="Bescheid"),
                  StepParam("text", "Text des Bescheids; {name} setzt Werte der Prozessdaten ein",
                            "body of the letter; {name} inserts values of the process data",
                            default="Ihrem Antrag wird entsprochen."),
                  StepParam("outcome", "Ergebnis im Ereignis «decision.issued» (approve oder reject); ohne Angabe das "
                            "Feld «outcome» der Prozessdaten, sonst approve", "outcome in the «decision.issued» event "
                            "(approve or reject); without it the process data's «outcome», else approve"),
                  StepParam("payment_days", "Zahlungsfrist in Tagen nach Bekanntgabe: der Bescheid setzt die Gebühr «fee» "
                            "fest und nennt Betrag, Verwendungszweck, Konto und die Frist («innerhalb von 14 Tagen nach "
                            "Bekanntgabe dieses Bescheids») mit der Regel, wann er als bekannt gegeben gilt",
                            "days to pay after the notice: the letter fixes the fee «fee» and names the amount, the "
                            "payment reference, the account and the period («within 14 days of the notice of this "
                            "letter») with the rule of when it counts as notified"),
                  StepParam("payment_months", "Zahlungsfrist in Monaten nach Bekanntgabe statt in Tagen (1 bis 12; z. B. "
                            "1: «innerhalb eines Monats nach Bekanntgabe dieses Bescheids»), sonst wie «payment_days»",
                            "months to pay after the notice instead of days (1 to 12; e.g. 1: «within one month of the "
                            "notice of this letter»), otherwise as «payment_days»"),
                  StepParam("tax", "Name der Steuer, z. B. «Hundesteuer»: der Bescheid setzt dann statt einer Gebühr "
                            "eine Jahressteuer fest (Steuerfestsetzung): «fee» ist der Jahresbetrag; er nennt, was "
                            "jetzt bis wann zu zahlen ist, und die Fälligkeit der folgenden Jahre. Braucht «tax_from», "
                            "«tax_due_now», «tax_due» und «payment_days» oder «payment_months». Ohne Angabe setzt "
                            "er eine Gebühr fest (Gebührenfestsetzung)",
                            "name of the tax, e.g. «Hundesteuer» (dog tax): the letter then fixes a yearly tax instead "
                            "of a fee (tax assessment): «fee» is the yearly amount; it names what to pay now and by "
                            "when, and the due date of the following years. Needs «tax_from», «tax_due_now», "
                            "«tax_due» and «payment_days» or «payment_months». Without it the letter fixes a fee",
                            needs=("tax_from", "tax_due_now", "tax_due", "payment_days|payment_months")),
                  StepParam("tax_from", "Beginn der Steuerpflicht: ein Datum (JJJJ-MM-TT) oder ein Ausdruck, "
                            "z. B. ${tax_from}; nur mit «tax»",
                            "first day of the tax liability: a date (YYYY-MM-DD) or an expression, e.g. ${tax_from}; "
                            "only with «tax»", needs=("tax",)),
                  StepParam("tax_due_now", "Betrag in Euro, den dieser Bescheid jetzt fordert: die Steuer vom Beginn "
                            "der Steuerpflicht bis zum Ende des laufenden Jahres (im ersten Jahr anteilig, im Modell "
                            "berechnet, z. B. ${tax_due_now}); 0: in diesem Jahr ist nichts zu zahlen; nur mit «tax»",
                            "amount in euros this letter asks for now: the tax from the first day of the liability "
                            "to the end of the current year (pro rata in the first year, computed in the model, e.g. "
                            "${tax_due_now}); 0: nothing to pay this year; only with «tax»", needs=("tax",)),
                  StepParam("tax_due", "Fälligkeit in den folgenden Jahren, wie die Satzung sie nennt, z. B. "
                            "«jeweils zum 1. Juli» («Ab 2027 ist die Steuer jeweils zum 1. Juli fällig.»); nur mit «tax»",
                            "due date in the following years as the bylaw words it, e.g. «jeweils zum 1. Juli» "
                            "(«from 2027 the tax is due on 1 July each year»); only with «tax»", needs=("tax",))],
          results=[StepParam("decision_issued", "ja", "true"),
                   StepParam("decision_document", "Nummer des Bescheids in der Akte", "id of the letter in the case file"),
                   StepParam("payment_reference", "Verwendungszweck der Überweisung, nur mit einer Zahlungsfrist "
                             "(«payment_days» oder «payment_months») und wenn jetzt etwas zu zahlen ist",
                             "reference of the transfer, only with a period to pay («payment_days» or "
                             "«payment_months») and when something is to be paid now"),
                   StepParam("amount_due", "der jetzt zu zahlende Betrag: die festgesetzte Gebühr, bei einer Steuer "
                             "«tax_due_now»; nur mit einer Zahlungsfrist und wenn jetzt etwas zu zahlen ist",
                             "the amount to pay now: the fee fixed, for a tax «tax_due_now»; only with a period to pay "
                             "and when something is to be paid now"),
                   StepParam("payment_period", "die Zahlungsfrist in Worten, ab der Bekanntgabe des Bescheids gezählt: "
                             "«innerhalb eines Monats nach Bekanntgabe des Bescheids»; nur mit einer Zahlungsfrist und "
                             "wenn jetzt etwas zu zahlen ist. Ein Datum nennt der Bescheid nicht: wann er bekannt "
                             "gegeben ist (am Tag nach dem Abruf, am vierten Tag nach der Aufgabe zur Post), steht "
                             "erst danach fest",
                             "the period to pay in words, counted from the notice of the letter (German: «within one "
                             "month of the notice of the letter»); only with a period to pay and when something is to "
                             "be paid now. The letter names no date: when it is notified (the day after its retrieval, "
                             "the fourth day after posting) is known only later"),
                   PAYMENT_ACCOUNT_RESULT])
def issue_decision(ctx: StepContext) -> dict[str, Any]:
    """Write the decision letter as a PDF document of the case (once per step execution)."""
    from rathaus.cases.models import DocumentType
    from rathaus.cases.selectors import document_key_used
    from rathaus.cases.services import Generated, document_add_generated

    from ...pdf import decision_letter_pdf

    case = current_case()
    application = case.application
    # A refusal letter (the model says so) charges nothing: the fee the process computed for a grant
    # is not the letter's. A case worker's "reject" left in the data (an exemption refused, the tax
    # then set) does not make the model's tax letter a refusal.
    fee = None if ctx.params.get("outcome") == "reject" else ctx.data.get("fee")
    charged = fee not in (None, "")
    days = str(ctx.params.get("payment_days") or "").strip()
    months = str(ctx.params.get("payment_months") or "").strip()
    tax = _tax_assessment(ctx, fee) if charged and str(ctx.params.get("tax") or "").strip() else None
    # What this letter asks her to pay now: the fee, or the tax up to the end of this year (an
    # exemption, or a liability that begins next year, asks for nothing now).
    due = fee if tax is None else tax.due_now if tax.yearly else 0
    if tax is not None and due and not (days or months):  # the check asks for them; an expression may be empty
        raise ValueError("a tax letter that asks for payment needs payment_days or payment_months")
    # The payment terms come from the step's key and day, so a retry names the same ones as the letter.
    terms: dict[str, Any] = {}
    payment = None
    if charged and (days or months) and (tax is None or due):
        # Counted from the notice, not from today: a letter provided for retrieval is notified the day
        # after she downloads it (up to ten days later), one sent by post on the fourth day after
        # posting (§ 41 (2), (2a) VwVfG), and nothing can be due before it is notified.
        account = application.municipality.bank_account_text()
        terms = {"payment_reference": _payment_reference(ctx), "amount_due": due,
                 "payment_period": _payment_period(days, months), "payment_account": _payment_account(account)}
        payment = _kept_terms(due, terms["payment_reference"], account, days, months)
    if document_key_used(ctx.idempotency_key):
        return {"decision_issued": True, **terms}
    title = str(ctx.params["title"])
    body = _format(str(ctx.params["text"]), dict(ctx.data))
    # The outcome: the model's `outcome` parameter, else the case worker's decision, else a grant
    # (the letter's default text grants the application).
    outcome = str(ctx.params.get("outcome") or ctx.data.get("outcome") or "approve")
    reason = str(ctx.data.get("fee_reason") or "")
    if tax is not None:
        amount_line = tax.line(reason=reason, terms=terms)
    elif terms:
        # A fee assessment (Gebührenfestsetzung) in the letter: the amount with its cents, as a
        # cash office books it, and what she needs to pay it.
        amount_line = (f"Gebührenfestsetzung: Für diesen Bescheid wird eine Gebühr von {_euros(fee)} € festgesetzt"
                       f"{f' ({reason})' if reason else ''}. Bitte überweisen Sie den Betrag {_in_letter(terms)}"
                       f"{terms['payment_account']} mit dem Verwendungszweck {terms['payment_reference']}. {NOTICE_RULE}")
    else:
        amount_line = f"Betrag: {fee} €. {reason}" if charged else ""
    raw = decision_letter_pdf(
        title=title, municipality=application.municipality, body=body,
        facts=[("Vorgangsnummer", application.reference), ("Leistung", application.service.name),
               ("Datum", timezone.localtime(ctx.now).strftime("%d.%m.%Y")), ("Empfänger/in", application.applicant_name or "–")],
        amount_line=amount_line, service=application.service)
    filename = f"Bescheid-{application.reference}.pdf"
    # Into the case file as a decision the citizen may download (version 1, stored with the step's transaction),
    # its payment terms kept with its notice: once it is notified, her status page names the day to pay.
    document = document_add_generated(application=application, generated=Generated(raw=raw, filename=filename),
                                      title=title, document_type=DocumentType.DECISION,
                                      idempotency_key=ctx.idempotency_key, key_unused=True,
                                      payment=payment)
    case.note(f"Bescheid erstellt: {title}.", public=True, element_id=ctx.element_id, document=document.pk)
    case.letter_id = document.pk  # what the model writes to her next in this move announces it
    from rathaus.integration.models import EventKind
    from rathaus.integration.services import application_event_data, event_emit

    event_emit(municipality=application.municipality, kind=EventKind.DECISION_ISSUED, application=application,
               data=application_event_data(application, decision={
                   "outcome": outcome, "title": title, "fee": None if fee in (None, "") else fee if isinstance(fee, int | float) else str(fee),
                   "fee_reason": (ctx.data.get("fee_reason") or "") if fee is not None else "", "document_id": document.pk}))
    return {"decision_issued": True, "decision_document": document.pk, **terms}


@dataclass(frozen=True)
class _TaxAssessment:
    """A yearly tax a letter fixes (Steuerfestsetzung): from `start` at `yearly` euros a year; `due_now`
    for the time up to the end of `year`, the year of the letter; `following`: the bylaw's due date after it."""

    name: str
    start: date
    yearly: Decimal
    due_now: int | float
    year: int
    following: str

    def line(self, *, reason: str, terms: Mapping[str, Any]) -> str:
        """The letter's assessment: what is fixed from when, what to pay now by when and where, and later."""
        why = f" ({reason})" if reason else ""
        start = self.start.strftime("%d.%m.%Y")
        if not self.yearly:  # exempt: nothing to pay, now or later
            return f"Steuerfestsetzung: Die {self.name} wird ab dem {start} auf 0,00 € festgesetzt{why}; es ist nichts zu zahlen."
        line = f"Steuerfestsetzung: Die {self.name} wird ab dem {start} auf {_euros(self.yearly)} € jährlich festgesetzt{why}."
        if terms:
            line += (f" Für {self.period()} sind {_euros(self.due_now)} € {_in_letter(terms)}"
                     f"{terms['payment_account']} mit dem Verwendungszweck {terms['payment_reference']} zu zahlen.")
        else:
            line += f" Für {self.year} ist nichts zu zahlen."
        line += f" Ab {max(self.year + 1, self.start.year)} ist die Steuer {self.following} fällig."
        return f"{line} {NOTICE_RULE}" if terms else line

    def period(self) -> str:
        """«2026 (1 Monat)»; from an earlier year «die Zeit vom 01.07.2025 bis zum 31.12.2026 (18 Monate)»
        (whole months only when the liability begins on the first of a month)."""
        months = (self.year - self.start.year) * 12 + 13 - self.start.month
        count = f" ({months} {'Monat' if months == 1 else 'Monate'})" if self.start.day == 1 else ""
        if self.start.year == self.year and count:
            return f"{self.year}{count}"
        return f"die Zeit vom {self.start:%d.%m.%Y} bis zum 31.12.{self.year}{count}"


def _tax_assessment(ctx: StepContext, fee: Any) -> _TaxAssessment:
    """The tax a letter with «tax» fixes, from the step's parameters and the yearly amount `fee`."""
    start = _as_date(ctx.params.get("tax_from"))
    if start is None:
        raise ValueError(f"tax_from is not a date: {str(ctx.params.get('tax_from'))[:50]}")
    due_now, yearly = _amount(ctx.params.get("tax_due_now"), "tax_due_now"), _amount(fee, "fee")
    following = str(ctx.params.get("tax_due") or "").strip()
    if not following or len(following) > MAX_TAX_DUE:
        raise ValueError("tax_due must name the due date of the following years (at most 200 characters)")
    return _TaxAssessment(name=str(ctx.params["tax"]).strip(), start=start, yearly=yearly,
                          due_now=int(due_now) if due_now == int(due_now) else float(due_now),
                          year=timezone.localdate(ctx.now).year, following=following)


def _kept_terms(due: Any, reference: str, account: str, days: str, months: str) -> PaymentTerms | None:
    """The letter's payment terms (`due` euros) as its notice keeps them, or None for an amount that
    is no sum of euros and cents (the letter prints it as given, and no line on the status page
    should restate it otherwise)."""
    from rathaus.cases.services import PaymentTerms

    try:
        amount = _amount(due, "amount_due")
    except ValueError:
        return None
    return PaymentTerms(amount=amount, reference=reference, account=account,
                        days=int(days) if days else None, months=int(months) if months else None)


def _amount(value: Any, name: str) -> Decimal:
    """An amount in euros (a number, or a text such as 10.50) of at most a billion, to the cent."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        amount = Decimal("NaN")
    if isinstance(value, bool) or not amount.is_finite() or not 0 <= amount < 10**9 or amount != amount.quantize(Decimal("0.01")):
        raise ValueError(f"{name} is not an amount in euros: {str(value)[:50]}")
    return amount


def _euros(amount: Any) -> str:
    """An amount as a German fee assessment writes it: 1.234,50."""
    try:
        value = Decimal(str(amount)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return str(amount)
    return f"{value:,.2f}".translate(str.maketrans(",.", ".,"))


def _payment_reference(ctx: StepContext) -> str:
    """The reference of the transfer this step asks for (the same on a retry of the step)."""
    reference = current_case().application.reference
    return f"{reference}-{hashlib.sha256(ctx.idempotency_key.encode()).hexdigest()[:6].upper()}"


def _payment_account(account: str) -> str:
    """« an Stadtkasse Musterstadt, IBAN DE89 … (BIC …),» for the town's `account`
    (`Municipality.bank_account_text`), to follow the last day in a payment sentence.

    Empty when the town has given no bank details: the sentence then reads as it did before
    they existed, with no empty label (the definitions page warns the staff instead).
    """
    return f" an {account}," if account else ""


#: How a letter that asks for payment "after notice" is notified, so she can count the period.
NOTICE_RULE = ("Der Bescheid gilt als bekannt gegeben: online bereitgestellt am Tag nach dem Abruf, mit der Post "
               "versandt am vierten Tag nach der Aufgabe zur Post.")


def _payment_period(days: str, months: str) -> str:
    """«innerhalb eines Monats nach Bekanntgabe des Bescheids» for `months` (or `days`) to pay."""
    if days and months:
        raise ValueError("give the time to pay in days or in months, not both")
    if months:
        if not (months.isascii() and months.isdigit() and 1 <= int(months) <= MAX_PAYMENT_MONTHS):
            raise ValueError(f"the months to pay must be between 1 and {MAX_PAYMENT_MONTHS}, not {months[:50]}")
        span = "eines Monats" if int(months) == 1 else f"von {int(months)} Monaten"
    else:
        _check_days(days)
        span = "eines Tages" if int(days) == 1 else f"von {int(days)} Tagen"
    return f"innerhalb {span} nach Bekanntgabe des Bescheids"


def _in_letter(terms: Mapping[str, Any]) -> str:
    """The period as the letter itself says it: «… nach Bekanntgabe dieses Bescheids»."""
    return str(terms["payment_period"]).replace("des Bescheids", "dieses Bescheids")


def _check_days(days: str) -> None:
    if not (days.isascii() and days.isdigit() and 1 <= int(days) <= MAX_PAYMENT_DAYS):
        raise ValueError(f"the days to pay must be between 1 and {MAX_PAYMENT_DAYS}, not {days[:50]}")


def _last_day_to_pay(ctx: StepContext, days: str, *, before: date | None = None) -> tuple[str, str]:
    """The last day to pay (DD.MM.YYYY) and its end (ISO 8601) of a payment request: `days` from
    today, moved to the town's next working day (§ 31 (3) VwVfG); with `before` (the payment must be
    in before that day, e.g. the moving day less the days the signs must stand) at most the last
    working day before it, and never before today."""
    from rathaus.applications.services import first_working_day, last_working_day_before

    _check_days(days)
    municipality = current_case().application.municipality
    today = timezone.localdate(ctx.now)
    last = first_working_day(today + timedelta(days=int(days)), municipality=municipality)
    if before is not None and last >= before:
        last = max(today, last_working_day_before(before, municipality=municipality))
    return last.strftime("%d.%m.%Y"), timezone.make_aware(datetime.combine(last, time(23, 59, 59))).isoformat()


@register("notify_citizen", description="Antragsteller/in per E-Mail benachrichtigen",
          description_en="Notify the applicant by e-mail",
          params=[StepParam("subject", "Betreff; {name} setzt Werte der Prozessdaten ein",
                            "subject; {name} inserts values of the process data",
                            default="Neuigkeiten zu Ihrem Antrag {case_ref}"),
                  StepParam("text", "Text zwischen Anrede und Gruß; {name} setzt Werte der Prozessdaten ein",
                            "text between greeting and closing; {name} inserts values of the process data",
                            default="es gibt Neuigkeiten zu Ihrem Antrag.")],
          results=[StepParam("citizen_notified", "nein, wenn der Antrag keine E-Mail-Adresse hat",
                             "false when the application has no e-mail address")])
def notify_citizen(ctx: StepContext) -> dict[str, Any]:
    """Queue an e-mail (``subject``, ``text`` with ``{name}`` placeholders) to the applicant via the outbox."""
    from ...outbox import outbox_add

    case = current_case()
    application = case.application
    if not application.applicant_email:
        return {"citizen_notified": False}
    data = dict(ctx.data)
    subject = _format(str(ctx.params["subject"]), data)
    text = _format(str(ctx.params["text"]), data)
    body = f"Guten Tag,\n\n{text}\n\nVorgangsnummer: {application.reference}\n\nMit freundlichen Grüßen\n{application.municipality.name}"
    outbox_add(municipality=application.municipality, key=ctx.idempotency_key, kind="email",
               payload={"subject": subject, "body": body, "to": [application.applicant_email]})
    case.note(f"Benachrichtigung an die antragstellende Person: {subject}", element_id=ctx.element_id)
    return {"citizen_notified": True}


_YES = ("ja", "yes", "true", "1")
_NO = ("nein", "no", "false", "0")


def _status_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    from rathaus.applications.models import Status

    problems = []
    status, allowed = params.get("status", "").strip(), ", ".join(Status.values)
    if status and status not in Status.values:
        problems.append((f"Parameter «status»: «{status[:50]}» ist kein Status (erlaubt: {allowed})",
                         f"parameter «status»: «{status[:50]}» is not a status (allowed: {allowed})"))
    email = params.get("email", "").strip().lower()
    if email and email not in _YES + _NO:
        problems.append((f"Parameter «email»: «{email[:50]}» ist weder «ja» noch «nein»",
                         f"parameter «email»: «{email[:50]}» is neither «ja» (yes) nor «nein» (no)"))
    return problems


@register("set_status", description="Status des Antrags setzen (mit Text für die Bürgerin / den Bürger)",
          description_en="Set the application's status (with a text for the citizen)",
          check_params=_status_params,
          params=[StepParam("status", "received, in_review, waiting (Rückfrage), payment_due (Zahlung offen), approved, "
                            "rejected, withdrawn oder closed", "received, in_review, waiting (a question to her), "
                            "payment_due (a fee to pay), approved, rejected, withdrawn or closed", default="in_review"),
                  StepParam("text", "was die Bürgerin auf der Statusseite (und in der E-Mail) liest; {name} setzt Werte "
                            "der Prozessdaten ein; leer: der Standardtext des Status", "what the citizen reads on her "
                            "status page (and in the e-mail); {name} inserts values of the process data; empty: the "
                            "status's standard text"),
                  StepParam("email", "«nein», wenn der Prozess ihr gerade dasselbe geschrieben hat",
                            "«nein» (no) when the process has just written her the same", default="ja")],
          results=[StepParam("status", "der gesetzte Status", "the status set")])
def set_status(ctx: StepContext) -> dict[str, Any]:
    """``status`` (received/in_review/waiting/payment_due/approved/rejected/closed) and ``text`` the citizen reads.

    ``email``: «nein» when the process has just written to the citizen about the same thing (a
    decision notice, a payment request), so she does not get a second e-mail saying it again; the
    new status and its text are on her status page either way. Default «ja».
    """
    from rathaus.applications.services import application_change_status

    case = current_case()
    status = str(ctx.params["status"]).strip()
    text = _format(str(ctx.params.get("text") or ""), dict(ctx.data))
    email = str(ctx.params["email"]).strip().lower() not in _NO
    if case.application.status != status or text:
        application_change_status(application=case.application, status=status, public_text=text, actor=None,
                                  read_locked=case.application_locked, email=email, by_process=True)
    return {"status": status}


#: Most working days a deadline may lie ahead (about eight years); more is a typo, and the count goes day by day.
MAX_WORKING_DAYS = 2000


def _deadline_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    problems = []
    days = params.get("working_days", "").strip()
    # [0-9], not isdigit(): "²" is a digit to Python but no number to int() (the check would fail).
    if days and not (re.fullmatch(r"[0-9]{1,5}", days) and int(days) <= MAX_WORKING_DAYS):
        problems.append((f"Parameter «working_days»: «{days[:50]}» ist keine ganze Zahl von Arbeitstagen "
                         f"(0 bis {MAX_WORKING_DAYS})",
                         f"parameter «working_days»: «{days[:50]}» is not a whole number of working days "
                         f"(0 to {MAX_WORKING_DAYS})"))
    variable = params.get("variable", "").strip()
    if variable and not is_data_key(variable):
        problems.append((f"Parameter «variable»: «{variable[:50]}» ist kein Feldname (Buchstaben, Ziffern, _; "
                         "zuerst ein Buchstabe)",
                         f"parameter «variable»: «{variable[:50]}» is not a field name (letters, digits, _; "
                         "a letter first)"))
    return problems


@register("set_deadline", description="Frist in Arbeitstagen setzen", check_params=_deadline_params,
          description_en="Set a deadline in working days",
          params=[StepParam("working_days", "Arbeitstage (Montag bis Freitag ohne die Feiertage des Landes der Kommune) "
                            "ab heute", "working days (Monday to Friday without the public holidays of the "
                            "municipality's state) from today", default="10"),
                  StepParam("variable", "Feld der Prozessdaten, in das die Frist geschrieben wird",
                            "field of the process data the deadline is written to", default="deadline")],
          results=[StepParam("deadline", "Ende des letzten Tages (ISO 8601), unter dem Namen aus «variable»",
                             "end of the last day (ISO 8601), under the name given in «variable»")])
def set_deadline(ctx: StepContext) -> dict[str, Any]:
    """``working_days`` from now (Monday to Friday, public holidays skipped); returns ``deadline`` (ISO date-time, end of day)."""
    from rathaus.applications.services import add_working_days

    days = int(ctx.params["working_days"])
    if not 0 <= days <= MAX_WORKING_DAYS:  # from an expression: the check saw only literals
        raise ValueError(f"working_days must be between 0 and {MAX_WORKING_DAYS}, not {days}")
    day = add_working_days(timezone.localdate(ctx.now), days, municipality=current_case().application.municipality)
    deadline = timezone.make_aware(datetime.combine(day, time(23, 59)))
    return {str(ctx.params["variable"]): deadline.isoformat()}


def _days_problems(params: Mapping[str, str], name: str) -> list[tuple[str, str]]:
    return _count_problems(params, name, ("Tagen", "days"), MAX_PAYMENT_DAYS)


def _months_problems(params: Mapping[str, str]) -> list[tuple[str, str]]:
    return _count_problems(params, "payment_months", ("Monaten", "months"), MAX_PAYMENT_MONTHS)


def _count_problems(params: Mapping[str, str], name: str, unit: tuple[str, str], most: int) -> list[tuple[str, str]]:
    """A period parameter given as a literal must be a whole number from 1 to `most` (of `unit`)."""
    value = params.get(name, "").strip()
    if value and not (re.fullmatch(r"[0-9]{1,4}", value) and 1 <= int(value) <= most):
        return [(f"Parameter «{name}»: «{value[:50]}» ist keine ganze Zahl von {unit[0]} (1 bis {most})",
                 f"parameter «{name}»: «{value[:50]}» is not a whole number of {unit[1]} (1 to {most})")]
    return []


def _payment_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    problems = _days_problems(params, "deadline_days")
    before = params.get("pay_before", "").strip()
    if before and not is_expression_param(before) and _as_date(before) is None:
        problems.append((f"Parameter «pay_before»: «{before[:50]}» ist kein Datum (JJJJ-MM-TT) und kein Ausdruck",
                         f"parameter «pay_before»: «{before[:50]}» is neither a date (YYYY-MM-DD) nor an expression"))
    return problems


def _as_date(value: Any) -> date | None:
    """A date given as a date, a datetime (its day) or an ISO text (YYYY-MM-DD); None otherwise."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        return date.fromisoformat(text) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text) else None
    except ValueError:  # 2026-02-30
        return None


#: Longest payment period in days a model may give (a year); more is a typo.
MAX_PAYMENT_DAYS = 366
#: The same in months.
MAX_PAYMENT_MONTHS = 12


@register("wait_for_payment", description="Zahlungsaufforderung senden und auf die Zahlung warten",
          description_en="Send the payment request (the model then waits for «payment_received»)",
          check_params=_payment_params,
          params=[StepParam("amount", "Betrag in Euro; ohne Angabe die Gebühr «fee» der Prozessdaten",
                            "amount in euros; without it the process data's «fee»"),
                  StepParam("deadline_days", "Zahlungsfrist in Tagen; die Aufforderung nennt den letzten Tag (fällt er "
                            "auf ein Wochenende oder einen Feiertag, der nächste Arbeitstag, § 31 Abs. 3 VwVfG), und "
                            "«payment_due_at» ist sein Ende, für den Timer des Modells (timeDate)",
                            "days to pay; the request names the last day (on a weekend or public holiday, the next "
                            "working day), and «payment_due_at» is its end, for the model's timer (timeDate)"),
                  StepParam("pay_before", "Die Zahlung muss vor diesem Tag eingehen (Datum oder Ausdruck, z. B. "
                            "${add_days(place.date, -3)}): der letzte Tag ist dann höchstens der Arbeitstag davor, "
                            "frühestens heute; nur mit «deadline_days»",
                            "the payment must arrive before this day (a date or an expression, e.g. "
                            "${add_days(place.date, -3)}): the last day is then at most the working day before it, "
                            "today at the earliest; only with «deadline_days»", needs=("deadline_days",))],
          results=[StepParam("payment_reference", "Verwendungszweck der Überweisung", "reference of the transfer"),
                   StepParam("amount_due", "der geforderte Betrag", "the amount requested"),
                   StepParam("payment_due_date", "letzter Tag der Zahlungsfrist (TT.MM.JJJJ), nur mit «deadline_days»",
                             "last day to pay (DD.MM.YYYY), only with «deadline_days»"),
                   StepParam("payment_due_at", "Ende des letzten Tages (ISO 8601), nur mit «deadline_days»",
                             "end of the last day (ISO 8601), only with «deadline_days»"),
                   PAYMENT_ACCOUNT_RESULT])
def wait_for_payment(ctx: StepContext) -> dict[str, Any]:
    """Send the payment request with a reference; the BPMN message ``payment_received`` continues.

    With ``deadline_days`` the request names the last day to pay, so she learns the deadline
    before the model's timer closes the case for want of payment; the timer waits for the end of
    that day (``payment_due_at``), so text and timer agree.
    """
    from ...outbox import outbox_add

    case = current_case()
    application = case.application
    amount = ctx.params.get("amount", ctx.data.get("fee"))
    shown = render_text("{amount}", {"amount": amount})
    reference = _payment_reference(ctx)
    days = str(ctx.params.get("deadline_days") or "").strip()
    before = ctx.params.get("pay_before")
    before_day = _as_date(before) if before not in (None, "") else None
    if before not in (None, "") and before_day is None:
        raise ValueError(f"pay_before is not a date: {str(before)[:50]}")
    due_date, due_at = _last_day_to_pay(ctx, days, before=before_day) if days else ("", "")
    by_when = f" bis zum {due_date}" if due_date else ""
    account = _payment_account(application.municipality.bank_account_text())
    if application.applicant_email:
        body = (f"Guten Tag,\n\nbitte überweisen Sie {shown} €{by_when}{account} mit dem Verwendungszweck {reference}.\n"
                f"Sobald die Zahlung eingegangen ist, erhalten Sie die Erlaubnis.\n\n"
                f"Mit freundlichen Grüßen\n{application.municipality.name}")
        outbox_add(municipality=application.municipality, key=ctx.idempotency_key, kind="email",
                   payload={"subject": f"Zahlungsaufforderung {application.reference}", "body": body,
                            "to": [application.applicant_email]})
    # The last day, as data too: her status page says until when the case waits for her payment.
    case.note(f"Zahlungsaufforderung über {shown} €{by_when}{account.rstrip(',')} gesendet (Verwendungszweck "
              f"{reference}).", public=True, element_id=ctx.element_id,
              **({"payment_due": datetime.fromisoformat(due_at).date().isoformat()} if due_at else {}))
    result = {"payment_reference": reference, "amount_due": amount, "payment_account": account}
    if due_date:
        result.update(payment_due_date=due_date, payment_due_at=due_at)
    return result


def _backoffice_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    url = params.get("url", "").strip()
    if url and not http_url_ok(url):
        return [(f"Parameter «url»: «{url[:200]}» ist keine http- oder https-Adresse",
                 f"parameter «url»: «{url[:200]}» is not an http or https address")]
    return []


@register("notify_backoffice", description="Fachverfahren benachrichtigen (HTTP)", check_params=_backoffice_params,
          description_en="Notify the back-office system (HTTP)",
          params=[StepParam("url", "öffentliche http(s)-Adresse; ohne Angabe die im Betrieb eingestellte "
                            "(RATHAUS_BACKOFFICE_URL)", "public http(s) address; without it the operator's "
                            "RATHAUS_BACKOFFICE_URL"),
                  StepParam("event", "Name des Ereignisses im Aufruf", "name of the event in the call",
                            default="case_updated")],
          results=[StepParam("backoffice_notified", "ja (der Aufruf liegt im Postausgang)",
                             "true (the call is in the outbox)")])
def notify_backoffice(ctx: StepContext) -> dict[str, Any]:
    """POST the case summary to the back-office system (``url`` or RATHAUS_BACKOFFICE_URL) via the outbox.

    A ``url`` from the model must be a public http(s) address (see `outbox._prepare`); without it
    the operator's RATHAUS_BACKOFFICE_URL is looked up when the call is made.
    """
    from ...outbox import outbox_add

    case = current_case()
    application = case.application
    url = str(ctx.params.get("url") or "")
    outbox_add(municipality=application.municipality, key=ctx.idempotency_key, kind="http",
               payload={"url": url, "body": {"reference": application.reference, "service": application.service.slug,
                                             "event": str(ctx.params["event"])}})
    return {"backoffice_notified": True}


def model_asks_for_payment(digest: str, bpmn_files: Callable[[], list[tuple[str, bytes]]]) -> bool:
    """Whether a model has a step that asks the citizen to transfer money: ``wait_for_payment``,
    or ``issue_decision`` fixing a fee or a tax with ``payment_days`` or ``payment_months``."""
    from ...selectors import model_step_configs

    return any(config.step == "wait_for_payment" or (config.step == "issue_decision" and (
        config.params.get("payment_days", "").strip() or config.params.get("payment_months", "").strip()))
        for config in model_step_configs(digest, bpmn_files))
