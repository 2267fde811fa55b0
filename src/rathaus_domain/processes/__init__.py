"""Pure process-automation core: safe evaluator, FEEL/DMN, SpiffWorkflow engine port, model checks.

Modules: ``evaluator`` (safe expressions and scripts), ``feel`` and ``dmn`` (decision tables),
``expressions`` (BPMN expression spellings, ISO 8601 timers), ``bpmnext`` (Camunda/Zeebe/Spiff/
``rathaus:`` attributes), ``checks`` and ``lint`` (model problems), ``engine`` (runs).
"""
