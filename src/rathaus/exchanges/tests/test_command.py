"""`manage.py allocate`: file round trip, clear errors, stored rounds and programmes."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from rathaus.exchanges import services
from rathaus.exchanges.models import ProgrammeStatus, RoundStatus

# The example of the issue, verbatim: k2 is wished but not in the file.
ISSUE_INPUT = {"seed": 1, "facilities": [{"id": "k1", "capacity": {"U3": 10, "Ü3": 20}}],
               "children": [{"id": "c1", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 2, "k2": 0}}]}
ISSUE_OUTPUT = {"assignments": {"c1": "k1"}, "unassigned": []}
EXAMPLE = {"seed": 1, "facilities": [{"id": "k1", "capacity": {"U3": 1, "Ü3": 20}}, {"id": "k2", "capacity": {"U3": 1}}],
           "children": [{"id": "c1", "group": "U3", "wishes": ["k1", "k2"], "priority": {"k1": 2, "k2": 0}},
                        {"id": "c2", "group": "U3", "wishes": ["k1"], "priority": {"k1": 1}},
                        {"id": "c3", "group": "Ü3", "wishes": ["k1"]}]}


def run_file(tmp_path, document, *extra):
    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(document if isinstance(document, str) else json.dumps(document, ensure_ascii=False), encoding="utf-8")
    call_command("allocate", "daycare", "--input", str(source), "--output", str(target), *extra)
    return json.loads(target.read_text(encoding="utf-8"))


def test_file_round_trip(tmp_path, capsys):
    out = run_file(tmp_path, EXAMPLE)
    assert out == {"assignments": {"c1": "k1", "c3": "k1"}, "unassigned": ["c2"]}
    assert "2 children placed, 1 without a place" in capsys.readouterr().out


def test_file_mode_can_add_waiting_lists(tmp_path):
    out = run_file(tmp_path, EXAMPLE, "--include", "waiting_lists,seed")
    assert out["waiting_lists"]["k1"] == ["c2"]
    assert out["seed"] == 1


def test_invalid_json_is_reported_with_its_position(tmp_path):
    with pytest.raises(CommandError, match=r"not valid JSON \(line 1, column 2\)"):
        run_file(tmp_path, "{oops")


def test_invalid_input_names_the_offending_path(tmp_path):
    bad = {**EXAMPLE, "children": [{"id": "c1", "group": "U3", "wishes": ["k1", "k1"]}]}
    with pytest.raises(CommandError, match=r"children\[0\]\.wishes\[1\]: facility 'k1' is listed twice"):
        run_file(tmp_path, bad)
    negative = {**EXAMPLE, "facilities": [{"id": "k1", "capacity": {"U3": -1}}]}
    with pytest.raises(CommandError, match=r"facilities\[0\]\.capacity\.U3: must be a non-negative integer"):
        run_file(tmp_path, negative)
    twice = {**EXAMPLE, "children": [*EXAMPLE["children"], EXAMPLE["children"][0]]}
    with pytest.raises(CommandError, match=r"children\[3\]\.id: duplicate id 'c1'"):
        run_file(tmp_path, twice)
    wrong_type = {**EXAMPLE, "children": [{"id": "c1", "group": "U3", "wishes": "k1"}]}
    with pytest.raises(CommandError, match=r"children\[0\]\.wishes: must be a list of facility ids"):
        run_file(tmp_path, wrong_type)


def test_issue_example_gives_the_documented_output_and_warns_about_the_missing_facility(tmp_path, capsys):
    out = run_file(tmp_path, ISSUE_INPUT)
    assert out == ISSUE_OUTPUT
    captured = capsys.readouterr()
    assert "Warning: " in captured.err
    assert "children[0].wishes[1]: facility 'k2' is not in the file; 1 wish and 1 priority skipped" in captured.err
    assert "1 children placed, 0 without a place" in captured.out


def test_console_script_runs_the_issue_example_without_django(tmp_path, capsys):
    from rathaus.cli import main

    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(ISSUE_INPUT, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(SystemExit) as excinfo:
        main(["rathaus", "allocate", "daycare", "--input", str(source), "--output", str(target)])
    assert excinfo.value.code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == ISSUE_OUTPUT
    err = capsys.readouterr().err
    assert err.count("Warning: ") == 1
    assert "facility 'k2' is not in the file" in err


def test_missing_input_and_unknown_parts_are_refused(tmp_path):
    with pytest.raises(CommandError, match="Input file not found"):
        call_command("allocate", "daycare", "--input", str(tmp_path / "nope.json"), "--output", str(tmp_path / "o.json"))
    with pytest.raises(CommandError, match="Unknown --include part"):
        run_file(tmp_path, EXAMPLE, "--include", "secrets")
    with pytest.raises(CommandError, match="--input FILE --output FILE"):
        call_command("allocate", "daycare")


@pytest.mark.django_db
def test_stored_round_runs_from_the_command_line(municipality, team_lead, register_child, citizen):
    register_child(citizen, "Anna", ["sonne"])
    prepared = services.round_create(municipality=municipality, actor=team_lead, follow_up=False, seed=3,
                                     offer_deadline=timezone.localdate() + timedelta(days=7))
    call_command("allocate", "daycare", "--municipality", municipality.slug, "--round", str(prepared.pk))
    prepared.refresh_from_db()
    assert prepared.status == RoundStatus.COMPLETED
    assert prepared.run_by is None
    with pytest.raises(CommandError, match="schon durchgeführt"):
        call_command("allocate", "daycare", "--municipality", municipality.slug, "--round", str(prepared.pk))


@pytest.mark.django_db
def test_round_of_another_municipality_is_not_found(other_municipality, municipality, team_lead):
    prepared = services.round_create(municipality=municipality, actor=team_lead, follow_up=False,
                                     offer_deadline=timezone.localdate() + timedelta(days=7))
    with pytest.raises(CommandError, match="No round"):
        call_command("allocate", "daycare", "--municipality", other_municipality.slug, "--round", str(prepared.pk))


@pytest.mark.django_db
def test_holiday_programme_is_prepared_then_drawn_from_the_command_line(programme, activities, register_holiday,
                                                                        citizen, capsys):
    from rathaus.exchanges.tests.conftest import close_registration

    register_holiday(citizen, "Ida", [activities["wald"]])
    args = ["allocate", "holiday", "--municipality", programme.municipality.slug, "--programme", str(programme.pk)]
    with pytest.raises(CommandError, match="zuerst vor"):
        call_command(*args)
    with pytest.raises(CommandError, match="unrecognized arguments: --seed"):
        call_command(*args, "--seed", "11")  # nobody picks the seed
    close_registration(programme)
    call_command(*args, "--prepare")
    programme.refresh_from_db()
    recorded = programme.seed
    assert programme.status == ProgrammeStatus.PREPARED
    assert f"SHA-256 {programme.seed_commitment}" in capsys.readouterr().out
    call_command(*args)
    programme.refresh_from_db()
    assert (programme.status, programme.seed) == (ProgrammeStatus.ALLOCATED, recorded)
    with pytest.raises(CommandError, match="Unknown municipality"):
        call_command("allocate", "holiday", "--municipality", "nirgendwo", "--programme", str(programme.pk))


def test_django_free_entry_point_exit_codes(tmp_path, capsys):
    from rathaus.exchanges.allocate_cli import main

    source, target = tmp_path / "in.json", tmp_path / "out.json"
    source.write_text(json.dumps(EXAMPLE, ensure_ascii=False), encoding="utf-8")
    assert main(["--input", str(source), "--output", str(target)]) == 0
    assert json.loads(target.read_text(encoding="utf-8"))["unassigned"] == ["c2"]
    source.write_text('{"seed": -1, "facilities": [], "children": []}', encoding="utf-8")
    assert main(["--input", str(source), "--output", str(target)]) == 1
    assert "invalid input at seed: must be a non-negative integer" in capsys.readouterr().err
    with pytest.raises(SystemExit) as excinfo:
        main(["--input", str(source)])
    assert excinfo.value.code == 2
