#!/usr/bin/env bash
# End to end on the 5 Enron senders of ../shared/data/enron, with the embedded models only
# (SmolLM2-135M as M_L, as M_S base and as judge; all-MiniLM-L6-v2 for similarity):
#
#   import -> distill -> train -> eval (per sender) -> eval permutation (across the 5)
#
# The committed example in docs/eval-example/ is what this script wrote, with the settings
# printed at the top of docs/eval-example/run.log. Every step is resumable: running the script
# again with the same PA_HOME continues where it stopped and reuses what is stored.
#
#   bash benchmarks/eval_enron.sh
#   PA_HOME=/tmp/x DISTILL_LIMIT=40 EVAL_LIMIT=8 LARGE=ollama:llama3.1:8b bash benchmarks/eval_enron.sh
set -uo pipefail
cd "$(dirname "$0")/.."

ENRON=${ENRON:-../shared/data/enron}
export PA_HOME=${PA_HOME:-/tmp/pa-eval-enron}
OUT=${OUT:-docs/eval-example}
LARGE=${LARGE:-embedded}
DISTILL_LIMIT=${DISTILL_LIMIT:-6}        # all stages for the first N documents (by id) of each sender
TEST_DOCS=${TEST_DOCS:-2}                # intents also for documents up to the TEST_DOCS-th held-out one
EPOCHS=${EPOCHS:-1}
EVAL_LIMIT=${EVAL_LIMIT:-1}              # held-out documents per sender
PERMUTATION_LIMIT=${PERMUTATION_LIMIT:-1}
BASELINES=${BASELINES:-small large few-shot naive-finetune no-baseline}
KINDS=(${KINDS:-agent naive no-baseline}) # the M_S models trained per sender (the agent and its baselines)
SENDERS=(${SENDERS:-allen-p baughman-d staab-t williams-w3 zufferli-j})
STEPS=" ${STEPS:-import distill train eval} "  # e.g. STEPS=eval: judge again what is already trained

PA=${PA:-pa}
mkdir -p "$PA_HOME" "$OUT"
LOG="$OUT/run.log"   # appended to: a resumed run adds its own section

if [ ! -f "$PA_HOME/config.toml" ]; then
  cat > "$PA_HOME/config.toml" <<EOF
[models]
large = "$LARGE"

[distill]
max_tokens = 200
intent_temperatures = [0.7, 1.0]
max_attempts = 2

[drafting]
max_tokens = 120
rules_max_tokens = 160
retriever = "bm25"
few_shot_k = 2

[eval]
judge_attempts = 2
judge_max_tokens = 8
EOF
fi

log() { echo "$*" | tee -a "$LOG"; }
run() {
  # Run one pa command, log it with its exit code and time; never stop the script.
  local started=$SECONDS
  log "\$ pa $*"
  "$PA" "$@" > >(tee -a "$LOG") 2> >(tee -a "$LOG" >&2)
  local code=$?
  log "  -> exit $code in $((SECONDS - started)) s"
  return 0
}

log "# $(date -u +%Y-%m-%dT%H:%M:%SZ) benchmarks/eval_enron.sh"
log "# PA_HOME=$PA_HOME LARGE=$LARGE DISTILL_LIMIT=$DISTILL_LIMIT TEST_DOCS=$TEST_DOCS EPOCHS=$EPOCHS EVAL_LIMIT=$EVAL_LIMIT PERMUTATION_LIMIT=$PERMUTATION_LIMIT BASELINES='$BASELINES' KINDS='${KINDS[*]}' STEPS='${STEPS# }'"
log "# config.toml:"
sed 's/^/#   /' "$PA_HOME/config.toml" | tee -a "$LOG"

step() { [[ "$STEPS" == *" $1 "* ]]; }
step import && for sender in "${SENDERS[@]}"; do
  run import "$ENRON/$sender/sent_items" --profile "$sender"
done
intent_limit() {
  # Position (by id) of the sender's TEST_DOCS-th held-out document, at least DISTILL_LIMIT.
  "$PA" corpus list --profile "$1" --limit 500 --json | python -c '
import json, sys
wanted, floor = int(sys.argv[1]), int(sys.argv[2])
docs = json.load(sys.stdin)
held_out = [i + 1 for i, doc in enumerate(docs) if doc["split"] == "test"]
print(max(floor, held_out[min(wanted, len(held_out)) - 1] if held_out else floor))' "$TEST_DOCS" "$DISTILL_LIMIT"
}
step distill && for sender in "${SENDERS[@]}"; do
  limit=$(intent_limit "$sender")
  run distill --profile "$sender" --limit "$limit" --stage intents
  run distill --profile "$sender" --limit "$DISTILL_LIMIT"
  run distill --profile "$sender" --limit "$limit" --stage intents --retry-failed
done
step train && for sender in "${SENDERS[@]}"; do
  for kind in "${KINDS[@]}"; do
    run train --profile "$sender" --kind "$kind" --epochs "$EPOCHS"
  done
done
step eval && for sender in "${SENDERS[@]}"; do
  # shellcheck disable=SC2086
  run eval --profile "$sender" --limit "$EVAL_LIMIT" --baselines $BASELINES --out "$OUT/$sender"
done
step eval && run eval permutation --profiles "${SENDERS[@]}" --limit "$PERMUTATION_LIMIT" --out "$OUT/permutation"

reports=("$OUT"/*/eval.json)
if [ -e "${reports[0]}" ]; then
  python benchmarks/eval_summary.py "${reports[@]}" --markdown | tee "$OUT/summary.md" | tee -a "$LOG"
fi
log "# done $(date -u +%Y-%m-%dT%H:%M:%SZ)"
