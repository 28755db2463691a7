"""Reading server-sent events (text/event-stream) the way clients read them: comments
skipped, the data lines of one event joined, the last id carried over to later events.

Used by the tests and the benchmarks to follow `urls.stream`; only events that name their
type (`event:`) are reported, as the platform sends no others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

Event = tuple[str, str | None, str]  # (event, id, data)


class EventParser:
    """Fed one line at a time (without its line ending); returns each event as it ends."""

    def __init__(self) -> None:
        self.event: str | None = None
        self.last_id: str | None = None
        self.data: list[str] = []

    def feed(self, line: str) -> Event | None:
        if line.startswith(":"):
            return None
        if line == "":
            event, data = self.event, self.data
            self.event, self.data = None, []
            return (event, self.last_id, "\n".join(data)) if event else None
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            self.event = value
        elif field == "id":
            self.last_id = value
        elif field == "data":
            self.data.append(value)
        return None


def parse_events(lines: Iterable[str]) -> Iterator[Event]:
    """(event, id, data) for each server-sent event in `lines`."""
    parser = EventParser()
    for line in lines:
        event = parser.feed(line)
        if event is not None:
            yield event
