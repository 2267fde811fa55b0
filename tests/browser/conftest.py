"""Browser tests: Playwright (sync API) driving Debian's Chromium against pytest-django's live server.

Every test gets a fresh transactional database (live_server needs one: the server thread must see
committed rows), a fresh browser context (own cookies) and the demo municipality with its services.
The browser itself is started once per test process, so `-n auto` starts one Chromium per worker.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip("Chromium not installed (apt-get install chromium)", allow_module_level=True)

# Playwright's sync API runs an asyncio loop in this thread; Django then refuses ORM calls from
# the test body ("You cannot call this from an async context") although nothing here is async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

from playwright.sync_api import Browser, Page, sync_playwright  # noqa: E402

# The two seeded towns the server-side crawls walk (src/rathaus/conftest.py), for walks in the browser.
from rathaus.conftest import world  # noqa: E402, F401

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "Sehr-sicheres-Passwort-1"  # what the make_user fixture gives everyone


def fill_login(page: Page, email: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form the page shows (staff then get the 2FA step)."""
    page.get_by_label("E-Mail-Adresse oder Benutzername").fill(email)
    page.get_by_label("Passwort", exact=True).fill(password)
    page.locator("main").get_by_role("button", name="Anmelden").click()


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        locale="de-DE",
        timezone_id="Europe/Berlin",
        accept_downloads=True,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    # django-ratelimit and axes count in the locmem cache, which the live server thread shares
    # with this process: without a reset, a long run would hit the per-minute submission limit.
    from django.core.cache import cache

    cache.clear()
    return


@pytest.fixture
def town(transactional_db):
    from rathaus.tenants.models import Municipality

    return Municipality.objects.create(
        slug="musterstadt",
        name="Musterstadt",
        ags="09999001",
        reference_prefix="MUS",
        contact_email="buergerbuero@musterstadt.example",
        contact_phone="09999 123-0",
    )


@pytest.fixture
def services(town):
    """The demo's dog registration and parking permit, as `rathaus seed-demo` creates them."""
    from rathaus.catalog import demo_forms
    from rathaus.catalog.services import form_definition_create, service_upsert

    dog = form_definition_create(
        municipality=town, key="hund-anmelden", title="Hund anmelden", schema=demo_forms.dog_registration()
    )
    parking = form_definition_create(
        municipality=town, key="bewohnerparken", title="Bewohnerparkausweis", schema=demo_forms.parking_permit()
    )
    common = {"office": "Bürgerbüro Musterstadt", "office_contact": "buergerbuero@musterstadt.example · 09999 123-0"}
    return {
        "dog": service_upsert(
            municipality=town,
            slug="hund-anmelden",
            form=dog,
            leika_key="99108002001000",
            name="Hund anmelden (Hundesteuer)",
            summary="Wenn Sie einen Hund halten, melden Sie ihn innerhalb von zwei Wochen zur Hundesteuer an.",
            description="Hundehalterinnen und Hundehalter müssen ihren Hund bei der Gemeinde anmelden.",
            legal_basis="Hundesteuersatzung der Gemeinde",
            fee=Decimal("0"),
            fee_note="Die Hundesteuer beträgt 90 € im Jahr.",
            processing_days=5,
            required_documents=["Chipnummer des Hundes"],
            life_situations=[("tiere", "Tiere", "Animals")],
            **common,
        ),
        "parking": service_upsert(
            municipality=town,
            slug="bewohnerparkausweis",
            form=parking,
            leika_key="99050012104000",
            name="Bewohnerparkausweis beantragen",
            summary="Mit dem Ausweis parken Sie in Ihrer Bewohnerparkzone.",
            fee=Decimal("30.00"),
            processing_days=10,
            life_situations=[("mobilitaet", "Mobilität und Verkehr", "Mobility and transport")],
            **common,
        ),
    }


def staff_member(town, email: str, role: str, first_name: str = "", last_name: str = "") -> SimpleNamespace:
    """A staff member of the town with a confirmed TOTP device, as the demo sets them up."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from rathaus.accounts.models import Membership, User

    user = User.objects.create_user(username=email, email=email, password=PASSWORD, first_name=first_name,
                                    last_name=last_name, email_verified=True)
    Membership.objects.create(user=user, municipality=town, role=role)
    device = TOTPDevice.objects.create(user=user, name="Authenticator", confirmed=True)
    return SimpleNamespace(user=user, email=email, password=PASSWORD, device=device)


@pytest.fixture
def staff(town):
    """A case worker of the town."""
    from rathaus.accounts.models import Role

    return staff_member(town, "sachbearbeitung@musterstadt.example", Role.CASE_WORKER, "Sabine", "Sachbearbeiterin")


@pytest.fixture
def town_admin(town):
    """The town's administrator (she leads the team too)."""
    from rathaus.accounts.models import Role

    return staff_member(town, "leitung@musterstadt.example", Role.TENANT_ADMIN, "Lena", "Leitung")


def totp_code(device) -> str:
    """The code an authenticator app shows right now for this device."""
    from django_otp.oath import totp

    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift):0{device.digits}d}"


@pytest.fixture
def otp_code():
    return totp_code


@pytest.fixture
def dog_application(town, services, dog_data):
    """A dog registration submitted online (the API/service path, not the browser)."""
    from rathaus.applications.services import application_submit

    data = dog_data
    result = application_submit(municipality=town, service=services["dog"], data=data)
    return SimpleNamespace(reference=result.application.reference, token=result.access_token, application=result.application)


@pytest.fixture
def screenshot():
    """Full-page screenshots for a human to look at, only when RATHAUS_SCREENSHOTS names a folder."""
    folder = os.environ.get("RATHAUS_SCREENSHOTS")

    def take(page: Page, name: str) -> None:
        if folder:
            Path(folder).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)

    return take


@pytest.fixture
def axe_scan(live_server):
    """`scan(page)` runs axe-core on the current page and returns its violations, one dict each.

    The vendored axe.min.js is loaded from our own static files: `add_script_tag(path=…)` would
    inline it, which the strict CSP (`script-src 'self'`) blocks; a same-origin <script src> is
    allowed, so the page is tested under the very policy users get (no bypass_csp). The call into
    axe itself goes through Playwright's evaluate (CDP), which CSP does not govern.
    """
    axe_url = live_server.url + "/static/vendor/axe-core/axe.min.js"

    def scan(page: Page) -> list[dict]:
        # A click that navigates returns once the new document has started loading; its <head> may
        # not exist yet, and its styles (which colour contrast depends on) may still be on their way.
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.add_script_tag(url=axe_url)
        return page.evaluate(
            "async (tags) => { const r = await axe.run(document, {runOnly: {type: 'tag', values: tags},"
            " resultTypes: ['violations']}); return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " helpUrl: v.helpUrl, nodes: v.nodes.map(n => ({target: n.target, summary: n.failureSummary}))})); }",
            AXE_TAGS,
        )

    return scan


def describe_violations(violations: list[dict]) -> list[str]:
    """Readable lines for axe violations: rule id, impact, help; then each offending node's selector."""
    lines = []
    for violation in violations:
        lines.append(f"- {violation['id']} [{violation['impact']}]: {violation['help']} ({violation['helpUrl']})")
        for node in violation["nodes"]:
            lines.append(f"    {json.dumps(node['target'])}: {(node['summary'] or '').replace(chr(10), ' ')}")
    return lines


@pytest.fixture
def axe(axe_scan):
    """Run axe-core on the current page and fail with a readable list of violations."""

    def check(page: Page, label: str = "") -> None:
        violations = axe_scan(page)
        if violations:
            pytest.fail("\n".join([f"axe: {len(violations)} violation(s) on {label or page.url}", *describe_violations(violations)]))

    return check
