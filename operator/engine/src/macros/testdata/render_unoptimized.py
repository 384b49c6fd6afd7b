import sys
from sqlmesh import Context
c = Context(paths=[sys.argv[1]])
out = sys.argv[2]
for name, m in sorted(c.models.items()):
    if m.kind.is_seed or not hasattr(m, '_query_renderer'): continue
    try:
        q = m._query_renderer.render(start='2024-01-01', end='2024-01-03', execution_time='2024-01-04', needs_optimization=False)
        sql = q.sql(dialect='duckdb', pretty=True) if q is not None else 'NONE'
    except Exception as e:
        sql = 'ERROR: ' + str(e)
    open(f"{out}/{m.name}.unopt.sql", 'w').write(sql + "\n")
    print(m.name)
