"""Q&A services: the only code that writes conversations, Q&A records and feedback.

- ``ask``: ``qa_prepare`` (validate a question into an ``AnswerTrace``), ``qa_stream`` (run the
  pipeline, yielding events), ``qa_answer`` (the same run, drained);
- ``pipeline``: the stages retrieve -> generate -> ground -> redact -> record;
- ``trace``: ``AnswerTrace`` and the JSON it is stored and returned as;
- ``conversations``: share, delete, export; ``feedback``: ratings on answers.
"""
