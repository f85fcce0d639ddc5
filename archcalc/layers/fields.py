"""Field types shared by layer kinds: sizes as an int or an [h, w] pair, paddings, rounding."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

PositiveInt = Annotated[int, Field(gt=0, strict=True)]
NonNegativeInt = Annotated[int, Field(ge=0, strict=True)]

#: a size given as one int for both axes or as [height, width]
Size = PositiveInt | tuple[PositiveInt, PositiveInt]
OptionalSize = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]

#: int, [h, w], [top, bottom, left, right], or 'same' / 'valid'
Padding = (
    NonNegativeInt
    | tuple[NonNegativeInt, NonNegativeInt]
    | tuple[NonNegativeInt, NonNegativeInt, NonNegativeInt, NonNegativeInt]
    | Literal["same", "valid"]
)
SymmetricPadding = NonNegativeInt | tuple[NonNegativeInt, NonNegativeInt]

RoundingField = Literal["exact", "floor", "ceil"] | None
