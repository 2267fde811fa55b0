"""Allocation cores for the exchanges: daycare places (deferred acceptance) and the holiday
programme (lottery with rounds). Pure Python and numpy; no Django."""

from rathaus_domain.allocation.daycare import (
    AllocationInputError,
    Child,
    DaycareProblem,
    DaycareResult,
    Facility,
    WishExplanation,
    allocate,
    allocate_file,
    allocate_json,
    capacity_key,
    dump_json,
    explain,
    follow_up,
    load_json,
)
from rathaus_domain.allocation.holiday import (
    Activity,
    HolidayChild,
    HolidayResult,
    MoveUp,
    allocate_holiday,
    move_up,
)

__all__ = [
    "Activity",
    "AllocationInputError",
    "Child",
    "DaycareProblem",
    "DaycareResult",
    "Facility",
    "HolidayChild",
    "HolidayResult",
    "MoveUp",
    "WishExplanation",
    "allocate",
    "allocate_file",
    "allocate_json",
    "allocate_holiday",
    "capacity_key",
    "dump_json",
    "explain",
    "follow_up",
    "load_json",
    "move_up",
]
