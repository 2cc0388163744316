"""Checks an iCalendar file with libical (Debian's gir1.2-ical-3.0, through PyGObject):
it must parse without errors and, where it is an iTIP message (METHOD), meet RFC
5546's restrictions for its method. Usage:

    check_ical.py CALENDAR_ICS

Prints "libical: ok", or each error libical marked (X-LIC-ERROR) and exits 1.
"""

import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib as ical  # noqa: E402

calendar = ical.Component.new_from_string(open(sys.argv[1], encoding="utf-8").read())
if calendar is None or calendar.isa() != ical.ComponentKind.VCALENDAR_COMPONENT:
    sys.exit("libical: not a VCALENDAR")
restricted = ical.restriction_check(calendar)


def errors(component):
    found = []
    p = component.get_first_property(ical.PropertyKind.XLICERROR_PROPERTY)
    while p is not None:
        found.append(p.as_ical_string().strip())
        p = component.get_next_property(ical.PropertyKind.XLICERROR_PROPERTY)
    child = component.get_first_component(ical.ComponentKind.ANY_COMPONENT)
    while child is not None:
        found.extend(errors(child))
        child = component.get_next_component(ical.ComponentKind.ANY_COMPONENT)
    return found


found = errors(calendar)
if found or not restricted:
    print("\n".join(found) or "libical: the restriction check failed")
    sys.exit(1)
print("libical: ok")
