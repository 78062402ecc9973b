"""Running a compiled Loihi network on nengo-loihi's emulator, many samples per build.

``nengo_loihi.Simulator`` cannot reset (``reset()`` raises NotImplementedError), so the
obvious way to run a batch, one fresh simulator per sample, spends most of its time
building. The sessions here build the simulator **once** per ``Compiled.run`` session and
give every sample a state exactly as fresh as a new simulator's:

``mode="batch"`` (default with ``emulator="sim"``)
    nengo-loihi's own build (split into blocks, discretized) is kept; the host parts run
    per sample in their nengo simulators (reset between samples), and the chip runs all
    samples at once: the emulator's integer step (``EmulatorInterface.step`` /
    ``CompartmentState.update`` of nengo-loihi 1.1) vectorized over a batch axis, with each
    block's synapses as one sparse matrix. The same integers, the same order of the
    saturating wrap-arounds, the same delays (a spike reaches its targets one step after it
    is sent, from the host or the chip; the host reads the chip's step ``k`` at step
    ``k + 1``), the same probe weighting and filtering code (nengo-loihi's ``LoihiProbe``
    and ``ProbeFilter``): the outputs equal those of a fresh ``nengo_loihi.Simulator`` per
    sample bit for bit (a test checks it), many times faster.
``mode="reset"``
    one simulator, its state put back between samples: the host simulators reset, a new
    ``EmulatorInterface`` on the same built model (its state starts at zero as after a
    build), pending input spikes dropped. Exact for both emulators (``sim``, ``simreal``);
    the default for ``simreal``, whose float32 sums the batched path would reorder.
``mode="rebuild"``
    a fresh simulator per sample (the reference the others are checked against).

Networks the batched path does not model exactly (learning, noise, a spike that reaches
one compartment twice through one synapse) run in ``reset`` mode.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse

from snnc.codegen.nengo_family import _Feed
from snnc.codegen.target import progress_bar, quiet_build
from snnc.errors import SnncError

MODES = ("batch", "reset", "rebuild")
EMULATORS = ("sim", "simreal")
#: samples advanced together on the chip (memory: a few arrays of chunk x compartments)
CHUNK = 256


def _simulator(network, dt: float, emulator: str):
    from snnc.codegen.loihi_resources import import_nengo_loihi

    nengo_loihi = import_nengo_loihi()
    with quiet_build(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nengo_loihi.Simulator(network, dt=dt, target=emulator, progress_bar=False)


def _step_fn(sim, model, process):
    """The step function nengo made for ``process`` in nengo simulator ``sim`` (it holds the
    host<->chip queues; remade by every ``reset``)."""
    from nengo_loihi.simulator import StepRunner

    op = StepRunner._get_simprocess_op_dict(model.operators)[id(process)]
    return StepRunner._get_step_f(op, sim)


class LoihiSession:
    """Runs a compiled network on nengo-loihi's emulator (see the module docstring).

    Args:
        compiled: the :class:`~snnc.codegen.compiled.Compiled` to run.
        emulator: nengo-loihi's ``target``: ``sim`` (discretized, as the chip) or
            ``simreal`` (floats).
        mode: ``batch``, ``reset`` or ``rebuild``.
        chunk: samples advanced together in ``batch`` mode.
    """

    def __init__(
        self, compiled, emulator: str = "sim", mode: str | None = None, chunk: int = CHUNK
    ):
        if emulator not in EMULATORS:
            raise SnncError(
                f"loihi emulator {emulator!r} is not supported (expected one of {', '.join(EMULATORS)})"
            )
        mode = mode or ("batch" if emulator == "sim" else "reset")
        if mode not in MODES:
            raise SnncError(
                f"loihi mode {mode!r} is not supported (expected one of {', '.join(MODES)})"
            )
        if mode == "batch" and emulator != "sim":
            raise SnncError(
                "loihi mode 'batch' runs the discretized emulator only (emulator='sim')"
            )
        self.compiled, self.emulator, self.chunk = compiled, emulator, max(1, int(chunk))
        self.dt = compiled.graph.dt
        from snnc.codegen.loihi_resources import import_nengo_loihi

        import_nengo_loihi()  # before the generated module imports it silently
        network, inputs, probes = compiled.build()
        self.feeds = []
        for node in inputs.values():
            feed = _Feed(node.size_out)
            node.output = feed  # the network is fresh from build(): ours to change
            self.feeds.append(feed)
        self.network, self.probes = network, list(probes.values())
        self.sim = None if mode == "rebuild" else _simulator(network, self.dt, emulator)
        self.chip = None
        if mode == "batch":
            self.chip = BatchedChip.of(self.sim)
            if self.chip is None:
                mode = "reset"
        self.mode = mode

    # ------------------------------------------------------------------ running
    def run(
        self, xs: list[np.ndarray], steps: int, progress: bool | None = None
    ) -> list[np.ndarray]:
        """Run every sample for ``steps`` steps from a fresh state.

        Args:
            xs: one ``(batch, size)`` array per input, flat samples.
        Returns:
            One ``(batch, steps, size)`` array per output (raw per-step values).
        """
        n = xs[0].shape[0]
        outs = [np.empty((n, steps, p.size_in)) for p in self.probes]
        ticks = iter(progress_bar(range(n), total=n, enabled=progress, unit="sample"))
        if self.mode == "batch":
            for start in range(0, n, self.chunk):
                idx = range(start, min(n, start + self.chunk))
                for k, y in enumerate(
                    self._run_batch([x[idx.start : idx.stop] for x in xs], steps, ticks)
                ):
                    outs[k][idx.start : idx.stop] = y
        else:
            for i in range(n):
                for k, y in enumerate(self._run_one([x[i] for x in xs], steps)):
                    outs[k][i] = y
                next(ticks, None)
        for _ in ticks:  # finish the progress display
            pass
        return outs

    def _set(self, sample) -> None:
        for feed, x in zip(self.feeds, sample, strict=True):
            feed.value = x

    def _run_one(self, sample, steps: int) -> list[np.ndarray]:
        self._set(sample)
        if self.mode == "rebuild":
            sim = _simulator(self.network, self.dt, self.emulator)
        else:
            sim = self.sim
            reset(sim)
        with quiet_build(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sim.run_steps(steps)
        out = [np.asarray(sim.data[p], np.float64) for p in self.probes]
        if self.mode == "rebuild":
            sim.close()
        return out

    def _run_batch(self, xs, steps: int, ticks) -> list[np.ndarray]:
        chip, sim = self.chip, self.sim
        b = xs[0].shape[0]
        spikes = chip.new_inputs(b, steps)
        host_data = []
        for i in range(b):  # host -> chip: the encoders, in nengo, sample by sample
            self._set([x[i] for x in xs])
            host_data.append(chip.host_pre_spikes(sim, steps, spikes, i, self.probes))
        records = chip.run(spikes, b, steps)
        outs = [np.empty((b, steps, p.size_in)) for p in self.probes]
        for i in range(b):  # chip -> host: the readout, in nengo, sample by sample
            self._set([x[i] for x in xs])  # (a host model stepping in turns reads it again)
            values = chip.outputs(sim, records, host_data, i, steps, self.probes)
            for k, v in enumerate(values):
                outs[k][i] = v
            next(ticks, None)
        return outs

    def close(self) -> None:
        """Close the simulator."""
        if self.sim is not None and not self.sim.closed:
            self.sim.close()


def reset(sim) -> None:
    """Put a built ``nengo_loihi.Simulator`` back into its just-built state (which its own
    ``reset`` does not do): host simulators reset, a fresh emulator on the same built
    model, pending host->chip spikes dropped, a new step runner, empty probes."""
    from nengo_loihi.emulator import EmulatorInterface
    from nengo_loihi.simulator import StepRunner

    if "emulator" not in sim.sims:
        raise SnncError("only nengo-loihi's emulator can be reset by snnc (not the hardware)")
    for name in ("host_pre", "host"):
        if name in sim.sims:
            sim.sims[name].reset()
    old = sim.sims["emulator"]
    for spike_input in sim.model.inputs:
        spike_input.spikes = {
            t: s for t, s in spike_input.spikes.items() if t in spike_input.permanent
        }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # it fills its integer arrays with NaN first
        sim.sims["emulator"] = EmulatorInterface(sim.model, seed=old.seed)
    old.close()
    sim._runner = StepRunner(sim.model, sim.sims, sim.precompute, sim.timers)
    sim._n_steps = 0
    sim._time = 0.0
    sim.clear_probes()


# =============================================================================== batched chip


class BatchedChip:
    """nengo-loihi's emulator step for many samples at once (exact; see the module
    docstring). Made from a built simulator by :meth:`of`."""

    @classmethod
    def of(cls, sim) -> BatchedChip | None:
        """The batched chip of ``sim``, or None when it has parts the batched step does not
        model (then ``reset`` mode is used)."""
        emu = sim.sims.get("emulator")
        if emu is None or emu.block_info.dtype != np.int32:
            return None
        blocks = emu.block_info.blocks
        if any(np.any(b.compartment.enable_noise) for b in blocks):
            return None
        if any(s.learning for b in blocks for s in b.synapses):
            return None
        try:
            return cls(sim, emu)
        except _Inexact:
            return None

    def __init__(self, sim, emu):
        self.model = sim.model
        # precomputed: the host runs its encoders for all steps first ("host_pre"), the chip,
        # then the host's readout ("host"). Otherwise (the input also reaches a host node
        # that reads the chip) nengo-loihi steps host and chip in turns, in one host model
        self.precompute = bool(sim.precompute)
        self.encoders = "host_pre" if self.precompute else "host"
        info = emu.block_info
        self.n = info.n_compartments
        self.slices = dict(info.slices)
        owner = {id(s): blk for blk in info.blocks for s in blk.synapses}
        c = emu.compartment
        self.decay_u, self.decay_v = c.decay_u.copy(), c.decay_v.copy()
        self.vth, self.vmin, self.vmax = c.vth.copy(), c.vmin.copy(), c.vmax.copy()
        self.bias, self.ref = c.bias.copy(), c.ref.copy()
        # chip -> chip: one (n, n) matrix over every block's axons
        rows, cols, vals = [], [], []
        for blk, sl in self.slices.items():
            for axon in blk.axons:
                self._axon(axon, blk.n_neurons, sl.start, owner, rows, cols, vals)
        self.w_chip = _matrix(rows, cols, vals, (self.n, self.n))
        # host -> chip: one matrix per SpikeInput
        self.inputs = list(self.model.inputs)
        self.w_in = []
        for spike_input in self.inputs:
            rows, cols, vals = [], [], []
            for axon in spike_input.axons:
                self._axon(axon, spike_input.n_neurons, 0, owner, rows, cols, vals)
            self.w_in.append(_matrix(rows, cols, vals, (spike_input.n_neurons, self.n)))
        self.input_index = {id(s): k for k, s in enumerate(self.inputs)}
        self.senders = [
            (sender, self.input_index[id(self.model.spike_targets[receiver])])
            for sender, receiver in self.model.host2chip_senders.items()
        ]
        self.probes = list(self.model.probes)

    def _axon(self, axon, n_pre: int, pre_start: int, owner, rows, cols, vals) -> None:
        """The weights one axon group delivers, as matrix entries (pre -> post compartment)."""
        syn = axon.target
        post = self.slices[owner[id(syn)]].start
        idx = np.arange(n_pre)
        axon_ids = np.asarray(axon.map_axon(idx))
        atoms = np.asarray(axon.map_atoms(idx))
        for c in np.flatnonzero(axon_ids >= 0):
            base = syn.axon_compartment_base(int(axon_ids[c]))
            if base is None:
                continue
            w, i = syn.axon_weights_indices(int(axon_ids[c]), atom=int(atoms[c]))
            if len(np.unique(i)) != len(i):
                # the emulator's ``q[base + i] += w`` adds a repeated index once: not a sum
                raise _Inexact
            rows.append(np.full(len(i), pre_start + c))
            cols.append(post + base + np.asarray(i))
            vals.append(np.asarray(w, np.int64))

    # ------------------------------------------------------------------ host parts
    def new_inputs(self, b: int, steps: int) -> list[np.ndarray]:
        """Empty host->chip spike rasters: per SpikeInput ``(steps + 1, b, n)`` (by step)."""
        return [np.zeros((steps + 1, b, s.n_neurons), dtype=bool) for s in self.inputs]

    def host_pre_spikes(self, sim, steps: int, spikes: list[np.ndarray], i: int, probes) -> dict:
        """Run the host's encoders for sample ``i`` (already fed), record what they send;
        returns the values of the output probes computed there (an input read out directly)."""
        host = sim.sims.get(self.encoders)
        if host is None:
            return {}
        host.reset()
        host.run_steps(steps)
        for sender, k in self.senders:
            queue = _step_fn(host, host.model, sender.output).queue
            for t, x in queue:
                ti = round(t / self.model.dt)
                spikes[k][ti, i, np.asarray(x).nonzero()[0]] = True
            queue.clear()
        if not self.precompute:
            return {}  # the host model also reads the chip: its outputs come later
        return {p: np.asarray(host.data[p], np.float64) for p in probes if p in host.model.params}

    # ------------------------------------------------------------------ the chip
    def run(self, spikes: list[np.ndarray], b: int, steps: int) -> dict:
        """Advance ``b`` samples ``steps`` steps; returns, per LoihiProbe, per target block,
        the probed state ``(b, steps, m)``."""
        from nengo_loihi.builder.discretize import Q_BITS, U_BITS, decay_int, overflow_signed

        n = self.n
        current = np.zeros((b, n), np.int32)
        voltage = np.zeros((b, n), np.int32)
        spiked = np.zeros((b, n), bool)
        ref_count = np.zeros((b, n), np.int32)
        w_in_t = [w.T.tocsr() for w in self.w_in]
        w_chip_t = self.w_chip.T.tocsr()
        records = {
            p: [
                np.empty((b, steps, np.arange(blk.n_neurons)[p.slice[k]].size), self._dtype(p))
                for k, blk in enumerate(p.target)
            ]
            for p in self.probes
        }
        for t in range(1, steps + 1):
            q = np.asarray((w_chip_t @ spiked.T.astype(np.int64)).T)
            if t >= 2:  # input spikes take one step to arrive
                for w, s in zip(w_in_t, spikes, strict=True):
                    q = q + np.asarray((w @ s[t - 1].T.astype(np.int64)).T)
            q0 = q.astype(np.int32)  # the emulator sums int32 weights: wrap the same way
            overflow_signed(q0, bits=Q_BITS, out=q0)
            current[:] = decay_int(current, self.decay_u, offset=1) + q0
            overflow_signed(current, bits=U_BITS, out=current)
            u2 = current + self.bias
            overflow_signed(u2, bits=U_BITS, out=u2)
            voltage[:] = decay_int(voltage, self.decay_v) + u2
            np.clip(voltage, self.vmin, self.vmax, out=voltage)
            voltage[ref_count > 0] = 0
            spiked = voltage > self.vth
            voltage[spiked] = 0
            ref_count = np.where(spiked, self.ref, ref_count).astype(np.int32)
            np.clip(ref_count - 1, 0, None, out=ref_count)
            state = {"spiked": spiked, "voltage": voltage, "current": current}
            for p, recs in records.items():
                attr = state[p.key]
                for k, blk in enumerate(p.target):
                    recs[k][:, t - 1] = attr[:, self.slices[blk]][:, p.slice[k]]
        return records

    @staticmethod
    def _dtype(probe):
        return bool if probe.key == "spiked" else np.int32

    # ------------------------------------------------------------------ outputs
    def outputs(
        self, sim, records: dict, host_data: list, i: int, steps: int, nengo_probes
    ) -> list[np.ndarray]:
        """Sample ``i``'s value of every output probe: chip probes weighted and filtered by
        nengo-loihi's own code; host probes by running the host simulator on what the chip
        sent (stamped as the emulator stamps it)."""
        from nengo_loihi.probe import ProbeFilter

        model, dt = self.model, self.model.dt
        host = sim.sims.get("host")
        if host is not None:
            host.reset()
            for nengo_probe, receiver in model.chip2host_receivers.items():
                lp = model.objs[nengo_probe]["out"]
                if self.precompute:  # the emulator sends all steps at once
                    x = lp.weight_outputs([r[i] for r in records[lp]])
                else:  # one step at a time (a vector product rounds unlike a matrix one)
                    x = np.concatenate(
                        [
                            lp.weight_outputs([r[i][j : j + 1] for r in records[lp]])
                            for j in range(steps)
                        ]
                    )
                step = _step_fn(host, model.host, receiver.output)
                if not self.precompute:
                    # stepping in turns, the host's first step runs before the chip sent
                    # anything: it reads the receiver's initial zeros
                    step.receive(dt, np.zeros_like(x[0]))
                for j, xx in enumerate(x):
                    step.receive(dt * (j + 2), xx)
            host.run_steps(steps)
        out = []
        for probe in nengo_probes:
            if host is not None and probe in host.model.params:
                out.append(np.asarray(host.data[probe], np.float64))
            elif probe in host_data[i]:
                out.append(host_data[i][probe])
            else:
                lp = model.objs[probe]["out"]
                data = lp.weight_outputs([r[i] for r in records[lp]])
                out.append(np.asarray(ProbeFilter(dt)(lp, data), np.float64))
        return out


class _Inexact(Exception):
    """The batched step would not reproduce the emulator exactly."""


def _matrix(rows, cols, vals, shape) -> scipy.sparse.csr_matrix:
    if not rows:
        return scipy.sparse.csr_matrix(shape, dtype=np.int64)
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=shape,
        dtype=np.int64,
    )
