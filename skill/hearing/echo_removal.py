"""Echo removal on the microphone's stream: buffering into the canceller's blocks, keeping it aligned, and
the measures the own-voice judgement asks of a stretch of sound."""

from __future__ import annotations

import numpy as np

from skill.audio import ASR_RATE
from skill.hearing.echo import echo_share
from skill.hearing.echo_delay import EARLY_SECONDS, LAG_SPAN, MAX_LAG_SECONDS, EchoDelay
from skill.hearing.echo_library import Canceller, open_canceller
from skill.hearing.echo_tally import EchoTally
from skill.hearing.reference import ReferenceBuffer
from skill.stage_clock import stage

REFERENCE_WAIT_SECONDS = 0.3
"""The longest the mic is held back for the played audio it must be cleaned of."""


class EchoRemover:
    """The microphone with the guide's voice taken out, in the canceller's whole blocks, and what it can
    tell of any stretch of it afterwards: how much it took away, and how much the guide's voice explains."""

    def __init__(self, reference: ReferenceBuffer, canceller: Canceller | None = None):
        self._reference = reference
        self._aec = canceller if canceller is not None else open_canceller()
        """The echo canceller: $BEDTIME_STRETCH_AEC's choice, the home-made one when a library cannot load."""
        self.delay = EchoDelay(reference, self._aec)
        self._pending_mic = np.zeros(0, dtype=np.float32)
        self._pending_at = 0.0
        self._history: list[tuple[float, np.ndarray]] = []
        self.tally = EchoTally(self._aec.block / ASR_RATE)
        """The mic's energy, and what was left of it, in every block the canceller processed."""
        self.reference_waits = 0
        """Mic chunks held back because the speaker's reference for them had not come yet."""

    def cancel(self, samples: np.ndarray, at: float) -> np.ndarray | None:
        """The mic samples with the guide's voice removed, in whole AEC blocks (None: still buffering)."""
        if len(self._pending_mic) and abs(at - (self._pending_at + len(self._pending_mic) / ASR_RATE)) > 1e-3:
            # the listener moved the stream's place on the clock: the part-block pending belongs to the old
            # place, and kept, it would carry the old place on (the echo would seem to lag by the step more)
            self._pending_mic = self._pending_mic[:0]
        if not len(self._pending_mic):
            self._pending_at = at
        self._pending_mic = np.concatenate([self._pending_mic, samples])
        block = self._aec.block
        usable = (len(self._pending_mic) // block) * block
        usable = self._ready(self._pending_at, usable) if usable else 0
        if usable == 0:
            return None
        mic, start = self._pending_mic[:usable], self._pending_at
        self._pending_mic = self._pending_mic[usable:]
        self._pending_at = start + usable / ASR_RATE
        self._remember(start, mic)
        with stage("echo delay tracking"):
            self.delay.update(start + usable / ASR_RATE, self._history)
        if not self._cancelling(start):
            return mic
        reference = self.delay.reference_for(start, usable)
        cleaned = self._aec.process(mic, reference)
        block = self._aec.block
        for i in range(0, usable, block):
            heard = float(np.dot(mic[i:i + block], mic[i:i + block]))
            left = float(np.dot(cleaned[i:i + block], cleaned[i:i + block]))
            self.tally.add(start + i / ASR_RATE, heard, left)
        return cleaned

    def _ready(self, start: float, n: int) -> int:
        """How many of the `n` pending mic samples from `start` to cancel now: those whose played audio has
        reached the reference. The speaker's thread hands it over in batches (PLAYED_BATCH_SECONDS), and under
        load later still: cancelled against the silence of a reference not yet written, the guide's voice
        went through whole. Waited for up to REFERENCE_WAIT_SECONDS, no longer: a stream that stopped (a lost
        speaker) never writes it."""
        if not self._cancelling(start):
            return n
        written = self._reference.written_until()
        missing = self.delay.reference_until(start, n) - (written if written is not None else start)
        if missing <= 0.0 or missing >= REFERENCE_WAIT_SECONDS:
            return n
        self.reference_waits += 1
        block = self._aec.block
        return max(0, (n - int(np.ceil(missing * ASR_RATE))) // block * block)

    def _cancelling(self, start: float) -> bool:
        """Whether mic samples from `start` go through the canceller: the echo is found and the guide has
        sounded within the echo's reach."""
        return self.delay.delay is not None and self._reference.sounded_since(start - MAX_LAG_SECONDS - 1.0)

    @property
    def canceller(self) -> Canceller:
        return self._aec

    def cancelled_db(self, t0: float, t1: float) -> float:
        """How much the echo canceller took out of the mic between monotonic times t0 and t1, in dB."""
        return self.tally.between(t0, t1)

    def echo_share(self, t0: float, t1: float, enough: float = 1.0) -> float:
        """How much of what the mic heard between monotonic times t0 and t1 the guide's voice explains.

        Found on the raw microphone against the reference, at the lag this stretch itself shows (and near
        the measured echo delay): it holds while the canceller is still learning or the delay has moved.
        A share of `enough` at the measured delay is taken at once, without the search."""
        if not self._history:
            return 0.0
        start = self._history[0][0]
        heard = np.concatenate([m for _, m in self._history])
        lo, hi = max(0, round((t0 - start) * ASR_RATE)), min(len(heard), round((t1 - start) * ASR_RATE))
        n = hi - lo
        if n < ASR_RATE // 10:
            return 0.0
        mic = heard[lo:hi]
        lead = int(MAX_LAG_SECONDS * ASR_RATE)
        known = round(self.delay.echo_delay * ASR_RATE) if self.delay.echo_delay is not None else None
        if known is not None and -EARLY_SECONDS * ASR_RATE <= known <= lead:
            reference = self._reference.read(start + lo / ASR_RATE - MAX_LAG_SECONDS, n + LAG_SPAN)
            share = echo_share(mic, reference[lead - known: lead - known + n])
            if share >= enough:
                return share
        shown, _, reference = self.delay.lag(mic, start + lo / ASR_RATE)
        lags = {shown}
        if known is not None:
            lags |= set(range(known - 160, known + 161, 32))
        return max(echo_share(mic, reference[lead - lag: lead - lag + n]) for lag in lags
                   if -EARLY_SECONDS * ASR_RATE <= lag <= lead)

    def _remember(self, start: float, mic: np.ndarray) -> None:
        if self._history:
            last_at, last = self._history[-1]
            if abs(start - (last_at + len(last) / ASR_RATE)) > 1e-3:
                # the microphone's place on the clock jumped (a stream losing its first half second, as the
                # virtual devices' do, or restarted): what came before no longer lines up with the reference,
                # and a window across the jump found no echo for 3 s, until the jump had left it
                self._history.clear()
        self._history.append((start, mic))
        while self._history and start - self._history[0][0] > 6.0:
            self._history.pop(0)
