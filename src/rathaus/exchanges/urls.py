from django.urls import path

from . import views

app_name = "exchanges"

directory = "<str:directory>"
urlpatterns = [
    path("boersen/", views.index, name="index"),
    # Families: daycare exchange
    path("boersen/kita/", views.daycare_index, name="daycare_index"),
    path("boersen/kita/anmelden/", views.daycare_register, name="daycare_register"),
    path("boersen/kita/anmeldungen/<int:pk>/", views.daycare_registration, name="daycare_registration"),
    path("boersen/kita/anmeldungen/<int:pk>/aendern/", views.daycare_register, name="daycare_registration_edit"),
    path("boersen/kita/anmeldungen/<int:pk>/zurueckziehen/", views.daycare_registration_withdraw,
         name="daycare_registration_withdraw"),
    path("boersen/kita/angebote/<int:pk>/antwort/", views.daycare_offer_answer, name="daycare_offer_answer"),
    # Families: holiday programme
    path("boersen/ferien/", views.holiday_index, name="holiday_index"),
    path("boersen/ferien/<int:pk>/", views.holiday_programme, name="holiday_programme"),
    path("boersen/ferien/<int:pk>/anmelden/", views.holiday_register, name="holiday_register"),
    path("boersen/ferien/anmeldungen/<int:pk>/", views.holiday_registration, name="holiday_registration"),
    path("boersen/ferien/anmeldungen/<int:pk>/zurueckziehen/", views.holiday_registration_withdraw,
         name="holiday_registration_withdraw"),
    path("boersen/ferien/plaetze/<int:pk>/absagen/", views.holiday_placement_cancel, name="holiday_placement_cancel"),
    # Providers
    path("boersen/anbieter/", views.provider_home, name="provider_home"),
    path("boersen/anbieter/registrieren/", views.provider_request, name="provider_request"),
    path("boersen/anbieter/<int:provider>/", views.provider_edit, name="provider_edit"),
    path("boersen/anbieter/<int:provider>/angebote/neu/", views.provider_offer_form, name="provider_offer_create"),
    path("boersen/anbieter/<int:provider>/angebote/<int:pk>/", views.provider_offer_form, name="provider_offer_edit"),
    path("boersen/anbieter/<int:provider>/angebote/<int:pk>/aktion/", views.provider_offer_action, name="provider_offer_action"),
    path("boersen/anbieter/<int:provider>/ferien/neu/", views.provider_activity_form, name="provider_activity_create"),
    path("boersen/anbieter/<int:provider>/ferien/<int:pk>/", views.provider_activity_form, name="provider_activity_edit"),
    path("boersen/anbieter/<int:provider>/ferien/<int:pk>/teilnehmende.<str:fmt>", views.provider_participants,
         name="provider_participants"),
    # Staff
    path("boersen/verwaltung/", views.staff_dashboard, name="staff_dashboard"),
    path("boersen/verwaltung/anbieter/", views.staff_providers, name="staff_providers"),
    path("boersen/verwaltung/anbieter/<int:pk>/", views.staff_provider, name="staff_provider"),
    path("boersen/verwaltung/angebote/", views.staff_offers, name="staff_offers"),
    path("boersen/verwaltung/angebote/<int:pk>/", views.staff_offer, name="staff_offer"),
    path("boersen/verwaltung/kategorien/", views.staff_categories, name="staff_categories"),
    path("boersen/verwaltung/kita/", views.staff_facilities, name="staff_facilities"),
    path("boersen/verwaltung/kita/einrichtungen/neu/", views.staff_facility, name="staff_facility_create"),
    path("boersen/verwaltung/kita/einrichtungen/<int:pk>/", views.staff_facility, name="staff_facility"),
    path("boersen/verwaltung/kita/regeln/", views.staff_rules, name="staff_rules"),
    path("boersen/verwaltung/kita/anmeldungen/", views.staff_registrations, name="staff_registrations"),
    path("boersen/verwaltung/kita/runden/", views.staff_rounds, name="staff_rounds"),
    path("boersen/verwaltung/kita/runden/<int:pk>/", views.staff_round, name="staff_round"),
    path("boersen/verwaltung/kita/runden/<int:pk>/ergebnis.<str:fmt>", views.staff_round_export,
         name="staff_round_export"),
    path("boersen/verwaltung/kita/runden/<int:pk>/eingabe.json", views.staff_round_export, {"fmt": "eingabe"},
         name="staff_round_input"),
    path("boersen/verwaltung/kita/runden/<int:pk>/ausgabe.json", views.staff_round_export, {"fmt": "ausgabe"},
         name="staff_round_output"),
    path("boersen/verwaltung/ferien/", views.staff_programmes, name="staff_programmes"),
    path("boersen/verwaltung/ferien/<int:pk>/", views.staff_programme, name="staff_programme"),
    path("boersen/verwaltung/ferien/<int:programme>/aktivitaeten/neu/", views.staff_activity, name="staff_activity_create"),
    path("boersen/verwaltung/ferien/aktivitaeten/<int:pk>/", views.staff_activity, name="staff_activity"),
    path("boersen/verwaltung/ferien/aktivitaeten/<int:pk>/teilnehmende.<str:fmt>", views.staff_participants,
         name="staff_participants"),
    # Public directories (last: the directory segment would otherwise swallow the paths above)
    path(f"boersen/{directory}/", views.directory_search, name="directory"),
    path(f"boersen/{directory}/angebote.<str:fmt>", views.directory_export, name="directory_export"),
    path(f"boersen/{directory}/<int:pk>/", views.offer_detail, name="offer_detail"),
    path(f"boersen/{directory}/<int:pk>/termine.ics", views.offer_ical, name="offer_ical"),
]
