"""Municipalities: the tenants every owned row points to."""

import contextlib

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from schwifty import BIC, IBAN, registry
from schwifty.exceptions import InvalidChecksumDigits, InvalidCountryCode, InvalidLength, SchwiftyException

# The Amtlicher Gemeindeschlüssel: 2 digits state, 1 district, 2 county, 3 municipality.
AGS_VALIDATOR = RegexValidator(
    r"^(0[1-9]|1[0-6])[0-9]{6}$",
    _("Der Amtliche Gemeindeschlüssel (AGS) hat 8 Ziffern und beginnt mit dem Länderschlüssel 01–16."),
)


def compact_code(value: str) -> str:
    """An IBAN or BIC as stored and compared: without spaces, in upper case ("de89 3704 …" → "DE893704…")."""
    return "".join(str(value).split()).upper()


def grouped_iban(value: str) -> str:
    """An IBAN as printed on paper, in groups of four: DE89 3704 0044 0532 0130 00."""
    value = compact_code(value)
    return " ".join(value[at:at + 4] for at in range(0, len(value), 4))


def validate_iban(value: str) -> None:
    """Checks country, length, structure and check digits with schwifty; German messages name the mistake."""
    value = compact_code(value)
    try:
        IBAN(value)
    except InvalidCountryCode:
        raise ValidationError(_("Eine IBAN beginnt mit dem Kürzel eines Landes, das IBANs vergibt (z. B. DE); "
                                "«%(country)s» ist keines."), code="iban_country", params={"country": value[:2]}) from None
    except InvalidLength:
        expected = registry.get_iban_spec(value[:2]).iban_length
        raise ValidationError(_("Eine IBAN aus %(country)s hat %(expected)s Zeichen, diese hat %(length)s."),
                              code="iban_length",
                              params={"country": value[:2], "expected": expected, "length": len(value)}) from None
    except InvalidChecksumDigits:
        raise ValidationError(_("Die Prüfziffern der IBAN stimmen nicht: vermutlich ist ein Zeichen vertippt oder "
                                "vertauscht."), code="iban_checksum") from None
    except SchwiftyException:
        raise ValidationError(_("Das ist keine gültige IBAN: nach dem Länderkürzel folgen zwei Prüfziffern und "
                                "die Kontonummer (z. B. DE89 3704 0044 0532 0130 00)."), code="iban_invalid") from None


def validate_bic(value: str) -> None:
    """Checks the form of a BIC (8 or 11 characters, a known country); not whether the bank exists."""
    try:
        BIC(compact_code(value))
    except SchwiftyException:
        raise ValidationError(_("Das ist kein gültiger BIC: er hat 8 oder 11 Zeichen, z. B. COBADEFFXXX."),
                              code="bic_invalid") from None


def bic_mismatch(iban: str, bic: str) -> ValidationError | None:
    """Why `bic` is not the BIC of the bank that keeps `iban`, or None.

    Both must be valid on their own (checked by the field validators; an invalid one gives None
    here). Only where schwifty's bank registry knows the IBAN's bank (German banks and many
    others): a bank may use several BICs for its branches, so the BIC matches when the registry
    lists the IBAN's bank code for it, or when bank, country and location (its first eight
    characters) are those of the bank's registered BIC. A transfer with a wrong BIC may go to
    another bank or bounce, and the citizen pays the charges.
    """
    try:
        account, given = IBAN(compact_code(iban)), BIC(compact_code(bic))
        registered = account.bic
    except SchwiftyException:
        return None
    if registered is None or str(registered)[:8] == str(given)[:8]:
        return None
    with contextlib.suppress(SchwiftyException):
        if account.bank_code in given.domestic_bank_codes:
            return None
    return ValidationError(
        _("Der BIC passt nicht zur IBAN: zur Bank der IBAN (%(bank)s, Bankleitzahl %(code)s) gehört der BIC "
          "%(registered)s. Bitte prüfen Sie beide Angaben; innerhalb Deutschlands genügt die IBAN allein."),
        code="bic_mismatch",
        params={"bank": account.bank_name or account.bank_code, "code": account.bank_code, "registered": str(registered)})


class CompactCodeFormField(forms.CharField):
    """Accepts an IBAN or BIC typed with spaces or in lower case; shows an IBAN in groups of four."""

    def __init__(self, *, grouped: bool = False, **kwargs) -> None:
        self.grouped = grouped
        super().__init__(**kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return compact_code(value) if value else value

    def prepare_value(self, value):
        return grouped_iban(value) if self.grouped and isinstance(value, str) and value else value

    def widget_attrs(self, widget):
        attrs = super().widget_attrs(widget)
        if "maxlength" in attrs:  # room for the spaces she may type between the groups
            attrs["maxlength"] = str(self.max_length + self.max_length // 4 + 1)
        attrs.update(autocomplete="off", spellcheck="false")
        return attrs


class CompactCodeField(models.CharField):
    """A CharField for IBAN and BIC that stores the compact form, however the value was typed."""

    def to_python(self, value):
        value = super().to_python(value)
        return compact_code(value) if value else value

    def formfield(self, **kwargs):
        return super().formfield(**{"form_class": CompactCodeFormField, "grouped": self.name == "iban", **kwargs})


class Remedy(models.TextChoices):
    """The legal remedy against the town's decision letters (§ 58 (1) VwGO: the letter must name it)."""

    # An objection procedure (Widerspruchsverfahren, §§ 68 ff. VwGO) where the Land keeps it.
    OBJECTION = "objection", _("Widerspruch bei der Kommune")
    # Where the Land has abolished it for the town's matters (e.g. Bavaria, Lower Saxony, NRW).
    ACTION = "action", _("Klage beim Verwaltungsgericht")
    # Where the Land keeps the objection optional for some matters (Bavaria, Art. 12 (1) AGVwGO, e.g.
    # communal levies such as the dog tax): she chooses between an objection and an action at once.
    CHOICE = "choice", _("Wahlweise Widerspruch bei der Kommune oder Klage beim Verwaltungsgericht")

    @property
    def details(self) -> tuple[str, ...]:
        """The town's fields (Municipality) the instruction names: where the remedy is lodged."""
        return {"objection": ("address",), "action": ("court_name", "court_address"),
                "choice": ("address", "court_name", "court_address")}[self.value]


#: How an error names a missing detail of the letter settings page (nominative, for a list).
REMEDY_DETAIL_NAMES = {"address": _("Anschrift der Kommune"), "court_name": _("Name des Verwaltungsgerichts"),
                       "court_address": _("Anschrift des Verwaltungsgerichts")}


def one_line(text: str) -> str:
    """An address typed over several lines, for a sentence: «Rathausplatz 1, 99999 Musterstadt»."""
    return ", ".join(line.strip().rstrip(",") for line in str(text).splitlines() if line.strip())


class Municipality(models.Model):
    name = models.CharField(_("Name"), max_length=120)
    slug = models.SlugField(_("Kürzel in der Adresse"), max_length=60, unique=True)
    ags = models.CharField(_("Amtlicher Gemeindeschlüssel"), max_length=8, unique=True, validators=[AGS_VALIDATOR])
    reference_prefix = models.CharField(
        _("Präfix der Vorgangsnummern"), max_length=5,
        validators=[RegexValidator(r"^[A-Z]{2,5}$", _("2 bis 5 Großbuchstaben."))],
    )
    contact_email = models.EmailField(_("Kontakt-E-Mail"))
    contact_phone = models.CharField(_("Telefon"), max_length=40, blank=True)
    address = models.TextField(_("Anschrift"), max_length=300, blank=True)
    website = models.URLField(_("Webseite"), blank=True)
    logo = models.ImageField(_("Wappen oder Logo"), upload_to="logos/", blank=True)
    # Where citizens transfer fees to; letters and payment requests name it. All empty: not given (yet).
    payee_name = models.CharField(_("Zahlungsempfänger (Kontoinhaber)"), max_length=70, blank=True,
                                  help_text=_("wie er auf Überweisungen steht, z. B. Stadtkasse Musterstadt"))
    iban = CompactCodeField(_("IBAN"), max_length=34, blank=True, validators=[validate_iban])
    bic = CompactCodeField(_("BIC"), max_length=11, blank=True, validators=[validate_bic],
                           help_text=_("freiwillig: innerhalb des SEPA-Raums genügt die IBAN"))
    # What decision letters say about the legal remedy against them. Empty: not given (yet); letters
    # then name an objection at the town, the only remedy that needs no further details.
    remedy = models.CharField(_("Rechtsbehelf gegen Bescheide"), max_length=10, choices=Remedy.choices, blank=True)
    court_name = models.CharField(_("Verwaltungsgericht"), max_length=120, blank=True,
                                  help_text=_("nur bei Klage, z. B. Verwaltungsgericht Würzburg"))
    court_address = models.TextField(_("Anschrift des Verwaltungsgerichts"), max_length=300, blank=True,
                                     help_text=_("nur bei Klage: Straße, Hausnummer, Postleitzahl und Ort"))
    remedy_note = models.TextField(_("Zusatz zur Rechtsbehelfsbelehrung"), max_length=500, blank=True,
                                   help_text=_("freiwillig: ein Satz, den die Bescheide nach der Belehrung abdrucken "
                                               "(nicht die von Leistungen mit einem anderen Rechtsbehelf)"))
    is_active = models.BooleanField(_("aktiv"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("Kommune")
        verbose_name_plural = _("Kommunen")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:index", kwargs={"municipality": self.slug})

    def clean(self) -> None:
        # A name without an account, or an account without a name, is no bank connection a citizen can use.
        errors = {}
        if self.iban and not self.payee_name.strip():
            errors["payee_name"] = _("Bitte geben Sie an, auf wessen Namen das Konto lautet (z. B. Stadtkasse "
                                     "Musterstadt).")
        if (self.payee_name.strip() or self.bic) and not self.iban:
            errors["iban"] = _("Bitte geben Sie die IBAN an oder lassen Sie auch Zahlungsempfänger und BIC leer.")
        elif self.iban and self.bic and (mismatch := bic_mismatch(self.iban, self.bic)):
            errors["bic"] = mismatch
        # A remedy instruction without the place where the remedy is lodged is incomplete: the time
        # limit then is a year instead of a month (§ 58 (2) VwGO).
        missing = self.missing_remedy_details(self.remedy)
        if "address" in missing:
            errors["address"] = _("Für den Widerspruch muss der Bescheid die Anschrift der Kommune nennen, bei der er "
                                  "einzulegen ist. Bitte geben Sie die Anschrift an.")
        if "court_name" in missing:
            errors["court_name"] = _("Bitte nennen Sie das Verwaltungsgericht, bei dem die Klage zu erheben ist "
                                     "(z. B. Verwaltungsgericht Würzburg).")
        if "court_address" in missing:
            errors["court_address"] = _("Bitte geben Sie die Anschrift des Verwaltungsgerichts an: Ohne sie ist die "
                                        "Belehrung unvollständig und die Klagefrist beträgt ein Jahr statt eines "
                                        "Monats.")
        for name, error in self._details_services_need().items():
            errors.setdefault(name, error)
        if errors:
            raise ValidationError(errors)

    def missing_remedy_details(self, remedy: str) -> list[str]:
        """The fields an instruction about `remedy` names that the town has left empty (none for no remedy)."""
        if remedy not in Remedy.values:
            return []
        return [name for name in Remedy(remedy).details if not str(getattr(self, name)).strip()]

    def _details_services_need(self) -> dict[str, ValidationError]:
        """Errors for the empty details that services with a remedy of their own name in their letters.

        The service's page refuses such a remedy while the detail is missing; this keeps the town
        from removing it afterwards. A town with every detail pays no query.
        """
        if self.pk is None or all(str(getattr(self, name)).strip() for name in REMEDY_DETAIL_NAMES):
            return {}
        # catalog.Service points here (and imports Remedy from here): looked up by name, not imported.
        service_model = apps.get_model("catalog", "Service")
        needing: dict[str, list[str]] = {}
        for name, remedy in (service_model.objects.for_municipality(self).exclude(remedy="")
                             .order_by("name").values_list("name", "remedy")):
            for detail in self.missing_remedy_details(remedy):
                needing.setdefault(detail, []).append(f"„{name}“: {Remedy(remedy).label}")
        return {detail: ValidationError(
            _("Diese Angabe steht in der Rechtsbehelfsbelehrung der Bescheide von Leistungen mit eigenem Rechtsbehelf "
              "(%(services)s). Bitte lassen Sie sie stehen oder ändern Sie zuerst den Rechtsbehelf dieser Leistungen."),
            code="needed_by_service", params={"services": "; ".join(services)}) for detail, services in needing.items()}

    @property
    def has_bank_account(self) -> bool:
        """Whether letters and payment requests can tell the citizen where to transfer the money."""
        return bool(self.iban and self.payee_name)

    @property
    def iban_display(self) -> str:
        return grouped_iban(self.iban) if self.iban else ""

    def bank_account_text(self) -> str:
        """«Stadtkasse Musterstadt, IBAN DE89 3704 0044 0532 0130 00 (BIC COBADEFFXXX)», or "" without an account."""
        if not self.has_bank_account:
            return ""
        bic = f" (BIC {self.bic})" if self.bic else ""
        return f"{self.payee_name.strip()}, IBAN {self.iban_display}{bic}"

    @property
    def sender(self) -> str:
        """The issuing authority as a letter names it (§ 37 (3) VwVfG): «Musterstadt, Rathausplatz 1, 99999 Musterstadt»."""
        address = one_line(self.address)
        return f"{self.name}, {address}" if address else self.name

    def remedy_instruction(self, remedy: str = "") -> str:
        """The Rechtsbehelfsbelehrung a decision letter of the town prints (German: the letter's language).

        It names the remedy, where it is lodged with its address, the time limit and the form
        (§ 58 (1), § 70, § 81 VwGO). `remedy` is a service's own remedy (catalog.Service.remedy);
        empty: the town's. Court and address are always the town's. Without settings it names an
        objection at the town, with its address when the town has one.
        """
        objection = ("Der Widerspruch ist schriftlich, in elektronischer Form nach § 3a Abs. 2 des "
                     "Verwaltungsverfahrensgesetzes oder zur Niederschrift bei der Behörde zu erheben, die den "
                     f"Bescheid erlassen hat: {self.sender}. Eine einfache E-Mail genügt dafür nicht.")
        action = ("Die Klage ist schriftlich oder zu Protokoll des Urkundsbeamten der Geschäftsstelle bei diesem "
                  f"Gericht zu erheben: {self.court_name.strip()}, {one_line(self.court_address)}. Sie kann auch als "
                  "elektronisches Dokument nach § 55a der Verwaltungsgerichtsordnung eingereicht werden; eine einfache "
                  "E-Mail genügt dafür nicht.")
        # Where she may choose, both places with their forms follow one sentence that offers both.
        what, places = {Remedy.ACTION: ("Klage", [action]),
                        Remedy.CHOICE: ("entweder Widerspruch oder unmittelbar Klage", [objection, action]),
                        }.get(remedy or self.remedy, ("Widerspruch", [objection]))
        text = " ".join([f"Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach seiner "
                         f"Bekanntgabe {what} erhoben werden.", *places])
        # The town's sentence is about its own remedy (e.g. the court fee of an action): under a
        # service's other remedy it would misinform, so it is left out there.
        town = self.remedy or Remedy.OBJECTION
        note = " ".join(self.remedy_note.split()) if (remedy or town) == town else ""
        return f"{text} {note}" if note else text
