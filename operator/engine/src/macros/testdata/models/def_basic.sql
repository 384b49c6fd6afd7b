MODEL (name mc.def_basic, kind FULL);
@DEF(x, 1);
@DEF(s, 'abc');
@DEF(cols, [b, c]);
@DEF(neg, -2.5);
@DEF(flag, TRUE);
@DEF(nothing, NULL);
@DEF(tbl, mc.src_foo);
SELECT
  @x AS one,
  @s AS s_literal,
  1 AS @{s},
  @neg AS neg,
  @flag AS flag,
  @nothing AS nothing,
  @cols AS cols,
  1 AS col_@x,
  2 AS @{s}_col
FROM @tbl
