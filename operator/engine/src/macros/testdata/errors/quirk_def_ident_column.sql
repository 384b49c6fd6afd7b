MODEL (name mc.quirk_def_ident_column, kind FULL);
@DEF(s, 'abc');
SELECT @{s} AS s_identifier
