MODEL (
  name mc.bp_@{suffix},
  kind FULL,
  blueprints (
    (suffix := one, field_a := a, field_c := 'foo', num := 1),
    (suffix := two, field_a := d, field_c := 'bar', num := 2)
  )
);
SELECT
  @field_a AS fa,
  @{field_a} AS fa_ident,
  @field_c AS fc_literal,
  @field_c AS @{field_c},
  @BLUEPRINT_VAR('num') AS num,
  @BLUEPRINT_VAR('missing_bp', 'dflt') AS missing_with_default,
  @num + 1 AS num_plus_1
FROM mc.src_foo
WHERE a >= @num - 1
