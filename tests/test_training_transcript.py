"""The training transcript: the one fold of a run's events that `pa train` and the TUI panel show."""

from __future__ import annotations

from finetune.transcript import Finished, Interrupted, Started, Stepped, TrainingTranscript, parse_event

RUN = [
    {"event": "preparing", "time": 1.0, "message": "loading base model tiny"},
    {
        "event": "start",
        "time": 2.0,
        "step": 0,
        "total": 4,
        "epochs": 2,
        "device": "cpu",
        "mode": "lora-fp32",
        "train_examples": 2,
        "eval_examples": 1,
        "resumed": False,
        "dataset": {"missing_intent": 1, "missing_target": 0},
    },
    {"event": "step", "time": 3.0, "step": 1, "total": 4, "epoch": 1, "loss": 2.5, "eta": 30.0, "tokens_per_s": 100.0},
    {"event": "step", "time": 4.0, "step": 2, "total": 4, "epoch": 1, "loss": 2.0, "eta": 20.0, "tokens_per_s": 110.0},
    {"event": "eval", "time": 5.0, "epoch": 1, "step": 2, "total": 4, "eval_loss": 2.2, "loss": 2.0},
    {
        "event": "interrupted",
        "time": 6.0,
        "step": 2,
        "total": 4,
        "message": "stopped at step 2/4; continue with --resume",
    },
    {"event": "start", "time": 7.0, "step": 2, "total": 4, "device": "cpu", "mode": "lora-fp32", "resumed": True},
    {"event": "step", "time": 8.0, "step": 3, "total": 4, "epoch": 2, "loss": 1.5, "eta": 10.0, "tokens_per_s": 120.0},
    {"event": "a-kind-from-a-newer-pa", "time": 8.5},
    {"event": "step", "time": 9.0, "step": 4, "total": 4, "epoch": 2, "loss": 1.0, "eta": 0.0, "tokens_per_s": 125.0},
    {"event": "export", "time": 10.0, "stage": "quantize", "message": "q8_0"},
    {
        "event": "done",
        "time": 11.0,
        "agent": "/x/agents/agent/v3",
        "version": 3,
        "gguf": "/x/a.gguf",
        "quant": "q8_0",
        "size": 10,
    },
]


def test_a_resumed_run_keeps_its_whole_loss_curve_and_ends_done():
    transcript = TrainingTranscript()
    for record in RUN:
        transcript.apply_record(record)
    assert (transcript.step, transcript.total, transcript.losses) == (4, 4, [2.5, 2.0, 1.5, 1.0])
    assert transcript.eval_losses == [2.2] and transcript.eta == 0.0 and transcript.tokens_per_s == 125.0
    assert transcript.export_done and transcript.agent == "v3" and isinstance(transcript.terminal, Finished)
    assert "skipped 1 documents without an intent" in transcript.notes[0]
    assert transcript.log[0] == "preparing: loading base model tiny"
    assert "training: 4 steps on cpu (lora-fp32) (resumed)" in transcript.log
    assert transcript.log[-1] == "done: agent v3 (q8_0)"


def test_a_stop_is_terminal_and_says_how_to_continue():
    transcript = TrainingTranscript()
    for record in RUN[:6]:
        transcript.apply_record(record)
    assert isinstance(transcript.terminal, Interrupted) and "--resume" in transcript.message


def test_events_are_typed_and_written_back_as_the_same_json():
    for record in RUN:
        event = parse_event(record)
        if record["event"] == "a-kind-from-a-newer-pa":
            assert event is None
            continue
        assert event is not None and event.kind == record["event"]
        written = event.to_record()
        assert {key: written[key] for key in record} == record
    assert isinstance(parse_event(RUN[1]), Started) and isinstance(parse_event(RUN[2]), Stepped)
