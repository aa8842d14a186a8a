"""Judging versions against a compiled policy set (``gateway.governance.policies``)
with the vocabulary of ``gateway.governance.evaluation``. Separate from it because
the policy file compiles its rules against that vocabulary: policies sit between
the two."""

from __future__ import annotations

import cel

from gateway.governance.evaluation import (
    COMPLIANT,
    Evaluation,
    Reads,
    Subject,
    Violation,
    build_activation,
    cel_error_message,
    merge_reads,
)
from gateway.governance.policies import Policy, PolicySet


def run_rule(policy: Policy, context: cel.Context) -> str | None:
    """Evaluate one rule; None when it holds, else why it does not."""
    try:
        result = policy.program.execute(context)
    except Exception as exc:  # a CEL error of any kind: fail closed
        return f"rule failed to evaluate: {cel_error_message(exc)}"
    if result is True:
        return None
    if result is False:
        return policy.description or f"rule is false: {policy.rule}"
    return f"rule must evaluate to a bool, got {type(result).__name__}"


class Evaluator:
    """Judges versions against one compiled policy set. Which policies apply to a
    (stage, team, registry) and which fields they read is worked out once per
    combination and cached."""

    def __init__(self, policies: PolicySet):
        self.policies = policies
        self._plans: dict[
            tuple[str, str | None, str, str | None], tuple[tuple[Policy, ...], Reads | None]
        ] = {}

    def applicable(
        self, stage: str, team: str | None, registry: str, tier: str | None = None
    ) -> tuple[Policy, ...]:
        return self._plan(stage, team, registry, tier)[0]

    def _plan(
        self, stage: str, team: str | None, registry: str, tier: str | None = None
    ) -> tuple[tuple[Policy, ...], Reads | None]:
        key = (stage, team, registry, tier)
        plan = self._plans.get(key)
        if plan is None:
            chosen = tuple(p for p in self.policies.policies if p.scope.matches(stage, team, registry, tier))
            plan = (chosen, merge_reads(p.fields for p in chosen))
            self._plans[key] = plan
        return plan

    def evaluate(self, subject: Subject) -> Evaluation:
        chosen, fields = self._plan(
            subject.effective_stage, subject.team, subject.record["registry_id"], subject.tier
        )
        if not chosen:
            return COMPLIANT
        context = cel.Context({"version": build_activation(subject, fields)})
        violations = []
        for policy in chosen:
            message = run_rule(policy, context)
            if message is not None:
                violations.append(Violation(policy.id, policy.severity, message))
        return Evaluation(tuple(violations)) if violations else COMPLIANT
