"""The ``crossomni_acc`` metric folder: load it with ``evaluate.load("<path>/crossomni_acc")``.

``answer_extraction`` and ``scoring`` are importable on their own (the evaluation runner and the
training rewards use them); this package file imports nothing so that stays cheap.
"""
