"""A spec with schema errors, read as far as it can be, so one type error hides no other problem.

Each field that fails its type stands as an `Unreadable`: any use of it raises `UnreadableField`, so a
check that needs it stops and says which field it waited for, while every check that does not need it
runs on the typed values of the rest. Sections are read one by one, nested sections too: a type error in
`compute.racks` leaves `compute.platform` and every other section readable.
"""

from __future__ import annotations

from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError, create_model

from aifactory.spec.model import Factory


class UnreadableField(Exception):  # noqa: N818 - a signal to the validator runner, not an error of aifactory
    """A check read a field whose value failed its type; `path` is that field's dotted path."""

    def __init__(self, path: str):
        super().__init__(path)
        self.path = path


class Unreadable:
    """Stands for a field that failed its type: any use of it (an attribute, a comparison, arithmetic,
    iteration, truth, text) raises UnreadableField. `unreadable_raw` gives the value as the YAML had it."""

    __slots__ = ("_unreadable_path", "_unreadable_raw")

    def __init__(self, path: str, raw: object):
        object.__setattr__(self, "_unreadable_path", path)
        object.__setattr__(self, "_unreadable_raw", raw)

    def __getattr__(self, name: str):
        raise UnreadableField(self._unreadable_path)

    def __repr__(self) -> str:
        return f"<unreadable {self._unreadable_path}>"


def _refuse(self, *args):
    raise UnreadableField(self._unreadable_path)


for _name in ("bool", "eq", "ne", "lt", "le", "gt", "ge", "hash", "iter", "len", "contains", "getitem", "str",
              "format", "int", "float", "index", "fspath", "neg", "pos", "abs", "setattr",
              *(f"{prefix}{op}" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or",
                                           "xor", "lshift", "rshift") for prefix in ("", "r"))):
    setattr(Unreadable, f"__{_name}__", _refuse)


def unreadable_raw(value: Unreadable) -> object:
    """The value an unreadable field was given, as the YAML had it."""
    return value._unreadable_raw


def unreadable_paths(model: BaseModel) -> list[str]:
    """The dotted paths of every field of `model` (nested sections too) that stands as an `Unreadable`."""
    paths = []
    for name in type(model).model_fields:
        value = model.__dict__.get(name)
        if isinstance(value, Unreadable):
            paths.append(value._unreadable_path)
        elif isinstance(value, BaseModel):
            paths.extend(unreadable_paths(value))
    return paths


def readable_factory(data: dict) -> Factory:
    """The spec's typed values where they passed their types, an `Unreadable` where they did not."""
    return _readable(Factory, data, "")


def _readable(model: type[BaseModel], data: object, path: str) -> BaseModel | Unreadable:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
    if not isinstance(data, dict) or any(not e["loc"] for e in errors):
        return Unreadable(path, data)
    failed = {e["loc"][0] for e in errors if e["loc"][0] in model.model_fields}  # an unknown key fails nothing
    rest = create_model(model.__name__, __base__=model, **{name: (Any, None) for name in failed})
    typed = rest.model_validate({k: v for k, v in data.items() if k in model.model_fields and k not in failed})
    values = {name: getattr(typed, name) for name in model.model_fields if name not in failed}
    for name in failed:
        where = f"{path}.{name}" if path else name
        section = _section(model.model_fields[name].annotation)
        values[name] = (_readable(section, data[name], where) if section and isinstance(data.get(name), dict)
                        else Unreadable(where, data.get(name)))
    return model.model_construct(**values)


def _section(annotation: object) -> type[BaseModel] | None:
    """The model of a field that holds a section (`Mirrors`, `NvidiaSoftware | None`), else None."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        models = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if len(models) == 1 else None
    return None
