"""The demo's synthetic data, one module per stage, apart from the app's use cases:

- `city`: the geography — Rizhao's real county and township names and codes with synthetic
  villages, grid cells, populations and departments (pure, no database);
- `accounts`: loading that city and its people — one account per officer and coordinator,
  county and city staff, an administrator and one handler per department;
- `frame` → `reports` → `cases` → `plan`: a year of reports, their cases (replayed through
  `fieldapp.workflow.decide`) and the officers' check-ins, planned with numpy and no database;
- `load`: COPYing a plan into PostgreSQL;
- `history`: the history's public names in one place (`fieldapp demo history`, the
  benchmarks, the early-warning evaluation)."""
