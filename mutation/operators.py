"""The mutants of one module: every small change, each applied alone to a fresh syntax tree."""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_COMPARE: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    # boundary first, then negation
    ast.Lt: (ast.LtE, ast.GtE),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.LtE),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
}
# `//` -> `/` is left out: under the int() that usually follows, it is an equivalent mutant.
_BINARY: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.Pow: ast.Mult,
}
_SWAPPED_CALLS = {"min": "max", "max": "min"}
_DELETABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Raise, ast.Break, ast.Continue, ast.Delete)
_SKIPPED_NAMES = {"__slots__", "__all__", "__match_args__"}


@dataclass(frozen=True, slots=True)
class Mutant:
    """One change: ``index`` identifies it within its module's source."""

    index: int
    line: int
    kind: str
    before: str
    after: str
    lines: tuple[int, ...] = ()  # the lines whose execution means the mutant ran

    def describe(self) -> str:
        return f"line {self.line} [{self.kind}]\n    - {self.before}\n    + {self.after}"


@dataclass(slots=True)
class _Site:
    """Where a replacement goes: ``parent.field`` or ``parent.field[position]``."""

    parent: ast.AST
    field: str
    position: int | None
    kind: str
    replacement: Callable[[], ast.AST]
    statement: int

    def node(self) -> ast.AST:
        value = getattr(self.parent, self.field)
        return value if self.position is None else value[self.position]  # type: ignore[no-any-return]

    def apply(self) -> None:
        new = ast.copy_location(self.replacement(), self.node())
        if self.position is None:
            setattr(self.parent, self.field, new)
        else:
            getattr(self.parent, self.field)[self.position] = new


def mutants(source: str) -> list[Mutant]:
    """Every mutant of ``source``, in a stable order."""
    lines = source.splitlines()
    found: list[Mutant] = []
    for index, site in enumerate(_sites(ast.parse(source))):
        node = site.node()
        line = getattr(node, "lineno", 0)
        before = lines[line - 1].strip() if 0 < line <= len(lines) else ast.unparse(node)
        end = getattr(node, "end_lineno", None) or line
        reached = tuple(sorted({site.statement, *range(line, end + 1)}))
        found.append(Mutant(index, line, site.kind, before, _after(source, lines, node, site), reached))
    return found


def mutated_tree(source: str, index: int) -> ast.Module:
    """``source``'s syntax tree with mutant ``index`` applied."""
    tree = ast.parse(source)
    for i, site in enumerate(_sites(tree)):
        if i == index:
            site.apply()
            return ast.fix_missing_locations(tree)
    raise IndexError(f"no mutant {index}")


def _after(source: str, lines: list[str], node: ast.AST, site: _Site) -> str:
    """The mutated line as it would read (the whole node unparsed when it spans several lines)."""
    new = ast.unparse(site.replacement())
    segment = ast.get_source_segment(source, node)
    start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", 0)
    if segment is None or start != end or not 0 < start <= len(lines):
        return new
    text = lines[start - 1]
    col, end_col = _char_offsets(text, node)
    return (text[:col] + new + text[end_col:]).strip()


def _char_offsets(text: str, node: ast.AST) -> tuple[int, int]:
    raw = text.encode()
    col = len(raw[: getattr(node, "col_offset", 0)].decode())
    end_col = len(raw[: getattr(node, "end_col_offset", 0)].decode())
    return col, end_col


def _sites(tree: ast.Module) -> Iterator[_Site]:
    yield from _visit(tree, in_function=False, statement=0)


def _visit(node: ast.AST, *, in_function: bool, statement: int) -> Iterator[_Site]:
    for field, value in ast.iter_fields(node):
        if _skipped_field(node, field):
            continue
        if isinstance(value, list):
            for position, child in enumerate(value):
                if isinstance(child, ast.AST):
                    yield from _child(node, field, position, child, in_function=in_function, statement=statement)
        elif isinstance(value, ast.AST):
            yield from _child(node, field, None, value, in_function=in_function, statement=statement)


def _child(parent: ast.AST, field: str, position: int | None, node: ast.AST, *, in_function: bool,
           statement: int) -> Iterator[_Site]:
    if _skipped_node(parent, field, position, node):
        return
    if isinstance(node, ast.stmt):
        statement = node.lineno
    if isinstance(parent, ast.If | ast.While | ast.IfExp) and field == "test" and isinstance(node, ast.expr) \
            and _negatable(node):
        test = node
        yield _Site(parent, field, position, "negate condition",
                    lambda: ast.UnaryOp(op=ast.Not(), operand=copy.deepcopy(test)), statement)
    for kind, make in _replacements(node, in_function=in_function):
        yield _Site(parent, field, position, kind, make, statement)
    inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    yield from _visit(node, in_function=inner, statement=statement)


def _skipped_field(node: ast.AST, field: str) -> bool:
    """Annotations, decorators and f-string internals carry no behaviour worth a mutant."""
    if field in {"annotation", "returns", "decorator_list", "type_comment", "type_params"}:
        return True
    return isinstance(node, ast.JoinedStr | ast.FormattedValue) or (
        isinstance(node, ast.AnnAssign) and field == "target")


def _skipped_node(parent: ast.AST, field: str, position: int | None, node: ast.AST) -> bool:
    if isinstance(node, ast.Import | ast.ImportFrom):
        return True
    if position == 0 and field == "body" and _is_docstring(node):
        return True
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        return True
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return isinstance(node, ast.Assign | ast.AnnAssign) and any(
        isinstance(t, ast.Name) and t.id in _SKIPPED_NAMES for t in targets)


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _is_ellipsis(node: ast.AST) -> bool:
    """A protocol's or stub's ``...`` body: deleting it changes nothing."""
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and node.value.value is Ellipsis


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _replacements(node: ast.AST, *, in_function: bool) -> Iterator[tuple[str, Callable[[], ast.AST]]]:
    if isinstance(node, ast.Compare):
        yield from _compare(node)
    elif isinstance(node, ast.BoolOp):
        swapped = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield "and/or", lambda: ast.BoolOp(op=swapped, values=copy.deepcopy(node.values))
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        op = _BINARY[type(node.op)]
        yield "arithmetic", lambda: ast.BinOp(left=copy.deepcopy(node.left), op=op(), right=copy.deepcopy(node.right))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "drop not", lambda: copy.deepcopy(node.operand)
    elif isinstance(node, ast.Constant):
        yield from _constant(node)
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _SWAPPED_CALLS:
        other = _SWAPPED_CALLS[node.func.id]
        yield "min/max", lambda: ast.Call(func=ast.Name(id=other, ctx=ast.Load()), args=copy.deepcopy(node.args),
                                          keywords=copy.deepcopy(node.keywords))
    if isinstance(node, ast.AugAssign) and type(node.op) in _BINARY:
        aug = _BINARY[type(node.op)]
        yield "arithmetic", lambda: ast.AugAssign(target=copy.deepcopy(node.target), op=aug(),
                                                  value=copy.deepcopy(node.value))
    if in_function and not _is_ellipsis(node) and (
            isinstance(node, _DELETABLE) or (isinstance(node, ast.Return) and node.value is None)):
        yield "delete statement", ast.Pass


def _compare(node: ast.Compare) -> Iterator[tuple[str, Callable[[], ast.AST]]]:
    for i, op in enumerate(node.ops):
        for new in _COMPARE.get(type(op), ()):
            def make(i: int = i, new: type[ast.cmpop] = new) -> ast.AST:
                ops = [copy.deepcopy(o) for o in node.ops]
                ops[i] = new()
                return ast.Compare(left=copy.deepcopy(node.left), ops=ops, comparators=copy.deepcopy(node.comparators))
            yield "comparison", make


def _constant(node: ast.Constant) -> Iterator[tuple[str, Callable[[], ast.AST]]]:
    value = node.value
    if isinstance(value, bool):
        yield "constant", lambda: ast.Constant(value=not value)
    elif isinstance(value, int | float):
        yield "constant", lambda: ast.Constant(value=value + 1)
        if value != 0:
            yield "constant", lambda: ast.Constant(value=type(value)(0))


def _negatable(test: ast.expr) -> bool:
    """Not when another operator already yields the negation (a single comparison, a ``not``)."""
    single_compare = isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _COMPARE
    return not single_compare and not (isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not))




HIT = "__mutation_hit__"


def instrumented_tree(source: str) -> ast.Module:
    """``source``'s syntax tree with a call ``__mutation_hit__(line)`` before every statement, so a
    run can record which lines executed at the cost of one call each (a tracing function would
    slow every frame of every library, and timing-sensitive tests with it)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list) and value and all(isinstance(v, ast.stmt) for v in value):
                setattr(node, field, _with_hits(value))
    return ast.fix_missing_locations(tree)


def _with_hits(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for position, statement in enumerate(body):
        keep_first = (position == 0 and _is_docstring(statement)) or (
            isinstance(statement, ast.ImportFrom) and statement.module == "__future__")
        if not keep_first:
            call = ast.Call(func=ast.Name(id=HIT, ctx=ast.Load()), args=[ast.Constant(statement.lineno)], keywords=[])
            out.append(ast.copy_location(ast.Expr(value=call), statement))
        out.append(statement)
    return out
