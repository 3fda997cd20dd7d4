"""Geography core: areas, grid cells, the hierarchy, locating points, roll-ups, boundary
import and validation, and the demo city. Imports nothing from the rest of the project."""

LEVELS: tuple[str, ...] = ("city", "county", "township", "village", "cell")
"""Levels of the hierarchy, top to bottom. A cell is the smallest unit."""

AREA_LEVELS: tuple[str, ...] = LEVELS[:-1]
