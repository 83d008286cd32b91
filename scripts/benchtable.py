"""The table the benchmark scripts print: measure, result, target."""


def print_table(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    result = max(len(r[1]) for r in rows)
    print(f"{'measure':{width}}  {'result':{result}}  target")
    for name, value, target in rows:
        print(f"{name:{width}}  {value:{result}}  {target}".rstrip())
