"""Grading a student's answers: a hand-written YAML file in, a grade sheet out.

    student: s1234567             # optional (a name or student number)
    title: AlexNet shapes         # optional
    network: alexnet              # a bundled name, or a path relative to this file;
                                  # or `spec:` with a whole spec written inline
    set: {aux: false}             # optional: the network's params (like --set)
    answers:                      # about the network: per layer or block instance
      conv1: {output_shape: 55x55x96, params: 34944, macs: 105.4M, receptive_field: 11}
      pool1.output_shape: 27x27x96          # or one value per line as layer.quantity
      totals: {params: 60.97M}
    questions:                    # single layers, no network needed
      - {input: 7x7, kernel: 3, stride: 3, output: does not fit}
      - {input: 227x227x3, kernel: 11, stride: 4, filters: 96, output: 55x55x96,
         params: 34944}
      - {pool: max, input: 6x6, kernel: 2, stride: 2, output: 3x3}

Shapes are written H×W×C as in the notes (``55x55x96``); ``5x5`` grades the spatial size
only, and a single number is a vector length (or N×N for a feature map). Counts take the
forms of :func:`archcalc.quantities.parse_count`: exact integers must be exact, rounded
forms (``34.9k``, ``7260k``, ``15.47G``) are right within half a unit of their last digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import ArchcalcError, Location
from .geometry import ReceptiveField, fmt_count, fmt_int, fmt_num
from .layers import shape_text
from .messages import suggestion
from .quantities import _SHAPE_SPLIT, Count, QuantityError, parse_count
from .yaml_source import Mark, SourceDict, SourceList, parse_yaml

TOP_KEYS = ("student", "title", "network", "spec", "set", "answers", "questions", "notes")
LAYER_QUANTITIES = ("output_shape", "params", "weights", "bias", "trainable_params", "macs",
                    "flops", "receptive_field", "rf_stride")
TOTAL_QUANTITIES = ("params", "trainable_params", "macs", "flops", "activations",
                    "output_shape", "receptive_field", "layers")
QUESTION_FIELDS = ("input", "kernel", "stride", "padding", "dilation", "groups", "filters",
                   "bias", "pool", "ceil", "rounding")
QUESTION_ANSWERS = ("output", "params", "weights", "macs", "flops", "receptive_field",
                    "rf_stride")
QUESTION_KEYS = ("id", "note", *QUESTION_FIELDS, *QUESTION_ANSWERS)
#: other names people use for a quantity, network answers then questions
ALIASES = {"shape": "output_shape", "output": "output_shape", "rf": "receptive_field",
           "mac": "macs", "parameters": "params", "jump": "rf_stride"}
QUESTION_ALIASES = {"answer": "output", "output_shape": "output", "shape": "output",
                    "rf": "receptive_field", "mac": "macs", "parameters": "params",
                    "jump": "rf_stride"}
DOES_NOT_FIT = ("does not fit", "doesn't fit", "does not work", "not fit", "no fit",
                "not possible", "impossible", "not an integer", "not integer", "invalid")

TOLERANCE_RULE = (
    "Counts: a plain integer (34944, 34,944) must be exact; a rounded form is right within "
    "half a unit of its last written digit: 34.9k = 34,900 ± 50, 7260k = 7,260,000 ± 500, "
    "450K = 450,000 ± 500, 15.47G = 15,470,000,000 ± 5,000,000, 138M = 138,000,000 ± "
    "500,000. Shapes are H×W×C; an answer of H×W grades the spatial size only."
)


@dataclass(frozen=True)
class Grade:
    """One graded answer."""

    subject: str  # 'conv1', 'totals', 'Q3'
    quantity: str
    given: str
    correct: str
    ok: bool
    work: str  # how the correct value comes out
    line: int | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "quantity": self.quantity, "given": self.given,
                "correct": self.correct, "ok": self.ok, "work": self.work, "line": self.line,
                "note": self.note}


@dataclass(frozen=True)
class GradeSheet:
    file: str
    student: str | None
    title: str | None
    network: str | None
    grades: tuple[Grade, ...] = field(default_factory=tuple)

    @property
    def score(self) -> int:
        return sum(g.ok for g in self.grades)

    @property
    def total(self) -> int:
        return len(self.grades)

    @property
    def passed(self) -> bool:
        return self.score == self.total

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "student": self.student, "title": self.title,
                "network": self.network, "score": self.score, "total": self.total,
                "grades": [g.as_dict() for g in self.grades], "rule": TOLERANCE_RULE}


# --- reading the file -------------------------------------------------------------------------


def is_answers(data: Any) -> bool:
    """An answers file has no layers: and at least one key only answers files have."""
    return isinstance(data, dict) and "layers" not in data and any(
        key in data for key in ("answers", "questions", "network", "spec", "student"))


def grade_text(text: str, *, file: str = "<answers>", base: Path | None = None) -> GradeSheet:
    data = parse_yaml(text, file)
    return grade_data(data, file=file, base=base or Path("."))


def grade_data(data: Any, *, file: str, base: Path) -> GradeSheet:
    if not isinstance(data, SourceDict):
        raise ArchcalcError("an answers file is a mapping with answers: and/or questions:",
                            where=Location(file, 1, 1),
                            fix="see examples/homework/ for the format")
    for key in data:
        if key not in TOP_KEYS:
            raise ArchcalcError(f"unknown key '{key}'",
                                where=Location.at(file, data.key_marks[key]),
                                fix=suggestion(key, TOP_KEYS, "keys of an answers file"))
    if "answers" not in data and "questions" not in data:
        raise ArchcalcError("nothing to grade: no answers: and no questions:",
                            where=Location(file, 1, 1),
                            fix="add `answers:` about a network or `questions:` about layers")
    grades: list[Grade] = []
    network_name = None
    if data.get("answers"):
        analysis = _load_network(data, file, base)
        network_name = analysis.name
        grades += _grade_answers(analysis, data["answers"], file, data.key_marks["answers"])
    if data.get("questions"):
        grades += _grade_questions(data["questions"], file, data.key_marks["questions"])
    return GradeSheet(file, _text(data.get("student")), _text(data.get("title")),
                      network_name, tuple(grades))


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _load_network(data: SourceDict, file: str, base: Path):
    from .analysis import analyze
    from .spec import load_spec, spec_from_data

    overrides = data.get("set") or {}
    if not isinstance(overrides, dict):
        raise ArchcalcError("'set' must map network parameters to values",
                            where=Location.at(file, data.key_marks["set"]),
                            fix="write e.g. `set: {aux: true}`")
    if "network" in data and "spec" in data:
        raise ArchcalcError("give either network: or spec:, not both",
                            where=Location.at(file, data.key_marks["spec"]),
                            fix="remove one of them")
    if "spec" in data:
        return analyze(spec_from_data(data["spec"], file=file, overrides=dict(overrides)))
    if "network" not in data:
        raise ArchcalcError("answers: needs the network they are about",
                            where=Location.at(file, data.key_marks["answers"]),
                            fix="add `network: alexnet` (a bundled name or a path), "
                                "or the spec itself under `spec:`")
    name = str(data["network"])
    local = base / name
    target = local if local.is_file() else name
    try:
        return analyze(load_spec(target, overrides=dict(overrides)))
    except ArchcalcError as exc:
        if exc.where.file in (name, str(local)) and exc.where.line is None:
            raise ArchcalcError(exc.what, where=Location.at(file, data.key_marks["network"],
                                                       field="network"),
                                formula=exc.formula, fix=exc.fix) from None
        raise


# --- network answers --------------------------------------------------------------------------


COMMA_HINT = ("inside {…} a comma separates entries, so 363,000 reads as 363 and a key "
              "'000': quote it ('363,000'), write 363000 or 363k, or put the answer on its "
              "own line")


def _unknown_key(name: str, allowed: tuple[str, ...], what: str) -> str:
    return COMMA_HINT if name.isdigit() else suggestion(name, allowed, what)


def _quantity(name: str, allowed: tuple[str, ...], where: Location) -> str:
    key = ALIASES.get(name, name)
    if key not in allowed:
        raise ArchcalcError(f"unknown quantity '{name}'", where=where,
                            fix=_unknown_key(name, allowed, "quantities"))
    return key


def _grade_answers(analysis, answers: Any, file: str, mark: Mark) -> list[Grade]:
    from .explain import block_names, select

    if not isinstance(answers, SourceDict):
        raise ArchcalcError("'answers' must map layer names to their answers",
                            where=Location.at(file, mark),
                            fix="write e.g. `conv1: {output_shape: 55x55x96, params: 34944}`")
    known = set(analysis.by_name) | set(block_names(analysis)) | {"totals"}
    grades = []
    for key, value in answers.items():
        where = Location.at(file, answers.key_marks[key], field=f"answers.{key}")
        if key in known and isinstance(value, SourceDict):
            items = [(q, v, Location.at(file, value.key_marks[q], field=f"{key}.{q}"))
                     for q, v in value.items()]
            subject = key
        elif key in known:
            raise ArchcalcError(f"'{key}' needs a mapping of quantities to answers",
                                where=where,
                                fix=f"write `{key}: {{output_shape: …, params: …}}` or "
                                    f"`{key}.params: …`")
        else:
            subject, _, quantity = key.rpartition(".")
            if not subject or subject not in known:
                raise ArchcalcError(
                    f"no layer or block named '{subject or key}' in {analysis.name}",
                    where=where,
                    fix=suggestion(subject or key, sorted(known), "layers and blocks"))
            items = [(quantity, value, where)]
        for quantity, given, here in items:
            if subject == "totals":
                q = _quantity(str(quantity), TOTAL_QUANTITIES, here)
                grades.append(_grade_total(analysis, q, given, here))
            else:
                q = _quantity(str(quantity), LAYER_QUANTITIES, here)
                grades.append(_grade_layer(analysis, select(analysis, subject), q, given, here))
    return grades


def layer_value(analysis, selection, quantity: str) -> tuple[Any, str]:
    """The true value of ``quantity`` for a layer or block instance, and how it comes out.
    Shapes are (C, H, W); receptive fields a ReceptiveField."""
    from .calculator import flops_text, macs_text, params_formula, tensors_breakdown
    from .explain import rf_work, shape_work, sum_text

    members, last = selection.members, selection.last
    single = selection.is_layer
    if quantity == "output_shape":
        work = _joined(shape_work(last))
        return last.output_shape, work if single else work + f" (its last layer, {last.name})"
    if quantity == "receptive_field":
        return last.receptive_field, rf_work(analysis, last)
    if quantity == "rf_stride":
        return last.receptive_field, rf_work(analysis, last)
    actual = selection.total(quantity)
    if not single:
        work = (sum_text([getattr(m, quantity) for m in members])
                + f" over the {len(members)} layers of {selection.name}")
    elif quantity == "params":
        work = params_formula(last.tensors)
    elif quantity in ("weights", "bias"):
        role = "weight" if quantity == "weights" else "bias"
        work = tensors_breakdown([t for t in last.tensors if t.role == role]) or "0"
    elif quantity == "trainable_params":
        work = params_formula([t for t in last.tensors if t.trainable])
    elif quantity == "macs":
        work = macs_text(last.cost)
    else:
        work = flops_text(last.cost)
    return actual, work


def total_value(analysis, quantity: str) -> tuple[Any, str]:
    """The true network total of ``quantity`` and how it comes out."""
    from .explain import shape_work, sum_text

    t = analysis.totals
    rows = analysis.layers
    out = analysis.output
    if quantity == "output_shape":
        return out.output_shape, _joined(shape_work(out)) + f" (output layer {out.name})"
    if quantity == "receptive_field":
        return out.receptive_field, rf_chain(analysis)
    if quantity == "layers":
        return len(rows), f"{len(rows)} layers after block expansion"
    if quantity == "activations":
        first = t.activations - sum(r.activations for r in rows)
        return t.activations, f"input {fmt_int(first)} + every layer's output, batch 1"
    values = [getattr(r, quantity, 0) for r in rows]
    nonzero = [v for v in values if v]
    work = (sum_text(values) if len(nonzero) <= 24
            else f"sum over the {len(nonzero)} layers that have any")
    return getattr(t, quantity), work


def rf_chain(analysis) -> str:
    """How the output's receptive field grows, along the path through each layer's first
    input: 'r: 1 → 3 (conv1) → 5 (conv2) → 7 (conv3)'."""
    path = []
    name = analysis.output.name
    while name in analysis.by_name:
        path.append(analysis.by_name[name])
        name = analysis.by_name[name].inputs[0]
    steps, last = ["1×1"], "1×1"
    for row in reversed(path):
        size = row.receptive_field.size_text()
        if size != last:
            steps.append(f"{size} ({row.name})")
            last = size
    return "r: " + " → ".join(steps)


def _grade_value(subject: str, quantity: str, given: Any, actual: Any, work: str,
                 where: Location) -> Grade:
    if quantity == "output_shape":
        return _grade_shape(subject, quantity, given, actual, work, where)
    if quantity in ("receptive_field", "rf_stride"):
        return _grade_rf(subject, quantity, given, actual, work, where)
    return _grade_count(subject, quantity, given, actual, work, where)


def _grade_layer(analysis, selection, quantity: str, given: Any, where: Location) -> Grade:
    actual, work = layer_value(analysis, selection, quantity)
    return _grade_value(selection.name, quantity, given, actual, work, where)


def _grade_total(analysis, quantity: str, given: Any, where: Location) -> Grade:
    actual, work = total_value(analysis, quantity)
    return _grade_value("totals", quantity, given, actual, work, where)


def _joined(lines: tuple[str, ...]) -> str:
    """Work lines on one line: 'a; b → 55×55×96'."""
    body = "; ".join(line for line in lines if not line.startswith("→"))
    tail = " ".join(line for line in lines if line.startswith("→"))
    return f"{body} {tail}".strip()


# --- comparing one answer ---------------------------------------------------------------------


def _given_text(given: Any) -> str:
    if isinstance(given, int) and not isinstance(given, bool):
        return f"{given:,}"
    if isinstance(given, list):
        return "×".join(str(v) for v in given)
    return str(given)


def says_does_not_fit(given: Any) -> bool:
    return isinstance(given, str) and given.strip().lower().rstrip(".!") in DOES_NOT_FIT


def _ints(given: Any, where: Location, wanted: str) -> tuple[int, ...]:
    from .calculator import parse_ints as read

    try:
        return read(given, where.field or "answer", wanted)
    except ArchcalcError as exc:
        raise QuantityError(exc.what, where=where, fix=exc.fix) from None


def _grade_shape(subject: str, quantity: str, given: Any, actual: tuple[int, ...] | None,
                 work: str, where: Location) -> Grade:
    text = _given_text(given) if not isinstance(given, int) else str(given)
    correct = "does not fit" if actual is None else shape_text(actual)
    if says_does_not_fit(given):
        return Grade(subject, quantity, text, correct, actual is None, work, where.line)
    dims = _ints(given, where, "a shape such as 55x55x96 (H×W×C), 5x5, 4096 or does not fit")
    if len(dims) > 3:
        raise QuantityError(f"a shape has at most 3 sizes, {text!r} has {len(dims)}",
                            where=where, fix="write H×W×C, e.g. 55x55x96")
    if actual is None:
        return Grade(subject, quantity, text, correct, False, work, where.line)
    note = ""
    if len(actual) == 3:
        c, h, w = actual
        if len(dims) == 3:
            ok = dims == (h, w, c)
        elif len(dims) == 2:
            ok, note = dims == (h, w), "spatial size only"
        else:
            ok, note = h == w == dims[0], "spatial size only"
    else:
        ok = dims == tuple(actual)
    return Grade(subject, quantity, text, correct, ok, work, where.line, note)


def _grade_rf(subject: str, quantity: str, given: Any, rf: ReceptiveField, work: str,
              where: Location) -> Grade:
    """A receptive field's size (whole pixels) or stride (a count: 1/2 after upsampling),
    one number for both axes or height × width."""
    text = _given_text(given)
    part = "size" if quantity == "receptive_field" else "stride"
    actual = (getattr(rf.height, part), getattr(rf.width, part))
    if part == "size":
        dims = _ints(given, where, "a receptive field such as 11 or 11x11")
        values = [Count(Fraction(d), Fraction(0), str(d)) for d in dims]
    else:
        values = [_count(v, where) for v in _parts(given)]
    if len(values) > 2:
        raise QuantityError(f"a {quantity} has 1 or 2 values, {text!r} has {len(values)}",
                            where=where, fix="write e.g. 11 or 11x7 (height × width)")
    if len(values) == 1:
        values *= 2
    ok = all(v.matches(a) for v, a in zip(values, actual))
    correct = rf.short().rstrip("*") if part == "size" else rf.stride_text()
    tolerance = max(v.tolerance for v in values)
    note = f"accepted within ± {fmt_count(tolerance)}" if tolerance else ""
    return Grade(subject, quantity, text, correct, ok, work, where.line, note)


def _parts(given: Any) -> list[Any]:
    """'2x1' -> ['2', '1']; [2, 1] -> [2, 1]; 2 -> [2]."""
    if isinstance(given, (list, tuple)):
        return list(given)
    if isinstance(given, str):
        return [p for p in _SHAPE_SPLIT.split(given.strip().strip("[]()")) if p]
    return [given]


def _count(given: Any, where: Location) -> Count:
    try:
        return parse_count(given)
    except QuantityError as exc:
        raise exc.located(where) from None


def _grade_count(subject: str, quantity: str, given: Any, actual: Any, work: str,
                 where: Location) -> Grade:
    text = _given_text(given)
    if actual is None:
        ok = says_does_not_fit(given) or text.strip() in ("-", "—", "none", "n/a")
        return Grade(subject, quantity, text, "— (does not fit)", ok, work, where.line)
    count = _count(given, where)
    ok = count.matches(actual)
    note = ""
    if count.tolerance:
        note = f"accepted within ± {fmt_count(count.tolerance)}"
    return Grade(subject, quantity, text, fmt_int(actual) if isinstance(actual, int)
                 else fmt_num(actual), ok, work, where.line, note)


# --- single-layer questions -------------------------------------------------------------------


def _grade_questions(questions: Any, file: str, mark: Mark) -> list[Grade]:
    if not isinstance(questions, SourceList):
        raise ArchcalcError("'questions' must be a list", where=Location.at(file, mark),
                            fix="write each question as `- {input: 7x7, kernel: 3, stride: 1, "
                                "output: 5x5}`")
    grades = []
    for i, item in enumerate(questions):
        where = Location.at(file, questions.item_marks[i], field=f"questions[{i + 1}]")
        if not isinstance(item, SourceDict):
            raise ArchcalcError("a question is a mapping of the layer and the answers",
                                where=where,
                                fix="write e.g. `- {input: 7x7, kernel: 3, stride: 3, "
                                    "output: does not fit}`")
        grades += _grade_question(item, i + 1, file, where)
    return grades


#: question keys that belong to one kind of layer only
POOL_ONLY = ("ceil",)
CONV_ONLY = ("groups", "filters", "bias")


def _question_layer(item: SourceDict, file: str, where: Location):
    from . import calculator as calc

    def key_where(key: str) -> Location:
        return Location.at(file, item.key_marks.get(key), field=key)

    def read(key: str, parse, default=None):
        if key not in item:
            return default
        try:
            return parse(item[key], option=key)
        except ArchcalcError as exc:
            raise ArchcalcError(exc.what, where=key_where(key), fix=exc.fix) from None

    for required in ("input", "kernel"):
        if required not in item:
            raise ArchcalcError(f"the question has no '{required}'", where=where,
                                fix=f"add `{required}: …` (e.g. input: 7x7, kernel: 3)")
    pool = "pool" in item
    for key in CONV_ONLY if pool else POOL_ONLY:
        if key in item:
            kind = f"{item['pool']} pooling" if pool else "a convolution"
            raise ArchcalcError(
                f"'{key}' does not apply to {kind}", where=key_where(key),
                fix=f"drop `{key}:`" + (" (pooling has no filters, groups or bias)" if pool
                                       else ", or add `pool: max` for a pooling question"))
    input_shape = read("input", calc.parse_input)
    kernel = read("kernel", calc.parse_size)
    stride = read("stride", calc.parse_size)
    padding = read("padding", calc.parse_padding, 0)
    dilation = read("dilation", calc.parse_size)
    rounding = item.get("rounding")
    if rounding not in (None, "exact", "floor", "ceil"):
        raise ArchcalcError(f"unknown rounding {rounding!r}", where=key_where("rounding"),
                            fix="use exact, floor or ceil")
    first = next(iter(item.key_marks.values()), None)
    layer_where = Location.at(file, first)
    try:
        if pool:
            mode = str(item["pool"]).lower()
            if mode not in calc.POOL_KINDS:
                raise ArchcalcError(f"unknown pooling {item['pool']!r}",
                                    where=key_where("pool"), fix="write pool: max or pool: avg")
            layer = calc.pool_layer(mode=mode, kernel=kernel, stride=stride, padding=padding,
                                    dilation=dilation, ceil=item.get("ceil", False))
        else:
            layer = calc.conv_layer(
                filters=item.get("filters", 1), kernel=kernel,
                stride=stride if stride is not None else 1, padding=padding,
                dilation=dilation if dilation is not None else 1,
                groups=item.get("groups", 1), bias=item.get("bias", True))
        rounding = calc.layer_rounding(layer, rounding)
    except ArchcalcError as exc:
        field_name = exc.where.field
        here = key_where(field_name) if field_name in item else layer_where
        raise ArchcalcError(exc.what, where=here, formula=exc.formula, fix=exc.fix) from None
    return layer, input_shape, rounding


def _grade_question(item: SourceDict, number: int, file: str, where: Location) -> list[Grade]:
    from . import calculator as calc

    for key in item:
        if key not in QUESTION_KEYS and key not in QUESTION_ALIASES:
            raise ArchcalcError(f"unknown key '{key}' in a question",
                                where=Location.at(file, item.key_marks[key], field=key),
                                fix=_unknown_key(str(key), QUESTION_KEYS, "question keys"))
    layer, input_shape, rounding = _question_layer(item, file, where)
    try:
        work = calc.work_out(layer, input_shape, rounding=rounding)
    except ArchcalcError as exc:  # not a size that fails to fit: e.g. groups vs channels
        raise exc.located(where) from None
    subject = str(item.get("id", f"Q{number}"))
    subject += f" ({shape_text(input_shape)}, {layer.label()})"
    answers = [(k, v) for k, v in item.items()
               if QUESTION_ALIASES.get(k, k) in QUESTION_ANSWERS]
    if not answers:
        raise ArchcalcError("the question has no answer to grade", where=where,
                            fix="add e.g. `output: 5x5`, `params: 760` or "
                                "`output: does not fit`")
    grades = []
    for key, given in answers:
        here = Location.at(file, item.key_marks[key], field=key)
        quantity = QUESTION_ALIASES.get(key, key)
        grades.append(_grade_question_answer(work, subject, quantity, given, here))
    return grades


def _grade_question_answer(work, subject: str, quantity: str, given: Any,
                           where: Location) -> Grade:
    from . import calculator as calc

    if quantity == "output":
        if work.fits:
            text = _joined((*work.inferred.work, f"→ {shape_text(work.output_shape)}"))
        else:
            text = f"{work.problem.what}: {work.problem.formula}"
            fixes = [f"{a.change} {a.value_text} → {shape_text(a.output_shape)}"
                     for a in work.alternatives if a.change != "rounding"]
            if fixes:
                text += "; would fit with " + ", ".join(fixes)
        return _grade_shape(subject, "output", given, work.output_shape, text, where)
    if not work.fits:
        return _grade_count(subject, quantity, given, None,
                            f"{work.problem.what}: {work.problem.formula}", where)
    if quantity in ("receptive_field", "rf_stride"):
        return _grade_rf(subject, quantity, given, work.receptive_field,
                         calc.rf_formula(ReceptiveField.of_input(), work.receptive_field),
                         where)
    if quantity == "params":
        actual, text = work.params, calc.params_formula(work.tensors)
    elif quantity == "weights":
        actual = work.weights
        text = calc.tensors_breakdown([t for t in work.tensors if t.role == "weight"]) or "0"
    elif quantity == "macs":
        actual, text = work.cost.macs, calc.macs_text(work.cost)
    else:
        actual, text = work.cost.flops, calc.flops_text(work.cost)
    return _grade_count(subject, quantity, given, actual, text, where)


# --- the sheet --------------------------------------------------------------------------------


def render_text(sheet: GradeSheet) -> str:
    """The grade sheet: ✓/✗ per answer with the correct value and its work, then the score."""
    head = f"Grade sheet for {sheet.file}"
    if sheet.student:
        head += f" — {sheet.student}"
    lines = [head]
    if sheet.title:
        lines.append(sheet.title)
    if sheet.network:
        lines.append(f"network: {sheet.network}")
    lines.append("")
    by_subject: dict[str, list[Grade]] = {}
    for g in sheet.grades:  # grouped by subject, in the order subjects first appear
        by_subject.setdefault(g.subject, []).append(g)
    for subject, grades in by_subject.items():
        lines.append(subject)
        lines += [line for g in grades for line in _grade_lines(g)]
    lines.append("")
    lines.append(f"score: {sheet.score}/{sheet.total}")
    lines.append("")
    lines.append(TOLERANCE_RULE)
    return "\n".join(lines) + "\n"


def _grade_lines(g: Grade) -> list[str]:
    """'  ✗ params  34,848   correct: 34,944   [line 31]' and the work under it."""
    mark = "✓" if g.ok else "✗"
    verdict = "" if g.ok else f"   correct: {g.correct}"
    note = f"   ({g.note})" if g.note and g.ok else ""
    at = f"   [line {g.line}]" if g.line else ""
    return [f"  {mark} {g.quantity:<16} {g.given}{verdict}{note}{at}", f"      {g.work}"]


# --- a spec's own claims (its expect: block) ----------------------------------------------------


def claim_work(analysis, subject: str, quantity: str) -> str:
    """How the true value of a spec's claim comes out ('' when there is nothing to show)."""
    from .explain import select

    try:
        if subject == "totals":
            if quantity in ("non_trainable_params", "buffers"):
                return ""
            return total_value(analysis, quantity)[1]
        return layer_value(analysis, select(analysis, subject), quantity)[1]
    except ArchcalcError:
        return ""


def render_claims(analysis, results, *, file: str) -> str:
    """✓/✗ per claim of a spec's expect: block, expected vs actual, its source and work."""
    lines = [f"Checking {file} ({analysis.name}): {len(results)} claim"
             f"{'' if len(results) == 1 else 's'} in its expect: block", ""]
    if not results:
        lines.append("nothing to check: the spec has no expect: block (add totals or "
                     "per-layer values there)")
        return "\n".join(lines) + "\n"
    subject = None
    for r in results:
        if r.subject != subject:
            subject = r.subject
            lines.append(subject)
        mark = "✓" if r.ok else "✗"
        text = f"  {mark} {r.quantity:<16} expected {r.expected_text}, actual {r.actual_text}"
        if r.detail:
            text += f"   ({r.detail})"
        lines.append(text)
        work = claim_work(analysis, r.subject, r.quantity)
        if work:
            lines.append(f"      {work}")
        if r.source:
            lines.append(f"      source: {r.source}")
    failed = sum(not r.ok for r in results)
    lines.append("")
    lines.append(f"{len(results) - failed}/{len(results)} claims hold"
                 + (f"; {failed} do{'es' if failed == 1 else ''} not" if failed else ""))
    return "\n".join(lines) + "\n"
