"""A seeded, reproducible demo sales org: two years of people, pipeline, forecasts and quotas.

`build_demo` simulates the org and bulk-loads it into an empty database; see
`topline.demo.builder` for what is simulated and `topline.demo.loader` for how it is loaded.
"""

from topline.demo.builder import (
    DEFAULT_AS_OF,
    DEMO_PASSWORD,
    DemoLogin,
    DemoSummary,
    build_demo,
)
from topline.demo.config import SIZES

__all__ = ["DEFAULT_AS_OF", "DEMO_PASSWORD", "SIZES", "DemoLogin", "DemoSummary", "build_demo"]
