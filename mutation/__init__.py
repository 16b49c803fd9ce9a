"""``make mutate``: mutation testing for llmport, one module against its focused tests.

Each mutant is one small change to the module's syntax tree (a flipped comparison, ``and``/``or``
swapped, a constant moved, a condition negated, a statement deleted...). Every mutant runs the
tests in a fresh interpreter that imports the mutated code in memory: the source files on disk are
never touched, so an interrupted run leaves nothing behind and mutants may run side by side.
"""
