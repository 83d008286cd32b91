"""Acoustic echo cancellation: take the guide's own voice out of the microphone signal.

The speaker is a foot from the mic, so the mic hears the guide's prompts ("repeat on the opposite side")
as loudly as the person. We know exactly what we played (the reference), so we model the path from the
speaker to the mic with an adaptive filter and subtract its estimate of the echo: what is left is the
person. The filter is a partitioned-block frequency-domain NLMS (as in Speex's MDF and WebRTC's AEC),
with the bulk delay between the reference and the mic found by cross-correlation first, so the filter
only has to model the room, not the audio stack's latency.
"""

from __future__ import annotations

import numpy as np


def estimate_delay(mic: np.ndarray, ref: np.ndarray, max_delay: int) -> tuple[int, float]:
    """The lag (samples) at which `ref` best explains `mic`, and the normalized peak (0..1) of the match.

    GCC-PHAT: whitening the cross-spectrum makes the peak sharp for speech, whose energy sits in a few
    low harmonics."""
    # Long enough that no lag up to `max_delay` wraps around: twice as long (the whole of both) made the
    # delay tracker's transforms 131072 samples rather than 65536, and three times as slow here.
    n = max(len(mic), len(ref) + max_delay)
    size = 1 << (n - 1).bit_length()
    cross = np.fft.rfft(mic, size) * np.conj(np.fft.rfft(ref, size))
    cross /= np.abs(cross) + 1e-9
    corr = np.fft.irfft(cross, size)[: max_delay + 1]
    lag = int(np.argmax(corr))
    peak = float(corr[lag] / (np.sqrt(np.sum(corr**2)) + 1e-12))
    return lag, peak


PATH_TRUSTED_RESIDUAL = 0.1
"""The filter's path is read only while it takes 10 dB or more of the echo away."""
PATH_PEAK_SHARE = 0.05
"""...and while its strongest tap holds this share of the path's energy (a room's direct path does)."""
BLOCK = 512
"""Samples a block (32 ms): the filter's 2048 taps (128 ms of room) in four partitions. Its numpy calls cost
about the same for 256 samples as for 512, so half the blocks cost 40 % less CPU (scripts/bench_echo.py's
four tapes, spotter, the same run: real-time factor 0.0028-0.0030 against 0.0046-0.0051), with more of the
echo removed after the first 20 s (9.9-31.9 dB against 9.6-27.6) and more commands heard over the guide
(19/41 against 16/41). It learns no slower after the first chime (0.8-1.2 s either way)."""
LEARN_LEVEL = 1e-6
"""The filter learns only from reference blocks above this power (-60 dBFS). Below it the reference is the
played audio's noise floor: learnt from, the filter mapped that noise onto the mic's own and, at a chime's
onset, put out the chime 54 dB louder than the mic had heard anything (at 512-sample blocks; 26 dB at 256)."""


class EchoCanceller:
    """Block-wise echo canceller: feed equal-length mic and reference blocks (float32, same rate)."""

    def __init__(self, block: int = BLOCK, taps: int = 2048, step: float = 0.8, leak: float = 0.9995):
        if taps % block:
            raise ValueError("taps must be a multiple of block")
        self.block = block
        self.parts = taps // block
        bins = block + 1
        self._weights = np.zeros((self.parts, bins), dtype=np.complex128)
        self._ref_spectra = np.zeros((self.parts, bins), dtype=np.complex128)
        self._ref_powers = np.zeros((self.parts, bins), dtype=np.float64)
        """|spectrum|^2 of each partition, kept beside the spectra: squaring one new spectrum a block, not all."""
        self._ref_pair = np.zeros(2 * block, dtype=np.float64)
        """The reference block before and the one now: the overlap-save input, kept rather than joined anew."""
        self._err_pad = np.zeros(2 * block, dtype=np.float64)
        """A block of zeros, then the error: what the gradient is taken of."""
        self._step = step
        self._leak = leak
        self._echo_power = 0.0
        self._cross = 0.0
        self._mic_power = 0.0
        self._error_power = 0.0
        self._power_floor = 0.0
        self._converged = False
        self._constrained = 0

    def _taps(self) -> np.ndarray:
        """The learnt path as one impulse response (the partitions end to end)."""
        return np.fft.irfft(self._weights, axis=1)[:, : self.block].reshape(-1)

    def shift(self, samples: float) -> None:
        """The delay the reference is read at grew by `samples` (negative: shrank): the echo now comes that
        much sooner after the reference, so the learnt path moves as much earlier (by a fraction of a
        sample too: at 1 kHz a path one sample off leaves the echo only 8 dB down), and the filter keeps
        cancelling instead of learning the room again."""
        if samples == 0.0:
            return
        b, taps = self.block, self._taps()
        n = 2 * len(taps)
        spectrum = np.fft.rfft(taps, n) * np.exp(2j * np.pi * np.fft.rfftfreq(n) * samples)
        moved = np.fft.irfft(spectrum, n)[: len(taps)]
        parts = np.zeros((self.parts, 2 * b))
        parts[:, :b] = moved.reshape(self.parts, b)
        self._weights = np.fft.rfft(parts, axis=1)

    def path_lag(self) -> float | None:
        """Where in the filter the echo's direct path is, in samples (to a fraction of one), while the
        filter cancels well; None while it is learning or the path has no clear peak."""
        if not self._converged or self._error_power > PATH_TRUSTED_RESIDUAL * self._mic_power:
            return None
        taps = np.abs(self._taps())
        i = int(np.argmax(taps))
        if not 0 < i < len(taps) - 1 or taps[i] ** 2 < PATH_PEAK_SHARE * float(np.sum(taps**2)):
            return None
        left, mid, right = taps[i - 1], taps[i], taps[i + 1]
        curve = left - 2 * mid + right
        return i + (0.5 * (left - right) / curve if curve < 0 else 0.0)

    def process(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        """`mic` with the echo of `ref` removed. Lengths must be equal multiples of `block`."""
        if len(mic) != len(ref) or len(mic) % self.block:
            raise ValueError("mic and ref must be equal multiples of the block size")
        out = np.empty(len(mic), dtype=np.float32)
        mic, ref = np.asarray(mic, np.float64), np.asarray(ref, np.float64)
        for start in range(0, len(mic), self.block):
            end = start + self.block
            out[start:end] = self._block(mic[start:end], ref[start:end])
        return out

    def _block(self, mic: np.ndarray, ref: np.ndarray) -> np.ndarray:
        b = self.block
        pair = self._ref_pair
        pair[:b] = pair[b:]
        pair[b:] = ref
        spectrum = np.fft.rfft(pair)
        # shift the partitions down one (a copy within the array: np.roll allocates two)
        self._ref_spectra[1:] = self._ref_spectra[:-1]
        self._ref_spectra[0] = spectrum
        self._ref_powers[1:] = self._ref_powers[:-1]
        self._ref_powers[0] = spectrum.real ** 2 + spectrum.imag ** 2
        echo = np.fft.irfft(np.sum(self._weights * self._ref_spectra, axis=0))[b:]
        error = mic - echo

        ref_energy = float(np.dot(ref, ref)) / b
        echo_power = float(np.dot(echo, echo)) / b
        error_power = float(np.dot(error, error)) / b + 1e-10
        if ref_energy > LEARN_LEVEL:
            # How much echo is left (the leak) is measured by how the error still correlates with the echo
            # estimate: the person's voice does not, so double talk leaves it alone (as in Speex's MDF).
            self._cross = 0.95 * self._cross + 0.05 * abs(float(np.dot(echo, error))) / b
            self._echo_power = 0.95 * self._echo_power + 0.05 * echo_power
            leak = min(1.0, max(0.003, self._cross / (self._echo_power + 1e-10)))
            self._mic_power = 0.95 * self._mic_power + 0.05 * float(np.dot(mic, mic)) / b
            self._error_power = 0.95 * self._error_power + 0.05 * error_power
            if self._error_power < 0.1 * self._mic_power:
                self._converged = True  # 10 dB of echo removed: the room is learnt
            # The step follows the share of the error that is still echo: full while learning the room,
            # small while the person talks over the guide, so the filter does not learn their voice.
            share = leak * echo_power / error_power
            floor = 0.01 if self._converged else 1.0
            mu = self._step * min(1.0, max(share, floor))
            self._err_pad[b:] = error
            err_spec = np.fft.rfft(self._err_pad)
            power = self._ref_powers.sum(axis=0)
            self._power_floor = 0.99 * self._power_floor + 0.01 * float(np.mean(power))
            update = (mu / (power + 0.1 * self._power_floor + 1e-6)) * np.conj(self._ref_spectra) * err_spec
            self._weights *= self._leak
            self._weights += update
            # Keep each partition a causal block-long filter (the overlap-save gradient constraint): one
            # partition a block in turn, as Speex's MDF does, rather than all of them every block.
            k = self._constrained = (self._constrained + 1) % self.parts
            self._weights[k] = np.fft.rfft(np.fft.irfft(self._weights[k])[:b], 2 * b)
            if self._error_power > 2.0 * self._mic_power:
                # Diverged: the "cancelled" signal is louder than what the mic heard (seen live early in a
                # session, after the chime). Start learning again rather than add echo of our own.
                self._weights[:] = 0.0
                self._converged = False
                self._error_power = self._mic_power
        if error_power > float(np.dot(mic, mic)) / b + 1e-10:
            # Never louder than what the mic heard: while the filter learns, or the reference is read at a
            # delay the echo comes before, its estimate adds sound of its own (on a live session's tape the
            # first 5 s came out 15 dB louder than the mic). It goes on learning from the error.
            return mic
        return error


def echo_share(mic: np.ndarray, ref: np.ndarray, segment: int = 512) -> float:
    """How much of the mic's energy the reference explains through a linear path (0..1): about 1 when the
    mic heard only the speaker, about half when a person talked over it at the same level, near 0 when the
    person dominates. `ref` must be aligned with `mic` to well within `segment` samples.

    This is the magnitude-squared coherence per frequency (Welch), weighted by the mic's power there: unlike
    the energy the canceller removed, it does not depend on the canceller having converged."""
    n = min(len(mic), len(ref))
    hop = segment // 2
    if n < 2 * segment:
        return 0.0
    window = np.hanning(segment)
    starts = range(0, n - segment + 1, hop)
    m = np.fft.rfft(np.stack([mic[s:s + segment] * window for s in starts]), axis=1)
    r = np.fft.rfft(np.stack([ref[s:s + segment] * window for s in starts]), axis=1)
    s_mm = np.sum(np.abs(m) ** 2, axis=0)
    s_rr = np.sum(np.abs(r) ** 2, axis=0)
    s_mr = np.abs(np.sum(m * np.conj(r), axis=0)) ** 2
    coherence = s_mr / (s_mm * s_rr + 1e-20)
    return float(np.sum(coherence * s_mm) / (np.sum(s_mm) + 1e-20))
