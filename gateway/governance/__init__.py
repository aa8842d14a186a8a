"""Organisation-wide governance: policies as code (CEL), promotion requests with
approvals and write-through, a hash-chained audit log, compliance reports and
retention.

    policies.py    the policy file: rules, scopes, severities, approvals, retention
    evaluation.py  what a rule sees (``version``) and the verdict on a version
    evaluator.py   how a version is judged against the compiled policies
    compliance.py  keeps every indexed version's compliance current (index listener)
    promotions.py  the promotion state machine and its write-through
    audit.py       append, verify, query and export the audit log
    reports.py     compliance reports, current or "as of" a past time
    retention.py   which versions retention rules archive
    service.py     ``Governance``: the parts wired together for the runtime

The downloads are ``gateway.endpoints.reports``; the commands ``gateway.cli.governance``.
"""
