"""Keeps a live session's records: progress saved at each new position, history and preferences at the end."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from skill.records import progress
from skill.session.controller import State
from skill.records.history import History, Preferences
from skill.routine.definition import Routine
from skill.routine.script import Position


@dataclass
class Bookkeeper:
    routine: Routine
    history: History = field(default_factory=History)
    progress_path: Path | None = None
    last: State | None = None
    """The newest state seen, so an interrupted session is still recorded."""
    _session_id: int | None = None
    _saved: Position | None = None

    def preferences(self) -> Preferences:
        return self.history.preferences()

    def offer(self) -> Position | None:
        """Where a recent unfinished session of this routine stopped, if one did."""
        saved = progress.load(self.routine.id, self.progress_path)
        return saved.position if saved else None

    def started(self, tempo: float) -> None:
        self._session_id = self.history.start_session(self.routine.id, tempo)

    def on_step(self, state: State) -> None:
        self.last = state
        if state.phase.value in ("instruct", "hold", "release", "ask") and state.pos != self._saved:
            self._saved = state.pos
            progress.save(self.routine.id, state.pos, self.progress_path)

    def finished(self) -> None:
        state = self.last
        if state is None:
            return
        if state.completed:
            progress.clear(self.routine.id, self.progress_path)
        self.history.finish_session(self._session_id, state.completed, len(state.stretches_done), state.tempo)
        self.history.remember(tempo=state.tempo, volume_db=state.volume_db)
        self.history.close()
